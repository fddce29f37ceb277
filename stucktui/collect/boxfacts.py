"""The box-wide facts every look at a process shares, each collected at its own cadence and
kept by its owner across refreshes: the TUI's sampler holds one for its life, `report PID` and
`report --all` make one per run.

- the fd owner index (collect/fdindex.py): who holds which pipe, socket and /dev/fuse fd,
  updated incrementally, every holder re-verified before it is named;
- the socket tables of each network namespace (a SocketCollector), reused for
  SOCKET_CADENCE seconds and dropped by the first refresh after that; a process with a
  socket the kept dumps do not list (opened since) gets a fresh dump at once, and the
  state-filtered dumps (listeners, CLOSE_WAIT) are made again each refresh;
- /proc/locks, read once per refresh;
- the FUSE daemons, looked up through the index (with its holders' identities) once per
  refresh, only when a thread waits on a FUSE mount.

Every fact carries its age (seconds since it was read; None: not read yet), and a caller that
cannot take an old one asks for a fresh one. A view never waits for a fact it does not need:
nothing is read before it is asked for. Thread-safe: the index has its own lock, so a pass of it
(a second at first on a big box) never holds up the socket tables or /proc/locks; and a panel
that paints reads the facts in `painting()`, where the index answers from what it keeps or not
at all (never a full pass, never a wait for another thread's): its pipes' other ends then say
they are not looked up yet, and the next refresh has them. The box lane makes the index's
passes between its steps (warm_index), so a process view seldom finds it cold.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Iterator, Mapping
from contextlib import contextmanager

from stucktui.collect.fdindex import FdIndex, Owners
from stucktui.collect.mounts import FuseLookup
from stucktui.collect.pipemap import PipeMap, fd_end
from stucktui.collect.sockets import SocketCollector
from stucktui.model.files import PipeEnd
from stucktui.model.sockets import ProcessSockets, SocketRow
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot

SOCKET_CADENCE = 5.0  # seconds a namespace's full socket dumps are reused

# sockfs protocols that sock_diag lists: such a socket in no kept dump may be newer than it
_LISTED = frozenset({"TCP", "TCPv6", "UDP", "UDPv6"})


ABSENT_KEPT = 100_000  # socket inodes kept as in no table (then forgotten all at once)


def _unlisted(r: SocketRow) -> bool:
    p = r.protocol
    return r.sock is None and p is not None and (p in _LISTED or p.startswith("UNIX"))


class BoxFacts:
    """The shared box-wide facts. Call tick() at the start of each refresh."""

    def __init__(
        self,
        root: ProcRoot | None = None,
        *,
        socket_cadence: float = SOCKET_CADENCE,
        clock: Callable[[], float] = time.monotonic,
        collector: Callable[[], SocketCollector] | None = None,
        index: FdIndex | None = None,
    ) -> None:
        """`collector` makes a SocketCollector (tests hand one a captured dump)."""
        self.root = root or ProcRoot()
        self.index = index or FdIndex(self.root)
        self.socket_cadence = socket_cadence
        self._clock = clock
        self._make = collector or (lambda: SocketCollector(self.root))
        self._lock = threading.RLock()
        self._tick_at = clock()
        self._sockets: SocketCollector | None = None
        self._sockets_at = 0.0
        self._index_at: float | None = None
        self._locks: str | None = None
        self._locks_at = 0.0
        self._fuse: FuseLookup | None = None
        self._local = threading.local()  # .painting: this thread's reads must not wait
        self.collectors = 0  # socket collectors made (each dumps what it is asked for): tests
        self._stale = False  # expire() was called: the next sockets() dumps again
        # socket inodes a dump made after they were seen found in no table (reset, shut down):
        # a socket never goes back into a table, so they alone never cause another dump
        self._absent: set[int] = set()

    def tick(self) -> None:
        """A new refresh: per-refresh facts (locks, the index's check of changed processes,
        the filtered socket dumps, the FUSE daemons) are read again when next asked for."""
        with self._lock:
            self._tick_at = self._clock()
            self.index.tick()
            self._locks = None
            self._fuse = None
            if self._sockets is not None and self._tick_at - self._sockets_at >= self.socket_cadence:
                # past its cadence a dump is never read again (sockets() dumps anew): dropped now,
                # not when the next triage replaces it tens of seconds later (TRIAGE_SHARE);
                # 100,000 sockets' dumps are ~9 MB of the TUI's memory (bench/README.md)
                self._sockets = None
            elif self._sockets is not None:
                self._sockets.expire_filtered()

    def expire(self) -> None:
        """The box changed under the kept socket dumps (an action shut a socket down): the next
        look dumps them again. Takes no lock, so the UI thread may call it while a lane reads."""
        self._stale = True

    # -- ages ----------------------------------------------------------------------------------
    def _age(self, at: float | None) -> float | None:
        return None if at is None else max(0.0, self._clock() - at)

    @property
    def socket_age(self) -> float | None:
        return self._age(self._sockets_at if self._sockets is not None else None)

    @property
    def lock_age(self) -> float | None:
        return self._age(self._locks_at if self._locks is not None else None)

    @property
    def index_age(self) -> float | None:
        return self._age(self._index_at)

    # -- the fd owner index --------------------------------------------------------------------
    @contextmanager
    def painting(self) -> Iterator[None]:
        """Within it, this thread's lookups in the index never wait (see the module's doc)."""
        before = getattr(self._local, "painting", False)
        self._local.painting = True
        try:
            yield
        finally:
            self._local.painting = before

    @property
    def _painting(self) -> bool:
        return bool(getattr(self._local, "painting", False))

    def owners(
        self, targets: set[str], *, besides: int | None = None, fresh: bool = False
    ) -> tuple[Owners, int]:
        """link target -> [(pid, fd)] of its holders, each verified (FdIndex.owners), and how
        many processes could not be read. While painting: what the index keeps, or nothing
        found when it is busy or empty."""
        if self._painting and not fresh:
            return self.index.try_owners(targets) or ({}, 0)
        passes = self.index.passes
        out = self.index.owners(targets, besides=besides, fresh=fresh)
        if self.index.passes != passes:
            self._index_at = self._clock()
        return out

    def warm_index(self) -> None:
        """This refresh's pass of the index, made now (the box lane, between its steps)."""
        passes = self.index.passes
        self.index.current()
        if self.index.passes != passes:
            self._index_at = self._clock()

    def pipe_map(self) -> PipeMap:
        """Every pipe's holders as a PipeMap (a Files panel's): each pipe asked for is looked
        up in the index, its holders verified, and their ends read (one lstat each). While
        painting, a pipe the index cannot answer for now is outside the map's `only`: its
        own ends are shown, its others as not looked up yet."""
        pipes = _IndexedPipes(self)
        if self._painting:
            return PipeMap(pipes, {}, 0, 0.0, self.root, only=_Known(pipes))
        self.warm_index()
        return PipeMap(pipes, {}, self.index.unreadable, 0.0, self.root)

    # -- sockets -------------------------------------------------------------------------------
    def sockets(self, *, fresh: bool = False) -> SocketCollector:
        """The namespaces' tables, as dumped within SOCKET_CADENCE seconds or since this
        refresh began (a first look's dumps serve its own triage however long the box takes to
        read: dumping 100,000 sockets again is what made it long); `fresh`: now."""
        with self._lock:
            now = self._clock()
            sc = self._sockets
            expired = now - self._sockets_at >= self.socket_cadence and self._sockets_at < self._tick_at
            if sc is None or fresh or self._stale or expired:
                self._stale = False
                sc = self._sockets = self._make()
                sc.finder = self.owners
                sc.prefetch = False
                self._sockets_at = now
                self.collectors += 1
            return sc

    def prefetch_sockets(self) -> None:
        """This process's namespace's socket dumps made now (kept for SOCKET_CADENCE): for a
        wait that would be idle anyway (the first look's CPU window)."""
        sc = self.sockets()
        try:
            sc.own_table().prefetch()
        except OSError:
            return  # no netlink: each table is read when asked for, as without this
        with self._lock:  # kept for SOCKET_CADENCE from when they were read, not asked for: a
            if self._sockets is sc:  # first look's dumps serve its triage on a slow box too
                self._sockets_at = self._clock()

    def process_sockets(
        self, pid: int, *, piddir: PidDir | None = None, peers: bool = True, kept: bool = False
    ) -> ProcessSockets:
        """A process's sockets joined with the kept tables; when one of them is in none (opened
        after the dump, or closed) and the dump is from an earlier refresh, with a fresh dump.
        `kept`: its socket fds from the index when its fd directory has not changed since read
        (the triage: 20,000 fds of a leaking pool are not read again; FdIndex.socket_fds).
        Raises ProcessGone, AccessDenied or OSError as SocketCollector.process_sockets."""
        fds = self.index.socket_fds(pid) if kept else None
        with self._lock:
            out = self.sockets().process_sockets(pid, piddir=piddir, peers=peers, fds=fds)
            missing = {r.inode for r in out.rows if _unlisted(r)}
            if self._sockets_at < self._tick_at and not missing <= self._absent:
                out = self.sockets(fresh=True).process_sockets(pid, piddir=piddir, peers=peers)
                if len(self._absent) > ABSENT_KEPT:
                    self._absent = set()
                self._absent.update(r.inode for r in out.rows if _unlisted(r))
            return out

    def socket_rows(self, d: PidDir, fds: list[tuple[int, int]]) -> list[SocketRow]:
        """These socket fds of a process as the Sockets panel's rows, from the kept dumps (the
        Files panel's endpoints: no dump of the box beyond the kept cadence's)."""
        with self._lock:
            return self.sockets().socket_rows(d, fds)

    # -- locks and FUSE ------------------------------------------------------------------------
    def lock_text(self) -> str:
        """/proc/locks as read this refresh. Raises OSError when it cannot be read."""
        with self._lock:
            if self._locks is None:
                self._locks = self.root.read_text("locks")
                self._locks_at = self._clock()
            return self._locks

    def fuse(self) -> FuseLookup:
        """This refresh's FUSE daemon lookup, its /dev/fuse holders from the index."""
        with self._lock:
            if self._fuse is None:
                self._fuse = FuseLookup(self.root, owners=lambda t: self.owners(t))
            return self._fuse


