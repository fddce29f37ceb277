"""The cheap first pass of the box-wide triage: which processes deserve a full look.

One small read per process or thread, chosen so a box of 2,000 idle processes costs about one
process-list snapshot: pending signals from status (parsed by byte search), the wait channel
of every thread (a pipe write, a lock wait), RLIMIT_NOFILE only of processes holding many fds,
/proc/locks once, the listening sockets of our namespace once. The process list's own rows
give the rest: D and Z states, CPU use and CLOSE_WAIT counts.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.fileid import MountTable, fd_key
from stucktui.collect.lock_pollers import NAP_WCHANS, mark_pollers
from stucktui.collect.pausing import pause_point
from stucktui.model import clues
from stucktui.model.context import SEND_CALLS, ChildProcess
from stucktui.model.net import TCP_CLOSE_WAIT, TCP_LISTEN, in_accept_queue_of
from stucktui.model.process import ProcessRow
from stucktui.procfs import netlink as nl
from stucktui.procfs.elf import kernel_abi
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import parse_fdinfo
from stucktui.procfs.locks import parse_locks
from stucktui.procfs.net import parse_sockstat, unlisted_tcp
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.syscall import TABLES

# Kernel functions a thread sleeps in (wchan) when blocked writing to a full pipe; names
# differ across kernel versions (fs/pipe.c: pipe_write, anon_pipe_write since 6.15;
# pipe_wait before 5.5, then pipe_wait_writable).
PIPE_WCHANS = frozenset({"pipe_write", "anon_pipe_write", "pipe_wait", "pipe_wait_writable"})
# Waits in which a whole pool of workers can be stuck on one fd (send, lock, connect).
POOL_WCHANS = PIPE_WCHANS | frozenset(
    {
        "wait_woken",
        "sk_stream_wait_memory",
        "locks_lock_inode_wait",
        "flock_lock_inode_wait",
        "fcntl_setlk",
        "unix_wait_for_peer",
        "inet_wait_for_connect",
    }
)
# Waits of a thread blocked sending on a socket whose send buffer is full. A TCP send sleeps in
# sk_stream_wait_memory, which newer kernels report as wait_woken; that is also where a TCP
# receive waits, so a process with a thread there is a suspect only if one is in a send call.
SEND_WCHANS = frozenset({"sk_stream_wait_memory", "sock_alloc_send_pskb", "unix_stream_sendmsg"})
# Waits of a thread blocked taking a file lock: it finds OFD waiters, which /proc/locks lists
# without a pid (flock and POSIX waiters are found there too, by pid).
# a futex wait, as the kernels name it (futex_do_wait from 6.x; the older names before)
FUTEX_WCHANS = frozenset({"futex_do_wait", "futex_wait_queue", "futex_wait_queue_me"})
# a process of more threads all in futex waits is a pool at rest far more often than a deadlock
LOCKED_UP_MAX_THREADS = 8
LOCK_WCHANS = frozenset(
    {"locks_lock_inode_wait", "flock_lock_inode_wait", "fcntl_setlk", "locks_lock_file_wait"}
)
_SEND_NRS = frozenset(nr for nr, name in TABLES.get(kernel_abi(), {}).items() if name in SEND_CALLS)
SPIN_CPU = 20.0  # percent of one core: a process that busy is looked at for an epoll spin
SPIN_MAX_FDS = 4096  # ... when it has no CLOSE_WAIT socket, only below this many fds (cost)
# TCP sockets in no table on the box (sockstat) before their holders are looked for, and how
# many one process must hold to be looked at (a socket between socket() and connect() is in no
# table either)
CLOSED_TCP_SCAN = 10
CLOSED_TCP_SUSPECT = 3
MANY_FDS = 32  # RLIMIT_NOFILE is read only for processes holding at least this many fds
FD_SHARE = 0.85


@dataclass(slots=True)
class BoxScan:
    """pid -> the clues that make it suspect (stucktui.model.clues), and the facts the pass
    already paid for."""

    suspects: dict[int, set[str]] = field(default_factory=dict)
    fd_limits: dict[int, int] = field(default_factory=dict)
    zombies: dict[int, list[ChildProcess]] = field(default_factory=dict)  # parent pid -> zombies
    lock_text: str = ""
    lock_pids: set[int] = field(default_factory=set)  # every pid /proc/locks names
    nappers: set[int] = field(default_factory=set)  # a thread asleep in nanosleep: may poll a lock
    duration: float = 0.0

    def add(self, pid: int, reason: str) -> None:
        self.suspects.setdefault(pid, set()).add(reason)


def _mask(status: bytes, key: bytes) -> int:
    i = status.find(key)
    if i < 0:
        return 0
    j = status.find(b"\n", i + 1)
    try:
        return int(status[i + len(key) : j if j >= 0 else None].strip(), 16)
    except ValueError:
        return 0


# The two lines as the kernel prints them when nothing is pending (fs/proc/array.c): one
# substring test settles almost every process.
_NOTHING_PENDING = b"SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"


def stuck_signal_mask(status: bytes) -> int:
    """Signals pending (for the process or its main thread) and blocked by the main thread,
    from /proc/PID/status bytes: the cheap test; collect.signals decides per thread."""
    if _NOTHING_PENDING in status:
        return 0
    pending = _mask(status, b"\nShdPnd:") | _mask(status, b"\nSigPnd:")
    return pending & _mask(status, b"\nSigBlk:") if pending else 0


def _read(path: str, size: int) -> bytes:
    """One read of a small /proc file. Raises OSError (the caller skips that process): the
    hot loop of the first pass, so no error translation per call."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def _wchan(raw: bytes) -> str:
    return raw.split(b".", 1)[0].strip().decode("ascii", "replace")


