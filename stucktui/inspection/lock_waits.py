"""The file-lock waits of the wait graph: threads blocked taking a lock (flock, fcntl F_SETLKW,
F_OFD_SETLKW) -> the processes holding it; and pollers, which retry a lock without blocking
(LOCK_NB, F_SETLK, SQLite's busy handler) and sleep between tries -> the holder of the lock
they retry (docs/kernel-notes.md §8.3, §A.7).

A poller never shows in /proc/locks, so its edge rests on three facts together: it has a file
open on which another process holds a lock that would conflict (the Locks panel's 'open' rows),
it holds no lock on that file itself, and its sleeping threads prove they retry: a Python stack
in a lock call, or a sleep called by SQLite's code. A process that only has the file open (a
reader, `tail -f` of a log another process locks) has no such proof and gets no edge. The edge
is not certain: a poller may give up by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stucktui.collect.sleep_caller import sleep_callers
from stucktui.model import lock_polls as P
from stucktui.model import waits as W
from stucktui.model.locks import LockEntry, LockRow, ProcessLocks
from stucktui.model.threads import ThreadsSnapshot
from stucktui.procfs.root import ProcRoot

if TYPE_CHECKING:
    from stucktui.inspection.waits import Facts

_FANOUT = 6  # holders named for one lock
_STACK_ABIS = frozenset({"x86_64", "aarch64"})  # 64-bit little-endian stacks: sleep_callers reads them


def lock_waits(
    root: ProcRoot, f: Facts, entries: tuple[LockEntry, ...], names: Mapping[int, str]
) -> list[W.Wait]:
    """Blocked lock waits, then the locks its sleeping threads poll for."""
    return blocked_waits(f, entries, names) + poll_waits(root, f)


def _what(r: LockRow) -> str:
    where = r.path or f"inode {r.inode}"
    if r.sqlite is not None:
        return f"{r.type} {r.mode} lock on {where} ({r.range_text}: {r.sqlite.text})"
    if r.type == "FLOCK":
        return f"{r.type} {r.mode} lock on {where}"
    return f"{r.type} {r.mode} lock on {where} (bytes {r.range_text})"


def _role(r: LockRow) -> str:
    if r.sqlite is not None:
        return f"holds {r.sqlite.short} of {r.database}"
    return "lock holder"


def blocked_waits(f: Facts, entries: tuple[LockEntry, ...], names: Mapping[int, str]) -> list[W.Wait]:
    """Threads blocked taking a file lock -> the processes holding the lock they wait for."""
    if f.threads is None:
        return []
    lockers = [t for t in f.threads.rows if W.blocking_lock_call(t)]
    tids = [t.tid for t in lockers]
    # the file, as the locking thread's fd argument reads (a path; never stat()ed here)
    path = next((a.target for t in lockers for a in t.fd_args[:1] if a.target.startswith("/")), None)
    if not tids:
        return []
    rows = [r for r in (f.locks.rows if f.locks is not None else ()) if r.role == "waiting"]
    if rows:  # the Locks panel names the real holder (fdinfo first, docs/kernel-notes.md §8.2)
        out = []
        for r in rows:
            holder = r.holder_pid if r.holder_pid and r.holder_pid > 0 else None
            parties: tuple[W.Party, ...] = (
                (W.Party(holder, names.get(holder) or _holder_name(r, holder), _role(r)),) if holder else ()
            )
            out.append(W.Wait(W.LOCK, tuple(tids), _what(r), None, parties, certain=bool(parties)))
        return out
    waiting = [e for e in entries if e.waiting and e.pid == f.pid]
    out = []
    for e in waiting:
        holders = sorted({h.pid for h in entries if h.id == e.id and h.depth == 0 and h.pid > 0})
        parties = tuple(W.Party(p, names.get(p, "?"), "lock holder") for p in holders[:_FANOUT])
        where = path or f"inode {e.inode}"
        what = f"{e.type} {e.mode} lock on {where} ({e.range_text})"
        out.append(W.Wait(W.LOCK, tuple(tids), what, None, parties, certain=len(parties) == 1))
    return out


def _holder_name(r: LockRow, pid: int) -> str:
    return next((u.name for u in (*r.holders, *r.others_holding) if u.pid == pid), "?")


def may_poll(threads: ThreadsSnapshot | None, locks: ProcessLocks | None) -> bool:
    """A sleeping thread, and a lock another process holds on a file this one has open (and
    holds no lock on): worth a wait graph, to look for the proof that it polls."""
    if threads is None or locks is None or not any(r.role == "open" for r in locks.rows):
        return False
    return any(P.sleeping(t) for t in threads.rows)


def _conflicting(rows: list[LockRow]) -> list[LockRow]:
    """The locks a poller on this file waits for. SQLite's: only those that keep a writer or a
    reader out (RESERVED, PENDING, EXCLUSIVE, the WAL write lock), never a reader's SHARED; any
    other file's: the WRITE locks, which conflict with every request, else the READ ones,
    which conflict with a WRITE request."""
    if any(r.sqlite is not None for r in rows):
        return [r for r in rows if r.sqlite is not None and r.sqlite.writer]
    writes = [r for r in rows if r.mode == "WRITE"]
    return writes or [r for r in rows if r.mode == "READ"]


def poll_waits(root: ProcRoot, f: Facts) -> list[W.Wait]:
    """Sleeping threads that prove they retry a lock -> the holders of the conflicting locks on
    the files it has open and holds no lock on, one wait per file (a SQLite database and its
    -shm file are one)."""
    if not may_poll(f.threads, f.locks):
        return []
    assert f.threads is not None and f.locks is not None
    by_file: dict[str, list[LockRow]] = {}
    for r in f.locks.rows:
        if r.role == "open":
            by_file.setdefault(r.database or r.path or f"inode {r.inode}", []).append(r)
    threads = [t for t in f.threads.rows if P.sleeping(t) or P.poll_evidence(t, None)]
    sqlite = any(r.sqlite is not None for rows in by_file.values() for r in rows)
    callers: Mapping[int, str] = {}
    if sqlite and f.threads.abi in _STACK_ABIS:
        callers = sleep_callers(root, f.pid, threads)
    proofs = {t.tid: e for t in threads if (e := P.poll_evidence(t, callers.get(t.tid))) is not None}
    if not proofs:
        return []
    out = []
    for where, rows in by_file.items():
        held = _conflicting(rows)
        if not held:
            continue
        is_sqlite = held[0].sqlite is not None
        # SQLite's busy handler proves a poll of a SQLite lock; a lock call in a Python stack
        # proves a poll, but not of which file: each file it has open with a lock on is named
        tids = tuple(tid for tid, e in proofs.items() if is_sqlite or "busy handler" not in e)
        if not tids:
            continue
        parties: dict[int, W.Party] = {}
        for r in held:
            for u in r.holders or ():
                parties.setdefault(u.pid, W.Party(u.pid, u.name, _role(r)))
            pid = r.holder_pid
            if not r.holders and pid and pid > 0:
                parties.setdefault(pid, W.Party(pid, _holder_name(r, pid), _role(r)))
        if not parties:
            continue
        top = held[0]
        lock = f"{top.sqlite.short} of {where}" if top.sqlite is not None else f"the {_what(top)}"
        what = f"{P.POLLING}{lock}"
        evidence = tuple(proofs[t] for t in tids)
        fd = next((r.fd for r in f.files.rows if r.target == where), None) if f.files is not None else None
        out.append(W.Wait(W.LOCK, tids, what, fd, tuple(parties.values())[:_FANOUT], False,
                          evidence=evidence))  # fmt: skip
    return out
