"""The process list's CLOSE_WAIT column across refreshes, without reading every fd each time.

What the column counts, per process: its fds on CLOSE_WAIT sockets (a dup counts twice), plus
the connections their clients closed while they waited in the accept queue of a listener it
holds. Those have no fd (inode 0: docs/kernel-notes.md §A.2), so no fd table can ever show
them; they are counted once per fd on the listener instead, which puts a server that stopped
accepting (the stuck-server case) at the top of the column.

Finding who holds a socket takes a readlink of every fd of every process in its network
namespace: ~0.2 s a refresh with 50,000 sockets on the box. But the kernel tells cheaply which
sockets are in CLOSE_WAIT (a state-filtered dump), and a socket is held long before it enters
CLOSE_WAIT. So the fds read are kept: each process's socket inodes (8 bytes each) and its fd
count at the time. Each refresh finds the holders of the sockets it counts in them (a pass at C
speed over the kept inodes; a map of every socket seen to its holders cost 160 bytes a socket,
kept), then reads fds only where it must:

- a process new since it was last read (a fork may have inherited sockets), in a namespace
  that has CLOSE_WAIT sockets: always (few per refresh);
- a CLOSE_WAIT socket no kept holder holds (it was opened after its holder was read): first
  the processes of its namespace whose fd count changed since they were read; then, for one
  that closed a connection and opened another, the likely holders (the holders of a listener
  on its local port, and the processes already holding CLOSE_WAIT sockets: a leaking pool);
  CANDIDATE_FDS fds at most each time. If it is still unknown, every process of the
  namespace again, at most once every RESCAN_GAP refreshes (until then it is not counted). A
  socket that even such a full scan finds nowhere (its holder's fds are not ours to read)
  never forces one;
- every FULL_EVERY refreshes, every process again: a socket that moved to another process (a
  descriptor passed over a unix socket) without changing state is found then.

The kernel's state-filtered dumps (one per address family; none for IPv6 when no IPv6 TCP
socket is in use) are paid every refresh: on a box with 100,000 sockets they are most of the
column's cost (bench/README.md).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from stucktui.collect.fdindex import FdIndex
from stucktui.collect.pausing import pause_point
from stucktui.collect.sockets import SocketCollector, socket_fds
from stucktui.model.net import InetSocket, in_accept_queue_of
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot

FULL_EVERY = 30  # refreshes between full scans (a minute at the default 2 s interval)
RESCAN_GAP = 5  # refreshes between two full scans forced by sockets of unknown holders
CANDIDATE_FDS = 50_000  # fds read per refresh in processes whose fd count changed

_Holders = int | tuple[int, ...]  # one pid per fd: a tuple only for a socket held twice or more


class _Wanted(NamedTuple):
    """The sockets of one namespace the column counts."""

    close_wait: frozenset[int]  # CLOSE_WAIT sockets held by fds: one connection each
    listeners: dict[int, int]  # listener inode -> connections closed in its accept queue

    def __bool__(self) -> bool:
        return bool(self.close_wait or self.listeners)

    def inodes(self) -> set[int]:
        return set(self.close_wait).union(self.listeners)


class _Seen(NamedTuple):
    """A process as it was when its fds were last read."""

    identity: object  # its start time: a pid reused since is another process
    nfds: int | None  # its fd count then, as the process list read it
    inodes: array[int] | None  # its socket fds' inodes (8 bytes each); None: its fds are not ours to list


class CloseWaitCounter:
    """pid -> CLOSE_WAIT sockets it holds (None where its fds are not ours to list). Keep one
    for the life of a process list; call counts() once per refresh."""

    def __init__(
        self,
        root: ProcRoot,
        full_every: int = FULL_EVERY,
        collector: Callable[[], SocketCollector] | None = None,
        rescan_gap: int = RESCAN_GAP,
        index: FdIndex | None = None,
    ) -> None:
        """`collector` makes each refresh's SocketCollector (tests hand one a captured dump).
        `index`: the box facts' fd owner index: a full scan makes its pass this refresh first,
        and a process whose fd directory did not change since the index read it is taken from
        there (FdIndex.socket_fds), so the column and the triage share one readlink pass."""
        self.index = index
        self.root = root
        self.full_every = full_every
        self.rescan_gap = rescan_gap
        self._collector = collector or (lambda: SocketCollector(root))
        self.netns: dict[int, int | None] = {}  # pid -> namespace, trimmed by the caller
        self._where: dict[int, _Holders] = {}  # socket counted -> its holders, within counts()
        self._want: set[int] = set()  # the sockets counted this refresh (CLOSE_WAIT, listeners)
        self._seen: dict[int, _Seen] = {}
        self._missing: set[int] = set()  # sockets the last full scan found in no readable process
        self._counted: dict[int, int | None] = {}  # the last refresh's column
        self._since_full = full_every  # the first call scans everything
        self.full_scans = 0  # for tests and the benchmark
        self.reads = 0  # processes whose fds were read, for tests

    def counts(
        self, identity: Mapping[int, object], fds: Mapping[int, int | None] | None = None
    ) -> dict[int, int | None]:
        """`identity`: pid -> something that changes when the pid is reused (its start time)
        for every process of this refresh; `fds`: pid -> its fd count this refresh, when the
        caller read it (a process whose count changed may hold a new socket). Raises OSError
        when no socket table is readable."""
        sc = self._collector()
        ns_of: dict[int, int | None] = {}
        wanted: dict[int, _Wanted] = {}  # namespace -> the sockets counted
        for pid in identity:
            ns = self.netns.get(pid, -1)
            if ns == -1:
                ns = self.netns[pid] = sc.netns_of(pid)
            ns_of[pid] = ns
            if ns is not None and ns not in wanted:
                wanted[ns] = _wanted(sc, ns, pid)
        self._want = set().union(*(w.inodes() for w in wanted.values()))
        self._since_full += 1
        if self._since_full >= self.full_every:
            return self._full(sc, wanted, ns_of, identity, fds)
        self._where = self._holders()
        self._prune(identity)
        busy = {ns for ns, w in wanted.items() if w}
        for pid, ns in ns_of.items():  # new processes: few, and a fork shares its parent's sockets
            if ns in busy and pid not in self._seen:
                self._read(pid, identity, fds)
        unknown = self._unknown(wanted)
        if unknown:
            self._read_some(self._changed(unknown, ns_of, fds), identity, fds)
            unknown = self._unknown(wanted)
        if unknown:
            self._read_some(self._likely(sc, unknown, wanted, ns_of, fds), identity, fds, wanted)
            if self._unknown(wanted) and self._since_full >= self.rescan_gap:
                return self._full(sc, wanted, ns_of, identity, fds)
        return self._tally(sc, wanted, ns_of, identity)

    # -- who holds what ---------------------------------------------------------------------
    def _holders(self) -> dict[int, _Holders]:
        """The kept holders of the sockets counted this refresh: the kept inodes of every
        process filtered at C speed (a few ms for 100,000 socket fds)."""
        want = self._want
        where: dict[int, _Holders] = {}
        for pid, seen in self._seen.items():
            for ino in filter(want.__contains__, seen.inodes or ()):
                h = where.get(ino)
                where[ino] = pid if h is None else (h, pid) if isinstance(h, int) else (*h, pid)
        return where

    # These run over every CLOSE_WAIT socket of the box each refresh (20,000 in the benchmark):
    # set operations at C speed, and a Python loop only where a holder is no longer valid.
    def _prune(self, identity: Mapping[int, object]) -> None:
        """Forgets the processes read before that are not those processes any more (exited,
        or their pid reused): the sockets they held have no kept holder then."""
        for pid in [p for p, seen in self._seen.items() if identity.get(p) != seen.identity]:
            self._forget(pid)

    def _forget(self, pid: int) -> None:
        old = self._seen.pop(pid, None)
        for ino in filter(self._where.__contains__, old.inodes or () if old is not None else ()):
            _drop(self._where, ino, pid)

    def _unknown(self, wanted: Mapping[int, _Wanted]) -> set[int]:
        """Namespaces with a socket no kept holder holds (and no full scan failed to find)."""
        where, missing = self._where, self._missing
        # difference() with a dict walks the CLOSE_WAIT set at C speed, never the kept sockets
        return {
            ns
            for ns, w in wanted.items()
            if w.close_wait.difference(where).difference(missing)
            or any(i not in where and i not in missing for i in w.listeners)
        }

    def _changed(
        self, namespaces: set[int], ns_of: Mapping[int, int | None], fds: Mapping[int, int | None] | None
    ) -> list[int]:
        """The processes of these namespaces whose fd count changed since they were read."""
        if fds is None:
            return []
        out = []
        for pid, ns in ns_of.items():
            seen = self._seen.get(pid)
            readable = seen is not None and seen.inodes is not None
            if ns in namespaces and readable and seen is not None and fds.get(pid) != seen.nfds:
                out.append(pid)
        return out

    def _likely(
        self,
        sc: SocketCollector,
        namespaces: set[int],
        wanted: Mapping[int, _Wanted],
        ns_of: Mapping[int, int | None],
        fds: Mapping[int, int | None] | None,
    ) -> list[int]:
        """Who probably holds the unknown sockets of these namespaces though its fd count did
        not change (it closed one connection and opened another): the holders of a listener on
        their local port (connections it accepted), then those already holding CLOSE_WAIT
        sockets there (a pool that leaks)."""
        where = self._where
        out: list[int] = []
        for ns in namespaces:
            unknown = set(wanted[ns].close_wait.difference(where).difference(self._missing))
            member = next(p for p, n in ns_of.items() if n == ns)
            table = sc.table(ns, member)
            ports = {s.local_port for s in table.close_wait_sockets(unknown)} if unknown else set()
            serving = {ls.inode for ls in table.listeners() if ls.local_port in ports} if ports else set()
            held = serving.__contains__
            out.extend(p for p, seen in self._seen.items() if any(map(held, seen.inodes or ())))
            pool = [p for p, n in self._counted.items() if n and ns_of.get(p) == ns]
            out.extend(sorted(pool, key=lambda p: (fds or {}).get(p) or 0))
        return list(dict.fromkeys(out))

    def _read_some(
        self,
        pids: list[int],
        identity: Mapping[int, object],
        fds: Mapping[int, int | None] | None,
        wanted: Mapping[int, _Wanted] | None = None,
    ) -> None:
        """Reads these processes, fewest fds first unless ordered by likelihood (`wanted`
        given: then it stops as soon as no socket is unknown), CANDIDATE_FDS fds at most."""
        count = (fds or {}).get
        if wanted is None:
            pids = sorted(pids, key=lambda p: count(p) or 0)
        budget = CANDIDATE_FDS
        for pid in pids:
            n = count(pid) or 0
            if n > budget:
                break
            budget -= n
            self._read(pid, identity, fds)
            if wanted is not None and not self._unknown(wanted):
                return

    def _read(self, pid: int, identity: Mapping[int, object], fds: Mapping[int, int | None] | None) -> None:
        """Reads one process's socket fds and keeps them, replacing what was kept of it."""
        self._forget(pid)
        self.reads += 1
        kept = self.index.socket_fds(pid) if self.index is not None else None
        inodes: array[int] | None
        try:
            if kept is None:
                with self.root.pid_dir(pid) as d:
                    kept = socket_fds(d)
            inodes = array("q", [ino for _, ino in kept])
        except AccessDenied:
            inodes = None
        except (ProcessGone, OSError):
            return
        self._seen[pid] = _Seen(identity[pid], fds.get(pid) if fds is not None else None, inodes)
        where = self._where
        for ino in filter(self._want.__contains__, inodes or ()):
            h = where.get(ino)
            where[ino] = pid if h is None else (h, pid) if isinstance(h, int) else (*h, pid)

    def _full(
        self,
        sc: SocketCollector,
        wanted: Mapping[int, _Wanted],
        ns_of: Mapping[int, int | None],
        identity: Mapping[int, object],
        fds: Mapping[int, int | None] | None,
    ) -> dict[int, int | None]:
        """Every process of every namespace with CLOSE_WAIT sockets read again."""
        self._since_full = 0
        self.full_scans += 1
        if self.index is not None:
            self.index.current()  # this refresh's pass (the first: a full one), read from below
        self._where, self._seen = {}, {}
        for i, (pid, ns) in enumerate(ns_of.items()):
            pause_point(i)
            if ns is not None and wanted[ns]:
                self._read(pid, identity, fds)
        self._missing = {i for w in wanted.values() for i in w.inodes() if i not in self._where}
        return self._tally(sc, wanted, ns_of, identity)

    def _tally(
        self,
        sc: SocketCollector,
        wanted: Mapping[int, _Wanted],
        ns_of: Mapping[int, int | None],
        identity: Mapping[int, object],
    ) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for pid, ns in ns_of.items():
            seen = self._seen.get(pid)
            if ns is None:  # a namespace we cannot name: its own /proc/PID/net, nothing kept
                out[pid] = self._unnamed(sc, pid)
            elif seen is not None and seen.inodes is None and seen.identity == identity[pid]:
                out[pid] = None
            else:
                out[pid] = 0
        where = self._where
        for ns, w in wanted.items():
            # holders counted at C speed (a pid, or a tuple of them for a shared socket)
            per: Counter[int] = Counter()
            held = w.close_wait.difference(w.close_wait.difference(where))
            for h, n in Counter(map(where.__getitem__, held)).items():
                for p in (h,) if isinstance(h, int) else h:
                    per[p] += n
            for ino, n in w.listeners.items():
                lh = where.get(ino)
                for p in () if lh is None else (lh,) if isinstance(lh, int) else lh:
                    per[p] += n
            for p, k in per.items():
                have = out.get(p)
                if have is not None and ns_of.get(p) == ns:
                    out[p] = have + k
        self._counted = out
        self._where, self._want = {}, set()  # found again next refresh: not kept between
        return out

    def _unnamed(self, sc: SocketCollector, pid: int) -> int | None:
        try:
            with self.root.pid_dir(pid) as d:
                fds = socket_fds(d)
        except AccessDenied:
            return None
        except (ProcessGone, OSError):
            return 0
        if not fds:
            return 0
        inodes = sc.table(None, pid).close_wait_inodes()
        return sum(1 for _, ino in fds if ino in inodes)


