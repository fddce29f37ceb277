"""What threads asleep in the kernel wait on, read without touching the file system they wait
on: the mount under the fd of their call (fdinfo `mnt_id` -> /proc/PID/mountinfo) or under the
path argument read from their memory, their wait channel and kernel stack, and for a FUSE mount
the daemon holding its /dev/fuse connection. Nothing here stats or opens a path a process has
open: on a hung FUSE or NFS mount that would hang stucktui itself, unkillably
(docs/kernel-notes.md §A.6). readlink, fdinfo, mountinfo, stack and /proc/PID/mem are safe.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Sequence

from stucktui.collect.fdindex import FUSE_DEVICE, Owners, owners_of
from stucktui.collect.peers import stat_fields
from stucktui.model.mounts import (
    FuseDaemon,
    FuseServer,
    KernelWait,
    Mount,
    in_kernel_wait,
    memory_may_wait,
    mount_of_path,
    stat_safe,
)
from stucktui.model.threads import ThreadRow
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import fuse_connection, parse_fdinfo
from stucktui.procfs.fdtarget import strip_deleted
from stucktui.procfs.maps import mapping_at
from stucktui.procfs.mountinfo import parse_mounts
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.wchan import parse_stack

FUSECTL = "/sys/fs/fuse/connections"  # the fusectl file system, where it is mounted
_PATH_MAX = 4096
_PAGE = 4096
_MAX_THREADS = 64  # threads of one process looked at
_MAX_WAITS = 6  # objects told per process
_AT_FDCWD = -100

# Calls that name a file by a path: (the path pointer's argument, the directory fd's or None)
PATH_ARGS: dict[str, tuple[int, int | None]] = {
    **dict.fromkeys(
        ["open", "creat", "stat", "lstat", "stat64", "lstat64", "access", "readlink", "execve", "chdir",
         "chroot", "mkdir", "mknod", "unlink", "rmdir", "rename", "link", "truncate", "chmod", "chown",
         "lchown", "utime", "utimes", "statfs", "getxattr", "lgetxattr", "setxattr", "lsetxattr",
         "listxattr", "llistxattr", "removexattr", "lremovexattr", "umount2"],
        (0, None),
    ),
    **dict.fromkeys(
        ["openat", "openat2", "newfstatat", "fstatat64", "statx", "faccessat", "faccessat2", "readlinkat",
         "execveat", "mkdirat", "mknodat", "unlinkat", "renameat", "renameat2", "linkat", "fchmodat",
         "fchmodat2", "fchownat", "utimensat", "futimesat", "name_to_handle_at"],
        (1, 0),
    ),
    "symlink": (1, None),
    "symlinkat": (2, 1),
    "inotify_add_watch": (1, None),
    "mount": (1, None),
}  # fmt: skip


def read_mounts(root: ProcRoot, pid: int) -> tuple[Mount, ...]:
    """The mounts of the process's mount namespace, as it sees them. Raises ProcessGone,
    AccessDenied or OSError."""
    return parse_mounts(root.read_text(pid, "mountinfo", pid=pid))


def fd_mount_id(root: ProcRoot, pid: int, fd: int) -> int | None:
    """The mount an fd's file is on, from its fdinfo (no stat of the file)."""
    try:
        return parse_fdinfo(root.read_text(pid, "fdinfo", fd, pid=pid)).mnt_id
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None


