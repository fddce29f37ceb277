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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from stucktui.model.net import (
    FIN_RECEIVED_STATES,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_LISTEN,
    InetSocket,
    UnixSocket,
    format_endpoint,
    in_accept_queue_of,
)
from stucktui.model.sockets import (
    SERVICES,
    AcceptQueue,
    PeerOwner,
    PidSocketCount,
    ProcessSockets,
    SocketRow,
    SocketSummary,
    counts_by_name,
    group_by_remote,
)
from stucktui.procfs import netlink as nl
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.net import count_net_states, parse_net_inet, parse_net_unix
from stucktui.procfs.root import PidDir, ProcRoot

Dumper = Callable[[bytes], list[bytes]]


def _ns_inode(link: str) -> int | None:
    """'net:[4026531833]' -> 4026531833."""
    head, _, rest = link.partition(":[")
    return int(rest[:-1]) if head == "net" and rest.endswith("]") else None


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
        self._close_wait: frozenset[int] | None = None
        self._listeners: list[InetSocket] | None = None

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

    def close_wait_inodes(self) -> frozenset[int]:
        """The CLOSE_WAIT inodes alone. Over netlink the kernel filters by state, so 100,000
        other sockets cost nothing; a full dump already made this refresh is reused."""
        if self._close_wait is None:
            if self.source == "netlink" and self._dumper is not None and not self._dumps:
                found: set[int] = set()
                try:
                    for family in (socket.AF_INET, socket.AF_INET6):
                        req = nl.inet_request(family, socket.IPPROTO_TCP, 1 << TCP_CLOSE_WAIT)
                        found.update(nl.InetDump("tcp", self._dumper(req)).collected)
                except OSError as exc:
                    self._fallback(exc)
                    return self.close_wait_inodes()
                self._close_wait = frozenset(found)
            else:
                self._close_wait = frozenset(self.tcp_counts()[1])
        return self._close_wait

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

    def listeners(self) -> list[InetSocket]:
        """The TCP listening sockets of this namespace. Over netlink the kernel filters by
        state (a few sockets however big the table); /proc is parsed whole."""
        if self._listeners is None:
            found: list[InetSocket] = []
            for family, name in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
                if self.source == "netlink" and self._dumper is not None:
                    try:
                        chunks = self._dumper(nl.inet_request(family, socket.IPPROTO_TCP, 1 << TCP_LISTEN))
                    except OSError as exc:
                        self._fallback(exc)
                        return self.listeners()
                    found.extend(x for x in nl.iter_inet(chunks, "tcp") if x.state == TCP_LISTEN)
                else:
                    found.extend(
                        x for x in parse_net_inet(self._proc_text(name), "tcp") if x.state == TCP_LISTEN
                    )
            self._listeners = found
        return self._listeners

    def served_ports(self, socks: Iterable[InetSocket]) -> frozenset[int]:
        """Local ports of these connected TCP sockets that a listener in this namespace serves
        on their address: connections accepted there, perhaps by another process that handed
        them over (a forked backend: PostgreSQL, Apache prefork, inetd), not opened. One pass
        with a set lookup per socket (20,000 CLOSE_WAIT sockets: ~2 ms)."""
        socks = list(socks)
        if not socks:
            return frozenset()
        by_port: dict[int, list[InetSocket]] = {}
        for ls in self.listeners():
            by_port.setdefault(ls.local_port, []).append(ls)
        out: set[int] = set()
        for c in socks:
            p = c.local_port
            # an accepted connection matches its listener as a queued one does
            if (
                p in by_port
                and p not in out
                and c.state != TCP_LISTEN
                and c.proto == "tcp"
                and c.remote_port
                and any(in_accept_queue_of(ls, c) for ls in by_port[p])
            ):
                out.add(p)
        return frozenset(out)

    def unaccepted(self, ports: set[int]) -> list[InetSocket]:
        """Connected TCP sockets with no inode on these local ports: accepted by the kernel,
        waiting in a listener's accept queue for the process to accept() them. Read from the
        dumps this refresh made already (TIME_WAIT sockets have no inode either: dropped)."""
        want = (1 << TCP_ESTABLISHED) | (1 << TCP_CLOSE_WAIT)
        out: list[InetSocket] = []
        for family, name in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
            d = self._inet_dump(family, socket.IPPROTO_TCP)
            found: Iterable[InetSocket]
            if d is not None:
                found = nl.iter_inet(d.chunks, d.proto, {0})
            else:
                found = parse_net_inet(self._proc_text(name), "tcp", {0})
            out.extend(x for x in found if x.local_port in ports and (1 << x.state) & want)
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


