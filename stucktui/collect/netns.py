"""One network namespace's socket tables, read at most once per kind per refresh (netlink
sock_diag in our own namespace, /proc/PID/net/* in another), and the accept queues of a
process's listeners.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterable

from stucktui.model.net import (
    FIN_RECEIVED_STATES,
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_LISTEN,
    InetSocket,
    UnixSocket,
    in_accept_queue_of,
)
from stucktui.model.sockets import AcceptQueue, SocketRow, counts_by_name
from stucktui.procfs import netlink as nl
from stucktui.procfs.errors import ProcessGone
from stucktui.procfs.net import count_net_states, parse_net_inet, parse_net_unix
from stucktui.procfs.root import ProcRoot

Dumper = Callable[[bytes], list[bytes]]


_MEMBERS = 4  # members of a namespace a table keeps to read its /proc/PID/net files through


def ns_inode(link: str) -> int | None:
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
        # the members that asked for it, latest first: one that exits (or is a zombie: no net
        # directory) hands the read to the next; exiting is a normal event, never a failure
        self._members: list[int] = [pid]
        self.source = "netlink" if dumper is not None else "proc"
        self.note: str | None = None
        self._dumps: dict[tuple[int, int], nl.InetDump] = {}
        self._unix: list[bytes] | None = None
        self._text: dict[str, str] = {}
        self._close_wait: frozenset[int] | None = None
        self._cw_chunks: dict[int, list[bytes]] | None = None  # the CLOSE_WAIT-only dumps, by family
        self._listeners: list[InetSocket] | None = None

    def expire_filtered(self) -> None:
        """Forget the state-filtered dumps (cheap: the kernel filters), keep the full ones."""
        self._close_wait = self._cw_chunks = self._listeners = None

    def _fallback(self, exc: OSError) -> None:
        self.source = "proc"
        why = exc.strerror or exc
        self.note = (
            f"read from /proc/net (sock_diag refused: {why}): no unix socket peers, no listen "
            "backlogs, no tcp_info"
        )

    def member(self, pid: int) -> None:
        """`pid` is in the namespace and being read now: the likeliest member to be alive."""
        if self._members[0] != pid:
            self._members = [pid, *(m for m in self._members if m != pid)][:_MEMBERS]
            self.pid = pid

    def _proc_text(self, name: str) -> str:
        if name not in self._text:
            self._text[name] = self._read_net(name)
        return self._text[name]

    def _read_net(self, name: str) -> str:
        """/proc/PID/net/NAME of a member. A member that exited (ESRCH, its directory gone) is
        dropped and the next one read, as is one that is a zombie (no net directory: ENOENT);
        ENOENT from each member means the file does not exist (no IPv6 in this kernel). When
        every member is gone: ProcessGone of the latest, the process the caller is reading."""
        missing = False
        for m in list(self._members):
            try:
                return self.root.read_text(m, "net", name, pid=m if isinstance(m, int) else None)
            except FileNotFoundError:
                missing = True
            except ProcessGone:
                if len(self._members) > 1:
                    self._members.remove(m)
        if missing:
            return ""
        raise ProcessGone(self.pid, f"net/{name}")

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
        """Run every dump now, with each dump's inode index (meant for a worker thread while the
        caller reads fds: both wait in the kernel, and recv()/readlink() release the GIL)."""
        for family in (socket.AF_INET, socket.AF_INET6):
            for proto in (socket.IPPROTO_TCP, socket.IPPROTO_UDP):
                d = self._inet_dump(family, proto)
                if d is not None:
                    d.index()
        self.unix({0})

    def close_wait_inodes(self) -> frozenset[int]:
        """The CLOSE_WAIT inodes alone. Over netlink the kernel filters by state, so 100,000
        other sockets cost nothing but the kernel's walk of its table; a full dump already made
        this refresh is reused. No IPv6 TCP socket in use: no IPv6 walk."""
        if self._close_wait is None:
            if self.source == "netlink" and self._dumper is not None and not self._dumps:
                found: set[int] = set()
                kept: dict[int, list[bytes]] = {}
                try:
                    for family in (socket.AF_INET, socket.AF_INET6):
                        if family == socket.AF_INET6 and not self._tcp6_in_use():
                            continue
                        req = nl.inet_request(family, socket.IPPROTO_TCP, 1 << TCP_CLOSE_WAIT)
                        d = nl.InetDump("tcp", self._dumper(req))  # kept compact
                        kept[family] = d.chunks
                        found.update(d.collected)
                except OSError as exc:
                    self._fallback(exc)
                    return self.close_wait_inodes()
                self._close_wait, self._cw_chunks = frozenset(found), kept
            else:
                self._close_wait = frozenset(self.tcp_counts()[1])
        return self._close_wait

    def _tcp6_in_use(self) -> bool:
        """Whether our namespace has IPv6 TCP sockets (/proc/net/sockstat6 counts every hashed
        one, CLOSE_WAIT and not yet accepted included)."""
        try:
            text = self.root.read_text("net", "sockstat6")
        except OSError:
            return True
        for line in text.splitlines():
            if line.startswith("TCP6:"):
                f = line.split()
                return not (len(f) >= 3 and f[1] == "inuse" and f[2] == "0")
        return True

    def close_wait_sockets(self, inodes: set[int]) -> list[InetSocket]:
        """The CLOSE_WAIT sockets with these inodes (0: those no fd holds, closed by their
        clients while they waited in a listener's accept queue: docs/kernel-notes.md §A.2),
        decoded from what close_wait_inodes() read."""
        if not inodes & self.close_wait_inodes():
            return []
        found: list[InetSocket] = []
        for family, name in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
            if self._cw_chunks is not None:
                found.extend(nl.iter_inet(self._cw_chunks.get(family, ()), "tcp", inodes))
                continue
            d = self._inet_dump(family, socket.IPPROTO_TCP)
            if d is not None:
                found.extend(nl.iter_inet(d.chunks, "tcp", inodes))
            else:
                found.extend(parse_net_inet(self._proc_text(name), "tcp", inodes))
        return [s for s in found if s.state == TCP_CLOSE_WAIT]

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
            found = d.find(want) if d is not None else parse_net_inet(self._proc_text(name), name[:3], want)
            for s in found:
                out[s.inode] = s
        return out

    def inet_listed(self, inodes: set[int]) -> set[int]:
        """Which of these inodes some inet table lists: over netlink a lookup in each kept
        dump's inode index, nothing decoded (100,000 sockets of a pool: a set operation)."""
        out: set[int] = set()
        for family, proto in (
            (socket.AF_INET, socket.IPPROTO_TCP),
            (socket.AF_INET6, socket.IPPROTO_TCP),
            (socket.AF_INET, socket.IPPROTO_UDP),
            (socket.AF_INET6, socket.IPPROTO_UDP),
        ):
            d = self._inet_dump(family, proto)
            if d is None:
                return set(self.inet(inodes))
            out.update(d.listed(inodes - out))
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
            if d is not None:  # TIME_WAIT and FIN_WAIT_2 sockets (inode 0 too) are not decoded
                found = nl.iter_inet(d.chunks, d.proto, {0}, want)
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
