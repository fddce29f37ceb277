"""Work that may never return, run where it can be abandoned at a deadline.

A read of /proc can wait in the kernel as long as what it waits on: a lock held by a thread
asleep on a hung mount, a process that never leaves its exec. Python cannot interrupt a thread
blocked in a system call, so such work runs in a daemon thread that the caller stops waiting
for at the deadline: the caller goes on with what it has and says what it could not read. The
thread is left where it is; it ends when its wait does, or with the process, which then exits
with os._exit (finish): the interpreter's own exit would run finalizers a stuck thread can
block.

That exit works because all of stucktui's waits are killable: it never makes a request that a
FUSE daemon or a server must answer, the one kind of wait that SIGKILL cannot end once the
daemon has read it (docs/kernel-notes.md §10.5). A process with a thread in such a wait
cannot exit at all: it stays a zombie, and its parent's shell never gets its prompt back.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

HUNG_HINT = "a hung filesystem?"
THREAD_PREFIX = "stucktui-"  # every worker thread of stucktui is named so (finish looks for them)

_abandoned: list[threading.Thread] = []


@dataclass(frozen=True, slots=True)
class Overdue:
    """Work given up on: what it was reading when the deadline passed."""

    what: str
    seconds: float

    def __str__(self) -> str:
        return f"could not read {self.what}: timed out after {self.seconds:g} s ({HUNG_HINT})"


class Progress:
    """What a worker has read so far and what it reads now, for a caller that may stop waiting
    for it: the worker calls reading() before each step, got() with each result and done() at
    the end. Plain attribute writes, safe to read from another thread at any moment: `since`
    is when the step under way began (None when idle), so a caller can tell a read that has
    not returned for long from work that is moving on step by step."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.now = "what it was reading"
        self.results: dict[str, object] = {}
        self.since: float | None = None
        self._monotonic = monotonic

    def reading(self, what: str) -> None:
        self.now = what
        self.since = self._monotonic()

    def got(self, name: str, value: object) -> None:
        self.results[name] = value

    def done(self) -> None:
        self.since = None

    def stalled(self) -> float:
        """Seconds the step under way has taken so far (0 when idle)."""
        since = self.since
        return 0.0 if since is None else max(0.0, self._monotonic() - since)


def run_bounded(
    work: Callable[[], T], seconds: float, what: str | Callable[[], str], *, name: str = "bounded"
) -> T | Overdue:
    """work() in a daemon thread, waited for `seconds` at most; its exception is raised here.
    Past the deadline, the thread is abandoned (finish() then ends the process with os._exit)
    and an Overdue naming `what` (or what() then: Progress.now) is returned."""
    box: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=run, name=THREAD_PREFIX + name, daemon=True)
    worker.start()
    if not done.wait(seconds):
        _abandoned.append(worker)
        return Overdue(what() if callable(what) else what, seconds)
    error = box.get("error")
    if isinstance(error, BaseException):
        raise error
    return box["value"]  # type: ignore[return-value]


def abandoned() -> list[threading.Thread]:
    """Threads given up on at a deadline that still run."""
    return [t for t in _abandoned if t.is_alive()]


def busy_workers() -> list[threading.Thread]:
    """stucktui's worker threads still running: abandoned ones, a sample or an action under way."""
    me = threading.current_thread()
    return [
        t for t in threading.enumerate() if t is not me and t.is_alive() and t.name.startswith(THREAD_PREFIX)
    ]


def finish(code: int) -> int:
    """The way out of a command: returns `code`, or, when a worker thread is still running,
    flushes stdout and stderr and ends the process at once with os._exit(code): a thread
    blocked in the kernel would otherwise hold up the interpreter's exit."""
    if not busy_workers():
        return code
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
