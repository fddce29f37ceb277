"""What to do about a refused read of another process's fds, exe, syscalls or stacks.

The kernel guards them with its ptrace read check (docs/kernel-notes.md §10.1). As an ordinary
user the answer is root or the owner (NOT_OWNER). Root is refused too: without CAP_SYS_PTRACE
(a container, a capability-dropped shell) when the target holds capabilities root's session
lacks, or by a security module or a user-namespace boundary; then "run as root" helps nobody,
and the reason says which.
"""

from __future__ import annotations

import os

from stucktui.procfs.errors import NOT_OWNER

CAP_SYS_PTRACE = 19  # include/uapi/linux/capability.h

WITHOUT_PTRACE = (
    "refused even to root: stucktui runs without CAP_SYS_PTRACE (a container or a "
    "capability-dropped shell) and the process holds capabilities this session lacks; run it "
    "with CAP_SYS_PTRACE (docker run --cap-add SYS_PTRACE)"
)
WITH_PTRACE = (
    "refused even to root, which has CAP_SYS_PTRACE: the process runs in a user namespace above "
    "this one, or a security module (SELinux, AppArmor, Landlock, Yama) forbids it"
)


def own_capabilities(path: str = "/proc/self/status") -> int | None:
    """This process's effective capabilities (CapEff), or None when unreadable. Always the
    real /proc: they belong to stucktui, not to a fixture tree."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        return None
    return None


def refusal_brief(euid: int | None = None, caps: int | None = -1) -> str:
    """refusal() in a few words, for a status line."""
    why = refusal(euid, caps)
    if why == NOT_OWNER:
        return "run stucktui as root to see them"
    if why == WITHOUT_PTRACE:
        return "refused even to root: this session lacks CAP_SYS_PTRACE (a container?)"
    return "refused even to root: a user namespace above this one, or a security module"


def refusal(euid: int | None = None, caps: int | None = -1) -> str:
    """One line: why the kernel refuses such a read, and what would help. `caps` (tests):
    the effective capabilities to judge by, -1 for this process's own."""
    if (os.geteuid() if euid is None else euid) != 0:
        return NOT_OWNER
    mine = own_capabilities() if caps == -1 else caps
    if mine is not None and not mine >> CAP_SYS_PTRACE & 1:
        return WITHOUT_PTRACE
    return WITH_PTRACE
