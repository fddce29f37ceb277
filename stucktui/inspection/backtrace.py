"""Native stacks of every thread with gdb, for the UI: the command it will run (shown before
asking), and the run itself (blocking: call it from a worker thread). The UI imports this, not
stucktui.tools."""

from __future__ import annotations

import shlex

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


def take_backtrace(pid: int) -> NativeBacktrace | GdbError:
    """Attach gdb, read every thread's stack, detach: gdb stops the process meanwhile."""
    return native_backtrace(pid)
