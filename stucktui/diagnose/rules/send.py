"""socket-send-blocked: threads blocked sending on a socket whose other end does not read."""

from __future__ import annotations

from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import (
    BLOCKED_STATES,
    Subject,
    call_name,
    id_list,
    plural,
    seen_for,
    thread_activity,
)
from stucktui.model import clues
from stucktui.model.context import SEND_CALLS, SendPeer, blocked_socket_sends
from stucktui.model.findings import Finding, Severity
from stucktui.model.net import InetSocket, UnixSocket
from stucktui.model.sockets import SocketRow
from stucktui.model.text import human_age, human_bytes
from stucktui.model.threads import ThreadRow

_SEND_WAIT = 10.0  # seconds a send stays blocked before the live view speaks (a slow reader passes)


_SEND_LONG = 300.0  # ... and before it is critical


def _senders(s: Subject, fd: int) -> list[ThreadRow]:
    assert s.threads is not None
    return [
        t
        for t in s.threads.rows
        if t.state in BLOCKED_STATES
        and call_name(t) in SEND_CALLS
        and t.fd_args[:1]
        and t.fd_args[0].fd == fd
    ]


def _other_end(s: Subject, row: SocketRow, peer: SendPeer | None) -> tuple[str, list[str], bool | None]:
    """(what the summary says about the other end, evidence, stuck): stuck is True when it
    surely takes no data (zero window, no ACKs, stopped), False when data still flows (a slow
    receiver: flow control, not a hang), None when stucktui cannot tell."""
    if peer is None:
        return "", [], None
    if peer.note:
        return f" (the other end: {peer.note})", [], None
    if peer.retransmits >= 3:
        return (
            f"; the other end acknowledges nothing ({peer.retransmits} retransmission timeouts in a "
            "row): its host or the network to it is gone",
            [f"fd {row.fd}: retransmission timer, {peer.retransmits} timeouts without an ACK"],
            True,
        )
    if peer.zero_window is False:
        return "", [], False
    stuck: bool | None = True if peer.zero_window else None
    evidence = ["the receiver advertises a zero window (the zero-window probe timer runs)"] if stuck else []
    if peer.on_box is False:
        where = f"; the receiver at {row.remote}, not on this box, "
        return where + ("has stopped reading" if stuck else "does not take it"), evidence, stuck
    unread = f", with {human_bytes(peer.recv_q)} unread in its receive queue" if peer.recv_q else ""
    if peer.pid is None:
        text = f"; the other end is a socket of this box{unread}, held by a process stucktui could not read"
        return (
            text,
            evidence + ([f"other end: socket:[{peer.inode}], Recv-Q {peer.recv_q}"] if peer.inode else []),
            stuck,
        )
    who = "this process itself" if peer.pid == s.pid else f"pid {peer.pid} ({peer.name})"
    text = f"; the other end is {who} fd {peer.peer_fd}{unread}"
    evidence.append(f"other end: pid {peer.pid} ({peer.name}) fd {peer.peer_fd}, Recv-Q {peer.recv_q} bytes")
    pp = s.context.peers.get(peer.pid)
    if pp is not None and pp.state in ("T", "t"):
        text += f", and it is stopped (state {pp.state})"
        stuck = True
    elif pp is not None and (act := thread_activity(pp.threads, 2)):
        evidence.append(f"pid {peer.pid}'s threads: {act}")
    return text, evidence, stuck


