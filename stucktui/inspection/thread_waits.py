"""The waits of threads on their own process, for the wait graph: a futex wait on a glibc mutex
-> the thread that holds it (the chain goes on through that thread's own wait); every thread
waiting forever on locks of its own -> nobody left to release them; a wait for a signal ->
whether a signal sent to the process can end it (docs/kernel-notes.md §A.5).

Cost, per process of the graph: for at most MAX_FUTEX_THREADS threads waiting on a mutex, one
read of 20 bytes of /proc/PID/mem per mutex (and of 16 at a timeout, for a wait the graph
shows) and of each thread's syscall line again (1.2 ms for 32 threads waiting on one mutex);
for the threads in a signal wait, the status of the process, of its main thread and of each of
them, and 8 bytes of memory for a sigwait's set. Memory is not read while a thread of the
process is in uninterruptible sleep, which a read could wait behind.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from stucktui.collect.futex import Memory, fork_origin, still_in, thread_state
from stucktui.model import waits as W
from stucktui.model.futex import SIXTY_FOUR_BIT_ABIS, FutexCall, futex_call, timeout_of, timeout_text
from stucktui.model.signals import is_libc_internal, mask_numbers
from stucktui.model.sigwait import SIGNAL_WAIT_CALLS, TAKING_CALLS, ProcessSignals, judge
from stucktui.model.threads import ThreadRow, ThreadsSnapshot
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.status import parse_status

if TYPE_CHECKING:
    from stucktui.inspection.waits import Facts

MAX_FUTEX_THREADS = 32  # threads of one process waiting on a mutex whose owner is read


def _signal_wait(t: ThreadRow) -> bool:
    return t.state in "SD" and t.call is not None and t.call.name in SIGNAL_WAIT_CALLS


def has_thread_wait(threads: ThreadsSnapshot | None) -> bool:
    """A thread waiting on a contended mutex or for a signal: worth a graph."""
    if threads is None:
        return False
    return any(_signal_wait(t) or ((c := futex_call(t)) is not None and c.mutex_like) for t in threads.rows)


def thread_waits(root: ProcRoot, f: Facts, others: list[W.Wait]) -> list[W.Wait]:
    """The futex and signal waits of the process's threads; `others`: its waits found so far."""
    if f.threads is None or not f.threads.rows:
        return []
    mem = None if any(t.state == "D" for t in f.threads.rows) else Memory(root, f.pid)
    return _futex_waits(root, f, f.threads, others, mem) + _signal_waits(root, f, f.threads, mem)


def named_threads(f: Facts, waits: list[W.Wait]) -> tuple[W.ThreadDoing, ...]:
    """The threads of the process its waits name as parties (mutex owners): where a chain may end."""
    named = {p.tid for w in waits for p in w.parties if p.tid is not None and p.pid == f.pid}
    rows = [f.threads.row(tid) for tid in sorted(named)] if f.threads is not None else []
    return tuple(W.ThreadDoing(r.tid, r.state, r.call_text) for r in rows if r is not None)


def _futex_waits(
    root: ProcRoot, f: Facts, threads: ThreadsSnapshot, others: list[W.Wait], mem: Memory | None
) -> list[W.Wait]:
    calls = {t.tid: c for t in threads.rows if (c := futex_call(t)) is not None}
    if not calls:
        return []
    lines = {t.tid: t.syscall for t in threads.rows}
    owners: dict[int, int] = {}
    words: dict[int, int | None] = {}  # uaddr -> owner: a mutex many threads wait for is read once
    mutexes = [(tid, c) for tid, c in calls.items() if c.mutex_like] if mem is not None else []
    for tid, c in mutexes[:MAX_FUTEX_THREADS]:
        assert mem is not None
        if c.uaddr not in words:
            words[c.uaddr] = mem.mutex_owner(c.uaddr)
        owner = words[c.uaddr]
        line = lines.get(tid)
        if owner is not None and line is not None and still_in(root, f.pid, tid, line):
            owners[tid] = owner
    live = {t.tid for t in threads.rows}
    held: dict[tuple[int, int, bool], list[int]] = {}
    for tid, owner in owners.items():
        held.setdefault((calls[tid].uaddr, owner, calls[tid].forever), []).append(tid)
    out: list[W.Wait] = []
    lone = len(threads.rows) == 1
    for (uaddr, owner, forever), tids in held.items():
        text = _timeout(calls[tids[0]], mem, threads.abi)
        if owner in live or thread_state(root, f.pid, owner) is not None:
            party = W.Party(f.pid, f.name, f"holds the mutex (thread {owner})", tid=owner)
            what = f"the mutex at {uaddr:#x}, held by thread {owner} (lock wait, {text})"
            out.append(W.Wait(W.FUTEX, tuple(tids), what, None, (party,), forever, why=_timed(text)))
            continue
        why = (
            f"the owner its mutex records, thread {owner}, is no thread of it (a thread that exited "
            "holding it, or one of the process it was forked from): nothing will release it"
        )
        origin = fork_origin(root, f.pid, threads) if lone else None
        what = f"the mutex at {uaddr:#x}, whose owner thread {owner} is gone (lock wait, {text})"
        out.append(W.Wait(W.FUTEX, tuple(tids), what, None, (), forever, why=_with_origin(why, origin)))
    group = _nobody_left(root, f, threads, calls, others, {t for w in out for t in w.tids}, mem)
    return out + group


