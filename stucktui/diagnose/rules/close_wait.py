"""CLOSE_WAIT rules: close-wait-unread (docs/incidents.md §1), close-wait-unanswered and
close-wait-leak (§2): connections the peer closed that this process never closed."""

from __future__ import annotations

from collections import Counter

from stucktui.diagnose.rules.sockets_common import (
    CLOSE_FD_SOCKET,
    close_wait_rows,
    listening_ports,
    thread_summary,
)
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import (
    Subject,
    id_list,
    plural,
    seen_for,
)
from stucktui.model import clues
from stucktui.model.findings import Finding, Severity
from stucktui.model.net import (
    TCP_ESTABLISHED,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    InetSocket,
    format_endpoint,
)
from stucktui.model.sockets import SERVICES, SocketRow
from stucktui.model.text import human_bytes


def close_wait_unread(s: Subject) -> list[Finding]:
    """CLOSE_WAIT sockets holding data never read: the peer sent a request, waited, gave up
    and closed; the process stopped reading (docs/incidents.md §1: every worker blocked elsewhere)."""
    # Only connections accepted from its own listeners: requests its clients sent. A connection
    # it opened holding unread bytes is the server's goodbye (PostgreSQL's "terminating
    # connection due to idle-in-transaction timeout", MySQL's wait_timeout error) left in a
    # leaked pool connection: close-wait-leak's, with those bytes as evidence.
    listening = listening_ports(s)
    rows = [
        r
        for r in close_wait_rows(s)
        if isinstance(r.sock, InetSocket) and r.sock.local_port in listening and r.close_wait_unread
    ]
    if not rows:
        return []
    unread = sum(r.unread_bytes or 0 for r in rows)
    age = s.ages.oldest(clues.CLOSE_WAIT, [r.inode for r in rows])
    severity: Severity = "critical" if len(rows) >= 10 or (age or 0) >= 300 else "warning"
    first = rows[0]
    why = "the peers gave up waiting for an answer and closed, and the process never read their requests"
    summary = (
        f"{s.label} has {plural(len(rows), 'CLOSE_WAIT socket')} with unread data "
        f"({human_bytes(unread)} in all, {first.unread_bytes} bytes on fd {first.fd} from {first.remote}): "
        f"{why}; {thread_summary(s)}."
    )
    fds = tuple(r.fd for r in rows)
    evidence = [
        f"fds {id_list(list(fds))}: CLOSE_WAIT with unread bytes "
        + ", ".join(f"{r.unread_bytes}" for r in rows[:8])
        + " (Recv-Q counts the peer's FIN as one more)",
    ]
    evidence.append(_clients(rows))
    if (seen := seen_for(age)) is not None:
        evidence.append(f"the oldest {seen}")
    steps = [
        "press 2 for the Threads panel: what each thread waits on instead of reading (y adds Python stacks)",
        CLOSE_FD_SOCKET.format(fd=first.fd) + ": frees the socket, not the stuck threads",
    ]
    return [
        s.finding("close-wait-unread", severity, summary, evidence, steps, panel="sockets", fds=fds, age=age)
    ]


def _clients(rows: list[SocketRow]) -> str:
    """'from 3 peers: 10.0.0.5 ×40, ...' for accepted connections: clients connect from
    ephemeral ports, so one peer per client address."""
    by_peer = Counter(
        format_endpoint(r.sock.remote_addr, 0) if isinstance(r.sock, InetSocket) else r.remote for r in rows
    )
    top = sorted(by_peer.items(), key=lambda kv: (-kv[1], kv[0]))
    return (
        f"from {plural(len(top), 'peer')}: "
        + ", ".join(f"{peer} ×{n}" if n > 1 else peer for peer, n in top[:5])
        + (" ..." if len(top) > 5 else "")
    )


_UNANSWERED = 10  # accepted connections left in CLOSE_WAIT at once: a pile, not a close in progress
_UNANSWERED_MANY = 100  # ... critical from this many
_UNANSWERED_AGE = 300.0  # ... or once the oldest has been seen this long


