"""The process list's CLOSE_WAIT column across refreshes, without reading every fd each time.

Finding who holds a CLOSE_WAIT socket takes a readlink of every fd of every process in a
namespace that has one: ~0.2 s a refresh with 50,000 sockets on the box. But the set of
CLOSE_WAIT sockets changes slowly (docs/incidents.md §1 gained ~10,000 a day), and the kernel tells us
that set cheaply (a state-filtered dump). So the owners found by a full scan are kept, keyed by
(namespace, inode), and a refresh rescans every process only when it must:

- a CLOSE_WAIT socket appeared that no kept owner holds;
- a kept owner is no longer the same process (its start time changed: the pid was reused);
- every FULL_EVERY refreshes, to pick up a socket that moved to another process (a fork, or a
  descriptor passed over a unix socket) without changing state.

Otherwise the counts come from the kept owners, and only processes new since the last full scan
(a fork may have inherited sockets) have their fds read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from stucktui.collect.sockets import SocketCollector, socket_fds
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot

FULL_EVERY = 10  # refreshes between full scans (20 s at the default 2 s interval)


class CloseWaitCounter:
    """pid -> CLOSE_WAIT sockets it holds (None where its fds are not ours to list). Keep one
    for the life of a process list; call counts() once per refresh."""

    def __init__(
        self,
        root: ProcRoot,
        full_every: int = FULL_EVERY,
        collector: Callable[[], SocketCollector] | None = None,
    ) -> None:
        """`collector` makes each refresh's SocketCollector (tests hand one a captured dump)."""
        self.root = root
        self.full_every = full_every
        self._collector = collector or (lambda: SocketCollector(root))
        self.netns: dict[int, int | None] = {}  # pid -> namespace, trimmed by the caller
        self._owners: dict[tuple[int | None, int], list[int]] = {}  # (ns, inode) -> pids
        self._identity: dict[int, object] = {}  # pid -> its start time at the last scan
        self._denied: set[int] = set()
        self._since_full = full_every  # the first call scans everything
        self.full_scans = 0  # for tests and the curious

    def counts(self, identity: Mapping[int, object]) -> dict[int, int | None]:
        """`identity`: pid -> something that changes when the pid is reused (its start time)
        for every process of this refresh. Raises OSError when no socket table is readable."""
        sc = self._collector()
        cw: dict[int | None, frozenset[int]] = {}  # namespace -> its CLOSE_WAIT inodes
        ns_of: dict[int, int | None] = {}
        for pid in identity:
            ns = self.netns.get(pid, -1)
            if ns == -1:
                ns = self.netns[pid] = sc.netns_of(pid)
            ns_of[pid] = ns
            if ns not in cw and ns is not None:
                cw[ns] = sc.table(ns, pid).close_wait_inodes()
        self._since_full += 1
        if self._can_reuse(cw, identity):
            return self._from_owners(sc, cw, ns_of, identity)
        return self._full(sc, cw, ns_of, identity)

    def _can_reuse(self, cw: Mapping[int | None, frozenset[int]], identity: Mapping[int, object]) -> bool:
        if self._since_full >= self.full_every:
            return False
        for ns, inodes in cw.items():
            for ino in inodes:
                pids = self._owners.get((ns, ino))
                if pids is None:
                    return False  # a new CLOSE_WAIT socket: whose?
                if any(identity.get(p) != self._identity.get(p) for p in pids if p in identity):
                    return False  # an owner's pid now names another process
        return True

    def _full(
        self,
        sc: SocketCollector,
        cw: Mapping[int | None, frozenset[int]],
        ns_of: Mapping[int, int | None],
        identity: Mapping[int, object],
    ) -> dict[int, int | None]:
        self._since_full = 0
        self.full_scans += 1
        self._owners = {}
        self._denied = set()
        out: dict[int, int | None] = {}
        for pid, ns in ns_of.items():
            out[pid] = self._scan(sc, pid, ns, cw)
        self._identity = dict(identity)
        return out

    def _scan(
        self, sc: SocketCollector, pid: int, ns: int | None, cw: Mapping[int | None, frozenset[int]]
    ) -> int | None:
        """Reads one process's fds, records it as owner of its CLOSE_WAIT sockets, counts them."""
        inodes = cw.get(ns) if ns is not None else None
        if ns is not None and not inodes:
            return 0  # nothing in CLOSE_WAIT in its namespace: no need to read its fds
        try:
            with self.root.pid_dir(pid) as d:
                fds = socket_fds(d)
        except AccessDenied:
            self._denied.add(pid)
            return None
        except (ProcessGone, OSError):
            return 0
        if inodes is None:  # a namespace we cannot name: its own /proc/PID/net, not kept
            inodes = sc.table(None, pid).close_wait_inodes()
            return sum(1 for _, ino in fds if ino in inodes)
        n = 0
        for _, ino in fds:
            if ino in inodes:
                self._owners.setdefault((ns, ino), []).append(pid)
                n += 1
        return n

    def _from_owners(
        self,
        sc: SocketCollector,
        cw: Mapping[int | None, frozenset[int]],
        ns_of: Mapping[int, int | None],
        identity: Mapping[int, object],
    ) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for pid, ns in ns_of.items():
            if pid in self._denied and self._identity.get(pid) == identity[pid]:
                out[pid] = None
            elif ns is None:  # a namespace we cannot name is not kept: read again
                out[pid] = self._scan(sc, pid, ns, cw)
            elif self._identity.get(pid) != identity[pid]:  # new since the last full scan
                self._identity[pid] = identity[pid]
                # its CLOSE_WAIT sockets join the kept owners, counted below with the rest
                out[pid] = None if self._scan(sc, pid, ns, cw) is None else 0
            else:
                out[pid] = 0
        for (ns, ino), pids in self._owners.items():
            if ino in cw.get(ns, ()):
                for p in pids:
                    n = out.get(p)
                    if n is not None and ns_of.get(p) == ns:
                        out[p] = n + 1
        return out