def read_string(root: ProcRoot, pid: int, addr: int, limit: int = _PATH_MAX) -> str | None:
    """The NUL-terminated string at `addr` in the process's memory: one pread per page, at
    most `limit` bytes. Needs the right to ptrace it (root, or its owner); it does not stop
    the process. None when unreadable, unmapped or longer than `limit`."""
    if addr <= 0:
        return None
    try:
        fd = os.open(root.join(pid, "mem"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        got = b""
        while len(got) < limit:
            at = addr + len(got)
            chunk = os.pread(fd, min(_PAGE - at % _PAGE, limit - len(got)), at)
            if not chunk:
                return None
            end = chunk.find(b"\0")
            if end >= 0:
                return (got + chunk[:end]).decode("utf-8", "backslashreplace")
            got += chunk
        return None
    except (OSError, OverflowError, ValueError):
        return None
    finally:
        os.close(fd)


def _readlink(root: ProcRoot, pid: int, *parts: object) -> str | None:
    try:
        return root.readlink(pid, *parts, pid=pid)
    except (ProcessGone, AccessDenied, OSError):
        return None


def local_span(root: ProcRoot, pid: int, addr: int, mounts: Sequence[Mount]) -> int:
    """How many bytes from `addr` can be read from the process's memory without a page of a
    FUSE or network file being read in for it: to the end of its mapping when that is anonymous
    memory (the stack, the heap) or a file on a local mount; else 0 (also when unmapped or
    maps is unreadable). A fault on a hung FUSE file waits like the reads of §A.6, and
    unkillably where the daemon reads synchronously (docs/kernel-notes.md §10.5)."""
    try:
        m = mapping_at(root.read_text(pid, "maps", pid=pid), addr)
    except (ProcessGone, AccessDenied, OSError):
        return 0
    if m is None:
        return 0
    if m.inode:
        mount = next((x for x in mounts if (x.major, x.minor) == (m.major, m.minor)), None)
        if mount is None or not stat_safe(mount.fstype):
            return 0
    return m.end - addr


def path_argument(
    root: ProcRoot, pid: int, call: str, args: Sequence[int], mounts: Sequence[Mount] | None = None
) -> str | None:
    """The path a call names, made absolute against its directory fd or the working directory
    (both read with readlink) and normalised lexically; None when it cannot be read. Given the
    process's `mounts`, only memory that cannot fault a page in from a FUSE or network file is
    read (local_span)."""
    where = PATH_ARGS.get(call)
    if where is None or len(args) <= where[0]:
        return None
    limit = _PATH_MAX if mounts is None else min(_PATH_MAX, local_span(root, pid, args[where[0]], mounts))
    path = read_string(root, pid, args[where[0]], limit) if limit > 0 else None
    if not path:
        return None
    if not path.startswith("/"):
        dirfd = _AT_FDCWD
        if where[1] is not None:
            dirfd = args[where[1]] & 0xFFFFFFFF
            dirfd = dirfd - (1 << 32) if dirfd & 0x80000000 else dirfd
        base = _readlink(root, pid, "cwd") if dirfd == _AT_FDCWD else _readlink(root, pid, "fd", dirfd)
        if base is None or not base.startswith("/"):
            return path
        path = posixpath.join(strip_deleted(base), path)
    return posixpath.normpath(path)


def _stack(root: ProcRoot, pid: int, t: ThreadRow) -> tuple[str, ...]:
    if t.kernel_stack is not None:
        return t.kernel_stack
    try:  # root only (docs/kernel-notes.md §1.1)
        return parse_stack(root.read_text(pid, "task", t.tid, "stack", pid=pid))
    except (ProcessGone, AccessDenied, OSError):
        return ()


class _Mounts:
    """A process's mounts, read at the first need."""

    def __init__(self, root: ProcRoot, pid: int) -> None:
        self.root, self.pid = root, pid
        self._all: tuple[Mount, ...] | None = None

    @property
    def all(self) -> tuple[Mount, ...]:
        if self._all is None:
            try:
                self._all = read_mounts(self.root, self.pid)
            except (ProcessGone, AccessDenied, OSError):
                self._all = ()
        return self._all

    def of_fd(self, fd: int, link: str) -> Mount | None:
        mnt_id = fd_mount_id(self.root, self.pid, fd)
        found = next((m for m in self.all if m.mount_id == mnt_id), None) if mnt_id is not None else None
        return found or mount_of_path(self.all, strip_deleted(link))


def _object(
    root: ProcRoot, pid: int, t: ThreadRow, mounts: _Mounts, memory: bool
) -> tuple[int | None, str | None, Mount | None]:
    """(fd, path, mount) of what the thread's call names; its path argument only where
    `memory` may be read."""
    name = t.call.name if t.call is not None else None
    if t.fd_args:
        fd = t.fd_args[0].fd
        link = _readlink(root, pid, "fd", fd)
        if link is None or not link.startswith("/"):
            return fd, link, None
        return fd, link, mounts.of_fd(fd, link)
    if memory and name in PATH_ARGS and t.syscall is not None:
        path = path_argument(root, pid, name, t.syscall.args, mounts.all)
        return None, path, mount_of_path(mounts.all, path) if path else None
    return None, None, None


def kernel_waits_of(
    root: ProcRoot, pid: int, rows: Sequence[ThreadRow], every: Sequence[ThreadRow] | None = None
) -> tuple[KernelWait, ...]:
    """The threads of `rows` asleep in the kernel (model.mounts.in_kernel_wait), grouped by
    what they wait on; the FUSE daemon is not looked for here (FuseLookup). `every`: all the
    threads of the process (default `rows`), which say whether its memory may be read."""
    chosen = [t for t in rows if in_kernel_wait(t)][:_MAX_THREADS]
    if not chosen:
        return ()
    mounts = _Mounts(root, pid)
    memory = not memory_may_wait(list(every if every is not None else rows))
    seen: dict[tuple[object, ...], tuple[int | None, str | None, Mount | None]] = {}
    groups: dict[tuple[object, ...], tuple[list[ThreadRow], tuple[int | None, str | None, Mount | None]]] = {}
    for t in chosen:
        name = t.call.name if t.call is not None else None
        # threads in one call on one fd, or with the same arguments, name the same object
        args = t.syscall.args if t.syscall is not None else ()
        ident: tuple[object, ...] = (name, t.fd_args[0].fd) if t.fd_args else (name, args)
        if ident not in seen:
            seen[ident] = _object(root, pid, t, mounts, memory)
        obj = seen[ident]
        fd, path, mount = obj
        key: tuple[object, ...] = (t.state, name, fd, path, mount.mount_id if mount else None)
        if fd is None and path is None:
            key += (t.wchan,)
        groups.setdefault(key, ([], obj))[0].append(t)
    out = []
    for members, (fd, path, mount) in list(groups.values())[:_MAX_WAITS]:
        first = members[0]
        name = first.call.name if first.call is not None else None
        tids = tuple(t.tid for t in members)
        out.append(
            KernelWait(tids, first.state, name, first.wchan, _stack(root, pid, first), fd, path, mount)
        )
    return tuple(out)


def fuse_daemons(
    root: ProcRoot, owners: Callable[[set[str]], tuple[Owners, int]] | None = None
) -> tuple[dict[int, tuple[FuseDaemon, ...]], int]:
    """connection -> the processes holding a /dev/fuse fd of it (fdinfo `fuse_connection:`),
    and how many processes could not be read: one readlink of every fd on the box (or the
    holders `owners` gives: BoxFacts's kept index), and one fdinfo read per /dev/fuse fd."""
    found, unreadable = owners({FUSE_DEVICE}) if owners is not None else owners_of(root, {FUSE_DEVICE})
    out: dict[int, list[FuseDaemon]] = {}
    for pid, fd in found.get(FUSE_DEVICE, []):
        try:
            conn = fuse_connection(root.read_text(pid, "fdinfo", fd, pid=pid))
        except (ProcessGone, AccessDenied, OSError):
            continue
        if conn is None:
            continue
        st = stat_fields(root, pid)
        out.setdefault(conn, []).append(FuseDaemon(pid, st[0] if st else "?", fd))
    return {k: tuple(v) for k, v in out.items()}, unreadable


def fuse_control(connection: int, fusectl: str = FUSECTL) -> tuple[bool, int | None]:
    """(whether /sys/fs/fuse/connections/N exists, its `waiting` count): the requests sent and
    not answered yet. fusectl is a file system of its own: reading it never waits on the
    FUSE mount."""
    base = f"{fusectl}/{connection}"
    try:
        with open(f"{base}/waiting", "rb") as f:
            return True, int(f.read(64).strip() or b"0")
    except (OSError, ValueError):
        return os.path.isdir(base), None


class FuseLookup:
    """The FUSE daemons of the box, found by one scan at the first need (per wait graph, or
    per refresh through BoxFacts, whose index gives the /dev/fuse holders)."""

    def __init__(
        self,
        root: ProcRoot,
        fusectl: str = FUSECTL,
        owners: Callable[[set[str]], tuple[Owners, int]] | None = None,
    ) -> None:
        self.root, self.fusectl, self._owners = root, fusectl, owners
        self._daemons: tuple[dict[int, tuple[FuseDaemon, ...]], int] | None = None

    def server(self, connection: int) -> FuseServer:
        if self._daemons is None:
            self._daemons = fuse_daemons(self.root, self._owners)
        daemons, unreadable = self._daemons
        control, waiting = fuse_control(connection, self.fusectl)
        return FuseServer(connection, daemons.get(connection, ()), unreadable, waiting, control)
