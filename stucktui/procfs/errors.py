"""The two exceptions every /proc read turns into: the process is gone, or access is denied."""

from __future__ import annotations

import errno

# What to do about AccessDenied, said the same everywhere: the owner alone is not always enough.
NOT_OWNER = (
    "run stucktui as root: another user's process, or a non-dumpable one such as an sshd "
    "session, which even its owner cannot read"
)


class ProcError(Exception):
    """Base of the data layer's exceptions."""


class ProcessGone(ProcError):
    """The process exited (or its pid was reused) while we were reading it."""

    def __init__(self, pid: int | None, what: str = "") -> None:
        self.pid = pid
        self.what = what
        super().__init__(f"process {pid} is gone" + (f" (reading {what})" if what else ""))


class AccessDenied(ProcError):
    """The kernel refused the read: another user's process, or a non-dumpable one."""

    def __init__(self, pid: int | None, what: str = "") -> None:
        self.pid = pid
        self.what = what
        super().__init__(f"no permission to read {what or 'process'} of {pid}")


# errnos that mean "this process no longer exists" when they come from a /proc/PID read.
# ESRCH comes from reads through a file or directory fd opened before the exit (docs/kernel-notes.md §10.4).
GONE_ERRNOS = frozenset({errno.ESRCH})
DENIED_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