def _wanted(sc: SocketCollector, ns: int, pid: int) -> _Wanted:
    """The CLOSE_WAIT sockets of a namespace, and its listeners with connections closed in
    their accept queue (those have no inode: 0 among the CLOSE_WAIT inodes)."""
    table = sc.table(ns, pid)
    cw = table.close_wait_inodes()
    if 0 not in cw:
        return _Wanted(cw, {})
    return _Wanted(cw - {0}, _abandoned(table.listeners(), table.close_wait_sockets({0})))


def _abandoned(listeners: Iterable[InetSocket], queued: Iterable[InetSocket]) -> dict[int, int]:
    """Listener inode -> connections closed in its accept queue. A queued connection belongs
    to the listener on its own address, else to the wildcard one on its port."""
    by_port: dict[int, list[InetSocket]] = {}
    for ls in listeners:
        if ls.inode:
            by_port.setdefault(ls.local_port, []).append(ls)
    out: dict[int, int] = {}
    for q in queued:
        match = [ls for ls in by_port.get(q.local_port, ()) if in_accept_queue_of(ls, q)]
        if match:
            best = next((ls for ls in match if ls.local_addr == q.local_addr), match[0])
            out[best.inode] = out.get(best.inode, 0) + 1
    return out


def _drop(where: dict[int, _Holders], ino: int, pid: int) -> None:
    h = where.get(ino)
    if h == pid:
        del where[ino]
    elif isinstance(h, tuple) and pid in h:
        rest = list(h)
        rest.remove(pid)
        where[ino] = rest[0] if len(rest) == 1 else tuple(rest)