def accept_queues(table: NetnsTable, rows: Iterable[SocketRow]) -> tuple[AcceptQueue, ...]:
    """What waits in the accept queue of each TCP listener with a non-empty one (Recv-Q of a
    listener counts the queued connections): the queued sockets are found in the table by
    local port with no inode, and matched to the listener (in_accept_queue_of)."""
    busy: list[tuple[SocketRow, InetSocket]] = []
    for r in rows:
        ls = r.sock
        if isinstance(ls, InetSocket) and ls.state == TCP_LISTEN and ls.proto == "tcp" and ls.recv_q > 0:
            busy.append((r, ls))
    if not busy:
        return ()
    queued = table.unaccepted({ls.local_port for _, ls in busy})
    out = []
    for r, ls in busy:
        mine = [q for q in queued if in_accept_queue_of(ls, q)]
        closed = [q for q in mine if q.state in FIN_RECEIVED_STATES]
        out.append(
            AcceptQueue(
                fd=r.fd,
                local=ls.local,
                queued=ls.recv_q,
                backlog=r.listen_backlog,
                states=counts_by_name(Counter(q.state for q in mine).items()),
                close_wait=len(closed),
                unread_bytes=sum(max(0, q.recv_q - 1) for q in closed),
                peers=tuple(q.remote for q in mine),
            )
        )
    return tuple(out)


