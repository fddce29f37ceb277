"""event-loop-blocked: a process serves its sockets from an event loop (an epoll set watching
them), connections wait on it, and no thread polls that set: the loop's thread is stuck in
another call (a synchronous read of a backend, a sleep, a lock), and the chain of waits from
that call names who could end it (docs/kernel-notes.md §A.8).

The signature needs no knowledge of the language or the framework: asyncio, uvloop, libuv,
libevent and Go's netpoller all keep their sockets in an epoll set and sleep in epoll_wait on
it. A healthy loop is in epoll_wait, or running callbacks (state R): both stay silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from stucktui.diagnose.chains import follow
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import BLOCKED_STATES, EPOLL_WAITS, POLL_CALLS, Subject, plural
from stucktui.model import clues
from stucktui.model import waits as W
from stucktui.model.files import FdRow
from stucktui.model.findings import Finding, Severity
from stucktui.model.text import human_age
from stucktui.model.threads import ThreadRow

# Calls in which a thread may be waiting on the loop's sockets through a set stucktui cannot
# read (poll and select keep theirs in memory; io_uring has its own): while one is in such a
# call, the loop may well be polling.
_MAY_POLL = POLL_CALLS | frozenset({"io_uring_enter", "io_uring_enter2"})
# A loop stuck this long, or a peer silent this long, is not a slow callback.
STALL = 30.0
# In a refreshing view, the loop must have been seen blocked this long before it is told.
SETTLE = 2.0
# A thread that used more CPU than this over the last sample was not blocked all along.
_IDLE_CPU = 10.0


@dataclass(frozen=True, slots=True)
class _Demand:
    """What waits on one epoll set: connections in its listeners' accept queues and
    connections with bytes nobody has read."""

    epfd: int
    watched: int
    queued: tuple[tuple[int, str, int, bool], ...]  # (fd, local, connections, queue full)
    unread: tuple[tuple[int, int], ...]  # (fd, bytes)


def _demand(s: Subject, row: FdRow) -> _Demand | None:
    if s.sockets is None:
        return None
    socks = {r.fd: r for r in s.sockets.rows}
    queued, unread = [], []
    watched = 0
    for w in row.epoll:
        r = socks.get(w.fd) if w.fd is not None and not w.stale else None
        if r is None:
            continue
        watched += 1
        if "IN" not in w.event_names:
            continue  # watched for room to write only: bytes in it are not what it waits for
        if r.state == "LISTEN" and r.recv_q:
            queued.append((r.fd, r.local, r.recv_q, r.accept_queue_full))
        elif r.state == "ESTAB" and r.recv_q:
            unread.append((r.fd, r.recv_q))
    if not queued and not unread:
        return None
    return _Demand(row.fd, watched, tuple(queued), tuple(unread))


def _polled(s: Subject, epfds: set[int]) -> bool | None:
    """Whether some thread polls these epoll sets (directly, or an epoll set that watches one
    of them); None when a thread is in a wait whose fds cannot be read, or runs."""
    assert s.threads is not None and s.files is not None
    nested = {r.fd for r in s.files.rows for w in r.epoll if w.fd in epfds}
    for t in s.threads.rows:
        name = t.call.name if t.call is not None else None
        if t.state not in BLOCKED_STATES or name is None:
            return None  # running (a callback; or a busy loop, which epoll-spin tells)
        if name in _MAY_POLL:
            return None
        if name in EPOLL_WAITS and t.call is not None and set(t.call.fds) & (epfds | nested):
            return True
    return False


def _loop_thread(s: Subject) -> ThreadRow | None:
    """The thread that should be polling: the main thread (asyncio's, uvloop's, node's loop
    runs there) unless it waits in epoll itself; else the one thread blocked in something
    else, when there is exactly one."""
    assert s.threads is not None
    rows = [t for t in s.threads.rows if t.call is not None and t.call.name not in EPOLL_WAITS]
    main = next((t for t in rows if t.tid == s.pid), None)
    if main is not None:
        return main
    return rows[0] if len(rows) == 1 else None


def _chain_of(s: Subject, tid: int) -> W.WaitChain | None:
    graph = s.context.waits
    if graph is None:
        return None
    return next((c for c in follow(graph) if tid in c.tids), None)


def _waits_for(c: W.WaitChain) -> str:
    """'pid 9 (backend), which waits for pid 12 (backup) (stopped: stopped (state T))'."""
    names = [f"pid {h.pid} ({h.name})" for h in c.hops[1:]]
    e = c.end
    if e.pid is not None:
        names.append(f"pid {e.pid} ({e.name})")
    head = ", which waits for ".join(dict.fromkeys(names))
    return f"{head} ({e.kind}: {e.detail})" if head else e.detail


def blocked_loop(s: Subject) -> tuple[list[_Demand], ThreadRow] | None:
    """The epoll sets connections wait on that no thread polls, and the thread that should be
    polling them, blocked elsewhere; None for a loop that polls, runs, or cannot be told."""
    if s.threads is None or s.files is None or s.sockets is None or not s.threads.rows:
        return None
    demands = [d for r in s.files.rows if r.epoll for d in [_demand(s, r)] if d is not None]
    if not demands or _polled(s, {d.epfd for d in demands}) is not False:
        return None
    loop = _loop_thread(s)
    if loop is None or loop.call is None:
        return None
    if loop.cpu_percent is not None and loop.cpu_percent > _IDLE_CPU:
        return None  # it ran during the sample: it may be between two polls
    return demands, loop


def loop_keys(s: Subject) -> list[tuple[int, int]] | None:
    """History keys of a blocked loop: (epoll fd, loop thread)."""
    if s.threads is None or s.files is None or s.sockets is None:
        return None
    found = blocked_loop(s)
    return [(d.epfd, found[1].tid) for d in found[0]] if found is not None else []


def event_loop_blocked(s: Subject) -> list[Finding]:
    found = blocked_loop(s)
    if found is None:
        return []
    demands, loop = found
    age = s.ages.oldest(clues.LOOP_BLOCKED, [(d.epfd, loop.tid) for d in demands])
    if age is not None and age < SETTLE:
        return []  # a refreshing view tells it once it has lasted
    chain = _chain_of(s, loop.tid)
    hop = chain.hops[0] if chain is not None and chain.hops else None
    queued = [q for d in demands for q in d.queued]
    unread = [u for d in demands for u in d.unread]
    waiting = []
    if queued:
        where = ", ".join(f"{q[1]} (fd {q[0]})" for q in queued[:3])
        waiting.append(f"{plural(sum(q[2] for q in queued), 'connection')} wait to be accepted on {where}")
    if unread:
        waiting.append(f"{plural(len(unread), 'connection')} hold bytes nobody reads")
    main = " (the main thread)" if loop.tid == s.pid else ""
    summary = (
        f"the event loop of {s.label} is blocked: no thread polls epoll fd "
        f"{', '.join(str(d.epfd) for d in demands)} while {' and '.join(waiting)}; its thread "
        f"{loop.tid}{main} is in a blocking {hop.obj if hop is not None else loop.call_text} instead"
    )
    site = s.app_site((loop.tid,))
    if site is not None:
        summary += f", called from {site}"
    silent = hop.silent_s if hop is not None else None
    if chain is not None and hop is not None and hop.detail != "nobody":
        summary += f"; it waits for {_waits_for(chain)}"
        if silent is not None and chain.end.kind != W.REMOTE:
            summary += f"; {hop.detail.rsplit('; ', 1)[-1]}"
    evidence = [
        f"epoll fd {d.epfd} watches {plural(d.watched, 'socket')}; no thread is in epoll_wait on it"
        for d in demands
    ]
    evidence += [f"fd {q[0]}: LISTEN {q[1]}, {q[2]} waiting to be accepted" for q in queued[:4]]
    evidence += [f"fd {fd}: {b} bytes received, not read" for fd, b in unread[:4]]
    evidence.append(f"thread {loop.tid} ({loop.name}): {loop.call_text}")
    if chain is not None:
        evidence.append("chain: " + W.chain_text(chain))
    if age is not None and age >= 1:
        evidence.append(f"seen blocked by stucktui for {human_age(age)}")
    stuck = (
        any(q[3] for q in queued)
        or (age is not None and age >= STALL)
        or (silent is not None and silent >= STALL)
        or (chain is not None and chain.stuck)
    )
    severity: Severity = "critical" if stuck else "warning"
    steps = [
        "move the blocking call off the loop: use an async client and await it, or run it in a "
        "worker (loop.run_in_executor, asyncio.to_thread), and give it a timeout",
    ]
    if chain is not None and chain.end.pid is not None and chain.end.pid != s.pid:
        e = chain.end
        steps.append(f"see why pid {e.pid} ({e.name}) does not answer: `stucktui report {e.pid}`")
    elif chain is not None and chain.end.kind == W.REMOTE:
        steps.append("check the peer it waits for, off this box: it has not answered")
    steps.append(f"until then every client of {s.label} waits; restarting it drops what it holds")
    fds = tuple(d.epfd for d in demands) + ((hop.fd,) if hop is not None and hop.fd is not None else ())
    return [s.finding("event-loop-blocked", severity, summary, evidence, steps, panel="threads",
                      fds=fds, tids=(loop.tid,), age=age)]  # fmt: skip


EVENT_LOOP_BLOCKED = RuleSpec(
    "event-loop-blocked",
    event_loop_blocked,
    clues=frozenset({clues.ACCEPT_QUEUE}),
    needs=frozenset({"threads", "files", "sockets"}),
    cause_rank=1,
    ladder="warning: connections wait on an epoll set no thread polls, its loop thread blocked in "
    "another call; critical: a listener's queue is full, the loop or the peer it waits for has "
    f"been silent {int(STALL)}s, or the chain from the blocking call is stuck",
    tracks=frozenset({clues.LOOP_BLOCKED}),
)
