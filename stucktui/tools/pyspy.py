"""py-spy: find the binary, build the `dump --json` argv, parse its JSON, classify its failures."""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
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
        return PySpyError(pid, PySpyFailure.TIMEOUT, result.first_error_line)
    first = result.first_error_line
    for needle, kind in _CLASSIFIERS:
        if needle in first:
            return PySpyError(pid, kind, first)
    return PySpyError(pid, PySpyFailure.OTHER, first)


Runner = Callable[..., RunResult]


def dump_python(
    pid: int,
    *,
    nonblocking: bool = True,
    native: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    binary: str | None = None,
    runner: Runner = run,
) -> PyDump | PySpyError:
    """Run one dump. Blocks for up to `timeout`: call it from a worker thread."""
    exe = binary or find_pyspy()
    if exe is None:
        return PySpyError(pid, PySpyFailure.MISSING, "py-spy: not found")
    argv = pyspy_dump_argv(pid, nonblocking, native, binary=exe)
    nonblocking = nonblocking and not native
    return _retried(dump_result(pid, runner(argv, timeout=timeout), nonblocking),
                    lambda: runner(argv, timeout=timeout), nonblocking)  # fmt: skip


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
    timeout: float = DEFAULT_TIMEOUT,
    binary: str | None = None,
) -> Callable[[], PyDump | PySpyError]:
    """Start one dump and return at once; calling the result waits for it and parses it. The
    caller reads /proc meanwhile (collect_with_python), with no thread in between."""
    exe = binary or find_pyspy()
    if exe is None:
        return lambda: PySpyError(pid, PySpyFailure.MISSING, "py-spy: not found")
    argv = pyspy_dump_argv(pid, nonblocking, native, binary=exe)
    nonblocking = nonblocking and not native
    running = start(argv, timeout=timeout)
    return lambda: _retried(
        dump_result(pid, running.result(), nonblocking), lambda: run(argv, timeout=timeout), nonblocking
    )


def dump_result(pid: int, result: RunResult, nonblocking: bool) -> PyDump | PySpyError:
    if not result.ok:
        return classify_pyspy_failure(pid, result)
    try:
        threads = parse_pyspy_json(result.stdout)
    except ValueError as exc:
        return PySpyError(pid, PySpyFailure.OTHER, str(exc))
    return PyDump(pid, threads, result.duration, nonblocking)