def close_wait_unanswered(s: Subject) -> list[Finding]:
    """Connections accepted from the process's own listeners whose clients already closed,
    with nothing left unread: the process read each request and then never answered or
    closed it (docs/incidents.md §1 with a thread per connection: every thread read its request, then
    blocked). close-wait-unread counts the requests it never even read."""
    listening = listening_ports(s)
    rows = [
        r
        for r in close_wait_rows(s)
        if isinstance(r.sock, InetSocket) and r.sock.local_port in listening and not r.close_wait_unread
    ]
    if not rows:
        return []
    age = s.ages.oldest(clues.CLOSE_WAIT, [r.inode for r in rows])
    n = len(rows)
    if n < _UNANSWERED and (age is None or age < _UNANSWERED_AGE):
        return []
    # critical only for a pile: a client may half-close (shutdown SHUT_WR) and still wait for
    # its answer, so a few old ones alone are a warning
    piled = n >= _UNANSWERED_MANY or (n >= _UNANSWERED and (age or 0) >= _UNANSWERED_AGE)
    severity: Severity = "critical" if piled else "warning"
    ports = sorted({r.sock.local_port for r in rows if isinstance(r.sock, InetSocket)})
    fds = tuple(r.fd for r in rows)
    upstream = _upstream(s, listening, n)
    if upstream is not None:
        remote, count = upstream
        severity = "warning"
        summary = (
            f"{s.label} holds {plural(n, 'connection')} accepted on port {id_list(ports)} whose clients "
            f"already closed their side, while {plural(count, 'connection')} it opened to {remote} get "
            "no answer: a proxy waiting on a backend that does not answer; look at the backend."
        )
        steps = [
            f"look at whatever serves {remote}: the requests wait there (if it runs on this box, "
            "`stucktui report --all` shows why it does not answer)",
            "the proxy's own server timeout decides when it gives up",
        ]
    else:
        summary = (
            f"{s.label} holds {plural(n, 'connection')} accepted on port {id_list(ports)} whose clients "
            f"already closed their side (CLOSE_WAIT, nothing left unread): it read the requests but never "
            f"answered or closed them; {thread_summary(s)}."
        )
        steps = [
            "press 2 for the Threads panel: what the threads that took these requests wait on "
            "(y adds Python stacks); freeing them lets them answer and close",
            CLOSE_FD_SOCKET.format(fd=rows[0].fd)
            + ": frees the socket, not the thread that holds it (a client that half-closed and still "
            "waits loses its answer)",
        ]
    evidence = [
        f"fds {id_list(list(fds), 8)}: CLOSE_WAIT, accepted from a listener on this box, Recv-Q holds only "
        "the client's FIN (a client that gave up, or one that half-closed and still waits)",
        _clients(rows),
    ]
    if (seen := seen_for(age)) is not None:
        evidence.append(f"the oldest {seen}")
    return [
        s.finding(
            "close-wait-unanswered", severity, summary, evidence, steps, panel="sockets", fds=fds, age=age
        )
    ]


# A proxy's connection to its backend that waits for an answer: still open, or half-closed by
# the proxy passing its client's close on (haproxy does: FIN_WAIT_1/2 until the backend closes).
_UPSTREAM_STATES = frozenset({TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2})


def _upstream(s: Subject, listening: set[int], n: int) -> tuple[str, int] | None:
    """(remote, count) when the process holds, for most of `n` abandoned client connections,
    a connection it opened to one remote that has sent nothing back, open or half-closed by
    the proxy: a proxy (haproxy, nginx with proxy_ignore_client_abort) waiting on its backend."""
    out = (
        Counter(
            r.remote
            for r in s.sockets.rows
            if isinstance(r.sock, InetSocket)
            and r.sock.state in _UPSTREAM_STATES
            and r.sock.local_port not in listening
            and not r.sock.recv_q
        )
        if s.sockets is not None
        else Counter()
    )
    if not out:
        return None
    remote, count = out.most_common(1)[0]
    return (remote, count) if count * 2 >= n else None


_CLOSED_ALONE = 20  # TCP sockets in no table held at once: a leak even without CLOSE_WAIT left
_CLOSED_AGE = 120.0  # ... or fewer, held this long (a socket never connected is in no table too)


def _closed_evidence(rows: list[SocketRow]) -> str:
    return (
        f"fds {id_list([r.fd for r in rows], 8)}: TCP sockets in state CLOSE (ss: UNCONN), in no "
        "socket table, so their remote is no longer known; the process never closed them"
    )


_LEAK_STEPS = (
    "closing the fds from outside frees the sockets, not the pool's slots (it still counts them "
    "in use): collect the evidence, then restart the process to recover",
    "look for a code path that takes a connection and returns early without releasing it "
    "(a transaction neither committed nor rolled back, a response body never closed)",
    "if the pool's connections are idle rather than leaked (its in-use count is low), set its idle "
    "timeout below the server's or balancer's",
)