def thread_wchans(root: ProcRoot, row: ProcessRow) -> list[str]:
    """The wait channel of each thread (one read each); a running single thread costs nothing.
    Raises OSError when the process is gone or unreadable."""
    if row.num_threads <= 1:
        return [] if row.state == "R" else [_wchan(_read(f"{root.path}/{row.pid}/wchan", 128))]
    return task_wchans(root, row.pid)


def task_wchans(root: ProcRoot, pid: int) -> list[str]:
    """The wait channel of every thread of `pid`. Raises OSError when it is gone or unreadable."""
    base = f"{root.path}/{pid}/task"
    out = []
    for tid in os.listdir(base):
        try:
            out.append(_wchan(_read(f"{base}/{tid}/wchan", 128)))
        except FileNotFoundError:
            continue  # the thread exited
    return out


def sending(root: ProcRoot, pid: int) -> bool:
    """Some thread of `pid` is in a send-type call (its syscall file, one read per thread)."""
    base = f"{root.path}/{pid}/task"
    for tid in os.listdir(base):
        try:
            nr = _read(f"{base}/{tid}/syscall", 64).split(b" ", 1)[0]
        except OSError:
            continue
        if nr.isdigit() and int(nr) in _SEND_NRS:
            return True
    return False


def _fd_limit(root: ProcRoot, pid: int) -> int | None:
    text = _read(f"{root.path}/{pid}/limits", 8192).decode("ascii", "replace")
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files") :].split()[0]
            return None if soft == "unlimited" else int(soft)
    return None


def _row_pass(root: ProcRoot, row: ProcessRow, scan: BoxScan, close_wait: int | None) -> None:
    pid = row.pid
    if row.state == "Z":
        scan.zombies.setdefault(row.ppid, []).append(ChildProcess(pid, row.name, "Z", row.starttime_ticks))
        return
    if row.state == "D":
        scan.add(pid, clues.DSTATE)
    if close_wait:
        scan.add(pid, clues.CLOSE_WAIT)
    # a busy loop on a socket the peer closed (docs/incidents.md §4), in CLOSE_WAIT or, once reset or
    # shut down, in no table at all: the Files panel of a busy process can cost 100 ms (fdinfo
    # of every fd), so a busy one without CLOSE_WAIT sockets is looked at below SPIN_MAX_FDS
    busy = row.cpu_percent is not None and row.cpu_percent >= SPIN_CPU
    if busy and (close_wait or (row.num_fds is not None and row.num_fds <= SPIN_MAX_FDS)):
        scan.add(pid, clues.BUSY)
    if row.num_fds is not None and row.num_fds >= MANY_FDS:
        limit = _fd_limit(root, pid)
        if limit:
            scan.fd_limits[pid] = limit
            if row.num_fds >= FD_SHARE * limit:
                scan.add(pid, clues.FD_LIMIT)
    if stuck_signal_mask(_read(f"{root.path}/{pid}/status", 8192)):
        scan.add(pid, clues.STUCK_SIGNAL)
    wchans = thread_wchans(root, row)
    if PIPE_WCHANS.intersection(wchans):
        scan.add(pid, clues.PIPE_WRITE)
    if SEND_WCHANS.intersection(wchans) or ("wait_woken" in wchans and sending(root, pid)):
        scan.add(pid, clues.SOCKET_SEND)
    if row.num_threads >= 3 and len([w for w in wchans if w in POOL_WCHANS]) >= 2:
        scan.add(pid, clues.POOL_WAIT)
    if LOCK_WCHANS.intersection(wchans):
        scan.add(pid, clues.LOCK_WAIT)
    if wchans and row.num_threads <= LOCKED_UP_MAX_THREADS and FUTEX_WCHANS.issuperset(wchans):
        scan.add(pid, clues.LOCKED_UP)
    if NAP_WCHANS.intersection(wchans):
        scan.nappers.add(pid)


