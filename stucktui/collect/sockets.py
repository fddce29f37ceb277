"""Builds socket data: one table per network namespace per refresh, joined by inode with a process's fds.

Netlink sock_diag is the source for our own namespace (fast, gives LISTEN backlogs and unix
peers); /proc/PID/net/* for a process in another namespace or when netlink is unavailable
(docs/kernel-notes.md §3.2, §3.4). Create one SocketCollector per refresh: it caches each namespace's table,
so the box summary and the selected process's panel share one dump.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from stucktui.collect.netns import Dumper, NetnsTable, accept_queues, ns_inode
from stucktui.model.net import (
    TCP_CLOSE,
    InetSocket,
    UnixSocket,
    format_endpoint,
)
from stucktui.model.sockets import (
    SERVICES,
    PeerOwner,
    PidSocketCount,
    ProcessSockets,
    SocketRow,
    SocketSummary,
    counts_by_name,
    group_by_remote,
)
from stucktui.procfs import netlink as nl
from stucktui.procfs.errors import AccessDenied, ProcError, ProcessGone
from stucktui.procfs.privilege import refusal_brief
from stucktui.procfs.root import PidDir, ProcRoot


def socket_fds(d: PidDir) -> list[tuple[int, int]]:
    """(fd, socket inode) of a process, by readlink of each /proc/PID/fd entry. Raises
    AccessDenied / ProcessGone; an fd closed mid-scan is skipped (docs/kernel-notes.md §10.4)."""
    return [(fd, int(link[8:-1])) for fd, link in d.fd_links() if link.startswith("socket:[")]


class SocketCollector:
    """One refresh's view of the box's sockets. Not thread-safe; make a new one per refresh."""

    def __init__(
        self,
        root: ProcRoot | None = None,
        *,
        use_netlink: bool | None = None,
        dumper: Dumper | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """use_netlink defaults to True for the real /proc only; `dumper` sends one
        sock_diag request and returns the raw chunks (netlink's own by default; tests hand it
        captured bytes, or a refusal)."""
        self.root = root or ProcRoot()
        self._clock = clock
        netlink = self.root.path == "/proc" if use_netlink is None else use_netlink
        self._dumper = (dumper or nl.dump) if netlink else None
        self._tables: dict[object, NetnsTable] = {}
        # target set, asking pid -> holders, verified (BoxFacts.owners: the kept fd index);
        # None: socket_owners reads every process's fds
        self.finder: Callable[..., tuple[dict[str, list[tuple[int, int]]], int]] | None = None
        # dump the namespace while a process's fds are read (a collector made for one look);
        # a kept one dumps only when a process has sockets (one with none costs no dump)
        self.prefetch = True
        try:
            self.own_netns = ns_inode(self.root.readlink("self", "ns", "net"))
        except OSError:
            self.own_netns = None

    # -- namespaces ---------------------------------------------------------------------------
    def netns_of(self, pid: int, d: PidDir | None = None) -> int | None:
        """None when the link is unreadable (another user's process) or absent (fixtures)."""
        try:
            link = d.readlink("ns/net") if d else self.root.readlink(pid, "ns", "net", pid=pid)
        except (AccessDenied, ProcessGone, FileNotFoundError):
            return None
        return ns_inode(link)

    def table(self, netns: int | None, pid: int) -> NetnsTable:
        """The table of `pid`'s namespace; netlink only sees ours (docs/kernel-notes.md §3.2)."""
        key: object = netns if netns is not None else ("pid", pid)
        t = self._tables.get(key)
        if t is None:
            mine = netns is not None and netns == self.own_netns
            t = self._tables[key] = NetnsTable(self.root, netns, pid, self._dumper if mine else None)
        else:
            t.member(pid)  # a member read now: the one to read the namespace's files through
        return t

    def expire_filtered(self) -> None:
        """The state-filtered dumps (listeners, CLOSE_WAIT) are made again when next asked
        for; the full dumps are kept (BoxFacts reuses them within its cadence)."""
        for t in self._tables.values():
            t.expire_filtered()

    def own_table(self) -> NetnsTable:
        return self.table(self.own_netns, "self")  # type: ignore[arg-type]

    # -- box-wide -----------------------------------------------------------------------------
    def closed_tcp_holders(
        self, pids: Iterable[int], kept: Callable[[int], list[tuple[int, int]] | None] | None = None
    ) -> dict[int, int]:
        """pid -> TCP sockets it holds that are in no table: a leak that left CLOSE_WAIT when a
        keepalive probe or a write got a reset (Go's pools probe every 15 s), shut down, or
        sockets never connected. No table lists them, so every process's fds are read (as the
        pipe map does) and sockfs is asked the protocol of each socket fd no table lists:
        call it only when /proc/net/sockstat counts such sockets (unlisted_tcp). `kept`: a
        process's (fd, socket inode) as the fd owner index keeps them (None: read them here),
        so the box's fds are not all read a second time."""
        held: dict[int, list[tuple[int, int]]] = {}
        ns_of: dict[int, int | None] = {}
        for pid in pids:
            known = kept(pid) if kept is not None else None
            if known is not None:
                if known:
                    held[pid], ns_of[pid] = known, self.netns_of(pid)
                continue
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
                found = table.inet_listed(inodes)
                listed.update(found)
                listed.update(table.unix(inodes - found).keys())
            except (OSError, ProcError):  # every process of the namespace exited meanwhile
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
            try:
                cw = self.table(ns, pid).close_wait_inodes()
            except ProcessGone:  # it exited, and with it the last process we knew in its namespace
                continue
            mine = [i for i in inodes if i in cw]
            if mine:
                held[pid] = mine
            procs.append(PidSocketCount(pid, len(inodes), len(mine), ns, self._comm(pid)))
        procs.sort(key=lambda p: (-p.close_wait, -p.sockets, p.pid))
        for i, p in enumerate(procs[:top]):
            if p.close_wait:
                try:
                    remote, n = self._top_remote(p, held[p.pid])
                except ProcessGone:
                    continue
                procs[i] = replace(p, top_remote=remote, top_remote_count=n)
        merged: Counter[int] = Counter()
        for ns in named:
            table = self.own_table() if ns == self.own_netns else self._tables[ns]
            try:
                merged.update(table.tcp_counts()[0])
            except ProcessGone:  # every process we knew in it exited: so, likely, did it
                continue
        if self.own_netns is None:
            merged.update(self.own_table().tcp_counts()[0])
        return SocketSummary(
            states=counts_by_name(merged.items()),
            processes=tuple(procs),
            namespaces=max(1, len(named)),
            unreadable=unreadable,
            duration=self._clock() - t0,
            own_netns=self.own_netns,
            unreadable_why=refusal_brief() if unreadable else "",
        )

    def _comm(self, pid: int) -> str:
        try:
            return self.root.read_text(pid, "comm", pid=pid).rstrip("\n")
        except (OSError, ProcError):  # exited since: the name is all it costs
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
        self,
        pid: int,
        *,
        piddir: PidDir | None = None,
        peers: bool = True,
        fds: list[tuple[int, int]] | None = None,
    ) -> ProcessSockets:
        """Raises ProcessGone, or AccessDenied when its fds may not be listed. `fds`: its
        (fd, socket inode) pairs when the caller has them (the box facts' index), else each
        fd is read."""
        own = piddir is None
        d = piddir or self.root.pid_dir(pid)
        try:
            return self._process(d, peers, fds)
        finally:
            if own:
                d.close()

    def _process(self, d: PidDir, peers: bool, kept: list[tuple[int, int]] | None = None) -> ProcessSockets:
        t0 = self._clock()
        pid = d.pid
        notes: list[str] = []
        ns = self.netns_of(pid, d)
        table = self.table(ns, pid)
        worker = None
        if table.source == "netlink" and self.prefetch:
            worker = threading.Thread(target=table.prefetch, name="sock_diag", daemon=True)
            worker.start()
        try:
            fds = kept if kept is not None else socket_fds(d)
        finally:
            if worker is not None:
                worker.join()
        rows, inet = self._rows(d, table, ns, fds, peers)
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
            source=table.source,
            rows=tuple(rows),
            states=counts_by_name(tcp.items()),
            by_remote=group_by_remote(rows, served),
            notes=tuple(notes),
            duration=self._clock() - t0,
            accept_queues=queues,
            served_ports=served,
        )

    def socket_rows(self, d: PidDir, fds: list[tuple[int, int]], *, peers: bool = True) -> list[SocketRow]:
        """The Sockets panel's rows of these (fd, socket inode) of a process, joined with this
        collector's tables (a kept one: its dumps, no new read of the box). Raises ProcessGone."""
        ns = self.netns_of(d.pid, d)
        return self._rows(d, self.table(ns, d.pid), ns, fds, peers)[0]

    def _rows(
        self, d: PidDir, table: NetnsTable, ns: int | None, fds: list[tuple[int, int]], peers: bool
    ) -> tuple[list[SocketRow], dict[int, InetSocket]]:
        wanted = {ino for _, ino in fds}
        inet = table.inet(wanted)
        unix = table.unix(wanted - inet.keys())
        owners: dict[int, PeerOwner] = {}
        paths: dict[int, str | None] = {}
        peer_inodes = {u.peer_inode for u in unix.values() if u.peer_inode}
        if peers and peer_inodes:
            paths = {i: u.path for i, u in table.unix(peer_inodes).items()}
            owners = self.socket_owners(peer_inodes, d.pid, fds)
        src = table.source
        rows = []
        for fd, ino in sorted(fds):
            s: InetSocket | UnixSocket | None = inet.get(ino) or unix.get(ino)
            if isinstance(s, UnixSocket) and s.peer_inode:
                rows.append(SocketRow(fd, ino, s, ns, src, owners.get(s.peer_inode), paths.get(s.peer_inode)))
            else:
                proto = d.socket_protocol(fd) if s is None else None
                rows.append(SocketRow(fd, ino, s, ns, src, protocol=proto))
        return rows, inet

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
                except (OSError, ProcError):
                    names[p] = "?"
            return names[p]

        for fd, ino in own_fds:
            if ino in inodes and ino not in out:
                out[ino] = PeerOwner(pid, comm(pid), fd)
        left = {i for i in inodes if i not in out}
        if left and self.finder is not None:
            found, _ = self.finder({f"socket:[{i}]" for i in left}, besides=pid)
            for target, holders in found.items():
                theirs = [(p, fd) for p, fd in holders if p != pid]
                if theirs:
                    out[int(target[8:-1])] = PeerOwner(theirs[0][0], comm(theirs[0][0]), theirs[0][1])
            return out
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
