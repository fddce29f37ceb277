"""Builds socket data: one table per network namespace per refresh, joined by inode with a process's fds.

Netlink sock_diag is the source for our own namespace (fast, gives LISTEN backlogs and unix
peers); /proc/PID/net/* for a process in another namespace or when netlink is unavailable
(notes 3.2, 3.4). Create one SocketCollector per refresh: it caches each namespace's table, so
the box summary and the selected process's panel share one dump.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stucktui.procfs import AccessDenied, PidDir, ProcessGone, ProcRoot
from stucktui.procfs import netlink as nl
from stucktui.procfs.net import (
    FIN_RECEIVED_STATES,
    TCP_CLOSE_WAIT,
    TCP_LISTEN,
    InetSocket,
    UnixSocket,
    count_net_states,
    format_endpoint,
    parse_net_inet,
    parse_net_unix,
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


Dumper = Callable[[bytes], list[bytes]]


def service_name(port: int) -> str | None:
    return SERVICES.get(port)


def _ns_inode(link: str) -> int | None:
    """'net:[4026531833]' -> 4026531833."""
    head, _, rest = link.partition(":[")
    return int(rest[:-1]) if head == "net" and rest.endswith("]") else None


@dataclass(frozen=True, slots=True)
class PeerOwner:
    """The process holding the other end of a unix socket."""

    pid: int
    name: str
    fd: int


@dataclass(frozen=True, slots=True)
class SocketRow:
    """One socket fd of the selected process. `sock` is None for sockets in no table we read
    (netlink, packet, raw; or created after the dump)."""

    fd: int
    inode: int
    sock: InetSocket | UnixSocket | None
    netns: int | None
    source: str  # "netlink" or "proc"
    peer: PeerOwner | None = None  # unix only
    peer_path: str | None = None  # unix only: the name the peer socket is bound to

    @property
    def proto(self) -> str:
        s = self.sock
        if isinstance(s, InetSocket):
            return s.proto_name
        return "unix" if s is not None else "other"

    @property
    def family(self) -> str:
        s = self.sock
        if isinstance(s, InetSocket):
            return "inet6" if s.family == socket.AF_INET6 else "inet"
        return "unix" if s is not None else "other"

    @property
    def state(self) -> str:
        return self.sock.state_name if self.sock is not None else ""

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
        """Only netlink reports the backlog; /proc/net/tcp prints 0 there (notes 3.1)."""
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
        until the process reads end-of-file (notes 3.1), so that 1 is not data."""
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

    def state_counts(self) -> dict[str, int]:
        return dict(self.states)


@dataclass(frozen=True, slots=True)
class PidSocketCount:
    pid: int
    sockets: int
    close_wait: int
    netns: int | None


@dataclass(frozen=True, slots=True)
class SocketSummary:
    """The box-wide Sockets view: TCP states of every namespace seen, and sockets per process."""

    states: tuple[tuple[str, int], ...]
    processes: tuple[PidSocketCount, ...]  # processes holding at least one socket
    namespaces: int
    unreadable: int  # processes whose fds we may not list
    duration: float

    def state_counts(self) -> dict[str, int]:
        return dict(self.states)

    def by_close_wait(self) -> list[PidSocketCount]:
        return sorted((p for p in self.processes if p.close_wait), key=lambda p: (-p.close_wait, p.pid))

    def by_sockets(self) -> list[PidSocketCount]:
        return sorted(self.processes, key=lambda p: (-p.sockets, p.pid))


