"""The waits of threads blocked on sockets, for the wait graph: a send, a read with nothing
queued, a connect; each followed to the process holding the other end (or the listener), or to
the endpoint off this box."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.peers import send_peers
from stucktui.model import waits as W
from stucktui.model.context import connected_stream
from stucktui.model.net import TCP_SYN_SENT, WILDCARD_ADDRS, InetSocket
from stucktui.model.sockets import ProcessSockets
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot

if TYPE_CHECKING:
    from stucktui.inspection.waits import Facts

_FANOUT = 6  # listeners' holders named for one connect


def socket_waits(root: ProcRoot, f: Facts, facts: BoxFacts) -> list[W.Wait]:
    """Threads blocked sending on, or reading from, a connected stream socket -> the process
    holding its other end (one sock_diag lookup per TCP socket, the unix peer from unix_diag),
    or the endpoint off this box."""
    if f.threads is None:
        return []
    links = {a.fd: a.target for t in f.threads.rows for a in t.fd_args[:1]}
    fds = frozenset(fd for fd, link in links.items() if link.startswith("socket:["))
    blocked = W.fd_waits(f.threads, fds, *W.SOCKET_CALLS) if fds else {}
    if not blocked:
        return []
    sockets = _sockets(f, facts)
    if sockets is None:
        return []
    rows = {r.fd: r for r in sockets.rows}
    streams = {fd for _, fd in blocked if fd in rows and connected_stream(rows[fd])}
    if not streams:
        return []
    ends = dict(f.context.send_peers) if f.context is not None else {}
    missing = streams - ends.keys()
    if missing:
        try:
            ends.update(send_peers(root, f.pid, sockets, missing, facts.sockets()))
        except (ProcessGone, AccessDenied, OSError, ValueError):
            pass
    out = []
    for (kind, fd), tids in blocked.items():
        if fd not in streams:
            continue
        row, peer = rows[fd], ends.get(fd)
        if kind == W.SOCKET_RECV and row.recv_q:
            continue  # bytes are queued: it is reading, not waiting
        where = f"{row.proto} {row.remote}" if row.remote else row.proto
        parties: tuple[W.Party, ...] = ()
        if peer is not None and peer.pid is not None:
            parties = (W.Party(peer.pid, peer.name or "?", f"holds the other end (fd {peer.peer_fd})"),)
        elif peer is not None and peer.on_box is False:
            parties = (W.Party(None, "", f"the peer {row.remote}", endpoint="off this box"),)
        verb = "send on" if kind == W.SOCKET_SEND else "read from"
        # a send blocks until the receiver reads: only it can end the wait; a read may wait by
        # design (a keep-alive connection, a client that speaks first), or end on a timeout
        certain = kind == W.SOCKET_SEND and bool(parties)
        info = peer.info if peer is not None and kind == W.SOCKET_RECV else None
        silent = info.last_data_recv_ms / 1000 if info is not None else None
        asked = info is not None and info.awaits_reply
        out.append(
            W.Wait(
                kind,
                tuple(tids),
                f"{verb} fd {fd} ({where})",
                fd,
                parties,
                certain,
                silent_s=silent,
                asked=asked,
            )
        )
    return out


def connect_waits(f: Facts, facts: BoxFacts) -> list[W.Wait]:
    """Threads blocked in connect() on a TCP socket still in SYN_SENT -> the process holding
    the listener of this box it connects to (a full accept queue drops the SYN and the client
    retries until the listener accepts), or the endpoint off this box."""
    if f.threads is None:
        return []
    tids_by_fd: dict[int, list[int]] = {}
    for t in f.threads.rows:
        if t.state in "SD" and t.call is not None and t.call.name == "connect":
            for a in t.fd_args[:1]:
                tids_by_fd.setdefault(a.fd, []).append(t.tid)
    if not tids_by_fd:
        return []
    sockets = _sockets(f, facts)
    if sockets is None:
        return []
    rows = {r.fd: r for r in sockets.rows}
    collector = facts.sockets()
    try:
        listeners = collector.own_table().listeners()
    except OSError:
        listeners = []
    out = []
    for fd, tids in tids_by_fd.items():
        row = rows.get(fd)
        s = row.sock if row is not None else None
        if row is None or not isinstance(s, InetSocket) or s.proto != "tcp" or s.state != TCP_SYN_SENT:
            continue
        match = [
            lst for lst in listeners
            if lst.local_port == s.remote_port and lst.family == s.family
            and (lst.local_addr in WILDCARD_ADDRS or lst.local_addr == s.remote_addr)
        ]  # fmt: skip
        parties: tuple[W.Party, ...] = ()
        if match:
            owners = collector.socket_owners({lst.inode for lst in match}, f.pid)
            queues = {lst.inode: f"accept queue {lst.recv_q} of backlog {lst.send_q}" for lst in match}
            parties = tuple(
                W.Party(o.pid, o.name, f"listens on {row.remote} (fd {o.fd}; {queues.get(ino, '')})")
                for ino, o in owners.items()
            )[:_FANOUT]
        elif row.netns is None or row.netns == collector.own_netns:
            parties = (W.Party(None, "", f"the listener {row.remote}", endpoint="off this box"),)
        out.append(W.Wait(W.CONNECT, tuple(tids), f"connect on fd {fd} to {row.remote}", fd, parties, False))
    return out


def _sockets(f: Facts, facts: BoxFacts) -> ProcessSockets | None:
    """The process's sockets: its panel's, or read once and kept on its Facts for the next
    kind of socket wait (None: they could not be read)."""
    if f.sockets is None:
        try:
            f.sockets = facts.process_sockets(f.pid)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return None
    return f.sockets
