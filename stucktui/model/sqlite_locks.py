"""What SQLite's file locks mean (pure): the byte ranges SQLite's unix VFS locks with fcntl on
a database file and on its WAL index (the `-shm` file), named by what the lock holder is doing
(docs/kernel-notes.md §A.7). A lock on a file that is not SQLite's is named by nothing here.

Rollback-journal mode locks bytes of the database file itself, from PENDING_BYTE (the first
byte past 1 GiB, a page SQLite never writes): a reader holds a READ lock on the SHARED range, a
writer a WRITE lock on the RESERVED byte as soon as its transaction first writes (or at BEGIN
IMMEDIATE), then PENDING and EXCLUSIVE (a WRITE lock over the SHARED range) while it commits.
WAL mode locks bytes 120-127 of the `-shm` file: the writer byte 120, then the checkpointer,
recovery and the five read marks; every connection holds a READ lock on byte 128 while it has
the WAL index open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HEADER: Final = b"SQLite format 3\x00"  # the first 16 bytes of every database file

# src/os.h (sqlite3PendingByte's default); the same ranges on every platform
PENDING_BYTE: Final = 0x40000000
RESERVED_BYTE: Final = PENDING_BYTE + 1
SHARED_FIRST: Final = PENDING_BYTE + 2
SHARED_SIZE: Final = 510
SHARED_LAST: Final = SHARED_FIRST + SHARED_SIZE - 1

# src/os_unix.c UNIX_SHM_BASE = (22 + SQLITE_SHM_NLOCK) * 4 with SQLITE_SHM_NLOCK 8, plus the
# lock indices of src/wal.c (WAL_WRITE_LOCK 0, WAL_CKPT_LOCK 1, WAL_RECOVER_LOCK 2,
# WAL_READ_LOCK(i) 3 + i) and UNIX_SHM_DMS, the byte after them
SHM_BASE: Final = 120
SHM_WRITE: Final = SHM_BASE
SHM_CKPT: Final = SHM_BASE + 1
SHM_RECOVER: Final = SHM_BASE + 2
SHM_READ_FIRST: Final = SHM_BASE + 3
SHM_READ_LAST: Final = SHM_BASE + 7
SHM_DMS: Final = SHM_BASE + 8

DB_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3", ".db3")
SIBLING_SUFFIXES: Final = ("-journal", "-wal", "-shm")

DB: Final = "db"  # the database file
SHM: Final = "shm"  # its WAL index


@dataclass(frozen=True, slots=True)
class LockMeaning:
    """One SQLite lock, named: `name` as SQLite calls it, `short` for a sentence ('the write
    lock (RESERVED)'), `doing` what its holder is doing, `writer`: it keeps other writers out."""

    name: str
    short: str
    doing: str
    writer: bool

    @property
    def text(self) -> str:
        """'SQLite RESERVED: a write transaction is open (the write lock)'."""
        return f"SQLite {self.name}: {self.doing}"


def database_of(path: str) -> str:
    """The database a `-journal`, `-wal` or `-shm` file belongs to (the path itself otherwise)."""
    for suffix in SIBLING_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def named_like_database(path: str) -> bool:
    """A path whose name says SQLite database (app.db, cache.sqlite3)."""
    return path.lower().endswith(DB_SUFFIXES)


def kind_by_name(path: str, open_paths: frozenset[str] | set[str]) -> str | None:
    """DB or SHM when the names alone say SQLite: a database by its suffix, or any file with a
    `-journal`, `-wal` or `-shm` sibling open in the same process; its `-shm` file when the
    database is open beside it or is named like one. None: the name says nothing."""
    if path.endswith("-shm"):
        db = database_of(path)
        return SHM if db in open_paths or named_like_database(db) else None
    if path.endswith(("-journal", "-wal")):
        return None  # a journal or WAL file: SQLite never locks it
    if named_like_database(path) or any(path + s in open_paths for s in SIBLING_SUFFIXES):
        return DB
    return None


def _db_meaning(mode: str, start: int, end: int | None) -> LockMeaning | None:
    last = end if end is not None else start
    if start == PENDING_BYTE and last == PENDING_BYTE:
        if mode == "READ":  # taken for an instant while a SHARED lock is being acquired
            return LockMeaning("PENDING (read)", "the pending byte", "taking a read lock", False)
        return LockMeaning(
            "PENDING",
            "the pending lock (PENDING)",
            "waits for the readers to finish, to commit (new readers are kept out)",
            True,
        )
    if start == RESERVED_BYTE and last == RESERVED_BYTE and mode == "WRITE":
        return LockMeaning(
            "RESERVED",
            "the write lock (RESERVED)",
            "a write transaction is open (the write lock: other writers wait)",
            True,
        )
    if start >= SHARED_FIRST and last <= SHARED_LAST:
        if mode == "WRITE":
            return LockMeaning(
                "EXCLUSIVE",
                "the exclusive lock (EXCLUSIVE)",
                "writing the database file (committing): every other connection waits",
                True,
            )
        return LockMeaning("SHARED", "a read lock (SHARED)", "reading (a read transaction is open)", False)
    if start <= PENDING_BYTE and (end is None or end >= SHARED_LAST) and mode == "WRITE":
        return LockMeaning(
            "EXCLUSIVE",
            "the exclusive lock (EXCLUSIVE)",
            "holds every lock byte (exclusive locking mode, or recovering)",
            True,
        )
    return None


def _shm_meaning(mode: str, start: int, end: int | None) -> LockMeaning | None:
    last = end if end is not None else start
    if start == SHM_WRITE and mode == "WRITE" and last >= SHM_WRITE:
        if last >= SHM_READ_LAST:  # every lock byte: recovery, or closing the last connection
            return LockMeaning("WAL all", "every WAL lock", "recovering or closing the WAL", True)
        return LockMeaning(
            "WAL write",
            "the WAL write lock",
            "a write transaction is open (the WAL write lock: other writers wait)",
            True,
        )
    if start == SHM_CKPT and last == SHM_CKPT:
        return LockMeaning("WAL checkpoint", "the WAL checkpoint lock", "running a checkpoint", False)
    if start == SHM_RECOVER and last == SHM_RECOVER:
        return LockMeaning("WAL recover", "the WAL recovery lock", "recovering the WAL index", True)
    if start >= SHM_READ_FIRST and last <= SHM_READ_LAST:
        reader = start - SHM_READ_FIRST
        if mode == "WRITE":
            return LockMeaning(
                f"WAL read-mark {reader} (write)",
                f"WAL read mark {reader}",
                "setting a read mark (an instant)",
                False,
            )
        return LockMeaning(
            f"WAL read {reader}",
            f"a WAL read lock (read mark {reader})",
            "reading (a read transaction is open)",
            False,
        )
    if start == SHM_DMS and last == SHM_DMS:
        return LockMeaning("WAL DMS", "the WAL index's open mark", "has the database open in WAL mode", False)
    return None


def meaning(kind: str | None, mode: str, start: int, end: int | None) -> LockMeaning | None:
    """What a POSIX or OFD lock on bytes `start`-`end` (None: to the end of the file) means,
    on a file of `kind` (DB or SHM); None when it is no SQLite lock."""
    if kind == DB:
        return _db_meaning(mode, start, end)
    if kind == SHM:
        return _shm_meaning(mode, start, end)
    return None
