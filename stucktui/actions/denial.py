"""Why the kernel refused to let stucktui read or take over another process's fds, in words.

Reading /proc/PID/fd needs a ptrace "read" check and pidfd_getfd an "attach" one
(docs/kernel-notes.md §10.1). As an ordinary user the answer is to run as root or as the owner.
Root is refused too when it lacks CAP_SYS_PTRACE (a container, a capability-dropped shell) and
the target holds capabilities root's session does not, when Yama's ptrace_scope is 3, or when a
security module (SELinux, AppArmor, Landlock, a BPF LSM) says no. Telling root to "run as
root" helps nobody.
"""

from __future__ import annotations

import os

from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot

CAP_SYS_PTRACE = 19  # include/uapi/linux/capability.h
_YAMA = "/proc/sys/kernel/yama/ptrace_scope"


def _caps(root: ProcRoot, pid: int | str, field: str) -> int | None:
    try:
        text = root.read_text(pid, "status", pid=pid if isinstance(pid, int) else None)
    except (ProcessGone, AccessDenied, OSError):
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == field:
            try:
                return int(value.strip(), 16)
            except ValueError:
                return None
    return None


def _yama_scope() -> int | None:
    try:
        with open(_YAMA) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def no_permission(pid: int, what: str = "take over the fds", *, euid: int | None = None) -> str:
    """One line: why the kernel said no to `what` (e.g. "read the fds") of process `pid`."""
    if (os.geteuid() if euid is None else euid) != 0:
        return f"no permission to {what} of process {pid}: run as root or as its owner"
    root = ProcRoot()
    ours, theirs = _caps(root, "self", "CapEff"), _caps(root, pid, "CapPrm")
    head = f"the kernel refuses root to {what} of process {pid}"
    if ours is not None and not ours >> CAP_SYS_PTRACE & 1:
        extra = ""
        if theirs is not None and theirs & ~ours:
            extra = " and the process holds capabilities this session lacks"
        return (
            f"{head}: stucktui runs without CAP_SYS_PTRACE (a container or a capability-dropped shell){extra}"
        )
    if _yama_scope() == 3 and what.startswith("take over"):
        return f"{head}: Yama's ptrace_scope is 3, which forbids it even to root"
    return (
        f"{head} although it has CAP_SYS_PTRACE: a security module (SELinux, AppArmor, Landlock, "
        "a BPF LSM) or a user-namespace boundary forbids it"
    )