def _closed_leak(s: Subject, rows: list[SocketRow], age: float | None) -> Finding:
    n = len(rows)
    fds = tuple(r.fd for r in rows)
    summary = (
        f"{s.label} holds {plural(n, 'TCP socket')} that are already reset or shut down and that it "
        f"never closed (fd {id_list(list(fds), 5)}): connections a pool does not release, after the "
        "peer closed them and a keepalive probe or a write got a reset (a close-fd shutdown leaves "
        "them so too)."
    )
    evidence = [_closed_evidence(rows)]
    if (seen := seen_for(age)) is not None:
        evidence.append(f"the oldest {seen}")
    steps = [CLOSE_FD_SOCKET.format(fd=fds[0]), *_LEAK_STEPS]
    return s.finding(
        "close-wait-leak", _leak_severity(n, age), summary, evidence, steps, panel="sockets", fds=fds, age=age
    )


def _leak_severity(n: int, age: float | None) -> Severity:
    a = age or 0.0
    if n >= 100 or a >= 600:
        return "critical"
    if n >= 5 or a >= 60:
        return "warning"
    return "info"


def _where(addr: str, port: int) -> str:
    remote = format_endpoint(addr, port)
    service = SERVICES.get(port)
    return f"{remote} ({service})" if service else remote


def _remotes(ranked: list[tuple[tuple[str, int], list[SocketRow]]]) -> str:
    """Where the leaked connections go: '127.0.0.1:5432 (postgresql)' for one remote; '16 ports
    of 127.0.0.1 (5432 (postgresql) ×1,247, 6379 (redis) ×1,246, ... and 12 more)' for several."""
    if len(ranked) == 1:
        (addr, port), _ = ranked[0]
        return _where(addr, port)
    addrs = {addr for (addr, _), _ in ranked}
    if len(addrs) == 1:
        head = f"{len(ranked)} ports of {format_endpoint(next(iter(addrs)), 0).removesuffix(':*')}"
        parts = [
            f"{port}{f' ({SERVICES[port]})' if port in SERVICES else ''} ×{len(rows):,}"
            for (_, port), rows in ranked
        ]
    else:
        head = f"{len(ranked)} remotes"
        parts = [f"{_where(addr, port)} ×{len(rows):,}" for (addr, port), rows in ranked]
    more = f" and {len(parts) - 4} more" if len(parts) > 4 else ""
    return f"{head} ({', '.join(parts[:4])}{more})"


def _spun(s: Subject) -> set[int]:
    """The fds an epoll loop of the process spins on: epoll-spin's, not a pool's leak."""
    from stucktui.diagnose.rules.spin import epoll_spin

    return {f.fds[0] for f in epoll_spin(s) if f.fds}