class _IndexedPipes(Mapping[int, tuple[PipeEnd, ...]]):
    """pipe inode -> its holders, looked up in the index when asked for (a Files panel asks for
    its own pipes, never for every pipe of the box: iterating gives nothing)."""

    def __init__(self, facts: BoxFacts) -> None:
        self._facts = facts
        self._got: dict[int, tuple[PipeEnd, ...]] = {}

    def _lookup(self, inode: int) -> tuple[PipeEnd, ...] | None:
        """Its holders, or None when the index could not answer without waiting (painting)."""
        got = self._got.get(inode)
        if got is None:
            facts, target = self._facts, f"pipe:[{inode}]"
            if facts._painting:
                answer = facts.index.try_owners({target})
                if answer is None or not answer[0]:
                    return None
            else:
                answer = facts.owners({target})
            ends = []
            for pid, fd in answer[0].get(target, ()):
                try:
                    ends.append(PipeEnd(pid, "", fd, fd_end(facts.root, pid, fd)))
                except (ProcessGone, AccessDenied, OSError, ValueError):
                    continue
            got = self._got[inode] = tuple(ends)
        return got

    def __getitem__(self, inode: int) -> tuple[PipeEnd, ...]:
        got = self._lookup(inode)
        if not got:
            raise KeyError(inode)
        return got

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _Known(Container[int]):
    """The pipes whose holders the index answered for without waiting (a PipeMap's `only`)."""

    def __init__(self, pipes: _IndexedPipes) -> None:
        self._pipes = pipes

    def __contains__(self, inode: object) -> bool:
        return isinstance(inode, int) and self._pipes._lookup(inode) is not None
