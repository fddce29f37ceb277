"""The first pass's look for lock pollers (docs/kernel-notes.md §8.3, §A.7): a process that
retries a lock without blocking never shows in /proc/locks, so the triage looks for the shape
instead: a process asleep in a timed sleep that has a locked file open, holding no lock on it.
Only such processes get the full look (their Files and Locks panels, py-spy), which then proves
the poll or says nothing.

Cost: per process asleep in nanosleep (the first pass has its wait channels already), one
readlink of each fd and one fdinfo read per path fd, paid only while some file is locked."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from stucktui.model import clues
from stucktui.model.locks import LockEntry
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import parse_fdinfo
from stucktui.procfs.root import PidDir, ProcRoot

# Where a thread waits in a sleep between two tries (time.sleep, usleep, SQLite's busy handler)
NAP_WCHANS = frozenset({"hrtimer_nanosleep", "do_nanosleep"})
_MAX_PATH_FDS = 256  # a process with more open files than this is left to the lock-wait clues


def mark_pollers(
    root: ProcRoot, nappers: Iterable[int], entries: Iterable[LockEntry], add: Callable[[int, str], None]
) -> None:
    """Calls add(pid, clues.LOCK_POLL) for each of `nappers` that has a file open on which a
    lock is granted (by inode, from fdinfo: no stat) and holds no lock through that fd."""
    locked = {e.inode for e in entries if not e.waiting and e.inode and e.type in ("FLOCK", "POSIX", "OFD")}
    if not locked:
        return
    holders = {e.pid for e in entries if e.pid > 0}
    for pid in nappers:
        if pid in holders:
            continue  # a holder is looked at for itself already
        try:
            if _has_locked_file_open(root, pid, locked):
                add(pid, clues.LOCK_POLL)
        except (ProcessGone, AccessDenied, OSError):
            continue


def _has_locked_file_open(root: ProcRoot, pid: int, locked: set[int]) -> bool:
    with PidDir(root, pid) as d:
        paths = [fd for fd, target in d.fd_links() if target.startswith("/")]
        for fd in paths[:_MAX_PATH_FDS]:
            try:
                info = parse_fdinfo(d.read_text(f"fdinfo/{fd}"))
            except (AccessDenied, OSError, ValueError):
                continue
            if info.ino in locked and not info.locks:
                return True
    return False
