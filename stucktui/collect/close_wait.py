"""The process list's CLOSE_WAIT column across refreshes, without reading every fd each time.

What the column counts, per process: its fds on CLOSE_WAIT sockets (a dup counts twice), plus
the connections their clients closed while they waited in the accept queue of a listener it
holds. Those have no fd (inode 0: docs/kernel-notes.md §A.2), so no fd table can ever show
them; they are counted once per fd on the listener instead, which puts a server that stopped
accepting (the stuck-server case) at the top of the column.

Finding who holds a socket takes a readlink of every fd of every process in its network
namespace: ~0.2 s a refresh with 50,000 sockets on the box. But the kernel tells cheaply which
sockets are in CLOSE_WAIT (a state-filtered dump), and a socket is held long before it enters
CLOSE_WAIT. So the fds read are kept: every socket inode seen, with its holders, and each
process's fd count at the time. A refresh then reads fds only where it must:

- a process new since it was last read (a fork may have inherited sockets), in a namespace
  that has CLOSE_WAIT sockets: always (few per refresh);
- a CLOSE_WAIT socket no kept holder holds (it was opened after its holder was read): first
  the processes of its namespace whose fd count changed since they were read, fewest fds first
  and CANDIDATE_FDS fds at most; if it is still unknown, every process of the namespace
  again, at most once every RESCAN_GAP refreshes (until then it is not counted). A socket that
  even such a full scan finds nowhere (its holder's fds are not ours to read) never forces one;
- every FULL_EVERY refreshes, every process again: a socket that moved to another process (a
  descriptor passed over a unix socket) without changing state is found then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from stucktui.collect.sockets import SocketCollector, socket_fds
from stucktui.model.net import InetSocket, in_accept_queue_of
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot

FULL_EVERY = 10  # refreshes between full scans (20 s at the default 2 s interval)
RESCAN_GAP = 5  # refreshes between two full scans forced by sockets of unknown holders
CANDIDATE_FDS = 50_000  # fds read per refresh in processes whose fd count changed

_Holders = int | tuple[int, ...]  # one pid per fd: a tuple only for a socket held twice or more


class _Seen(NamedTuple):
    """A process as it was when its fds were last read."""

    identity: object  # its start time: a pid reused since is another process
    nfds: int | None  # its fd count then, as the process list read it
    inodes: tuple[int, ...] | None  # its socket fds' inodes; None: its fds are not ours to list


class CloseWaitCounter:
    """pid -> CLOSE_WAIT sockets it holds (None where its fds are not ours to list). Keep one
    for the life of a process list; call counts() once per refresh."""

    def __init__(
        self,
        root: ProcRoot,
        full_every: int = FULL_EVERY,
        collector: Callable[[], SocketCollector] | None = None,
        rescan_gap: int = RESCAN_GAP,
    ) -> None:
        """`collector` makes each refresh's SocketCollector (tests hand one a captured dump)."""
        self.root = root
        self.full_every = full_every
        self.rescan_gap = rescan_gap
        self._collector = collector or (lambda: SocketCollector(root))
        self.netns: dict[int, int | None] = {}  # pid -> namespace, trimmed by the caller
        self._where: dict[int, _Holders] = {}  # socket inode -> the pids holding it
        self._seen: dict[int, _Seen] = {}
        self._missing: set[int] = set()  # sockets the last full scan found in no readable process
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
        wanted: dict[int, dict[int, int]] = {}  # namespace -> socket inode -> weight
        for pid in identity:
            ns = self.netns.get(pid, -1)
            if ns == -1:
                ns = self.netns[pid] = sc.netns_of(pid)
            ns_of[pid] = ns
            if ns is not None and ns not in wanted:
                wanted[ns] = _wanted(sc, ns, pid)
        self._since_full += 1
        if self._since_full >= self.full_every:
            return self._full(sc, wanted, ns_of, identity, fds)
        busy = {ns for ns, w in wanted.items() if w}
        for pid, ns in ns_of.items():  # new processes: few, and a fork shares its parent's sockets
            seen = self._seen.get(pid)
            if ns in busy and (seen is None or seen.identity != identity[pid]):
                self._read(pid, identity, fds)
        unknown = self._unknown(wanted, identity)
        if unknown:
            self._candidates(unknown, ns_of, identity, fds)
            if self._unknown(wanted, identity) and self._since_full >= self.rescan_gap:
                return self._full(sc, wanted, ns_of, identity, fds)
        return self._tally(sc, wanted, ns_of, identity)

    # -- who holds what ---------------------------------------------------------------------
    def _holders(self, ino: int, identity: Mapping[int, object]) -> list[int]:
        """The kept holders of a socket that are still the processes that were read."""
        h = self._where.get(ino)
        if h is None:
            return []
        out = []
        for pid in (h,) if isinstance(h, int) else h:
            seen = self._seen.get(pid)
            if seen is not None and identity.get(pid) == seen.identity:
                out.append(pid)
        return out

    def _unknown(self, wanted: Mapping[int, Mapping[int, int]], identity: Mapping[int, object]) -> set[int]:
        """Namespaces with a socket no kept holder holds (and no full scan failed to find)."""
        return {
            ns
            for ns, w in wanted.items()
            if any(i not in self._missing and not self._holders(i, identity) for i in w)
        }

    def _candidates(
        self,
        namespaces: set[int],
        ns_of: Mapping[int, int | None],
        identity: Mapping[int, object],
        fds: Mapping[int, int | None] | None,
    ) -> None:
        """Reads the processes of these namespaces whose fd count changed since they were read."""
        if fds is None:
            return
        changed = []
        for pid, ns in ns_of.items():
            seen = self._seen.get(pid)
            n = fds.get(pid)
            if ns in namespaces and seen is not None and seen.inodes is not None and n != seen.nfds:
                changed.append((n or 0, pid))
        budget = CANDIDATE_FDS
        for n, pid in sorted(changed):
            if n > budget:
                break
            budget -= n
            self._read(pid, identity, fds)

    def _read(self, pid: int, identity: Mapping[int, object], fds: Mapping[int, int | None] | None) -> None:
        """Reads one process's socket fds and keeps them, replacing what was kept of it."""
        old = self._seen.pop(pid, None)
        if old is not None and old.inodes:
            for ino in old.inodes:
                _drop(self._where, ino, pid)
        self.reads += 1
        try:
            with self.root.pid_dir(pid) as d:
                inodes = tuple(ino for _, ino in socket_fds(d))
        except AccessDenied:
            inodes = None
        except (ProcessGone, OSError):
            return
        self._seen[pid] = _Seen(identity[pid], fds.get(pid) if fds is not None else None, inodes)
        where = self._where
        for ino in inodes or ():
            h = where.get(ino)
            where[ino] = pid if h is None else (h, pid) if isinstance(h, int) else (*h, pid)

    def _full(
        self,
        sc: SocketCollector,
        wanted: Mapping[int, Mapping[int, int]],
        ns_of: Mapping[int, int | None],
        identity: Mapping[int, object],
        fds: Mapping[int, int | None] | None,
    ) -> dict[int, int | None]:
        """Every process of every namespace with CLOSE_WAIT sockets read again."""
        self._since_full = 0
        self.full_scans += 1
        self._where, self._seen = {}, {}
        for pid, ns in ns_of.items():
            if ns is not None and wanted[ns]:
                self._read(pid, identity, fds)
        self._missing = {i for w in wanted.values() for i in w if i not in self._where}
        return self._tally(sc, wanted, ns_of, identity)

    def _tally(
        self,
        sc: SocketCollector,
        wanted: Mapping[int, Mapping[int, int]],
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
        for ns, weights in wanted.items():
            for ino, weight in weights.items():
                for p in self._holders(ino, identity):
                    n = out.get(p)
                    if n is not None and ns_of.get(p) == ns:
                        out[p] = n + weight
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


def _wanted(sc: SocketCollector, ns: int, pid: int) -> dict[int, int]:
    """Socket inode -> how many connections it stands for in the column: each CLOSE_WAIT
    socket itself, and each listener for the connections closed in its accept queue."""
    table = sc.table(ns, pid)
    out = dict.fromkeys(table.close_wait_inodes(), 1)
    if out.pop(0, None) is not None:
        for ino, n in _abandoned(table.listeners(), table.close_wait_queued()).items():
            out[ino] = out.get(ino, 0) + n
    return out


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
