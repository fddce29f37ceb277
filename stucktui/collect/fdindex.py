"""Who holds which pipe, socket and /dev/fuse fd on the box, kept across refreshes.

Finding the holders of a pipe or a socket takes a readlink of every fd of every process: about
a second on a box of 5,000 processes and 100,000 sockets. The index keeps every process's
pipe, socket and /dev/fuse links and reads a process's fds again only when they may have
changed:

- each pass stats /proc/PID/fd of every process (one stat each, no readlink): its size is the
  process's fd count (kernel >= 6.2, docs/kernel-notes.md §A.9) and its inode changes with the
  process (a pid reused is a new directory); a process new is read, one whose stat changed is
  listed and only its new fd numbers read (20,000 sockets of a leaking pool are not read again
  for each one it opens), one that exited is forgotten. A process's links are read through
  the fd directory it opened and fstat'ed, so they and its signature belong to one process;
- a holder is named only once re-verified: the readlink of that one fd still gives that target
  and its fd directory is the same inode as when its fds were read (a new process under a
  reused pid has a new one, docs/kernel-notes.md §A.9); a holder that fails is read again
  (an fd closed and its number reused for another file, a pid reused), so a stale index never
  names the wrong process;
- a target whose holders are not found (an fd swapped for another with the count unchanged)
  makes a full pass, at most once every RESCAN_GAP passes, and every FULL_EVERY passes one is
  made anyway. A target even a full pass finds nowhere (its holder's fds are not ours to list)
  forces no more.

Only the links worth looking up are kept, as integers (a pipe's or a socket's inode and its
kind, a path's hash): pipes and /dev/fuse in a map to their holders (pid and fd packed in one);
sockets and paths sorted in each process's one packed array (fdlinks.Seen: one object a
process), looked up process by process (one set intersection each, at C speed, then a bisect
for each key found). 100,000 sockets cost about 1.6 MB, not the 50 MB of their link strings.
A path's hash may collide: like every holder, it is verified by readlink before it is named.
Any other target (an anonymous inode) is looked for with one readlink of every fd (owners_of).

Thread-safe: one lock. A view that must not wait (a panel painting) asks try_owners, which
answers from what is kept, or None while another thread holds the index (a pass under way) or
before any pass was made.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from stucktui.collect.fdlinks import FUSE_DEVICE, PATH, SOCKET, Owners, Seen, link_key, owners_of, read_links
from stucktui.collect.pausing import pause_point
from stucktui.procfs.errors import DENIED_ERRNOS
from stucktui.procfs.root import ProcRoot

__all__ = ["FUSE_DEVICE", "FdIndex", "Owners", "owners_of"]

FULL_EVERY = 30  # passes between full passes (a minute at the default 2 s refresh)
RESCAN_GAP = 5  # passes between two full passes forced by a target no holder was found for


def _sig(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class FdIndex:
    """link target -> holders, for pipes, sockets and /dev/fuse, kept across refreshes. The
    owner calls tick() once per refresh; the first lookup after it makes one pass."""

    def __init__(self, root: ProcRoot, *, full_every: int = FULL_EVERY, rescan_gap: int = RESCAN_GAP) -> None:
        self.root = root
        self.full_every = full_every
        self.rescan_gap = rescan_gap
        self._lock = threading.RLock()
        self._seen: dict[int, Seen] = {}  # pid -> its links as last read
        self._where: dict[int, int] = {}  # key -> its first holder, pid << 32 | fd
        self._more: dict[int, list[int]] = {}  # key -> its other holders (a pipe shared by a fork)
        self._missing: set[int] = set()  # keys the last full pass found nowhere
        self._current = False  # a pass was made since the last tick()
        self._since_full = full_every  # the first pass is a full one
        self.passes = 0  # for tests and the benchmark
        self.full_scans = 0
        self.reads = 0  # processes whose fds were read
        self._unreadable = 0  # of _seen, those whose fds are not ours to list (kept, not counted)

    def tick(self) -> None:
        """A new refresh: the next lookup checks the box for processes that changed."""
        self._current = False

    @property
    def warm(self) -> bool:
        """A pass was made: what is kept describes the box as of then."""
        return self.passes > 0

    @property
    def unreadable(self) -> int:
        """Processes whose fds were not ours to list at their last read."""
        return self._unreadable

    # -- keeping it ----------------------------------------------------------------------------
    def _holders(self, keys: Iterable[int]) -> dict[int, list[tuple[int, int]]]:
        """key -> its kept holders (pid, fd), for the keys that have any."""
        out: dict[int, list[tuple[int, int]]] = {}
        scanned = []
        for key in keys:
            if key & 3 in (PATH, SOCKET):
                scanned.append(key)
                continue
            first = self._where.get(key)
            if first is not None:
                out[key] = [(h >> 32, h & 0xFFFFFFFF) for h in (first, *self._more.get(key, ()))]
        if not scanned:
            return out
        wanted = set(scanned)  # one intersection per process, at C speed
        for pid, seen in self._seen.items():
            lo, hi = seen.span()
            for key in wanted.intersection(seen[lo:hi]):
                for fd in seen.holding(key, lo, hi):
                    out.setdefault(key, []).append((pid, fd))
        return out

    def _deny(self, pid: int, sig: tuple[int, int, int]) -> None:
        """A process whose fds are not ours to list, as of this signature."""
        self._seen[pid] = Seen(sig, None)
        self._unreadable += 1

    def _forget(self, pid: int) -> None:
        old = self._seen.pop(pid, None)
        if old is None:
            return
        if not old.listed:
            self._unreadable -= 1
        where, more = self._where, self._more
        for key, fd in old.pipes():
            h = pid << 32 | fd
            rest = more.get(key)
            if where.get(key) == h:
                if rest:
                    where[key] = rest.pop()
                else:
                    del where[key]
            elif rest and h in rest:
                rest.remove(h)
            else:
                continue
            if rest is not None and not rest:
                del more[key]

    def _keep(self, pid: int, seen: Seen) -> None:
        self._seen[pid] = seen
        where, more = self._where, self._more
        for key, fd in seen.pipes():
            h = pid << 32 | fd
            if key in where:
                more.setdefault(key, []).append(h)
            else:
                where[key] = h

    def _read(self, pid: int, *, whole: bool = True) -> None:
        """Reads one process's kept links, replacing what was kept of it, through its fd
        directory opened once: the signature is that directory's, taken before the links (an fd
        opened after it changes the next pass's). Not `whole`: the same process read before
        has only the fd numbers new since read (a process of 20,000 fds that opens one costs a
        listing and a readlink; an fd number closed and reused meanwhile is caught when a
        holder is verified)."""
        old = self._seen.get(pid)
        self._forget(pid)
        self.reads += 1
        try:
            sub = os.open(f"{self.root.path}/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            denied = _sig(f"{self.root.path}/{pid}/fd") if exc.errno in DENIED_ERRNOS else None
            if denied is not None:
                self._deny(pid, denied)
            return  # or gone
        st = os.fstat(sub)
        sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        try:
            names = [n for n in os.listdir(sub) if n.isdigit()]
            if not whole and old is not None and old.listed and old[0] == sig[0]:
                now = {int(n) for n in names}
                kept = [(k, fd) for k, fd in old.pipes() if fd in now]
                keys, kfds, paths = read_links(sub, now.difference(old.fds or ()))
                keys += [k for k, _ in kept]
                kfds += [fd for _, fd in kept]
                paths += [(k, fd) for k, fd in old.paths() if fd in now]
                fds = list(now)
            else:
                keys, kfds, paths = read_links(sub, names)
                fds = list(map(int, names))
        except OSError as exc:
            if exc.errno in DENIED_ERRNOS:
                self._deny(pid, sig)
            return
        finally:
            os.close(sub)
        self._keep(pid, Seen(sig, fds, keys, kfds, paths))

    def _pass(self, full: bool = False, *, incremental: bool = False) -> None:
        """One pass: a full one when asked, due or the first; `incremental`: never a full one."""
        self._current = True
        self.passes += 1
        self._since_full += 1
        pids = self.root.pids()
        if full or (not incremental and self._since_full >= self.full_every):
            self._since_full = 0
            self.full_scans += 1
            self._seen, self._where, self._more, self._missing = {}, {}, {}, set()
            self._unreadable = 0
            for i, pid in enumerate(pids):
                pause_point(i)
                self._read(pid)
            return
        for pid in self._seen.keys() - set(pids):
            self._forget(pid)
        base = self.root.path
        for i, pid in enumerate(pids):
            pause_point(i)
            sig = _sig(f"{base}/{pid}/fd")
            seen = self._seen.get(pid)
            if sig is None:
                if seen is not None:
                    self._forget(pid)
            elif seen is None or seen.sig != sig:
                self._read(pid, whole=False)

    def current(self) -> None:
        """This refresh's pass, if not made yet."""
        with self._lock:
            if not self._current:
                self._pass()

    # -- looking up ----------------------------------------------------------------------------
    def _verified(self, keys: dict[int, str]) -> Owners:
        """The kept holders of these keys that still hold them: one readlink of the fd and
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
        kept = self._holders(keys)
        for k, t in keys.items():
            for pid, fd in kept.get(k, ()):
                if holds(pid, fd, t):
                    out.setdefault(t, []).append((pid, fd))
                else:
                    stale.add(pid)
        if stale:
            for pid in stale:
                starts.pop(pid, None)
                self._read(pid)
            kept = self._holders(keys)
            for k, t in keys.items():
                found = out.get(t, [])
                for pid, fd in kept.get(k, ()):
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
        keys = {k: t for t in targets if (k := link_key(t)) is not None}
        out: Owners = {}
        unreadable = 0
        rest = targets.difference(keys.values())
        if rest:
            out, unreadable = owners_of(self.root, rest)
        if not keys:
            return out, unreadable
        with self._lock:
            if fresh:
                self._pass(full=True)
            self.current()
            found = self._verified(keys)

            def missing() -> set[int]:
                return {
                    k for k, t in keys.items()
                    if k not in self._missing and not any(p != besides for p, _ in found.get(t, ()))
                }  # fmt: skip

            lost = missing()
            if lost and not fresh and self._since_full >= self.rescan_gap:
                self._pass(full=True)
                found = self._verified(keys)
                self._missing |= missing()
            elif fresh:
                self._missing = lost
            out.update(found)
            return out, unreadable + self.unreadable

    def socket_fds(self, pid: int) -> list[tuple[int, int]] | None:
        """(fd, socket inode) of a process as kept, when its fd directory is as it was when
        read (one stat: the same process, the same fd count); None otherwise, or while another
        thread holds the index. An fd swapped for another socket with the count unchanged is
        not seen until the process is read again (a count, not a holder named)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            seen = self._seen.get(pid)
            if seen is None or not seen.listed or _sig(f"{self.root.path}/{pid}/fd") != seen.sig:
                return None
            return seen.sockets()
        finally:
            self._lock.release()

    def try_owners(self, targets: set[str]) -> tuple[Owners, int] | None:
        """As owners() for pipes, sockets and /dev/fuse, for a caller that must not wait: None
        before the first pass, while another thread holds the index (a pass under way), or
        when a target's holders are not found (no full pass is made for them here). Otherwise
        this refresh's pass, if due, is an incremental one (a stat of each fd directory)."""
        keys = {k: t for t in targets if (k := link_key(t)) is not None}
        if len(keys) != len(targets) or not self._lock.acquire(blocking=False):
            return None
        try:
            if not self.warm:
                return None
            if not self._current:
                self._pass(incremental=True)
            found = self._verified(keys)
            if any(t not in found and k not in self._missing for k, t in keys.items()):
                return None
            return found, self.unreadable
        finally:
            self._lock.release()
