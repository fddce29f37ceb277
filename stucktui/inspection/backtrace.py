"""Native stacks of every thread with gdb, for the UI: the command it will run (shown before
asking), and the run itself (blocking: call it from a worker thread). The UI imports this, not
stucktui.tools."""

from __future__ import annotations

import shlex
from dataclasses import replace

from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.stat import parse_stat
from stucktui.tools.gdb import (
    GdbError,
    GdbFrame,
    GdbThread,
    NativeBacktrace,
    backtrace_argv,
    native_backtrace,
)

__all__ = ["GdbError", "GdbFrame", "GdbThread", "NativeBacktrace", "backtrace_command", "take_backtrace"]


def backtrace_command(pid: int) -> str:
    """The gdb command line, quoted as a shell would need it."""
    return shlex.join(backtrace_argv(pid))


def take_backtrace(pid: int, root: ProcRoot | None = None) -> NativeBacktrace | GdbError:
    """Attach gdb, read every thread's stack, detach: gdb stops the process meanwhile. When
    gdb did not answer and was killed while attached, the process may be left stopped (the
    SIGSTOP of the attach outlives the tracer): the reason then says so, and how to resume it."""
    out = native_backtrace(pid)
    if isinstance(out, GdbError) and out.timed_out:
        try:
            state = parse_stat((root or ProcRoot()).read_text(pid, "stat", pid=pid)).state
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return out
        if state in ("T", "t"):
            left = (
                f"; process {pid} was left stopped (state {state}): `stucktui signal {pid} CONT` resumes it"
            )
            return replace(out, reason=out.reason + left)
    return out