def _timeout(c: FutexCall, mem: Memory | None, abi: str) -> str:
    """'forever', 'deadline in 12 s (monotonic clock)': its timespec read from memory."""
    ts = None
    if mem is not None and not c.forever and abi in SIXTY_FOUR_BIT_ABIS:
        ts = mem.timespec(c.timeout)
    return timeout_text(timeout_of(c, ts), time.monotonic(), time.time())


def _timed(text: str) -> str:
    return "" if text == "forever" else f"its timeout ends the wait ({text})"


def _with_origin(why: str, origin: str | None) -> str:
    return f"{why}; likeliest origin: {origin}" if origin else why


def _nobody_left(
    root: ProcRoot,
    f: Facts,
    threads: ThreadsSnapshot,
    calls: dict[int, FutexCall],
    others: list[W.Wait],
    followed: set[int],
    mem: Memory | None,
) -> list[W.Wait]:
    """Every thread waits, without a timeout, on a lock private to the process (or is
    stopped): no thread is left to release any of them. Not when some other thread waits on
    something that can end (a join() behind writers blocked on a pipe only waits for them).
    Only for a lone thread: several threads all asleep on futexes with no owner recorded are far
    more often a process parked by design (an idle pool, a main thread in Event.wait() until a
    fatal signal ends it, even with no handler at all) than a deadlock, and where glibc records
    the owners, the edges between threads tell a real deadlock (a cycle) on their own."""
    forever = {tid for tid, c in calls.items() if c.private and c.forever}
    if others or not forever or len(threads.rows) != 1:
        return []
    if not all(t.tid in forever or t.state in "Tt" for t in threads.rows):
        return []
    handlers = _handlers(root, f.pid)
    rest = tuple(sorted(forever - followed))
    if not rest:
        return []
    why = "every thread of it waits, without a timeout, on a lock private to the process (a futex)"
    if handlers == 0:
        why += ", and it has no signal handler: no thread is left to release it, only a fatal signal ends it"
    else:
        why += ": no thread is left to release it, only a signal could"
    if mem is not None and mem.denied:
        why += " (who holds its mutexes was not read: that needs the right to ptrace it)"
    origin = fork_origin(root, f.pid, threads)
    what = "a lock inside the process (a private futex, lock wait, forever)"
    return [W.Wait(W.FUTEX, rest, what, None, (), True, why=_with_origin(why, origin))]


def _handlers(root: ProcRoot, pid: int) -> int | None:
    """SigCgt without libc's own handlers (32, 33); None when status cannot be read."""
    try:
        caught = parse_status(root.read_text(pid, "status", pid=pid)).sig_cgt
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None
    for n in mask_numbers(caught):
        if is_libc_internal(n):
            caught &= ~(1 << (n - 1))
    return caught


def _blocked(root: ProcRoot, pid: int, tid: int) -> int | None:
    try:
        return parse_status(root.read_text(pid, "task", tid, "status", pid=pid)).sig_blk
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None


def _signal_waits(root: ProcRoot, f: Facts, threads: ThreadsSnapshot, mem: Memory | None) -> list[W.Wait]:
    """Threads in sigwait, pause or sigsuspend: a wait no party is known for, which nothing can
    end when no signal sent to the process can reach it."""
    waiters = [t for t in threads.rows if _signal_wait(t) and t.syscall is not None]
    if not waiters:
        return []
    try:
        status = parse_status(root.read_text(f.pid, "status", pid=f.pid))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return []
    leader = threads.row(f.pid)
    takes = leader is not None and leader.state not in "TtZX" and not _signal_wait(leader)
    leader_blocked = _blocked(root, f.pid, f.pid)
    waiting = {t.tid for t in waiters}
    by_verdict: dict[tuple[str, bool, str], list[int]] = {}
    for t in waiters:
        assert t.call is not None and t.syscall is not None
        name, args = t.call.name or "", t.syscall.args
        p = ProcessSignals(
            f.pid, leader_blocked, takes, status.sig_cgt, status.sig_ign, bool(waiting - {t.tid})
        )
        awaited = mem.sigset(args[0]) if mem is not None and name in TAKING_CALLS else None
        timed = name in TAKING_CALLS and args[2] != 0
        v = judge(name, t.tid, _blocked(root, f.pid, t.tid) or 0, awaited, timed, p)
        by_verdict.setdefault((v.what, v.stuck, v.why), []).append(t.tid)
    return [
        W.Wait(W.SIGNAL, tuple(tids), what, None, (), stuck, why=why)
        for (what, stuck, why), tids in by_verdict.items()
    ]
