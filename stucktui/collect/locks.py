"""Builds the Locks view of one process: locks it holds or waits for, and who else is involved.

/proc/locks gives every lock and waiter, but its pid column can lie (docs/kernel-notes.md §8.1): OFD locks
print -1 and a flock prints the pid that created it, which may have exited. The `lock:` lines
of /proc/PID/fdinfo tie a lock to the (pid, fd) that really holds it, so they win.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from stucktui.collect.fileid import AT_FDCWD, MountTable, MountTables, fd_key
from stucktui.collect.sqlite_files import SqliteFiles
from stucktui.model import sqlite_locks as Q
from stucktui.model.fdinfo import FdInfo
from stucktui.model.files import FdRow
from stucktui.model.locks import DevIno, FileUser, LockEntry, LockRow, ProcessLocks
from stucktui.procfs.elf import kernel_abi
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import parse_fdinfo
from stucktui.procfs.fdtarget import strip_deleted
from stucktui.procfs.locks import parse_locks
from stucktui.procfs.privilege import refusal_brief
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.syscall import decode_call, parse_syscall

# When the process's own fds may not be read, /proc/locks still names the locks it holds and
# waits for by pid, but not which fd holds one, an OFD lock's owner, nor another process's lock
# on a file it has open (where a LOCK_NB poller waits unseen).
BLIND_NOTE = (
    "this process's fds could not be read (no permission): only /proc/locks's own lines are "
    "seen; OFD locks, and other processes' locks on files it has open (a LOCK_NB poller waits "
    "there), are not"
)


def blind_note() -> str:
    """BLIND_NOTE and what would help: root is not told to run as root."""
    return f"{BLIND_NOTE}; {refusal_brief()}"


def _same_lock(a: LockEntry, b: LockEntry) -> bool:
    """fdinfo `lock:` ids count per fd, so everything but the id is compared."""
    return (a.type, a.mode, a.dev_ino, a.start, a.end) == (b.type, b.mode, b.dev_ino, b.start, b.end)


def _own_files(
    root: ProcRoot, d: PidDir, rows: Sequence[FdRow] | None
) -> list[tuple[int, str, FdInfo]] | None:
    """(fd, path, fdinfo) of the process's path fds; reuses the Files view when given. None
    when its fds may not be listed (another user's process without root)."""
    if rows is not None:
        return [(r.fd, r.target, r.info) for r in rows if r.target.startswith("/") and r.info is not None]
    out = []
    try:
        names = d.listdir("fd")
    except AccessDenied:
        return None
    except FileNotFoundError:
        return []
    for n in names:
        try:
            target = d.readlink(f"fd/{n}")
            if target.startswith("/"):
                out.append((int(n), target, parse_fdinfo(d.read_text(f"fdinfo/{n}"))))
        except (AccessDenied, OSError, ValueError):
            continue
    return out


def _openers(
    root: ProcRoot, paths: dict[str, DevIno], pids: Iterable[int] | None
) -> tuple[dict[DevIno, list[tuple[FileUser, FdInfo]]], int]:
    """Every (pid, fd) that has one of `paths` open, confirmed by (dev, inode) from its
    fdinfo and mountinfo: never a stat of another process's file (collect.fileid); and how
    many processes could not be read (their fds hold locks unseen)."""
    found: dict[DevIno, list[tuple[FileUser, FdInfo]]] = {}
    refused = 0
    if not paths:
        return found, refused
    tables = MountTables(root)
    for pid in root.pids() if pids is None else pids:
        try:
            fds = root.listdir(pid, "fd", pid=pid)
        except AccessDenied:
            refused += 1
            continue
        except (ProcessGone, OSError):
            continue
        name: str | None = None
        mounts: MountTable | None = None
        for n in fds:
            try:
                target = root.readlink(pid, "fd", n, pid=pid)
                want = paths.get(strip_deleted(target)) if target.startswith("/") else None
                if want is None:
                    continue
                info = parse_fdinfo(root.read_text(pid, "fdinfo", n, pid=pid))
                mounts = mounts or tables.of(pid)
                if fd_key(AT_FDCWD, root.join(pid, "fd", n), info, mounts) != want:
                    continue
                if name is None:
                    name = root.read_text(pid, "comm", pid=pid).rstrip("\n")
            except (ProcessGone, AccessDenied, OSError, ValueError):
                continue
            found.setdefault(want, []).append((FileUser(pid, name, int(n)), info))
    return found, refused


def collect_locks(
    root: ProcRoot,
    pid: int,
    *,
    piddir: PidDir | None = None,
    fd_rows: Sequence[FdRow] | None = None,
    pids: Iterable[int] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ProcessLocks:
    """Locks `pid` holds or waits for. `fd_rows` (from collect_files) spares re-reading its
    fds; `pids` limits the box-wide search for other holders (tests)."""
    own = piddir is None
    d = piddir or root.pid_dir(pid)
    try:
        return _collect(root, d, fd_rows, pids, clock)
    finally:
        if own:
            d.close()


def _collect(
    root: ProcRoot,
    d: PidDir,
    fd_rows: Sequence[FdRow] | None,
    pids: Iterable[int] | None,
    clock: Callable[[], float],
) -> ProcessLocks:
    t0 = clock()
    pid = d.pid
    notes: list[str] = []
    entries = parse_locks(root.read_text("locks"))
    if not entries:
        return ProcessLocks(pid, (), (), clock() - t0)
    inodes = {e.inode for e in entries}
    own_paths: dict[str, DevIno] = {}
    listed = _own_files(root, d, fd_rows)
    if listed is None:
        notes.append(blind_note())
    own = listed or []
    where: dict[str, tuple[int, int | None]] = {}  # path -> (fd, mnt_id), to tell SQLite's files
    mounts = MountTable(root, pid, d)
    for fd, target, info in own:
        if info.ino is not None and info.ino not in inodes:
            continue  # not a locked file
        key = fd_key(d.fd, f"fd/{fd}", info, mounts)  # no stat (docs/kernel-notes.md §10.5)
        if key is not None:
            own_paths[strip_deleted(target)] = key
            where.setdefault(strip_deleted(target), (fd, info.mnt_id))
    sqlite = SqliteFiles(root, pid, (strip_deleted(t) for _, t, _ in own))
    path_of = {v: k for k, v in own_paths.items()}

    groups: dict[int, list[LockEntry]] = {}
    for e in entries:
        groups.setdefault(e.id, []).append(e)
    wanted = [
        g
        for g in groups.values()
        if g[0].dev_ino in path_of or any(e.pid == pid for e in g)  # held, waited for, or ours by fd
    ]
    if not wanted:
        return ProcessLocks(pid, (), tuple(notes), clock() - t0, fds_unreadable=listed is None)
    files = {g[0].dev_ino for g in wanted}
    ofd_waits: set[DevIno] = set()
    if any(e.waiting and e.pid == -1 and e.dev_ino in path_of for e in entries):
        ofd_waits = _ofd_waits(d, path_of, mounts)
    openers, refused = _openers(root, {p: di for p, di in own_paths.items() if di in files}, pids)
    if refused:
        notes.append(
            f"{refused} processes could not be read (no permission): a lock they hold through "
            "an fd, or their LOCK_NB tries on these files, are not seen; run stucktui as root"
        )
    on_file: dict[DevIno, list[list[LockEntry]]] = {}
    for g in groups.values():
        on_file.setdefault(g[0].dev_ino, []).append(g)

    def holders_of(head: LockEntry) -> tuple[FileUser, ...]:
        return tuple(
            u for u, info in openers.get(head.dev_ino, ()) if any(_same_lock(head, x) for x in info.locks)
        )

    rows = []
    for g in wanted:
        head, waiting = g[0], g[1:]
        if head.waiting:
            continue  # a group always starts with its granted lock; anything else is a torn read
        holders = holders_of(head)
        holder_pids = [u.pid for u in holders]
        if holders:
            holder_pid: int | None = head.pid if head.pid in holder_pids else holder_pids[0]
        else:
            holder_pid = head.pid if head.pid > 0 else None
        roles = []
        if pid in holder_pids or (not holders and head.pid == pid):
            roles.append("held")
        mine = [w for w in waiting if w.pid == pid]
        if not mine and head.dev_ino in ofd_waits:
            # an OFD waiter is listed as pid -1: it is ours when one of our threads is blocked
            # in F_OFD_SETLKW on this file
            mine = [w for w in waiting if w.pid == -1 and w.type == "OFD"][:1]
        if mine:
            roles.append("waiting")
        meaning = _sqlite_meaning(sqlite, head, path_of.get(head.dev_ino), where)
        ours = [e for other in on_file[head.dev_ino] for e in other if e.pid == pid]
        # a SQLite connection keeps its reader locks (SHARED, the WAL index's marks) while its
        # busy handler retries a writer's lock, which those never conflict with
        readers_only = meaning is not None and meaning.writer and all(e.mode == "READ" for e in ours)
        if not roles and head.dev_ino in path_of and (not ours or readers_only):
            roles.append("open")  # another process's lock on a file this one has open
        warning = _stale_warning(root, head, holders)
        others_holding = tuple(
            u for other in on_file[head.dev_ino] for u in holders_of(other[0]) if u.pid != pid
        )
        waiter_pids = {w.pid for other in on_file[head.dev_ino] for w in other[1:]}
        others_waiting = tuple(sorted(p for p in waiter_pids if p != pid))
        busy = {u.pid for u in others_holding} | waiter_pids | {pid}
        others_open = tuple(u for u, _ in openers.get(head.dev_ino, ()) if u.pid not in busy)
        for role in roles:
            rows.append(
                LockRow(
                    role=role,
                    type=head.type,
                    mode=head.mode,
                    start=head.start,
                    end=head.end,
                    major=head.major,
                    minor=head.minor,
                    inode=head.inode,
                    path=path_of.get(head.dev_ino),
                    lock_id=head.id,
                    listed_pid=head.pid,
                    holders=holders,
                    holder_pid=holder_pid,
                    waiters=tuple(w.pid for w in waiting),
                    others_holding=others_holding,
                    others_waiting=others_waiting,
                    others_open=others_open,
                    warning=warning,
                    request=f"{mine[0].mode} {mine[0].range_text}" if role == "waiting" else None,
                    sqlite=meaning,
                )
            )
    if any(
        e.waiting and e.pid == -1 and e.dev_ino in path_of and e.dev_ino not in ofd_waits for e in entries
    ):
        notes.append(
            "an OFD lock request on a file this process has open waits (OFD waiters show no pid), "
            "from another process: none of this one's threads is blocked in F_OFD_SETLKW on it"
        )
    return ProcessLocks(pid, tuple(rows), tuple(notes), clock() - t0, fds_unreadable=listed is None)


def _sqlite_meaning(
    sqlite: SqliteFiles, head: LockEntry, path: str | None, where: dict[str, tuple[int, int | None]]
) -> Q.LockMeaning | None:
    """What a byte-range lock means when its file is a SQLite database or WAL index."""
    if path is None or head.type not in ("POSIX", "OFD"):
        return None
    fd, mnt_id = where.get(path, (None, None))
    return Q.meaning(sqlite.kind(path, fd, mnt_id), head.mode, head.start, head.end)


def _ofd_waits(d: PidDir, path_of: dict[DevIno, str], mounts: MountTable) -> set[DevIno]:
    """The files (dev, inode) this process's threads are blocked on in fcntl(F_OFD_SETLKW): an
    OFD waiter's /proc/locks line has no pid, so its syscall tells whose request it is."""
    out: set[DevIno] = set()
    abi = kernel_abi()
    try:
        tids = d.listdir("task")
    except (AccessDenied, OSError):
        return out
    for tid in tids:
        try:
            call = decode_call(parse_syscall(d.read_text(f"task/{tid}/syscall")), abi)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            continue
        if call is None or call.name not in ("fcntl", "fcntl64") or not call.fds:
            continue
        if "F_OFD_SETLKW" not in call.extra:
            continue
        fd = call.fds[0]
        try:
            key = fd_key(d.fd, f"fd/{fd}", parse_fdinfo(d.read_text(f"fdinfo/{fd}")), mounts)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            continue
        if key is not None and key in path_of:
            out.add(key)
    return out


def _stale_warning(root: ProcRoot, head: LockEntry, holders: tuple[FileUser, ...]) -> str | None:
    """The pid column is wrong for an OFD lock (-1) and may be for a flock passed on by fork."""
    if not holders or head.pid in {u.pid for u in holders}:
        return None
    real = ", ".join(f"pid {u.pid} ({u.name}) fd {u.fd}" for u in holders)
    if head.pid == -1:
        return f"/proc/locks shows no pid for an OFD lock; held through {real}"
    try:
        root.stat(head.pid, pid=head.pid)
        gone = False
    except (ProcessGone, FileNotFoundError):
        gone = True
    except OSError:
        gone = False
    state = "has exited" if gone else "no longer holds it"
    return f"/proc/locks names pid {head.pid}, which {state}; the lock is held through {real}"
