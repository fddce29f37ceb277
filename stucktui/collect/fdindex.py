"""Who holds which pipe, socket and /dev/fuse fd on the box, kept across refreshes.

Finding the holders of a pipe or a socket takes a readlink of every fd of every process: ~0.2 s
a look on a box of 5,000 processes and 100,000 sockets, paid today by every refresh of a
process view whose thread is blocked on a pipe. The index keeps every process's pipe, socket
and /dev/fuse links and reads a process's fds again only when they may have changed:

- each pass stats /proc/PID/fd of every process (one stat each, no readlink): its size is the
  process's fd count (kernel >= 6.2, docs/kernel-notes.md §A.9) and its inode changes with the
  process (a pid reused is a new directory); a process new is read, one whose stat changed is
  listed and only its new fd numbers read (20,000 sockets of a leaking pool are not read again
  for each one it opens), one that exited is forgotten;
- a holder is named only once re-verified: the readlink of that one fd still gives that target
  and its fd directory is the same inode as when its fds were read (a new process under a
  reused pid has a new one, docs/kernel-notes.md §A.9); a holder that fails is read again
  (an fd closed and its number reused for another file, a pid reused), so a stale index never
  names the wrong process;
- a target whose holders are not found (an fd swapped for another with the count unchanged)
  makes a full pass, at most once every RESCAN_GAP passes, and every FULL_EVERY passes one is
  made anyway. A target even a full pass finds nowhere (its holder's fds are not ours to list)
  forces no more.

Only the links worth looking up are kept: 'pipe:[N]', 'socket:[N]' and /dev/fuse; any other
target (a locked file's path) is looked for with one readlink of every fd (owners_of).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot

FULL_EVERY = 30  # passes between full passes (a minute at the default 2 s refresh)
RESCAN_GAP = 5  # passes between two full passes forced by a target no holder was found for
FUSE_DEVICE = "/dev/fuse"

Owners = dict[str, list[tuple[int, int]]]  # link target -> [(pid, fd)]


def indexed(target: str) -> bool:
    """The links the index keeps: pipes, sockets and FUSE connections."""
    return target.startswith(("pipe:[", "socket:[")) or target == FUSE_DEVICE


def owners_of(root: ProcRoot, targets: set[str], pids: Iterable[int] | None = None) -> tuple[Owners, int]:
    """link target ('socket:[123]', 'pipe:[456]', a path) -> [(pid, fd)], and how many
    processes could not be read: one readlink of every fd on the box, nothing kept."""
    out: Owners = {}
    unreadable = 0
    for pid in root.pids() if pids is None else pids:
        try:
            with PidDir(root, pid) as d:
                for fd, target in d.fd_links():
                    if target in targets:
                        out.setdefault(target, []).append((pid, fd))
        except AccessDenied:
            unreadable += 1
        except (ProcessGone, OSError):
            continue
    return out, unreadable


class _Seen(NamedTuple):
    """A process as it was when its fds were read."""

    sig: tuple[int, int, int]  # /proc/PID/fd's (inode, size, mtime) just before; the inode is
    # the process's identity (a pid reused is a new directory, docs/kernel-notes.md §A.9)
    links: tuple[tuple[int, str], ...] | None  # its kept links; None: its fds are not ours to list
    fds: frozenset[int] = frozenset()  # every fd number it had open


def _sig(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class FdIndex:
    """link target -> holders, for pipes, sockets and /dev/fuse, kept across refreshes. The
    owner calls tick() once per refresh; the first lookup after it makes one pass. Not
    thread-safe: BoxFacts serialises its callers."""

    def __init__(self, root: ProcRoot, *, full_every: int = FULL_EVERY, rescan_gap: int = RESCAN_GAP) -> None:
        self.root = root
        self.full_every = full_every
        self.rescan_gap = rescan_gap
        self._seen: dict[int, _Seen] = {}
        self._where: Owners = {}
        self._missing: set[str] = set()  # targets the last full pass found nowhere
        self._current = False  # a pass was made since the last tick()
        self._since_full = full_every  # the first pass is a full one
        self.passes = 0  # for tests and the benchmark
        self.full_scans = 0
        self.reads = 0  # processes whose fds were read

    def tick(self) -> None:
        """A new refresh: the next lookup checks the box for processes that changed."""
        self._current = False

    @property
    def unreadable(self) -> int:
        """Processes whose fds were not ours to list at their last read."""
        return sum(1 for s in self._seen.values() if s.links is None)

    # -- keeping it ----------------------------------------------------------------------------
    def _forget(self, pid: int) -> None:
        old = self._seen.pop(pid, None)
        for fd, target in (old.links or ()) if old is not None else ():
            holders = self._where.get(target)
            if holders is not None:
                try:
                    holders.remove((pid, fd))
                except ValueError:
                    pass
                if not holders:
                    del self._where[target]

    def _read(self, pid: int, sig: tuple[int, int, int] | None = None, *, whole: bool = True) -> None:
        """Reads one process's kept links, replacing what was kept of it. The signature is
        taken before the links: an fd opened after it changes the next pass's. Not `whole`:
        the same process read before has its fd directory listed and only the fd numbers new
        since read (a process of 20,000 fds that opens one costs a listing and a readlink; an
        fd number closed and reused meanwhile is caught when a holder is verified)."""
        old = self._seen.get(pid)
        self._forget(pid)
        self.reads += 1
        sig = sig or _sig(f"{self.root.path}/{pid}/fd")
        if sig is None:
            return  # gone
        links: tuple[tuple[int, str], ...] | None
        fds: frozenset[int] = frozenset()
        try:
            with PidDir(self.root, pid) as d:
                if not whole and old is not None and old.links is not None and old.sig[0] == sig[0]:
                    fds = frozenset(int(n) for n in d.listdir("fd") if n.isdigit())
                    kept = [(fd, t) for fd, t in old.links if fd in fds]
                    for fd in fds - old.fds:
                        try:
                            t = d.readlink(f"fd/{fd}")
                        except (ProcessGone, OSError):
                            continue  # closed since the listing
                        if indexed(t):
                            kept.append((fd, t))
                    links = tuple(kept)
                else:
                    every = d.fd_links()
                    fds = frozenset(fd for fd, _ in every)
                    links = tuple((fd, t) for fd, t in every if indexed(t))
        except AccessDenied:
            links = None
        except (ProcessGone, OSError):
            return
        self._seen[pid] = _Seen(sig, links, fds)
        where = self._where
        for fd, target in links or ():
            where.setdefault(target, []).append((pid, fd))

    def _pass(self, full: bool = False) -> None:
        self._current = True
        self.passes += 1
        self._since_full += 1
        pids = self.root.pids()
        if full or self._since_full >= self.full_every:
            self._since_full = 0
            self.full_scans += 1
            self._seen, self._where, self._missing = {}, {}, set()
            for pid in pids:
                self._read(pid)
            return
        for pid in self._seen.keys() - set(pids):
            self._forget(pid)
        base = self.root.path
        for pid in pids:
            sig = _sig(f"{base}/{pid}/fd")
            seen = self._seen.get(pid)
            if sig is None:
                if seen is not None:
                    self._forget(pid)
            elif seen is None or seen.sig != sig:
                self._read(pid, sig, whole=False)

    def current(self) -> None:
        """This refresh's pass, if not made yet."""
        if not self._current:
            self._pass()

    # -- looking up ----------------------------------------------------------------------------
    def _verified(self, targets: set[str]) -> Owners:
        """The kept holders of these targets that still hold them: one readlink of the fd and
        one stat of its fd directory per holder (the same inode: the same process); a holder
        that fails is read again and checked once more."""
        starts: dict[int, int | None] = {}
        base = self.root.path

        def holds(pid: int, fd: int, target: str) -> bool:
            seen = self._seen.get(pid)
            if seen is None:
                return False
            try:
                if os.readlink(f"{base}/{pid}/fd/{fd}") != target:
                    return False
            except OSError:
                return False
            if pid not in starts:
                now = _sig(f"{base}/{pid}/fd")
                starts[pid] = now[0] if now is not None else None
            return starts[pid] == seen.sig[0]

        out: Owners = {}
        stale: set[int] = set()
        for t in targets:
            for pid, fd in self._where.get(t, ()):
                if holds(pid, fd, t):
                    out.setdefault(t, []).append((pid, fd))
                else:
                    stale.add(pid)
        if stale:
            for pid in stale:
                starts.pop(pid, None)
                self._read(pid)
            for t in targets:
                found = out.get(t, [])
                for pid, fd in self._where.get(t, ()):
                    if pid in stale and (pid, fd) not in found and holds(pid, fd, t):
                        found.append((pid, fd))
                if found:
                    out[t] = found
        return out

    def owners(
        self, targets: set[str], *, besides: int | None = None, fresh: bool = False
    ) -> tuple[Owners, int]:
        """target -> [(pid, fd)] of its verified holders, and how many processes could not be
        read (any target may be held there, unseen). A target whose only holder found is
        `besides` (the process asking: the other end is what it wants) counts as not found.
        `fresh`: a full pass now, whatever was kept (the caller cannot take a miss)."""
        kept = {t for t in targets if indexed(t)}
        out: Owners = {}
        unreadable = 0
        rest = targets - kept
        if rest:
            out, unreadable = owners_of(self.root, rest)
        if not kept:
            return out, unreadable
        if fresh:
            self._pass(full=True)
        self.current()
        found = self._verified(kept)

        def missing() -> set[str]:
            return {t for t in kept - self._missing if not any(p != besides for p, _ in found.get(t, ()))}

        lost = missing()
        if lost and not fresh and self._since_full >= self.rescan_gap:
            self._pass(full=True)
            found = self._verified(kept)
            self._missing |= missing()
        elif fresh:
            self._missing = lost
        out.update(found)
        return out, unreadable + self.unreadable
