"""py-spy: find the binary, build the `dump --json` argv, parse its JSON, classify its failures."""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stucktui.model.python import PyDump, PyFrame, PySpyError, PySpyFailure, PyThread
from stucktui.tools.runner import RunResult, run, start

DEFAULT_TIMEOUT = 10.0  # seconds; a 24-thread dump takes ~20 ms, --native ~130 ms (docs/kernel-notes.md §9.3)


def find_pyspy() -> str | None:
    """The py-spy wheel installs its binary as a script: next to sys.executable (venv bin),
    in this interpreter's scripts dir, or somewhere on PATH."""
    candidates = [
        Path(sys.executable).parent / "py-spy",
        Path(sysconfig.get_path("scripts")) / "py-spy",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("py-spy")


def pyspy_dump_argv(
    pid: int, nonblocking: bool = True, native: bool = False, *, binary: str = "py-spy"
) -> list[str]:
    """Without --nonblocking py-spy ptrace-stops every thread for the dump, which makes
    non-retrying syscalls fail with EINTR in the target (docs/kernel-notes.md §9.5): off only on request.
    Native frames are read from stopped threads only (py-spy refuses `--native
    --nonblocking`), so `native` pauses the process whatever `nonblocking` says."""
    argv = [binary, "dump", "--json", "--pid", str(pid)]
    if nonblocking and not native:
        argv.append("--nonblocking")
    if native:
        argv.append("--native")
    return argv


def parse_pyspy_json(text: str) -> tuple[PyThread, ...]:
    """`py-spy dump --json` output: a list of thread objects. Raises ValueError if malformed.
    Threads of a pool share their frames, so equal frames and equal stacks are built once and
    shared (a 1,000-thread dump has ~4,000 frames but a handful of distinct ones)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"py-spy printed invalid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError("py-spy JSON is not a list of threads")
    frames_seen: dict[tuple[object, ...], PyFrame] = {}
    stacks_seen: dict[tuple[PyFrame, ...], tuple[PyFrame, ...]] = {}
    threads = []
    for t in data:
        if not isinstance(t, dict):
            raise ValueError("py-spy JSON thread is not an object")
        frames = []
        for f in t.get("frames") or ():
            key = (f.get("name"), f.get("filename"), f.get("short_filename"), f.get("line"), f.get("module"))
            frame = frames_seen.get(key)
            if frame is None:
                frame = frames_seen[key] = PyFrame(
                    function=str(key[0] or "?"),
                    file=str(key[1] or ""),
                    short_file=str(key[2] or key[1] or ""),
                    line=int(key[3] or 0),
                    module=key[4],
                )
            frames.append(frame)
        stack = tuple(frames)
        stack = stacks_seen.setdefault(stack, stack)
        threads.append(
            PyThread(
                os_thread_id=int(t.get("os_thread_id") or 0),
                thread_id=int(t.get("thread_id") or 0),
                name=t.get("thread_name"),
                active=bool(t.get("active")),
                owns_gil=bool(t.get("owns_gil")),
                frames=stack,
            )
        )
    threads.sort(key=lambda t: t.os_thread_id)
    return tuple(threads)


_RUST_PANIC = 101  # the exit status of a Rust program that panicked

# First stderr lines of py-spy 0.4.3, all with exit code 1 (docs/kernel-notes.md §9.4).
_CLASSIFIERS: tuple[tuple[str, PySpyFailure], ...] = (
    ("Failed to find python version", PySpyFailure.NOT_PYTHON),
    ("Permission Denied", PySpyFailure.PERMISSION),
    ("Failed to get process executable name", PySpyFailure.GONE),
    ("No such process", PySpyFailure.GONE),
    ("Failed to get stack traces", PySpyFailure.PARTIAL),
)


def classify_pyspy_failure(pid: int, result: RunResult) -> PySpyError:
    if result.missing:
        return PySpyError(pid, PySpyFailure.MISSING, result.first_error_line)
    if result.timed_out:
        return PySpyError(
            pid, PySpyFailure.TIMEOUT, f"{result.silence}; the other panels are unaffected; y tries again"
        )
    if result.killed_by is not None:
        return PySpyError(pid, PySpyFailure.CRASHED, f"killed by {result.killed_by}")
    first = result.first_error_line
    if "panicked at" in result.stderr or result.rc == _RUST_PANIC:
        return PySpyError(pid, PySpyFailure.CRASHED, first)
    for needle, kind in _CLASSIFIERS:
        if needle in first:
            return PySpyError(pid, kind, first)
    return PySpyError(pid, PySpyFailure.OTHER, first)


Runner = Callable[..., RunResult]

# After py-spy did not answer, automatic dumps (the triage's, the Threads panel's every few
# refreshes) wait this long before running it again: a py-spy that hangs would otherwise hold
# up every refresh that wants stacks for its whole timeout. A dump asked for (y) always runs.
HUNG_PAUSE = 60.0
_hung_lock = threading.Lock()
_hung: tuple[float, str] | None = None  # (monotonic time, what it said) of the last silence


def _paused(pid: int) -> PySpyError | None:
    with _hung_lock:
        hung = _hung
    if hung is None:
        return None
    ago = time.monotonic() - hung[0]
    if ago >= HUNG_PAUSE:
        return None
    said = hung[1].split(";", 1)[0]
    return PySpyError(
        pid,
        PySpyFailure.TIMEOUT,
        f"{said} {ago:.0f} s ago, so it is not run again by itself for {HUNG_PAUSE - ago:.0f} s; y tries now",
    )


def _noted(out: PyDump | PySpyError) -> PyDump | PySpyError:
    """Remember a py-spy that did not answer (and forget it once it answers again)."""
    global _hung
    with _hung_lock:
        if isinstance(out, PySpyError) and out.kind is PySpyFailure.TIMEOUT:
            _hung = (time.monotonic(), out.detail)
        elif isinstance(out, PyDump) or out.kind is not PySpyFailure.MISSING:
            _hung = None  # it answered
    return out


def dump_python(
    pid: int,
    *,
    nonblocking: bool = True,
    native: bool = False,
    timeout: float | None = None,
    binary: str | None = None,
    runner: Runner = run,
    auto: bool = False,
) -> PyDump | PySpyError:
    """Run one dump. Blocks for up to `timeout` (DEFAULT_TIMEOUT): call it from a worker
    thread. `auto`: nobody asked for this one, so it is skipped for a while after py-spy did
    not answer (HUNG_PAUSE)."""
    paused = _paused(pid) if auto else None
    if paused is not None:
        return paused
    exe = binary or find_pyspy()
    if exe is None:
        return PySpyError(pid, PySpyFailure.MISSING, "py-spy: not found")
    argv = pyspy_dump_argv(pid, nonblocking, native, binary=exe)
    nonblocking = nonblocking and not native
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    return _noted(_retried(dump_result(pid, runner(argv, timeout=limit), nonblocking),
                           lambda: runner(argv, timeout=limit), nonblocking))  # fmt: skip


_TRIES = 3  # a nonblocking dump of a busy process races its running thread ("Bad address")


def _retried(
    out: PyDump | PySpyError, again: Callable[[], RunResult], nonblocking: bool
) -> PyDump | PySpyError:
    """Dump again, up to _TRIES in all, while py-spy could not read every stack: reading a
    running thread's frames without pausing it fails now and then (`Failed to copy
    PyCodeObject: Bad address`), and the next read usually succeeds."""
    for _ in range(_TRIES - 1):
        if not (isinstance(out, PySpyError) and out.kind is PySpyFailure.PARTIAL):
            break
        out = dump_result(out.pid, again(), nonblocking)
    return out


def start_dump(
    pid: int,
    *,
    nonblocking: bool = True,
    native: bool = False,
    timeout: float | None = None,
    binary: str | None = None,
    auto: bool = False,
) -> Callable[[], PyDump | PySpyError]:
    """Start one dump and return at once; calling the result waits for it and parses it. The
    caller reads /proc meanwhile (collect_with_python), with no thread in between. `auto` as
    for dump_python."""
    paused = _paused(pid) if auto else None
    if paused is not None:
        return lambda: paused
    exe = binary or find_pyspy()
    if exe is None:
        return lambda: PySpyError(pid, PySpyFailure.MISSING, "py-spy: not found")
    argv = pyspy_dump_argv(pid, nonblocking, native, binary=exe)
    nonblocking = nonblocking and not native
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    running = start(argv, timeout=limit)
    return lambda: _noted(
        _retried(
            dump_result(pid, running.result(), nonblocking), lambda: run(argv, timeout=limit), nonblocking
        )
    )


def dump_result(pid: int, result: RunResult, nonblocking: bool) -> PyDump | PySpyError:
    if not result.ok:
        return classify_pyspy_failure(pid, result)
    try:
        threads = parse_pyspy_json(result.stdout)
    except ValueError as exc:
        return PySpyError(pid, PySpyFailure.OTHER, str(exc))
    return PyDump(pid, threads, result.duration, nonblocking)