def socket_fds(d: PidDir) -> list[tuple[int, int]]:
    """(fd, socket inode) of a process, by readlink of each /proc/PID/fd entry. Raises
    AccessDenied / ProcessGone; an fd closed mid-scan is skipped (notes 10.4)."""
    return [(fd, int(link[8:-1])) for fd, link in d.fd_links() if link.startswith("socket:[")]


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
        except (AccessDenied, ProcessGone, FileNotFoundError):
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
    def closed_tcp_holders(self, pids: Iterable[int]) -> dict[int, int]:
        """pid -> TCP sockets it holds that are in no table: a leak that left CLOSE_WAIT when a
        keepalive probe or a write got a reset (Go's pools probe every 15 s), shut down, or
        sockets never connected. No table lists them, so every process's fds are read (as the
        pipe map does) and sockfs is asked the protocol of each socket fd no table lists:
        call it only when /proc/net/sockstat counts such sockets (unlisted_tcp)."""
        held: dict[int, list[tuple[int, int]]] = {}
        ns_of: dict[int, int | None] = {}
        for pid in pids:
            try:
                with self.root.pid_dir(pid) as d:
                    fds = socket_fds(d)
                    if fds:
                        held[pid], ns_of[pid] = fds, self.netns_of(pid, d)
            except (AccessDenied, ProcessGone, OSError):
                continue
        by_ns: dict[int | None, tuple[int, set[int]]] = {}
        for pid, fds in held.items():
            by_ns.setdefault(ns_of[pid], (pid, set()))[1].update(ino for _, ino in fds)
        listed: set[int] = set()  # socket inodes are unique box-wide (sockfs)
        for ns, (pid, inodes) in by_ns.items():
            table = self.table(ns, pid)
            try:
                found = table.inet(inodes).keys()
                listed.update(found)
                listed.update(table.unix(inodes - found).keys())
            except OSError:
                continue
        out: dict[int, int] = {}
        for pid, fds in held.items():
            unlisted = [fd for fd, ino in fds if ino not in listed]
            if not unlisted:
                continue
            try:
                with self.root.pid_dir(pid) as d:
                    n = sum(1 for fd in unlisted if d.socket_protocol(fd) in ("TCP", "TCPv6"))
            except (AccessDenied, ProcessGone, OSError):
                continue
            if n:
                out[pid] = n
        return out

    def state_counts(self) -> dict[str, int]:
        """TCP state counts of our own namespace: what `ss -s` / `ss -tan state X` cover."""
        counts, _ = self.own_table().tcp_counts()
        return dict(counts_by_name(counts.items()))

    def _per_process(self) -> Iterator[tuple[int, int | None, list[int] | None]]:
        """(pid, netns, socket inodes, or None when its fds may not be listed) for every
        process. (The process list's CLOSE_WAIT column has its own, cheaper pass that reads
        fds only where a CLOSE_WAIT socket exists: collect/close_wait.py.)"""
        for pid in self.root.pids():
            ns = self.netns_of(pid)
            try:
                with self.root.pid_dir(pid) as d:
                    inodes = [ino for _, ino in socket_fds(d)]
            except AccessDenied:
                yield pid, ns, None
                continue
            except (ProcessGone, OSError):  # gone, or an odd entry: skip it this refresh
                continue
            yield pid, ns, inodes

    def summary(self, *, top: int = 50) -> SocketSummary:
        """The box-wide Sockets view: TCP state counts of every namespace seen, and sockets and
        CLOSE_WAIT sockets per process (a readlink of every fd on the box, each joined with
        its own namespace's CLOSE_WAIT inodes). The `top` processes by CLOSE_WAIT also get the
        remote endpoint most of those sockets point to."""
        t0 = self._clock()
        procs: list[PidSocketCount] = []
        held: dict[int, list[int]] = {}  # pid -> its CLOSE_WAIT inodes
        unreadable = 0
        named: set[int] = set() if self.own_netns is None else {self.own_netns}
        for pid, ns, inodes in self._per_process():
            if inodes is None:
                unreadable += 1
                continue
            if not inodes:
                continue
            # a namespace we cannot name may be one already counted: use it for the
            # CLOSE_WAIT join only, never in the box's totals
            if ns is not None:
                named.add(ns)
            cw = self.table(ns, pid).close_wait_inodes()
            mine = [i for i in inodes if i in cw]
            if mine:
                held[pid] = mine
            procs.append(PidSocketCount(pid, len(inodes), len(mine), ns, self._comm(pid)))
        procs.sort(key=lambda p: (-p.close_wait, -p.sockets, p.pid))
        for i, p in enumerate(procs[:top]):
            if p.close_wait:
                remote, n = self._top_remote(p, held[p.pid])
                procs[i] = replace(p, top_remote=remote, top_remote_count=n)
        merged: Counter[int] = Counter()
        for ns in named:
            table = self.own_table() if ns == self.own_netns else self._tables[ns]
            merged.update(table.tcp_counts()[0])
        if self.own_netns is None:
            merged.update(self.own_table().tcp_counts()[0])
        return SocketSummary(
            states=counts_by_name(merged.items()),
            processes=tuple(procs),
            namespaces=max(1, len(named)),
            unreadable=unreadable,
            duration=self._clock() - t0,
            own_netns=self.own_netns,
        )

    def _comm(self, pid: int) -> str:
        try:
            return self.root.read_text(pid, "comm", pid=pid).rstrip("\n")
        except OSError:
            return "?"

    def _top_remote(self, p: PidSocketCount, inodes: list[int]) -> tuple[str | None, int]:
        table = self.table(p.netns, p.pid)
        socks = list(table.inet(set(inodes)).values())
        # connections accepted on one listening port share their local port and come from
        # clients' ephemeral ports: count them by client address ('127.0.0.1:*'), as ss does
        local = Counter(s.local_port for s in socks)
        by: Counter[tuple[str, int]] = Counter()
        for s in socks:  # sockets, not fds: a dup counts once
            by[(s.remote_addr, 0 if local[s.local_port] > 1 else s.remote_port)] += 1
        if not by:
            return None, 0
        (addr, port), n = by.most_common(1)[0]
        service = SERVICES.get(port)
        return format_endpoint(addr, port) + (f" ({service})" if service else ""), n

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
            owners = self.socket_owners(peer_inodes, pid, fds)
        src = table.source
        rows = []
        for fd, ino in sorted(fds):
            s: InetSocket | UnixSocket | None = inet.get(ino) or unix.get(ino)
            if isinstance(s, UnixSocket) and s.peer_inode:
                rows.append(SocketRow(fd, ino, s, ns, src, owners.get(s.peer_inode), paths.get(s.peer_inode)))
            else:
                proto = d.socket_protocol(fd) if s is None else None
                rows.append(SocketRow(fd, ino, s, ns, src, protocol=proto))
        if table.note:
            notes.append(table.note)
        if ns is not None and ns != self.own_netns:
            notes.append(f"net namespace net:[{ns}] read from /proc/{pid}/net: no unix peers or backlogs")
        tcp = Counter(s.state for s in inet.values() if s.proto == "tcp")
        closed = sum(1 for r in rows if r.closed_tcp)
        if closed:
            tcp[TCP_CLOSE] += closed  # TCP sockets in no table: reset, shut down, never connected
        queues = accept_queues(table, rows)
        served = table.served_ports(inet.values())
        return ProcessSockets(
            pid=pid,
            netns=ns,
            source=src,
            rows=tuple(rows),
            states=counts_by_name(tcp.items()),
            by_remote=group_by_remote(rows, served),
            notes=tuple(notes),
            duration=self._clock() - t0,
            accept_queues=queues,
            served_ports=served,
        )

    def socket_owners(
        self, inodes: set[int], pid: int, own_fds: Iterable[tuple[int, int]] = ()
    ) -> dict[int, PeerOwner]:
        """Who holds each socket inode: `pid` itself first (socketpairs, loopback connections
        to itself), then every process until all are found. Paid only for the peers of unix
        sockets and of blocked sends; a peer held by a process we may not read stays unknown."""
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
        left = {i for i in inodes if i not in out}
        for p in self.root.pids() if left else ():
            if p == pid:
                continue
            try:
                with self.root.pid_dir(p) as d:
                    for fd, ino in socket_fds(d):
                        if ino in left:
                            left.discard(ino)
                            out.setdefault(ino, PeerOwner(p, comm(p), fd))
            except (AccessDenied, ProcessGone, OSError):
                continue
            if not left:
                break
        return out
