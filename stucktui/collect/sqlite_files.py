"""Which locked files of a process are SQLite databases (or their WAL index), so that their
lock bytes can be named (stucktui.model.sqlite_locks).

The header is the proof, but reading it opens the file through /proc/PID/fd/N, which touches
its filesystem: on a hung FUSE, NFS or CIFS mount that read may never return. So the header is
read only when the fd's mount (fdinfo `mnt_id:` -> /proc/PID/mountinfo) is a local filesystem;
elsewhere the names decide (docs/kernel-notes.md §A.7)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from stucktui.model import sqlite_locks as Q
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.mountinfo import parse_mountinfo
from stucktui.procfs.root import ProcRoot

# Filesystems whose reads are served by this kernel from local storage or memory: opening and
# reading 16 bytes there cannot wait on a daemon or a server (at worst on the disk, killably).
# Anything else (fuse*, nfs*, cifs, smb3, 9p, ceph, an unknown type) is never opened, nor is
# overlay, which opens the file on its layer, a FUSE or network one maybe, nor erofs, whose
# on-demand mode waits for a user-space daemon (docs/kernel-notes.md §10.5).
LOCAL_FSTYPES = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs", "ramfs", "vfat", "exfat", "jfs",
     "reiserfs", "bcachefs", "nilfs2", "hfsplus", "ntfs3", "squashfs"}
)  # fmt: skip


class SqliteFiles:
    """Decides, for one process, which of its open files are SQLite's: DB, SHM or None per
    path. Reads its mountinfo once, and each header at most once."""

    def __init__(self, root: ProcRoot, pid: int, open_paths: Iterable[str]) -> None:
        self.root, self.pid = root, pid
        self.open_paths = frozenset(open_paths)
        self._mounts: dict[int, str] | None = None
        self._kinds: dict[str, str | None] = {}

    def fstype(self, mnt_id: int | None) -> str | None:
        if mnt_id is None:
            return None
        if self._mounts is None:
            try:
                self._mounts = parse_mountinfo(self.root.read_text(self.pid, "mountinfo", pid=self.pid))
            except (ProcessGone, AccessDenied, OSError):
                self._mounts = {}
        return self._mounts.get(mnt_id)

    def kind(self, path: str, fd: int | None, mnt_id: int | None) -> str | None:
        if path not in self._kinds:
            self._kinds[path] = self._decide(path, fd, mnt_id)
        return self._kinds[path]

    def _decide(self, path: str, fd: int | None, mnt_id: int | None) -> str | None:
        if path.endswith(Q.SIBLING_SUFFIXES):
            return Q.kind_by_name(path, self.open_paths)  # a -shm file has no header of its own
        if fd is None or self.fstype(mnt_id) not in LOCAL_FSTYPES:
            return Q.kind_by_name(path, self.open_paths)
        head = self._head(fd)
        if head is None:
            return Q.kind_by_name(path, self.open_paths)
        return Q.DB if head == Q.HEADER else None

    def _head(self, fd: int) -> bytes | None:
        """The file's first 16 bytes, through the process's own fd (never by its path, which
        may name another file by now). Non-blocking, no controlling tty: a FIFO or a device
        that slipped through opens without waiting."""
        try:
            flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
            f = os.open(self.root.join(self.pid, "fd", fd), flags)
        except OSError:
            return None
        try:
            return os.pread(f, len(Q.HEADER), 0)
        except OSError:
            return None
        finally:
            os.close(f)