def close_wait_leak(s: Subject) -> list[Finding]:
    """Outgoing connections left in CLOSE_WAIT: the server (or a balancer's idle timeout)
    closed them and the process never closed its side: a pool that does not release
    connections (docs/incidents.md §2). One finding for every remote, counts over all of them
    (a pool to 16 ports is one leak, not 16). One such socket that stays is already a bug;
    severity grows with the count and with how long stucktui has seen them. A socket an epoll
    loop spins on is epoll-spin's (the loop never closes it), not a pool's."""
    if s.sockets is None:
        return []
    listening = listening_ports(s)
    spun = _spun(s) if s.files is not None else set()
    groups: dict[tuple[str, int], list[SocketRow]] = {}
    for r in close_wait_rows(s):
        sock = r.sock
        assert isinstance(sock, InetSocket)
        if sock.local_port in listening or r.fd in spun:
            continue  # accepted from our own listener: a server-side socket, not a pool's
        groups.setdefault((sock.remote_addr, sock.remote_port), []).append(r)
    # A leaked connection does not stay in CLOSE_WAIT: a keepalive probe or a write gets a
    # reset once the peer's side is gone, and the socket leaves every table (state CLOSE) while
    # the process still holds its fd. Those are counted with the CLOSE_WAIT ones, or alone.
    dead = [r for r in s.sockets.rows if r.closed_tcp and r.fd not in spun]
    closed_age = s.ages.oldest(clues.CLOSE_WAIT, [r.inode for r in dead]) if dead else None
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if not ranked:
        if dead and (len(dead) >= _CLOSED_ALONE or (closed_age or 0) >= _CLOSED_AGE):
            return [_closed_leak(s, dead, closed_age)]
        return []
    rows = [r for _, g in ranked for r in g]
    n = len(rows)
    age = s.ages.oldest(clues.CLOSE_WAIT, [r.inode for r in rows])
    fds = tuple(r.fd for r in rows)
    conns = "CLOSE_WAIT connection" if n == 1 else "CLOSE_WAIT connections"
    also = (
        f"; it also holds {plural(len(dead), 'TCP socket')} already reset or shut down "
        "(in no table any more): the same leak after a keepalive probe or a write got a reset, "
        "or sockets shut down by a close-fd action"
        if dead
        else ""
    )
    lead = f"{s.label} holds {n + len(dead):,} leaked TCP connections: " if dead else f"{s.label} holds "
    server = "the server" if len(ranked) == 1 else "the servers"
    summary = (
        f"{lead}{n:,} {conns} to {_remotes(ranked)} that {server} closed and the process never "
        f"closed: a connection pool that does not release its connections (fd {id_list(list(fds), 5)})"
        f"{also}."
    )
    evidence = [
        f"fds {id_list([r.fd for r in g])} to {format_endpoint(addr, port)}: CLOSE_WAIT, Recv-Q "
        + ", ".join(str(r.recv_q) for r in g[:8])
        for (addr, port), g in ranked[:8]
    ]
    if len(ranked) > 8:
        evidence.append(f"and {plural(len(ranked) - 8, 'more remote')}: the Sockets panel (3) lists them all")
    ports = sorted(r.sock.local_port for r in rows if isinstance(r.sock, InetSocket))
    evidence.append(
        f"local ports {id_list(ports, 5)}: no listener on this box serves them, so it opened these"
    )
    goodbye = [r for r in rows if r.close_wait_unread]
    if goodbye:
        sizes = "/".join(map(str, sorted({r.unread_bytes or 0 for r in goodbye})[:3]))
        evidence.append(
            f"{plural(len(goodbye), 'of them holds', 'of them hold')} {sizes} unread "
            "bytes: what the server sent before it closed (often its reason: an idle or "
            "idle-in-transaction timeout), never read, as a pooled connection nobody uses"
        )
    if dead:
        evidence.append(_closed_evidence(dead))
        fds = fds + tuple(r.fd for r in dead)
        age = None if age is None and closed_age is None else max(age or 0.0, closed_age or 0.0)
        n += len(dead)
    if (seen := seen_for(age)) is not None:
        evidence.append(f"the oldest {seen}")
    steps = [
        CLOSE_FD_SOCKET.format(fd=fds[0]),
        f"from a script: `stucktui close-fd {s.pid} {fds[0]} --method shutdown-both`",
        *_LEAK_STEPS,
    ]
    return [
        s.finding(
            "close-wait-leak",
            _leak_severity(n, age),
            summary,
            evidence,
            steps,
            panel="sockets",
            fds=fds,
            age=age,
        )
    ]


CLOSE_WAIT_UNREAD = RuleSpec(
    "close-wait-unread",
    close_wait_unread,
    clues=frozenset({clues.CLOSE_WAIT}),
    needs=frozenset({"threads", "sockets"}),
    cause_rank=100,
    ladder=("warning; critical from 10 sockets or once one has been seen for 5 minutes"),
    tracks=frozenset({clues.CLOSE_WAIT}),
)


CLOSE_WAIT_UNANSWERED = RuleSpec(
    "close-wait-unanswered",
    close_wait_unanswered,
    clues=frozenset({clues.CLOSE_WAIT}),
    needs=frozenset({"threads", "sockets"}),
    cause_rank=110,
    ladder=(
        "from 10 accepted connections (or fewer seen for 5 minutes); warning, critical from 100 or after "
        "5 minutes"
    ),
    tracks=frozenset({clues.CLOSE_WAIT}),
)


CLOSE_WAIT_LEAK = RuleSpec(
    "close-wait-leak",
    close_wait_leak,
    clues=frozenset({clues.CLOSE_WAIT}),
    needs=frozenset({"threads", "sockets"}),
    cause_rank=120,
    ladder="info from one socket, warning from 5 or after a minute, critical from 100 or after 10 minutes",
    tracks=frozenset({clues.CLOSE_WAIT}),
)
