"""File locks: /proc/locks entries, and the Locks panel built from them (held, waited for, or
on a file this process has open)."""

from __future__ import annotations

from dataclasses import dataclass

from stucktui.model.sqlite_locks import LockMeaning, database_of

# Lock kinds as the kernel prints them (fs/locks.c, lock_get_status); OFDLCK is shown as OFD.
_TYPE_NAMES = {"OFDLCK": "OFD"}


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One line of /proc/locks.

    `pid` is what the kernel prints, which is not always the holder (docs/kernel-notes.md §8.1): OFD locks
    print -1, and a flock prints the pid that created it, which may have exited since."""

    id: int  # shared by a lock and the requests waiting for it
    depth: int  # 0 = a granted lock; 1 = waits for it; 2 = waits for that waiter, ...
    type: str  # FLOCK, POSIX, OFD, LEASE, DELEG
    kind: str  # ADVISORY, MANDATORY; for leases ACTIVE, BREAKING, BREAKER
    mode: str  # READ, WRITE, UNLCK
    pid: int  # -1 for OFD locks; 0 when the kernel has none
    major: int
    minor: int
    inode: int  # 0 when the kernel printed <none>
    start: int
    end: int | None  # None = to the end of the file (EOF)

    @property
    def waiting(self) -> bool:
        return self.depth > 0

    @property
    def dev_ino(self) -> tuple[int, int, int]:
        """(major, minor, inode): compare with os.major/os.minor(st_dev) and st_ino."""
        return (self.major, self.minor, self.inode)

    @property
    def range_text(self) -> str:
        return f"{self.start}-{'EOF' if self.end is None else self.end}"


DevIno = tuple[int, int, int]  # (major, minor, inode) as /proc/locks prints them


def waiter_text(pid: int) -> str:
    """A waiter's pid as /proc/locks gives it: -1 is an OFD request, which carries no pid."""
    return "an OFD waiter (no pid)" if pid == -1 else str(pid)


@dataclass(frozen=True, slots=True)
class FileUser:
    """A process that has a locked file open, through one fd."""

    pid: int
    name: str
    fd: int


@dataclass(frozen=True, slots=True)
class LockRow:
    """One lock the process holds (role 'held'), waits for (role 'waiting'), or that another
    process holds on a file this one has open without holding or waiting for any lock on it
    (role 'open': where a LOCK_NB poller waits, which /proc/locks never shows)."""

    role: str
    type: str  # FLOCK, POSIX, OFD, LEASE
    mode: str  # READ, WRITE
    start: int
    end: int | None  # None = EOF
    major: int
    minor: int
    inode: int
    path: str | None
    lock_id: int  # the id column of /proc/locks
    listed_pid: int  # the pid column for the granted lock (-1 for OFD)
    holders: tuple[FileUser, ...]  # (pid, fd) that hold the granted lock, from fdinfo
    holder_pid: int | None  # the real holder: fdinfo first, then the pid column
    waiters: tuple[int, ...]  # pids waiting for this lock (-1: an OFD waiter, pid unknown)
    others_holding: tuple[FileUser, ...]  # other processes holding any lock on the file
    others_waiting: tuple[int, ...]  # other pids waiting for any lock on the file
    others_open: tuple[FileUser, ...]  # other processes with the file open, no lock, not waiting
    warning: str | None = None
    request: str | None = None  # for 'waiting': what this process asked for, e.g. 'WRITE 50-59'
    # on a SQLite database or its -shm file: what the granted lock's bytes mean there
    sqlite: LockMeaning | None = None

    @property
    def database(self) -> str | None:
        """The SQLite database the lock is on (a -shm file's database), or None."""
        if self.sqlite is None or self.path is None:
            return None
        return database_of(self.path)

    @property
    def range_text(self) -> str:
        return f"{self.start}-{'EOF' if self.end is None else self.end}"


@dataclass(frozen=True, slots=True)
class ProcessLocks:
    pid: int
    rows: tuple[LockRow, ...]
    notes: tuple[str, ...]
    duration: float
    # its fds could not be listed: only /proc/locks's lines naming its pid are seen
    fds_unreadable: bool = False
