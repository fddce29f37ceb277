"""workers-wait-on-peer: connections wait on a server whose every worker thread is blocked
reading a reply from the same peer (a database, a backend, an API) that has sent nothing since
it was asked: the pool is used up by a silent peer, and the connections queued behind it are
the symptom, not the cause (docs/kernel-notes.md §A.8).

The shape holds for a thread pool behind a dispatcher (the dispatcher polls or accepts; every
other thread reads from the peer) and for a single-threaded worker process of a pre-fork
server (its one thread reads from the peer while its listener's queue grows).
"""

from __future__ import annotations

from stucktui.diagnose.chains import follow
from stucktui.diagnose.rules.event_loop import blocked_loop
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import BLOCKED_STATES, EPOLL_WAITS, POLL_CALLS, Subject, id_list, plural
from stucktui.model import clues
from stucktui.model import waits as W
from stucktui.model.findings import Finding, Severity
from stucktui.model.net import InetSocket
from stucktui.model.text import human_age

# A reply this late is not a slow query that is about to return.
SETTLE = 2.0
STALL = 30.0
_DISPATCH = POLL_CALLS | EPOLL_WAITS | {"accept", "accept4", "io_uring_enter"}


def _peer_key(w: W.Wait) -> tuple[object, ...]:
    return tuple((p.pid, p.endpoint, p.role if p.pid is None else "") for p in w.parties)


def _served_fds(s: Subject) -> set[int]:
    """Its connections that a listener serves: a read on one waits for a client's next
    request (keep-alive), not for a reply."""
    assert s.sockets is not None
    ports = s.sockets.served_ports
    return {r.fd for r in s.sockets.rows if isinstance(r.sock, InetSocket) and r.sock.local_port in ports}


def workers_wait_on_peer(s: Subject) -> list[Finding]:
    graph = s.context.waits
    if graph is None or s.threads is None or s.sockets is None or not s.threads.rows:
        return []
    if blocked_loop(s) is not None:
        return []  # an event loop stuck in the read: event-loop-blocked tells it
    node = graph.nodes.get(s.pid)
    if node is None:
        return []
    served = _served_fds(s)
    asked = [
        w
        for w in node.waits
        if w.kind == W.SOCKET_RECV and w.asked and w.parties and w.silent_s is not None and w.fd not in served
    ]
    if not asked:
        return []
    reading = {tid for w in asked for tid in w.tids}
    reading_fds = {w.fd for w in asked}
    # every other thread dispatches (polls, accepts): no worker is left for new requests
    for t in s.threads.rows:
        if t.tid in reading:
            continue
        name = t.call.name if t.call is not None else None
        if t.state not in BLOCKED_STATES or name not in _DISPATCH:
            return []
    queued = [r for r in s.sockets.rows if r.state == "LISTEN" and r.recv_q]
    unread = [
        r
        for r in s.sockets.rows
        if r.state in ("ESTAB", "CLOSE_WAIT") and r.recv_q and r.fd not in reading_fds
    ]
    if not queued and not unread:
        return []
    # the waits on the peer most threads wait for
    by_peer: dict[tuple[object, ...], list[W.Wait]] = {}
    for w in asked:
        by_peer.setdefault(_peer_key(w), []).append(w)
    waits = max(by_peer.values(), key=lambda ws: sum(len(w.tids) for w in ws))
    tids = [tid for w in waits for tid in w.tids]
    if len(tids) < len(reading):
        return []  # the workers wait on several peers: no one peer holds the pool
    silent = min(w.silent_s or 0.0 for w in waits)
    if silent < SETTLE:
        return []
    chain = next((c for c in follow(graph) if c.hops and c.hops[0].tids == waits[0].tids), None)
    first = waits[0]
    peer = W.party_names(first.parties)
    demand = []
    if queued:
        n = sum(r.recv_q or 0 for r in queued)
        demand.append(
            f"{plural(n, 'connection')} wait to be accepted on {queued[0].local} (fd {queued[0].fd})"
        )
    if unread:
        demand.append(f"{plural(len(unread), 'connection')} hold requests nobody reads")
    who = (
        "its only thread"
        if len(s.threads.rows) == 1
        else "both worker threads"
        if len(tids) == 2
        else f"all {plural(len(tids), 'worker thread')}"
    )
    summary = (
        f"{' and '.join(demand)} at {s.label}, because {who} wait{'s' if len(tids) == 1 else ''} for a reply "
        f"from {peer}, which has sent nothing for {human_age(silent)} since it was asked"
    )
    where = s.app_site(tids)
    if where is not None:
        summary += f" (from {where})"
    if chain is not None and chain.end.pid is not None:
        summary += f"; pid {chain.end.pid} ({chain.end.name}) is {chain.end.kind}: {chain.end.detail}"
    evidence = [
        f"threads {id_list(list(w.tids))}: {w.what}, nothing received for {human_age(w.silent_s or 0)}"
        for w in waits[:4]
    ]
    evidence += [f"fd {r.fd}: LISTEN {r.local}, {r.recv_q} waiting to be accepted" for r in queued[:2]]
    evidence += [f"fd {r.fd}: {r.state} {r.remote}, {r.recv_q} bytes not read" for r in unread[:4]]
    if chain is not None:
        evidence.append("chain: " + W.chain_text(chain))
    stuck = silent >= STALL or (chain is not None and chain.stuck) or any(r.accept_queue_full for r in queued)
    severity: Severity = "critical" if stuck else "warning"
    steps = [
        f"find out why {peer} does not answer"
        + (
            f": `stucktui report {chain.end.pid}`"
            if chain is not None and chain.end.pid not in (None, s.pid)
            else ""
        ),
        "give the calls to it a timeout (a socket or client read timeout), so a silent peer costs one "
        "request an error instead of the whole pool",
    ]
    return [s.finding("workers-wait-on-peer", severity, summary, evidence, steps, panel="threads",
                      fds=tuple(w.fd for w in waits if w.fd is not None), tids=tuple(tids))]  # fmt: skip


WORKERS_WAIT_ON_PEER = RuleSpec(
    "workers-wait-on-peer",
    workers_wait_on_peer,
    clues=frozenset({clues.ACCEPT_QUEUE, clues.CLOSE_WAIT}),
    needs=frozenset({"threads", "sockets"}),
    cause_rank=1,
    ladder=f"warning: connections wait while every worker has waited {int(SETTLE)}s for a reply from "
    f"the same silent peer; critical: {int(STALL)}s, the listener's queue is full, or the chain "
    "from the peer is stuck",
)
