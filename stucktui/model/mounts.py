"""Mounts, and what threads asleep in the kernel wait on: the mount under the file their call
names, and for a FUSE mount the daemon that must answer. Pure data and the pure helpers that
word them; stucktui.collect.mounts reads them, never touching the file system itself
(docs/kernel-notes.md §A.6).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Final

from stucktui.model.threads import ThreadRow

# File systems whose every access may wait on something outside this kernel: a daemon (FUSE), a
# server (NFS, SMB, 9P, Ceph, AFS, cluster file systems). A stat() of a file there can sleep
# until it answers, so stucktui never stats or opens anything on them.
REMOTE_FSTYPES: Final = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "afs", "lustre", "gfs2", "ocfs2", "glusterfs",
     "virtiofs"}
)  # fmt: skip
# Where a thread waits for a FUSE daemon's answer to its request: interruptibly (S) at first,
# and in D once a fatal signal came (docs/kernel-notes.md §A.6)
FUSE_WCHANS: Final = frozenset({"request_wait_answer"})
# Kernel stack frames that only say "a syscall": left out when the stack is worded
_ENTRY_FRAMES: Final = ("entry_SYSCALL", "do_syscall", "__x64_sys_", "__do_sys_", "ksys_", "x64_sys_call")


def is_fuse(fstype: str) -> bool:
    """'fuse', 'fuse.sshfs', 'fuseblk': a mount a FUSE daemon serves."""
    return fstype.partition(".")[0] in ("fuse", "fuseblk")


def is_remote(fstype: str) -> bool:
    """A mount served by a daemon or a server: an access may wait on it."""
    return is_fuse(fstype) or fstype in REMOTE_FSTYPES


# File systems this kernel serves by itself, from a local disk or from memory: the only ones
# where stucktui asks for a file's type, with a statx that takes the cached attributes
# (docs/kernel-notes.md §10.5). overlay passes that flag on to its layers, so even a FUSE layer
# is not asked. Anything else, remote or unknown, is told from its fd link and fdinfo alone.
STAT_SAFE_FSTYPES: Final = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "jfs", "reiserfs", "bcachefs", "nilfs2",
     "vfat", "msdos", "exfat", "ntfs3", "hfsplus", "iso9660", "udf", "squashfs", "erofs", "overlay",
     "tmpfs", "ramfs", "devtmpfs", "devpts", "proc", "sysfs", "cgroup", "cgroup2", "mqueue",
     "hugetlbfs", "debugfs", "tracefs", "securityfs", "bpf", "pstore", "configfs", "efivarfs",
     "binfmt_misc", "nsfs"}
)  # fmt: skip


def stat_safe(fstype: str | None) -> bool:
    """A statx of a file there (cached attributes only) cannot wait on a daemon or a server."""
    return fstype in STAT_SAFE_FSTYPES


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of /proc/PID/mountinfo, its paths unescaped."""

    mount_id: int
    parent_id: int
    major: int
    minor: int
    root: str  # the directory of the file system mounted there
    point: str  # relative to the process's root directory
    options: str
    fstype: str  # 'ext4', 'nfs4', 'fuse', 'fuse.sshfs'
    source: str  # 'server:/export', '/dev/sda1', the FUSE daemon's own name
    super_options: str = ""

    @property
    def device(self) -> str:
        return f"{self.major}:{self.minor}"

    @property
    def fuse(self) -> bool:
        return is_fuse(self.fstype)

    @property
    def remote(self) -> bool:
        """Served by a daemon or a server: an access may wait on it (REMOTE_FSTYPES, FUSE)."""
        return is_remote(self.fstype)

    @property
    def fuse_connection(self) -> int:
        """The FUSE connection's number (/sys/fs/fuse/connections/N, fdinfo `fuse_connection:`
        of the daemon's /dev/fuse fd): the superblock's device number as the kernel holds it,
        major << 20 | minor; for a `fuse` mount (major 0) just the minor."""
        return (self.major << 20) | self.minor

    def describe(self) -> str:
        """'nfs4 mount /mnt/x (server:/export, 0:53)'."""
        source = f"{self.source}, " if self.source and self.source != "none" else ""
        return f"{self.fstype} mount {self.point} ({source}{self.device})"


def mount_of_path(mounts: tuple[Mount, ...], path: str) -> Mount | None:
    """The mount a path lies on: the longest mount point that is the path or one of its
    directories (the last one listed when several are stacked on the same point). Lexical
    only: the path is never looked up."""
    path = posixpath.normpath(path) if path.startswith("/") else ""
    if not path:
        return None
    best: Mount | None = None
    for m in mounts:
        p = m.point
        on = path == p or p == "/" or path.startswith(p + "/")
        if on and (best is None or len(p) >= len(best.point)):
            best = m
    return best


@dataclass(frozen=True, slots=True)
class FuseDaemon:
    pid: int
    name: str
    fd: int  # its /dev/fuse fd of the connection


@dataclass(frozen=True, slots=True)
class FuseServer:
    """Who serves one FUSE connection: the processes holding a /dev/fuse fd whose fdinfo names
    it, and what its control directory says."""

    connection: int
    daemons: tuple[FuseDaemon, ...]
    unreadable: int = 0  # processes whose fds could not be read: one of them may serve it
    waiting: int | None = None  # requests not answered yet; None: no control directory
    control: bool = False  # /sys/fs/fuse/connections/N exists (fusectl is mounted)