def _lock_pass(root: ProcRoot, scan: BoxScan, facts: BoxFacts) -> None:
    """Waiters in /proc/locks, and holders that have the locked file open through a second fd
    (the LOCK_NB poller waiting for itself, docs/incidents.md §5: it never shows as a waiter)."""
    try:
        scan.lock_text = facts.lock_text()
    except OSError:
        return
    entries = parse_locks(scan.lock_text)
    scan.lock_pids = {e.pid for e in entries if e.pid > 0}
    for e in entries:
        if e.waiting and e.pid > 0:
            scan.add(e.pid, clues.LOCK_WAIT)
    held: dict[int, set[tuple[int, int, int]]] = {}
    for e in entries:
        if not e.waiting and e.pid > 0 and e.type in ("FLOCK", "POSIX"):
            held.setdefault(e.pid, set()).add(e.dev_ino)
    mark_pollers(root, scan.nappers, entries, scan.add)  # pollers of another's lock
    polled: set[str] = set()  # the locked files a holder keeps trying to lock again itself
    for pid, files in held.items():
        twice = _opened_twice(root, pid, files)
        if twice:
            polled.update(twice)
        if twice or _sleeps(root, pid):
            scan.add(pid, clues.LOCK_POLL)
    if polled:
        # docs/incidents.md §5: every other process that logs to that file polls for the lock as well,
        # and LOCK_NB tries never show in /proc/locks: whoever has the file open is looked at
        # (one readlink of every fd on the box, paid only while a holder polls for itself)
        for owners in facts.owners(polled)[0].values():
            for pid, _ in owners:
                if pid not in held:
                    scan.add(pid, clues.LOCK_POLL)


# Where a thread sleeps between two LOCK_NB tries (time.sleep, select, poll): a lock holder
# with one is looked at with py-spy, as a poller that closes its fd between tries (filelock)
# shows the wait for its own lock only in its Python stack.
_SLEEP_WCHANS = frozenset(
    {"hrtimer_nanosleep", "do_nanosleep", "do_select", "do_sys_poll", "poll_schedule_timeout"}
)


def _sleeps(root: ProcRoot, pid: int) -> bool:
    try:
        return not _SLEEP_WCHANS.isdisjoint(task_wchans(root, pid))
    except OSError:
        return False


def _opened_twice(root: ProcRoot, pid: int, files: set[tuple[int, int, int]]) -> set[str]:
    """The paths of the locked `files` (dev major, minor, inode) that `pid` has open through
    two fds or more: a holder that tries to lock again what it holds. Each file is told by
    its fdinfo and mountinfo, never by a stat of it (docs/kernel-notes.md §10.5)."""
    out: set[str] = set()
    try:
        with PidDir(root, pid) as d:
            by_target: dict[str, list[int]] = {}
            for fd, target in d.fd_links():
                if target.startswith("/"):
                    by_target.setdefault(target, []).append(fd)
            mounts = MountTable(root, pid, d)
            for target, fds in by_target.items():
                if len(fds) < 2:
                    continue
                try:
                    info = parse_fdinfo(d.read_text(f"fdinfo/{fds[0]}"))
                except (ProcessGone, AccessDenied, OSError, ValueError):
                    continue
                if fd_key(d.fd, f"fd/{fds[0]}", info, mounts) in files:
                    out.add(target)
    except (ProcessGone, AccessDenied, OSError):
        return set()
    return out


def stalled_listeners() -> set[int]:
    """Inodes of our namespace's TCP listeners whose accept queue is over the backlog
    (netlink reports both), or holds connections their clients already closed (CLOSE_WAIT
    with no inode: not accepted yet). State-filtered dumps: two per family at most."""
    out: set[int] = set()
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            chunks = nl.dump(nl.inet_request(family, socket.IPPROTO_TCP, 1 << TCP_LISTEN))
            queued = [s for s in nl.iter_inet(chunks, "tcp") if s.inode and s.recv_q]
            out.update(s.inode for s in queued if s.recv_q > s.send_q)
            rest = [s for s in queued if s.inode not in out]
            if rest:
                cw = nl.dump(nl.inet_request(family, socket.IPPROTO_TCP, 1 << TCP_CLOSE_WAIT))
                abandoned = list(nl.iter_inet(cw, "tcp", {0}))
                out.update(s.inode for s in rest if any(in_accept_queue_of(s, q) for q in abandoned))
        except OSError:
            continue
    return out


