"""How full another process's pipe is, through a pidfd_getfd duplicate that is never read."""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import os
import platform
import select
import stat
import termios
from collections.abc import Callable

from stucktui.model.files import PipeFill
from stucktui.procfs.statx import statx_cached

# pidfd_getfd(2) has the same number on every architecture that uses the unified syscall
# table (arch/x86/entry/syscalls/syscall_64.tbl, syscall_32.tbl, include/uapi/asm-generic/
# unistd.h); MIPS and Alpha offset it and are left out rather than guessed.
_SYS_PIDFD_GETFD = {
    "x86_64": 438,
    "i386": 438,
    "i686": 438,
    "aarch64": 438,
    "armv7l": 438,
    "armv8l": 438,
    "riscv64": 438,
    "ppc64le": 438,
    "ppc64": 438,
    "s390x": 438,
    "loongarch64": 438,
}.get(platform.machine())
SYSCALL_NR = _SYS_PIDFD_GETFD or 0  # for a helper process that makes the call itself

# F_GETPIPE_SZ from include/uapi/linux/fcntl.h (F_LINUX_SPECIFIC_BASE + 8); Python >= 3.10 has it.
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)

NOT_PERMITTED = "not permitted"  # EPERM: another user's process, or no CAP_SYS_PTRACE
GONE = "process gone"
BAD_FD = "fd not open"
CHANGED = "fd now refers to another file"
NOT_A_PIPE = "not a pipe"
UNSUPPORTED = "pidfd_getfd not available"

_libc: ctypes.CDLL | None = None


def _syscall() -> Callable[..., int]:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    fn: Callable[..., int] = _libc.syscall
    return fn


def pidfd_getfd(pidfd: int, target_fd: int) -> int:
    """A duplicate of the target's fd in this process (same open file description, so
    reading it would steal the target's data; it has FD_CLOEXEC). Raises OSError."""
    if _SYS_PIDFD_GETFD is None:
        raise OSError(errno.ENOSYS, f"pidfd_getfd: unknown syscall number on {platform.machine()}")
    fd = _syscall()(_SYS_PIDFD_GETFD, pidfd, target_fd, 0)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(fd)


def pipe_fill(
    pid: int,
    fd: int,
    *,
    expect_inode: int | None = None,
    still_same: Callable[[], bool] | None = None,
) -> PipeFill:
    """FIONREAD and F_GETPIPE_SZ on a duplicate of `pid`'s fd, closed at once.

    `still_same` (e.g. PidDir.alive) is asked after the pidfd is open: if the pinned process
    still exists then, the pidfd names it and not a process that reused its pid.
    `expect_inode` guards against the fd having been closed and reused since it was listed.
    Only these two queries touch the duplicate: no read, no write, no lock (docs/kernel-notes.md §2.2).
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return PipeFill(None, None, GONE)
    except OSError as exc:
        return PipeFill(None, None, _reason(exc))
    try:
        if still_same is not None and not still_same():
            return PipeFill(None, None, GONE)
        return _measure(pidfd, fd, expect_inode)
    finally:
        os.close(pidfd)


def _measure(pidfd: int, fd: int, expect_inode: int | None) -> PipeFill:
    try:
        dup = pidfd_getfd(pidfd, fd)
    except OSError as exc:
        return PipeFill(None, None, _reason(exc))
    # While we hold `dup` the pipe end stays open, so the target's peer would not see EOF or
    # EPIPE: nothing between here and the close may block.
    try:
        st = statx_cached(dup, "")  # cached attributes: a FIFO on a FUSE mount asks no daemon
        if not stat.S_ISFIFO(st.st_mode):
            return PipeFill(None, None, NOT_A_PIPE)
        if expect_inode is not None and st.st_ino != expect_inode:
            return PipeFill(None, None, CHANGED)
        n = array.array("i", [0])
        fcntl.ioctl(dup, termios.FIONREAD, n, True)
        # poll with no wait: a read end with no writer left says HUP, a write end with no
        # reader ERR; the duplicate is the same end, so it adds no party of the other kind
        p = select.poll()
        p.register(dup, 0)
        revents = next((ev for _, ev in p.poll(0)), 0)
        hung = bool(revents & (select.POLLHUP | select.POLLERR))
        return PipeFill(n[0], fcntl.fcntl(dup, _F_GETPIPE_SZ), hung_up=hung)
    except OSError as exc:
        return PipeFill(None, None, _reason(exc))
    finally:
        os.close(dup)


def pipe_fills(
    pid: int,
    fds: list[tuple[int, int | None]],
    *,
    still_same: Callable[[], bool] | None = None,
) -> dict[int, PipeFill]:
    """pipe_fill for many (fd, expected inode) of one process through a single pidfd."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as exc:
        return dict.fromkeys((fd for fd, _ in fds), PipeFill(None, None, _reason(exc)))
    try:
        if still_same is not None and not still_same():
            return dict.fromkeys((fd for fd, _ in fds), PipeFill(None, None, GONE))
        return {fd: _measure(pidfd, fd, ino) for fd, ino in fds}
    finally:
        os.close(pidfd)


def failure_reason(exc: OSError) -> str:
    """One of the constants above for an error of pidfd_open or pidfd_getfd."""
    return _reason(exc)


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EPERM, errno.EACCES):
        return NOT_PERMITTED
    if exc.errno == errno.ESRCH:
        return GONE
    if exc.errno == errno.EBADF:
        return BAD_FD
    if exc.errno in (errno.ENOSYS, errno.EINVAL):
        return UNSUPPORTED
    return f"error: {os.strerror(exc.errno or 0)}"