@dataclass(frozen=True, slots=True)
class KernelWait:
    """Threads of one process asleep in the kernel (state D, or waiting for a FUSE daemon's
    answer) on one object: what they wait on, as far as it can be told without touching it."""

    tids: tuple[int, ...]
    state: str  # of the first thread: 'D', or 'S' in a FUSE request
    call: str | None  # 'read', 'newfstatat'; None: not in a syscall (a page fault, say)
    wchan: str | None
    stack: tuple[str, ...] = ()  # the first thread's kernel stack, innermost first (root only)
    fd: int | None = None
    path: str | None = None  # the fd's link, or the path argument read from its memory
    mount: Mount | None = None
    fuse: FuseServer | None = None

    @property
    def on_fuse(self) -> bool:
        return (self.mount is not None and self.mount.fuse) or self.wchan in FUSE_WCHANS


def in_kernel_wait(t: ThreadRow) -> bool:
    """A thread asleep in the kernel on something stucktui names: uninterruptible sleep (D), or a
    FUSE request waiting for the daemon's answer."""
    return t.state == "D" or (t.state == "S" and t.wchan in FUSE_WCHANS)


# Calls that change a process's mappings: they hold its mmap lock for writing, or queue for it
_MM_CALLS: Final = frozenset(
    {"mmap", "munmap", "mremap", "mprotect", "pkey_mprotect", "brk", "madvise", "mlock", "mlock2",
     "munlock", "mlockall", "munlockall", "msync", "remap_file_pages", "process_vm_readv",
     "process_vm_writev", "execve", "execveat", "exit", "exit_group"}
)  # fmt: skip


def memory_may_wait(rows: tuple[ThreadRow, ...] | list[ThreadRow]) -> bool:
    """A read of the process's memory could wait: /proc/PID/mem takes its mmap lock for reading,
    which waits behind a thread holding it for writing, or queued for it, while that thread
    sleeps. So not while a thread is in D in a page fault (outside a syscall), in a call that
    changes the mappings, or in a read-write semaphore (docs/kernel-notes.md §A.6)."""
    for t in rows:
        if t.state != "D":
            continue
        if t.call is None or t.call.name in _MM_CALLS:
            return True
        w = t.wchan or ""
        if "rwsem" in w or "mmap" in w or w.startswith(("down_read", "down_write")):
            return True
    return False


_READS: Final = frozenset(
    {"read", "readv", "pread64", "preadv", "preadv2", "splice", "sendfile", "copy_file_range"}
)
_WRITES: Final = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2"})


def object_text(w: KernelWait, ing: bool = False) -> str:
    """What the call waits on, as a hop names its object: 'read from fd 3 (/mnt/x/file) on nfs4
    mount /mnt/x (server:/export, 0:53)', 'newfstatat() of /mnt/x/a on ...'; `ing`: as a clause,
    'reading fd 3 (...) on ...', 'in newfstatat() of ...'. What is not known says so."""
    call = w.call
    if w.fd is not None:
        where = f"fd {w.fd} ({w.path})" if w.path else f"fd {w.fd}"
        if call in _READS:
            verb = "reading" if ing else "read from"
        elif call in _WRITES:
            verb = "writing" if ing else "write to"
        else:
            verb = f"in {call}() on" if ing else f"{call}() on"
        text = f"{verb} {where}"
    elif w.path is not None:
        text = f"{'in ' if ing else ''}{call}() of {w.path}"
    elif call is not None:
        return f"{'in ' if ing else ''}{call}(): what it waits on is not known"
    else:
        return "outside a syscall (a page fault, or the kernel's own work)"
    if w.mount is not None:
        return f"{text} on {w.mount.describe()}"
    return f"{text}, on a mount not known" if (w.path or "").startswith("/") else text


def stack_text(w: KernelWait, frames: int = 3) -> str:
    """'filemap_get_pages <- filemap_read <- vfs_read': the frames under the wait channel."""
    shown = [f for f in w.stack if f != w.wchan and not f.startswith(_ENTRY_FRAMES)][:frames]
    return " <- ".join(shown)


def sleep_text(w: KernelWait) -> str:
    """'in uninterruptible sleep in folio_wait_bit_common (filemap_get_pages <- ...), reading
    fd 3 (/mnt/x/file) on fuse.sshfs mount /mnt/x (host:, 0:41)'."""
    where = f" in {w.wchan}" if w.wchan else ""
    stack = stack_text(w)
    if stack:
        where += f" ({stack})"
    if w.state == "D":
        head = f"in uninterruptible sleep{where}"
    else:
        head = f"waiting{where} for a FUSE daemon's answer"
    return f"{head}, {object_text(w, ing=True)}"


def server_text(s: FuseServer) -> str:
    """'served by pid 9 (sshfs), 2 requests waiting'."""
    if s.daemons:
        who = ", ".join(f"pid {d.pid} ({d.name})" for d in s.daemons[:4])
        text = f"served by {who}"
    elif s.unreadable:
        text = "served by a process stucktui could not read"
    else:
        text = "served by no process: nobody holds its /dev/fuse connection"
    if s.waiting is not None:
        text += f", {s.waiting} request{'s' if s.waiting != 1 else ''} waiting for an answer"
    return text
