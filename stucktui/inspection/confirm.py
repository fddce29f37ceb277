"""A second look before an event loop is called a spinner.

A busy, healthy server that reads a connection's end-of-file and closes it a few milliseconds
later has, for those milliseconds, a socket in CLOSE_WAIT in its epoll interest list while it
burns CPU: one look at that instant reads exactly like the epoll-spin incident. A spinning loop
keeps that registration and that state forever. So an epoll-spin finding stands only if, at
least SPIN_RECHECK seconds after the process's fds were read, its epoll fd still watches the
same file (fdinfo: same tfd, same inode) and a watched socket is still in CLOSE_WAIT (a fresh
state-filtered dump of its network namespace, not the refresh's kept table). The other hung
kinds (a pipe without writers, an unread eventfd or timerfd) are checked for the registration
only. Reads /proc and netlink: call it from a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from stucktui.collect.sockets import SocketCollector
from stucktui.model.files import EpollWatch, ProcessFiles
from stucktui.model.findings import Finding
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import parse_fdinfo
from stucktui.procfs.root import PidDir, ProcRoot

SPIN_RECHECK = 0.3  # seconds between the first look at the fds and the second


def _watch(files: ProcessFiles, epfd: int, fd: int) -> EpollWatch | None:
    ep = next((r for r in files.rows if r.fd == epfd and r.epoll), None)
    if ep is None:
        return None
    return next((w for w in ep.epoll if (w.fd if w.fd is not None else w.tfd) == fd), None)


def confirm_spins(
    root: ProcRoot,
    d: PidDir,
    findings: Sequence[Finding],
    files: ProcessFiles | None,
    read_at: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Finding]:
    """`findings` without the epoll-spin ones a second look does not confirm (see the module's
    doc). `read_at`: when `files` was read (clock's time). A finding the second look cannot
    check (the process exited, fdinfo refused) stands as found."""
    spins = [f for f in findings if f.id == "epoll-spin" and len(f.fds) == 2]
    if not spins or files is None:
        return list(findings)
    left = read_at + SPIN_RECHECK - clock()
    if left > 0:
        sleep(min(left, SPIN_RECHECK))
    close_wait: frozenset[int] | None = None
    dropped: set[int] = set()
    for f in spins:
        fd, epfd = f.fds
        w = _watch(files, epfd, fd)
        if w is None:
            continue
        try:
            now = parse_fdinfo(d.read_text(f"fdinfo/{epfd}"))
        except (ProcessGone, AccessDenied, OSError, ValueError):
            continue
        if not any(e.tfd == w.tfd and e.ino == w.ino for e in now.epoll):
            dropped.add(id(f))  # taken out of the interest list (or the fd closed): it recovered
            continue
        if w.socket_state == "CLOSE_WAIT":
            if close_wait is None:
                try:
                    sc = SocketCollector(root)
                    close_wait = sc.table(sc.netns_of(d.pid, d), d.pid).close_wait_inodes()
                except (ProcessGone, AccessDenied, OSError, ValueError):
                    continue
            if w.ino not in close_wait:
                dropped.add(id(f))  # closed since: a server that reads EOF and closes, not a spin
    return [f for f in findings if id(f) not in dropped]