# A healthy server takes a queued connection within milliseconds: one still queued after this
# pause may wait on a loop or pool that stopped taking connections (event-loop-blocked).
LINGER_PAUSE = 0.05


def lingering_listeners(pause: float = LINGER_PAUSE, sleep: Callable[[float], None] = time.sleep) -> set[int]:
    """Inodes of our namespace's TCP listeners with connections queued (under the backlog) in
    two LISTEN dumps `pause` seconds apart. Costs two state-filtered dumps per family, the
    second only when the first found a queue."""
    out: set[int] = set()
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            request = nl.inet_request(family, socket.IPPROTO_TCP, 1 << TCP_LISTEN)
            first = {s.inode for s in nl.iter_inet(nl.dump(request), "tcp") if s.inode and s.recv_q}
            if first:
                sleep(pause)
                out.update(s.inode for s in nl.iter_inet(nl.dump(request), "tcp", first) if s.recv_q)
        except OSError:
            continue
    return out


def _listener_suspects() -> set[int]:
    """stalled_listeners() | lingering_listeners(), never raising (a thread's work)."""
    try:
        return stalled_listeners() | lingering_listeners()
    except Exception:  # noqa: BLE001 - both skip what they cannot dump; anything else: no clue
        return set()


def _closed_tcp_pass(root: ProcRoot, scan: BoxScan, rows: Iterable[ProcessRow], facts: BoxFacts) -> None:
    """Holders of TCP sockets in no table (a CLOSE_WAIT leak after keepalive resets: it is in
    no CLOSE_WAIT count any more), looked for only when /proc/net/sockstat counts at least
    CLOSED_TCP_SCAN such sockets on the box."""
    try:
        unlisted = unlisted_tcp(parse_sockstat(root.read_text("net", "sockstat")))
    except OSError:
        return
    if unlisted < CLOSED_TCP_SCAN:
        return
    pids = [r.pid for r in rows if not r.is_kernel_thread and r.state != "Z"]
    facts.warm_index()  # this refresh's pass: the holders' socket fds as the index keeps them
    for pid, n in facts.sockets().closed_tcp_holders(pids, facts.index.socket_fds).items():
        if n >= CLOSED_TCP_SUSPECT:
            scan.add(pid, clues.CLOSE_WAIT)


def scan_box(
    root: ProcRoot,
    rows: Iterable[ProcessRow],
    *,
    close_wait: Mapping[int, int | None] | None = None,
    listeners: bool = True,
    facts: BoxFacts | None = None,
) -> BoxScan:
    """The first pass over every process of a process-list snapshot. `close_wait` (pid ->
    CLOSE_WAIT sockets) stands in for the rows' own counts when their collector skipped them.
    Never raises for a process that vanished or may not be read: it is simply not suspect.
    `facts`: the box-wide facts the caller keeps (/proc/locks, socket tables, the fd owner
    index); one is made for this pass without it."""
    t0 = time.perf_counter()
    facts = facts or BoxFacts(root)
    scan = BoxScan()
    rows = tuple(rows)
    # the listeners' netlink dumps (and the pause between two of them) beside the row pass
    full: set[int] = set()
    dumps = None
    if listeners and root.path == "/proc":
        dumps = threading.Thread(
            target=lambda: full.update(_listener_suspects()), name="listeners", daemon=True
        )
        dumps.start()
    for i, row in enumerate(rows):
        pause_point(i)  # the box lane lets a key's process refresh go first (collect/pausing.py)
        if row.is_kernel_thread:
            continue
        try:
            cw = row.close_wait if close_wait is None else close_wait.get(row.pid)
            _row_pass(root, row, scan, cw)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            continue
    for parent in scan.zombies:
        scan.add(parent, clues.ZOMBIES)
    _lock_pass(root, scan, facts)
    _closed_tcp_pass(root, scan, rows, facts)
    if dumps is not None:
        dumps.join()
        if full:
            for owners in facts.owners({f"socket:[{i}]" for i in full})[0].values():
                for pid, _ in owners:
                    scan.add(pid, clues.ACCEPT_QUEUE)
    scan.duration = time.perf_counter() - t0
    return scan
