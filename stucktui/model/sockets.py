"""What the socket views show: one row per socket fd, groups by remote endpoint, the box summary.

Plain frozen data built by stucktui.collect.sockets; the report and the UI read only these.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from stucktui.model.net import (
    FIN_RECEIVED_STATES,
    TCP_CLOSE_WAIT,
    TCP_LISTEN,
    InetSocket,
    UnixSocket,
    format_endpoint,
    state_name,
)

# Well-known ports, from IANA's registry as shipped in /etc/services (netbase); a few common
# unregistered defaults (redis, mongodb, elasticsearch, memcached) as the servers ship them.
SERVICES: dict[int, str] = {
    21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "domain", 80: "http", 110: "pop3",
    111: "sunrpc", 123: "ntp", 143: "imap", 389: "ldap", 443: "https", 465: "submissions",
    514: "syslog", 587: "submission", 636: "ldaps", 873: "rsync", 993: "imaps", 995: "pop3s",
    1433: "ms-sql-s", 1521: "oracle", 2049: "nfs", 2181: "zookeeper", 2375: "docker", 2379: "etcd",
    3306: "mysql", 4222: "nats", 5432: "postgresql", 5672: "amqp", 6379: "redis", 6443: "kubernetes",
    8080: "http-alt", 8443: "https-alt", 9042: "cassandra", 9092: "kafka", 9200: "elasticsearch",
    11211: "memcached", 15672: "rabbitmq-mgmt", 27017: "mongodb",
}  # fmt: skip


def service_name(port: int) -> str | None:
    return SERVICES.get(port)


@dataclass(frozen=True, slots=True)
class PeerOwner:
    """The process holding the other end of a unix socket."""

    pid: int
    name: str
    fd: int


# sockfs protocol names (system.sockprotoname) -> the proto column, for sockets in no table
_PROTOCOLS = {
    "TCP": "tcp",
    "TCPv6": "tcp6",
    "UDP": "udp",
    "UDPv6": "udp6",
    "UDP-Lite": "udplite",
    "UDPLITEv6": "udplite6",
    "RAW": "raw",
    "RAWv6": "raw6",
    "PING": "ping",
    "PINGv6": "ping6",
    "NETLINK": "netlink",
    "PACKET": "packet",
    "UNIX": "unix",
    "UNIX-STREAM": "unix",
    "UNIX-DGRAM": "unix",
    "SCTP": "sctp",
    "SCTPv6": "sctp6",
    "MPTCP": "mptcp",
    "MPTCPv6": "mptcp6",
    "VSOCK": "vsock",
}


def endpoint_text(r: SocketRow) -> str:
    """What a socket fd talks to, in one line for the Files panel: its protocol, local and
    remote ends, and the process holding the other end when it is on this box (unix)."""
    local, remote = r.local or "-", r.remote
    text = f"{r.proto} {local}" + (f" -> {remote}" if remote else "")
    if r.peer is not None:
        text += f" (peer pid {r.peer.pid} {r.peer.name} fd {r.peer.fd})"
    return text


class SocketRow(NamedTuple):
    """One socket fd of the selected process. `sock` is None for sockets in no table we read
    (netlink, packet, raw; or created after the dump). A NamedTuple for the reason given at
    InetSocket: one is built per socket fd, 20,000 in the benchmark."""

    fd: int
    inode: int
    sock: InetSocket | UnixSocket | None
    netns: int | None
    source: str  # "netlink" or "proc"
    peer: PeerOwner | None = None  # unix only
    peer_path: str | None = None  # unix only: the name the peer socket is bound to
    protocol: str | None = None  # for a socket in no table: sockfs's name for it ('TCP', 'NETLINK')

    @property
    def proto(self) -> str:
        s = self.sock
        if isinstance(s, InetSocket):
            return s.proto_name
        if s is not None:
            return "unix"
        return _PROTOCOLS.get(self.protocol, "other") if self.protocol else "other"

    @property
    def closed_tcp(self) -> bool:
        """A TCP socket still open as an fd but in no TCP table: state CLOSE (reset, shut
        down both ways and acknowledged, or never connected)."""
        return self.sock is None and self.protocol in ("TCP", "TCPv6")

    @property
    def family(self) -> str:
        s = self.sock
        if isinstance(s, InetSocket):
            return "inet6" if s.family == socket.AF_INET6 else "inet"
        return "unix" if s is not None else "other"

    @property
    def state(self) -> str:
        if self.sock is not None:
            return self.sock.state_name
        return "UNCONN" if self.closed_tcp else ""  # ss's name for TCP_CLOSE

    @property
    def local(self) -> str:
        s = self.sock
        if isinstance(s, InetSocket):
            return s.local
        return (s.path or "*") if s is not None else ""

    @property
    def remote(self) -> str:
        s = self.sock
        if isinstance(s, InetSocket):
            return s.remote
        if s is None:
            return ""
        return self.peer_path or ("*" if s.peer_inode is None else f"* {s.peer_inode}")

    @property
    def recv_q(self) -> int | None:
        return self.sock.recv_q if self.sock is not None else None

    @property
    def send_q(self) -> int | None:
        return self.sock.send_q if self.sock is not None else None

    @property
    def uid(self) -> int | None:
        return self.sock.uid if isinstance(self.sock, InetSocket) else None

    @property
    def unix_path(self) -> str | None:
        return self.sock.path if isinstance(self.sock, UnixSocket) else None

    @property
    def peer_pid(self) -> int | None:
        return self.peer.pid if self.peer else None

    @property
    def peer_name(self) -> str | None:
        return self.peer.name if self.peer else None

    @property
    def peer_fd(self) -> int | None:
        return self.peer.fd if self.peer else None

    @property
    def service(self) -> str | None:
        """The well-known service of the remote port (of the local port for a listener)."""
        s = self.sock
        if not isinstance(s, InetSocket):
            return None
        return SERVICES.get(s.local_port if s.state == TCP_LISTEN else s.remote_port)

    @property
    def listen_backlog(self) -> int | None:
        """Only netlink reports the backlog; /proc/net/tcp prints 0 there (docs/kernel-notes.md §3.1)."""
        s = self.sock
        if s is None or s.state != TCP_LISTEN or self.source != "netlink":
            return None
        return s.send_q

    @property
    def accept_queue_full(self) -> bool:
        """The kernel refuses new connections once the queue exceeds the backlog
        (sk_acceptq_is_full: ack_backlog > max_ack_backlog), so listen(5) holds 6."""
        b = self.listen_backlog
        return b is not None and self.sock is not None and (self.sock.recv_q or 0) > b

    @property
    def unread_bytes(self) -> int | None:
        """Bytes the process has not read. After the peer's FIN, Recv-Q counts the FIN as 1
        until the process reads end-of-file (docs/kernel-notes.md §3.1), so that 1 is not data."""
        s = self.sock
        if not isinstance(s, InetSocket) or s.proto != "tcp" or s.state == TCP_LISTEN:
            return None
        return max(0, s.recv_q - 1) if s.state in FIN_RECEIVED_STATES and s.recv_q else s.recv_q

    @property
    def close_wait_unread(self) -> bool:
        """CLOSE_WAIT with data never read: the peer gave up waiting for an answer."""
        return self.sock is not None and self.sock.state == TCP_CLOSE_WAIT and bool(self.unread_bytes)


@dataclass(frozen=True, slots=True)
class RemoteGroup:
    remote: str
    state: str
    count: int
    service: str | None
    recv_q: int  # summed over the group


@dataclass(frozen=True, slots=True)
class ProcessSockets:
    """The Sockets panel of one process."""

    pid: int
    netns: int | None
    source: str  # "netlink" or "proc"
    rows: tuple[SocketRow, ...]  # by fd
    states: tuple[tuple[str, int], ...]  # TCP sockets only, most common first
    by_remote: tuple[RemoteGroup, ...]
    notes: tuple[str, ...]
    duration: float
    # connections waiting in the accept queues of its listeners (no fd yet, so in no row)
    accept_queues: tuple[AcceptQueue, ...] = ()
    # local ports of its connections that a listener serves (its own, or another process's
    # that handed them over: a forked backend): those connections were accepted, not opened
    served_ports: frozenset[int] = frozenset()

    def state_counts(self) -> dict[str, int]:
        return dict(self.states)


@dataclass(frozen=True, slots=True)
class AcceptQueue:
    """Connections a listener holds that the process has not accept()ed: they have no fd
    (inode 0 in the socket table) but the client may already have given up on them (its FIN
    turns them CLOSE_WAIT, with the request still unread)."""

    fd: int  # the listening socket's fd
    local: str  # '0.0.0.0:8080'
    queued: int  # connections in the queue (the listener's Recv-Q)
    backlog: int | None  # netlink only
    states: tuple[tuple[str, int], ...]  # of the queued connections found in the table
    close_wait: int  # closed by the client while waiting
    unread_bytes: int  # request bytes those closed ones hold (FIN not counted)
    # remote endpoints of the queued connections found: who waits, so that History can tell a
    # queue that turns over (a busy server) from one nobody takes from (a stuck one)
    peers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PidSocketCount:
    pid: int
    sockets: int
    close_wait: int
    netns: int | None
    name: str = ""
    # where most of its CLOSE_WAIT sockets point (filled for the top processes only)
    top_remote: str | None = None
    top_remote_count: int = 0


@dataclass(frozen=True, slots=True)
class SocketSummary:
    """The box-wide Sockets view: TCP states of every namespace seen, and sockets per process."""

    states: tuple[tuple[str, int], ...]
    processes: tuple[PidSocketCount, ...]  # processes holding at least one socket
    namespaces: int
    unreadable: int  # processes whose fds we may not list
    duration: float
    own_netns: int | None = None  # the namespace stucktui runs in
    # why `unreadable` processes could not be read, and what would help, in a few words
    # (procfs.privilege.refusal_brief): root is not told to run as root
    unreadable_why: str = ""

    def state_counts(self) -> dict[str, int]:
        return dict(self.states)

    def by_close_wait(self) -> list[PidSocketCount]:
        return sorted((p for p in self.processes if p.close_wait), key=lambda p: (-p.close_wait, p.pid))

    def by_sockets(self) -> list[PidSocketCount]:
        return sorted(self.processes, key=lambda p: (-p.sockets, p.pid))


def counts_by_name(counts: Iterable[tuple[int, int]]) -> tuple[tuple[str, int], ...]:
    by: Counter[str] = Counter()
    for st, n in counts:
        by[state_name(st)] += n
    return tuple(sorted(by.items(), key=lambda kv: (-kv[1], kv[0])))


CLOSED_REMOTE = "? (reset or shut down: in no table)"


def group_by_remote(rows: Iterable[SocketRow], served: Iterable[int] = ()) -> tuple[RemoteGroup, ...]:
    """Connected inet sockets grouped by (remote endpoint, state), biggest group first.
    Connections accepted on a port this process listens on (or on `served` ports, where
    another process's listener accepted them) come from clients' ephemeral ports, one group
    each; they are grouped by client address instead ('10.0.0.7:*')."""
    rows = tuple(rows)
    socks = [r.sock for r in rows if isinstance(r.sock, InetSocket)]
    listening = {s.local_port for s in socks if s.state == TCP_LISTEN and s.proto == "tcp"}
    listening.update(served)
    groups: dict[tuple[str, int, int], list[int]] = {}
    for s in socks:
        if not s.remote_port:
            continue
        port = 0 if s.proto == "tcp" and s.local_port in listening else s.remote_port
        key = (s.remote_addr, port, s.state)
        g = groups.get(key)
        if g is None:
            groups[key] = [1, s.recv_q]
        else:
            g[0] += 1
            g[1] += s.recv_q
    out = [
        RemoteGroup(format_endpoint(a, p), state_name(st), g[0], SERVICES.get(p), g[1])
        for (a, p, st), g in groups.items()
    ]
    closed = sum(1 for r in rows if r.closed_tcp)
    if closed:  # their remote left the kernel's tables with them: one group
        out.append(RemoteGroup(CLOSED_REMOTE, "UNCONN", closed, None, 0))
    out.sort(key=lambda g: (-g.count, g.remote, g.state))
    return tuple(out)
