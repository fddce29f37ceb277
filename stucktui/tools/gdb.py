"""gdb: argv builders (all-threads backtrace, close/dup2 of a target fd) and their output parsers.

Every gdb run ptrace-attaches, which interrupts every thread of the target: calls that do not
retry on EINTR (a raw epoll_wait, pause) return early (docs/kernel-notes.md §7.1). Nothing here executes gdb;
tools.runner does, with a timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass

from stucktui.tools.runner import RunResult, run

DEFAULT_TIMEOUT = 30.0  # seconds; symbol loading of a large binary dominates
# No network lookups of debug info, no auto-loaded Python scripts from the target's paths.
_BASE = ("-batch", "-nx", "-iex", "set debuginfod enabled off", "-iex", "set auto-load off")


def _argv(pid: int, commands: list[str], gdb: str) -> list[str]:
    argv = [gdb, "-p", str(pid), *_BASE]
    for c in commands:
        argv += ["-ex", c]
    return argv


def backtrace_argv(pid: int, *, gdb: str = "gdb") -> list[str]:
    return _argv(pid, ["thread apply all bt"], gdb)


def close_fd_argv(pid: int, fd: int, *, gdb: str = "gdb") -> list[str]:
    """`call (int)close(fd)`: the cast lets gdb call it without libc debug symbols
    (docs/kernel-notes.md §7.1). Closing frees the number for reuse by the target: prefer dup2_null_argv."""
    return _argv(pid, [f"call (int)close({int(fd)})"], gdb)


def dup2_null_argv(pid: int, fd: int, *, null_fd: int | None = None, gdb: str = "gdb") -> list[str]:
    """Put the null device in slot fd, keeping the number taken (docs/kernel-notes.md §7.1, item 4). With
    null_fd (a target fd already open on /dev/null, read-write) one call does it; without, the
    target opens /dev/null (O_RDWR|O_CLOEXEC of this machine's <fcntl.h>, 0o2|0o2000000 in
    asm-generic/fcntl.h), dup2s it and closes the spare: the three results print as $1, $2, $3."""
    fd = int(fd)
    if null_fd is not None:
        return _argv(pid, [f"call (int)dup2({int(null_fd)}, {fd})"], gdb)
    o_rdwr_cloexec = os.O_RDWR | os.O_CLOEXEC
    return _argv(
        pid,
        [
            f'call (int)open("/dev/null", {o_rdwr_cloexec})',
            f"call (int)dup2($1, {fd})",
            "call (int)close($1)",
        ],
        gdb,
    )


_VALUE = re.compile(r"^\$(\d+) = (-?\d+)\s*$", re.MULTILINE)


def parse_print_values(text: str) -> dict[int, int]:
    """gdb's '$N = value' lines: {N: value}. A failing close prints '$1 = -1' with rc 0, so the
    value, not the exit code, says whether the call worked."""
    return {int(m.group(1)): int(m.group(2)) for m in _VALUE.finditer(text)}


def parse_call_result(text: str) -> int | None:
    """The value of '$1 = N', or None if gdb never got that far."""
    return parse_print_values(text).get(1)


# What gdb prints when it could not attach or call (gdb 13.1, checked on this machine).
GDB_FAILURES: tuple[tuple[str, str], ...] = (
    ("is a zombie", "the process has exited (zombie)"),
    ("ptrace: Operation not permitted", "no permission to attach (run as root or as the owner)"),
    ("No symbol table is loaded", "the target has no symbols (stripped or static binary)"),
    ("has unknown return type", "gdb needs a cast to call this function"),
    ("Couldn't write extended state status", "gdb could not save the CPU state for the call"),
    ("No such process", "the process exited"),
)


GDB_MISSING = (
    "gdb is not installed: install it with the system's package manager (apt install gdb, "
    "dnf install gdb, apk add gdb)"
)


def classify_gdb_output(result: RunResult) -> str | None:
    """A one-line reason when gdb failed, or None when it ran."""
    if result.missing:
        return GDB_MISSING
    if result.timed_out:
        return result.silence
    if result.killed_by is not None:
        return result.first_error_line  # 'gdb crashed (killed by SIGSEGV): ...'
    text = result.stderr + "\n" + result.stdout
    for needle, reason in GDB_FAILURES:
        if needle in text:
            return reason
    return None if result.rc == 0 else result.first_error_line


CPU_STATE_FAILURE = "Couldn't write extended state status"


@dataclass(frozen=True, slots=True)
class GdbCall:
    """One gdb run of `call` commands: the printed $N values, and why it failed if it did."""

    result: RunResult
    values: dict[int, int]
    failure: str | None  # classify_gdb_output's reason; None when gdb ran

    @property
    def output(self) -> str:
        return self.result.stdout + "\n" + self.result.stderr

    @property
    def cpu_state_failure(self) -> bool:
        """gdb could not save the target's registers for the call (seen with AMX state on
        this test machine's CPU): the call did not run, and the system call the target was
        blocked in may have failed with a kernel-internal errno (512/514 were seen)."""
        return CPU_STATE_FAILURE in self.output


def run_calls(
    argv: list[str], *, timeout: float = DEFAULT_TIMEOUT, runner: Callable[..., RunResult] = run
) -> GdbCall:
    """Run a gdb argv built above; blocks (call it from a worker thread)."""
    result = runner(argv, timeout=timeout)
    return GdbCall(result, parse_print_values(result.stdout), classify_gdb_output(result))


_canary_lock = threading.Lock()
_canary: dict[str, str | None] = {}


def call_canary(
    gdb: str = "gdb", *, timeout: float = DEFAULT_TIMEOUT, runner: Callable[..., RunResult] = run
) -> str | None:
    """Can gdb call a function inside a process on this machine? It is asked once per gdb and
    per stucktui run, on a `sleep` started for the purpose, never on a user's process: on a CPU
    where gdb cannot save the register state, a failed call also broke the target's interrupted
    system call, and the Python targets tried died of it. None: it can (or no `sleep` exists to
    ask); otherwise the reason, quoting gdb."""
    with _canary_lock:
        if gdb not in _canary:
            _canary[gdb] = _ask_canary(gdb, timeout, runner)
        return _canary[gdb]


def _ask_canary(gdb: str, timeout: float, runner: Callable[..., RunResult]) -> str | None:
    sleep = shutil.which("sleep")
    if sleep is None:
        return None
    # A helper that must run alongside gdb, so not through runner.run; it is ended by its pid
    # below whatever happens.
    child = subprocess.Popen(
        [sleep, "600"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        call = run_calls(_argv(child.pid, ["call (int)getpid()"], gdb), timeout=timeout, runner=runner)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)
    if call.values.get(1) == child.pid:
        return None
    if call.cpu_state_failure:
        line = next(x for x in call.output.splitlines() if CPU_STATE_FAILURE in x).strip()
        return f"gdb cannot call functions in processes on this machine: a test call failed with {line!r}"
    return "gdb could not call a function in a test process: " + (call.failure or "no $1 = N line")


@dataclass(frozen=True, slots=True)
class GdbFrame:
    index: int
    function: str  # '??' when gdb has no symbol
    address: int | None  # None for the innermost frame of an inlined call
    args: str  # 'fd=3, buf=0x7f.., nbytes=1' or ''
    location: str  # 'read.c:26', 'libc.so.6' or ''


@dataclass(frozen=True, slots=True)
class GdbThread:
    number: int  # gdb's thread number
    tid: int  # LWP: the kernel tid, as in /proc/PID/task
    name: str | None
    frames: tuple[GdbFrame, ...]  # innermost first


_THREAD = re.compile(r'^Thread (\d+) \(.*?\(LWP (\d+)\)(?: "(.*)")?\):\s*$')
# '#2  0x.. in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442', '... from libc.so.6'
_FRAME = re.compile(r"^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(\S+) \((.*?)\)(?: (?:at|from) (\S+))?\s*$")


def parse_backtrace(text: str) -> tuple[GdbThread, ...]:
    """Output of `thread apply all bt`, sorted by tid. Lines that are not thread headers or
    frames (attach chatter, source-file warnings) are skipped."""
    threads: list[GdbThread] = []
    current: tuple[int, int, str | None] | None = None
    frames: list[GdbFrame] = []

    def flush() -> None:
        if current is not None:
            threads.append(GdbThread(current[0], current[1], current[2], tuple(frames)))

    for line in text.splitlines():
        if m := _THREAD.match(line):
            flush()
            current = (int(m.group(1)), int(m.group(2)), m.group(3))
            frames = []
        elif current is not None and (m := _FRAME.match(line)):
            frames.append(
                GdbFrame(
                    index=int(m.group(1)),
                    function=m.group(3),
                    address=int(m.group(2), 16) if m.group(2) else None,
                    args=m.group(4),
                    location=(m.group(5) or "").rsplit("/", 1)[-1],
                )
            )
    flush()
    threads.sort(key=lambda t: t.tid)
    return tuple(threads)


@dataclass(frozen=True, slots=True)
class NativeBacktrace:
    pid: int
    threads: tuple[GdbThread, ...]
    duration: float


@dataclass(frozen=True, slots=True)
class GdbError:
    pid: int
    reason: str
    timed_out: bool = False  # gdb was stopped while attached: the process may be left stopped


def native_backtrace(
    pid: int,
    *,
    timeout: float | None = None,
    gdb: str = "gdb",
    runner: Callable[..., RunResult] = run,
) -> NativeBacktrace | GdbError:
    """Attach, print every thread's stack, detach. Blocks for up to `timeout` (DEFAULT_TIMEOUT):
    call it from a worker thread."""
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    result = runner(backtrace_argv(pid, gdb=gdb), timeout=limit)
    threads = parse_backtrace(result.stdout)
    reason = classify_gdb_output(result)
    if reason is not None and not threads:
        return GdbError(pid, reason, timed_out=result.timed_out)
    if not threads:
        return GdbError(pid, "gdb printed no threads")
    return NativeBacktrace(pid, threads, result.duration)
