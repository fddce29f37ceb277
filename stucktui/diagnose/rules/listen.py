"""listen-backlog-full and accept-queue-abandoned: connections waiting at a listener that does not accept."""

from __future__ import annotations

from stucktui.diagnose.rules.sockets_common import thread_summary
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import (
    BLOCKED_STATES,
    EPOLL_WAITS,
    POLL_CALLS,
    Subject,
    plural,
    thread_activity,
)
from stucktui.model import clues
from stucktui.model.findings import Finding, Severity
from stucktui.model.text import human_age, human_bytes

# A busy server takes each queued connection within milliseconds: one still queued after this
# many seconds means nobody takes connections from that listener.
ACCEPT_STALL = 5.0


_ACCEPT_CALLS = frozenset({"accept", "accept4"}) | POLL_CALLS | EPOLL_WAITS | {"io_uring_enter"}


def _could_accept(s: Subject, fd: int) -> bool | None:
    """Whether some thread may be about to accept on listener `fd`: running, in accept() or a
    call on that fd, or in a multiplexing wait (whose fd set is in its memory). None when the
    threads were not read."""
    if s.threads is None or not s.threads.rows:
        return None
    for t in s.threads.rows:
        if t.state not in BLOCKED_STATES or t.call is None:
            return True
        if fd in t.call.fds or (t.call.name or "") in _ACCEPT_CALLS:
            return True
    return False


def listen_backlog_full(s: Subject) -> list[Finding]:
    """A listening socket whose accept queue is over its backlog: the kernel drops new
    connections. Critical when the process has stopped accepting: a queued connection has
    waited ACCEPT_STALL seconds, or no thread is where it could accept; otherwise a warning,
    for a busy server that accepts slower than connections arrive."""
    if s.sockets is None:
        return []
    queues = {q.fd: q for q in s.sockets.accept_queues}
    out = []
    for r in s.sockets.rows:
        if not r.accept_queue_full:
            continue
        q = queues.get(r.fd)
        waited = s.ages.oldest(clues.ACCEPT_QUEUE, [(r.fd, p) for p in q.peers]) if q is not None else None
        could = _could_accept(s, r.fd)
        stalled = waited is not None and waited >= ACCEPT_STALL
        if stalled:
            why = (
                f"the oldest connection has waited {human_age(waited or 0.0)} in it: "
                "the process has stopped accepting"
            )
        elif could is False:
            why = "no thread is in accept() or waiting for connections: the process has stopped accepting"
        else:
            why = "the process accepts slower than connections arrive (or stopped moments ago)"
        severity: Severity = "critical" if stalled or could is False else "warning"
        summary = (
            f"{s.label}'s listening socket {r.local} (fd {r.fd}) has a full accept queue "
            f"({r.recv_q} connections waiting, backlog {r.listen_backlog}), so new connections are "
            f"dropped; {why}; {thread_summary(s)}."
        )
        evidence = [f"fd {r.fd}: LISTEN {r.local}, accept queue {r.recv_q}, backlog {r.listen_backlog}"]
        if waited is not None and q is not None and q.peers:
            evidence.append(
                f"oldest queued connection seen for {human_age(waited)} "
                f"(a busy server takes each within milliseconds)"
            )
        act = thread_activity(s.threads, 3)
        if act:
            evidence.append(f"threads: {act}")
        steps = [
            "press 2 for the Threads panel: what the threads do instead of calling accept()",
            "raise the backlog (listen() and net.core.somaxconn) only if the process accepts, "
            "just slower than connections arrive: the backlog is only a buffer for bursts",
        ]
        out.append(
            s.finding(
                "listen-backlog-full",
                severity,
                summary,
                evidence,
                steps,
                panel="sockets",
                fds=(r.fd,),
                age=waited,
            )
        )
    return out


def accept_queue_abandoned(s: Subject) -> list[Finding]:
    """Connections waiting in a listener's accept queue that their clients already closed
    (CLOSE_WAIT, no fd yet): the process stopped calling accept(), and requests pile up where
    no fd, lsof or CLOSE_WAIT count of the process shows them (docs/incidents.md §1 when the thread that
    accepts is the one stuck; ss shows them under the listening port)."""
    if s.sockets is None:
        return []
    out = []
    for q in s.sockets.accept_queues:
        if not q.close_wait:
            continue
        severity: Severity = "critical" if q.close_wait >= 10 else "warning"
        states = ", ".join(f"{n} {st}" for st, n in q.states) or "none found in the table"
        summary = (
            f"{s.label} has not accepted {plural(q.queued, 'connection')} waiting on {q.local} (fd {q.fd}); "
            f"{q.close_wait} of them were closed by their clients while they waited, "
            f"{human_bytes(q.unread_bytes)} of requests never read: the process stopped calling "
            f"accept(); {thread_summary(s)}."
        )
        evidence = [
            f"fd {q.fd}: LISTEN {q.local}, accept queue {q.queued}"
            + (f", backlog {q.backlog}" if q.backlog is not None else "")
            + f"; queued connections: {states}",
            "queued connections have no fd yet: they count in no process's CLOSE_WAIT column "
            f"(`ss -tan state close-wait '( sport = :{q.local.rsplit(':', 1)[-1]} )'` lists them)",
        ]
        act = thread_activity(s.threads, 3)
        if act:
            evidence.append(f"threads: {act}")
        steps = [
            "press 2 for the Threads panel (y adds Python stacks): the thread that should call "
            "accept() and what it waits on instead",
        ]
        out.append(
            s.finding(
                "accept-queue-abandoned", severity, summary, evidence, steps, panel="sockets", fds=(q.fd,)
            )
        )
    return out


LISTEN_BACKLOG_FULL = RuleSpec(
    "listen-backlog-full",
    listen_backlog_full,
    clues=frozenset({clues.ACCEPT_QUEUE}),
    needs=frozenset({"threads", "sockets"}),
    cause_rank=80,
    ladder=(
        "critical once the process has stopped accepting (a queued connection waited 5 s, or no thread "
        "could accept); otherwise a warning"
    ),
    tracks=frozenset({clues.ACCEPT_QUEUE}),
)


ACCEPT_QUEUE_ABANDONED = RuleSpec(
    "accept-queue-abandoned",
    accept_queue_abandoned,
    clues=frozenset({clues.ACCEPT_QUEUE, clues.CLOSE_WAIT}),
    needs=frozenset({"threads", "sockets"}),
    cause_rank=90,
    ladder=("warning; critical from 10 connections closed by their clients while queued"),
    tracks=frozenset(),
)