class NetnsTable:
    """The sockets of one network namespace, read at most once per kind per refresh."""

    def __init__(self, root: ProcRoot, netns: int | None, pid: int, dumper: Dumper | None) -> None:
        self.root = root
        self._dumper = dumper
        self.netns = netns
        self.pid = pid  # any member of the namespace, for /proc/PID/net
        self.source = "netlink" if dumper is not None else "proc"
        self.note: str | None = None
        self._dumps: dict[tuple[int, int], nl.InetDump] = {}
        self._unix: list[bytes] | None = None
        self._text: dict[str, str] = {}

    def _fallback(self, exc: OSError) -> None:
        self.source = "proc"
        why = exc.strerror or exc
        self.note = f"netlink sock_diag unavailable ({why}): read /proc/PID/net, no unix peers"

    def _proc_text(self, name: str) -> str:
        if name not in self._text:
            try:
                self._text[name] = self.root.read_text(self.pid, "net", name, pid=self.pid)
            except FileNotFoundError:
                self._text[name] = ""  # e.g. no IPv6 in this kernel
        return self._text[name]

    def _inet_dump(self, family: int, proto: int) -> nl.InetDump | None:
        if self.source != "netlink" or self._dumper is None:
            return None
        key = (family, proto)
        if key not in self._dumps:
            name = "tcp" if proto == socket.IPPROTO_TCP else "udp"
            try:
                self._dumps[key] = nl.InetDump(name, self._dumper(nl.inet_request(family, proto)))
            except OSError as exc:
                self._fallback(exc)
                return None
        return self._dumps[key]

    def prefetch(self) -> None:
        """Run every dump now (meant for a worker thread while the caller reads fds: both
        wait in the kernel, and recv()/readlink() release the GIL)."""
        for family in (socket.AF_INET, socket.AF_INET6):
            for proto in (socket.IPPROTO_TCP, socket.IPPROTO_UDP):
                self._inet_dump(family, proto)
        self.unix({0})

    def tcp_counts(self) -> tuple[dict[int, int], set[int]]:
        """TCP state counts (IPv4 and IPv6) and the CLOSE_WAIT inodes."""
        counts: Counter[int] = Counter()
        close_wait: set[int] = set()
        for family, name in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
            d = self._inet_dump(family, socket.IPPROTO_TCP)
            if d is not None:
                counts.update(d.state_counts())
                close_wait.update(d.collected)
            else:
                c, cw = count_net_states(self._proc_text(name))
                counts.update(c)
                close_wait.update(cw)
        return dict(counts), close_wait

    def inet(self, inodes: set[int]) -> dict[int, InetSocket]:
        out: dict[int, InetSocket] = {}
        for family, proto, name in (
            (socket.AF_INET, socket.IPPROTO_TCP, "tcp"),
            (socket.AF_INET6, socket.IPPROTO_TCP, "tcp6"),
            (socket.AF_INET, socket.IPPROTO_UDP, "udp"),
            (socket.AF_INET6, socket.IPPROTO_UDP, "udp6"),
        ):
            want = inodes - out.keys() if out else inodes
            if not want:
                break
            d = self._inet_dump(family, proto)
            found: Iterable[InetSocket]
            if d is not None:
                found = nl.iter_inet(d.chunks, d.proto, want)
            else:
                found = parse_net_inet(self._proc_text(name), name[:3], want)
            for s in found:
                out[s.inode] = s
        return out

    def unix(self, inodes: set[int]) -> dict[int, UnixSocket]:
        if not inodes:
            return {}
        if self.source == "netlink" and self._dumper is not None and self._unix is None:
            try:
                self._unix = self._dumper(nl.unix_request())
            except OSError as exc:
                self._fallback(exc)
        if self._unix is not None:
            return {s.inode: s for s in nl.iter_unix(self._unix, inodes)}
        return {s.inode: s for s in parse_net_unix(self._proc_text("unix"), inodes)}


def socket_fds(d: PidDir) -> list[tuple[int, int]]:
    """(fd, socket inode) of a process, by readlink of each /proc/PID/fd entry. Raises
    AccessDenied / ProcessGone; an fd closed mid-scan is skipped (notes 10.4)."""
    out: list[tuple[int, int]] = []
    readlink = d.readlink
    for name in d.listdir("fd"):
        try:
            link = readlink("fd/" + name)
        except FileNotFoundError:
            continue
        if link.startswith("socket:["):
            out.append((int(name), int(link[8:-1])))
    return out


def _counts_by_name(counts: Iterable[tuple[int, int]]) -> tuple[tuple[str, int], ...]:
    by: Counter[str] = Counter()
    for st, n in counts:
        by[state_name(st)] += n
    return tuple(sorted(by.items(), key=lambda kv: (-kv[1], kv[0])))


def group_by_remote(rows: Iterable[SocketRow]) -> tuple[RemoteGroup, ...]:
    """Connected inet sockets grouped by (remote endpoint, state), biggest group first."""
    groups: dict[tuple[str, int, int], list[int]] = {}
    for r in rows:
        s = r.sock
        if not isinstance(s, InetSocket) or not s.remote_port:
            continue
        key = (s.remote_addr, s.remote_port, s.state)
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
    out.sort(key=lambda g: (-g.count, g.remote, g.state))
    return tuple(out)


