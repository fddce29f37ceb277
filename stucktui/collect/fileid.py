"""Which file an fd refers to, told without touching the file.

/proc/locks names a locked file by (major, minor, inode): the device of its file system and its
inode number. The same three come from the fd's fdinfo (`mnt_id:`, `ino:`) and the line of
/proc/PID/mountinfo with that mount id, none of which enters the file's own file system. A
stat() through /proc/PID/fd/N would: on a hung FUSE or network mount it never returns, and
once the daemon has read the request not even SIGKILL ends the thread that made it, so the
whole of stucktui could never exit (docs/kernel-notes.md §A.6, §10.5).

Where a file's type is really needed (a FIFO, a directory, a device) `fd_stat` asks with
statx for the cached attributes only, and only on a local file system.
"""

from __future__ import annotations

from stucktui.model.fdinfo import FdInfo
from stucktui.model.locks import DevIno
from stucktui.model.mounts import stat_safe
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdtarget import bracket_inode
from stucktui.procfs.mountinfo import parse_mount_devices
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.statx import FileStat, statx_cached


class MountTable:
    """mount id -> (major, minor, fstype) of one process's mount namespace, read at the
    first need. An unreadable mountinfo leaves every mount unknown: never stat-safe."""

    def __init__(self, root: ProcRoot, pid: int, piddir: PidDir | None = None) -> None:
        self.root, self.pid, self._d = root, pid, piddir
        self._mounts: dict[int, tuple[int, int, str]] | None = None

    @property
    def mounts(self) -> dict[int, tuple[int, int, str]]:
        if self._mounts is None:
            try:
                text = (
                    self._d.read_text("mountinfo")
                    if self._d is not None
                    else self.root.read_text(self.pid, "mountinfo", pid=self.pid)
                )
                self._mounts = parse_mount_devices(text)
            except (ProcessGone, AccessDenied, OSError):
                self._mounts = {}
        return self._mounts

    def fstype(self, mnt_id: int | None) -> str | None:
        m = self.mounts.get(mnt_id) if mnt_id is not None else None
        return m[2] if m is not None else None

    def stat_safe(self, mnt_id: int | None) -> bool:
        return stat_safe(self.fstype(mnt_id))

    def key(self, info: FdInfo | None) -> DevIno | None:
        """The (major, minor, inode) of the fd's file; None before Linux 5.14 (no `ino:`) or
        when its mount is not in the process's namespace (an fd passed in from another)."""
        if info is None or info.ino is None or info.mnt_id is None:
            return None
        m = self.mounts.get(info.mnt_id)
        return (m[0], m[1], info.ino) if m is not None else None


class MountTables:
    """One MountTable per mount namespace, for scans over many processes: a namespace's
    mountinfo is read once, at the first fd that needs it."""

    def __init__(self, root: ProcRoot) -> None:
        self.root = root
        self._by_ns: dict[int, MountTable] = {}

    def of(self, pid: int) -> MountTable:
        try:
            ns = bracket_inode(self.root.readlink(pid, "ns", "mnt", pid=pid))
        except (ProcessGone, AccessDenied, OSError):
            ns = None
        if ns is None:
            return MountTable(self.root, pid)  # unnamed (a fixture tree): its own table
        table = self._by_ns.get(ns)
        if table is None:
            table = self._by_ns[ns] = MountTable(self.root, pid)
        return table


AT_FDCWD = -100


def fd_key(dirfd: int, link: str, info: FdInfo | None, mounts: MountTable) -> DevIno | None:
    """(major, minor, inode) of the file behind the fd link `link` (relative to `dirfd`: the
    pinned /proc/PID directory, or AT_FDCWD for a full path): from fdinfo and mountinfo; on a
    kernel without fdinfo `ino:`, from a cached-attributes statx where the mount is local."""
    key = mounts.key(info)
    if key is not None or info is None or info.ino is not None:
        return key
    st = fd_stat(dirfd, link, info.mnt_id, mounts)
    m = mounts.mounts.get(info.mnt_id) if info.mnt_id is not None else None
    return (m[0], m[1], st.st_ino) if st is not None and m is not None else None


def fd_stat(dirfd: int, link: str, mnt_id: int | None, mounts: MountTable) -> FileStat | None:
    """Type and inode of the file behind the fd link `link` from the kernel's cache (statx
    AT_STATX_DONT_SYNC), made only when its mount is a local file system; None elsewhere
    or on error."""
    if not mounts.stat_safe(mnt_id):
        return None
    try:
        return statx_cached(dirfd, link)
    except (OSError, ValueError):
        return None