def socket_send_blocked(s: Subject) -> list[Finding]:
    """Threads blocked sending on a stream socket whose send buffer stays full: the other end
    does not read (docs/incidents.md §1's pipe, as a socket: a log shipper or a stopped consumer)."""
    out: list[Finding] = []
    if s.threads is None or s.sockets is None:
        return out
    rows = {r.fd: r for r in s.sockets.rows}
    for fd, inode in sorted(blocked_socket_sends(s.threads, s.sockets).items()):
        row = rows[fd]
        age = s.ages.oldest(clues.SOCKET_SEND, [(fd, inode)])
        if age is not None and age < _SEND_WAIT:
            continue  # live view: a slow reader drains it within seconds
        senders = _senders(s, fd)
        if not senders:
            continue
        peer = s.context.send_peers.get(fd)
        about, peer_evidence, stuck = _other_end(s, row, peer)
        if stuck is False:
            continue  # the receiver still opens its window: slower than the sender, not stuck
        pp = s.context.peers.get(peer.pid) if peer is not None and peer.pid is not None else None
        severity: Severity
        if (pp is not None and pp.state in ("T", "t")) or (age or 0) >= _SEND_LONG:
            severity = "critical"
        elif age is not None or stuck:
            severity = "warning"
        else:
            severity = "info"  # one look (a report) at a unix socket: it may pass in a moment
        queued = row.send_q or 0
        tids = tuple(t.tid for t in senders)
        who = f"Thread {tids[0]}" if len(tids) == 1 else f"{len(tids)} threads"
        how_long = f" for {human_age(age)}" if age is not None and age >= 1 else ""
        if isinstance(row.sock, InetSocket):
            what = f"{row.proto} {row.local} -> {row.remote}, {row.state}"
            backlog = f"{human_bytes(queued)} wait unsent in its send queue"
        else:
            sock = row.sock
            assert isinstance(sock, UnixSocket)
            what = f"unix {sock.type_name} socket, peer {row.peer_path or f'socket:[{sock.peer_inode}]'}"
            backlog = "its send buffer is full"
        summary = (
            f"{who} of {s.label} {'is' if len(tids) == 1 else 'are'} blocked sending on fd {fd} ({what})"
            f"{how_long}: {backlog}, because the other end does not read{about}."
        )
        first = senders[0]
        evidence = [
            f"{plural(len(tids), 'thread')} ({id_list(list(tids))}) in {first.call_text}, state {first.state}"
            + (f", wchan {first.wchan}" if first.wchan else ""),
            f"fd {fd}: {what}, Send-Q {queued:,}"
            + (" bytes" if isinstance(row.sock, InetSocket) else " (memory)"),
            *peer_evidence,
        ]
        if first.python is not None and first.python.frames:
            evidence.append(
                f"Python stack of thread {first.tid}: "
                + " <- ".join(f"{f.function} ({f.short_file}:{f.line})" for f in first.python.frames[:4])
            )
        if (seen := seen_for(age)) is not None:
            evidence.append(seen)
        steps: list[str] = []
        if peer is not None and peer.pid is not None and peer.pid != s.pid:
            if pp is not None and pp.state in ("T", "t"):
                steps.append(
                    f"pid {peer.pid} is stopped: `stucktui signal {peer.pid} CONT` lets it read again"
                )
            steps.append(
                f"open pid {peer.pid} in stucktui: its Threads panel shows what it does instead of reading"
            )
        elif peer is not None and peer.on_box is False and isinstance(row.sock, InetSocket):
            steps.append(
                f"`ss -tnoi dst {row.sock.remote_addr}` here: timer:(persist,...) means the receiver "
                "advertises a zero window; look at the receiving host"
            )
        steps.append(
            f"press c on fd {fd} in the Sockets panel (3) and choose a shutdown: the blocked send fails "
            "(EPIPE) and the thread goes on; the connection and its unsent data are lost"
        )
        out.append(s.finding("socket-send-blocked", severity, summary, evidence, steps,
                             panel="sockets", fds=(fd,), tids=tids, age=age))  # fmt: skip
    return out


SOCKET_SEND_BLOCKED = RuleSpec(
    "socket-send-blocked",
    socket_send_blocked,
    clues=frozenset({clues.SOCKET_SEND}),
    needs=frozenset({"threads", "sockets"}),
    cause_rank=10,
    ladder=(
        "speaks only when the receiver advertises a zero window, acknowledges nothing or is stopped "
        "(live: after 10 s); critical after 5 minutes or when the receiver cannot read"
    ),
    tracks=frozenset({clues.SOCKET_SEND}),
)