class SocketCollector:
    """One refresh's view of the box's sockets. Not thread-safe; make a new one per refresh."""

    def __init__(
        self,
        root: ProcRoot | None = None,
        *,
        use_netlink: bool | None = None,
        dumper: Dumper = nl.dump,
        clock=time.monotonic,
    ) -> None:
        """use_netlink defaults to True for the real /proc only; `dumper` sends one
        sock_diag request and returns the raw chunks (tests hand it captured bytes)."""
        self.root = root or ProcRoot()
        self._clock = clock
        self._dumper = dumper if (self.root.path == "/proc" if use_netlink is None else use_netlink) else None
        self._tables: dict[object, NetnsTable] = {}
        try:
            self.own_netns = _ns_inode(self.root.readlink("self", "ns", "net"))
        except OSError:
            self.own_netns = None

    # -- namespaces ---------------------------------------------------------------------------
    def netns_of(self, pid: int, d: PidDir | None = None) -> int | None:
        """None when the link is unreadable (another user's process) or absent (fixtures)."""
        try:
            link = d.readlink("ns/net") if d else self.root.readlink(pid, "ns", "net", pid=pid)
        except (AccessDenied, FileNotFoundError):
            return None
        return _ns_inode(link)

    def table(self, netns: int | None, pid: int) -> NetnsTable:
        """The table of `pid`'s namespace; netlink only sees ours (notes 3.2)."""
        key: object = netns if netns is not None else ("pid", pid)
        t = self._tables.get(key)
        if t is None:
            mine = netns is not None and netns == self.own_netns
            t = self._tables[key] = NetnsTable(self.root, netns, pid, self._dumper if mine else None)
        return t

    def own_table(self) -> NetnsTable:
        return self.table(self.own_netns, "self")  # type: ignore[arg-type]

    # -- box-wide -----------------------------------------------------------------------------
    def state_counts(self) -> dict[str, int]:
        """TCP state counts of our own namespace: what `ss -s` / `ss -tan state X` cover."""
        counts, _ = self.own_table().tcp_counts()
        return dict(_counts_by_name(counts.items()))

    def summary(self) -> SocketSummary:
        """Sockets and CLOSE_WAIT sockets per process: a readlink of every fd on the box,
        each joined with its own namespace's CLOSE_WAIT inodes."""
        t0 = self._clock()
        procs: list[PidSocketCount] = []
        unreadable = 0
        tables: dict[object, tuple[dict[int, int], frozenset[int]]] = {}
        for pid in self.root.pids():
            try:
                with self.root.pid_dir(pid) as d:
                    inodes = [ino for _, ino in socket_fds(d)]
                    ns = self.netns_of(pid, d) if inodes else None
            except AccessDenied:
                unreadable += 1
                continue
            except (ProcessGone, FileNotFoundError):
                continue
            if not inodes:
                continue
            key: object = ns if ns is not None else ("pid", pid)
            if key not in tables:
                counts, cw = self.table(ns, pid).tcp_counts()
                # a namespace we cannot name may be one already counted: use it for the
                # CLOSE_WAIT join only, never in the box's totals
                tables[key] = (counts if ns is not None else {}, frozenset(cw))
            cw_inodes = tables[key][1]
            procs.append(PidSocketCount(pid, len(inodes), sum(1 for i in inodes if i in cw_inodes), ns))
        if self.own_netns not in tables:
            counts, _ = self.own_table().tcp_counts()
            tables[self.own_netns] = (counts, frozenset())
        merged: Counter[int] = Counter()
        for counts, _ in tables.values():
            merged.update(counts)
        return SocketSummary(
            states=_counts_by_name(merged.items()),
            processes=tuple(procs),
            namespaces=sum(1 for k in tables if not isinstance(k, tuple)),
            unreadable=unreadable,
            duration=self._clock() - t0,
        )

    # -- one process --------------------------------------------------------------------------
    def process_sockets(
        self, pid: int, *, piddir: PidDir | None = None, peers: bool = True
    ) -> ProcessSockets:
        """Raises ProcessGone, or AccessDenied when its fds may not be listed."""
        own = piddir is None
        d = piddir or self.root.pid_dir(pid)
        try:
            return self._process(d, peers)
        finally:
            if own:
                d.close()

    def _process(self, d: PidDir, peers: bool) -> ProcessSockets:
        t0 = self._clock()
        pid = d.pid
        notes: list[str] = []
        ns = self.netns_of(pid, d)
        table = self.table(ns, pid)
        worker = None
        if table.source == "netlink":
            worker = threading.Thread(target=table.prefetch, name="sock_diag", daemon=True)
            worker.start()
        try:
            fds = socket_fds(d)
        finally:
            if worker is not None:
                worker.join()
        wanted = {ino for _, ino in fds}
        inet = table.inet(wanted)
        unix = table.unix(wanted - inet.keys())
        owners: dict[int, PeerOwner] = {}
        paths: dict[int, str | None] = {}
        peer_inodes = {u.peer_inode for u in unix.values() if u.peer_inode}
        if peers and peer_inodes:
            paths = {i: u.path for i, u in table.unix(peer_inodes).items()}
            owners = self.unix_peer_owners(peer_inodes, pid, fds)
        src = table.source
        rows = []
        for fd, ino in sorted(fds):
            s: InetSocket | UnixSocket | None = inet.get(ino) or unix.get(ino)
            if isinstance(s, UnixSocket) and s.peer_inode:
                rows.append(SocketRow(fd, ino, s, ns, src, owners.get(s.peer_inode), paths.get(s.peer_inode)))
            else:
                rows.append(SocketRow(fd, ino, s, ns, src))
        if table.note:
            notes.append(table.note)
        if ns is not None and ns != self.own_netns:
            notes.append(f"net namespace net:[{ns}] read from /proc/{pid}/net: no unix peers or backlogs")
        tcp = Counter(s.state for s in inet.values() if s.proto == "tcp")
        return ProcessSockets(
            pid=pid,
            netns=ns,
            source=src,
            rows=tuple(rows),
            states=_counts_by_name(tcp.items()),
            by_remote=group_by_remote(rows),
            notes=tuple(notes),
            duration=self._clock() - t0,
        )

    def unix_peer_owners(
        self, inodes: set[int], pid: int, own_fds: Iterable[tuple[int, int]] = ()
    ) -> dict[int, PeerOwner]:
        """Who holds each peer inode: `pid` itself first (socketpairs), then every process
        until all are found. Paid only for unix sockets with peers; a peer held by a process
        we may not read stays unknown."""
        out: dict[int, PeerOwner] = {}
        names: dict[int, str] = {}

        def comm(p: int) -> str:
            if p not in names:
                try:
                    names[p] = self.root.read_text(p, "comm", pid=p).rstrip("\n")
                except OSError:
                    names[p] = "?"
            return names[p]

        for fd, ino in own_fds:
            if ino in inodes and ino not in out:
                out[ino] = PeerOwner(pid, comm(pid), fd)
        left = {f"socket:[{i}]" for i in inodes if i not in out}
        for p in self.root.pids() if left else ():
            if p == pid:
                continue
            try:
                with self.root.pid_dir(p) as d:
                    for name in d.listdir("fd"):
                        try:
                            link = d.readlink("fd/" + name)
                        except FileNotFoundError:
                            continue
                        if link in left:
                            left.discard(link)
                            ino = int(link[8:-1])
                            out.setdefault(ino, PeerOwner(p, comm(p), int(name)))
            except (AccessDenied, ProcessGone, FileNotFoundError):
                continue
            if not left:
                break
        return out


def sockets_report(ps: ProcessSockets) -> dict:
    """The `sockets` section of `stucktui report` (issue 3, item 4)."""
    return {
        "states": ps.state_counts(),
        "items": [
            {
                "fd": r.fd,
                "proto": r.proto,
                "local": r.local,
                "remote": r.remote,
                "state": r.state,
                "recv_q": r.recv_q,
                "send_q": r.send_q,
                "peer_pid": r.peer_pid,
            }
            for r in ps.rows
        ],
        "by_remote": [{"remote": g.remote, "state": g.state, "count": g.count} for g in ps.by_remote],
    }
