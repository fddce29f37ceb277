"""What the Files view adds to a process's fd rows: pipe ends with their holders, verdicts and
fill, and epoll interest lists resolved to the fds they watch."""

from __future__ import annotations

import os
import select
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from stucktui.collect.pipemap import PipeMap, _comm, fd_end, scan_pipes
from stucktui.model.files import _READ_ENDS, _WRITE_ENDS, EpollWatch, FdRow, PipeEnd, PipeFill, pipe_view
from stucktui.procfs import fdtarget as ft
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import link_access_mode
from stucktui.procfs.pidfd import NOT_PERMITTED, pipe_fills
from stucktui.procfs.root import PidDir, ProcRoot

MAX_FILLS = 256  # pidfd_getfd costs ~0.1 ms; a process with thousands of pipes is measured in part
NOT_READ = "not read yet: off screen"  # the fill of a lazy view's pipe no one looked at


def pipe_end(root: ProcRoot, d: PidDir, fd: int) -> str | None:
    """The end of pipe fd N ('r', 'w', 'rw'), from its link's mode through the pinned
    directory (one lstat), else from fdinfo (a fixture tree); None if it cannot be told."""
    try:
        end = link_access_mode(os.lstat(f"fd/{fd}", dir_fd=d.fd).st_mode)
        return end if end is not None else fd_end(root, d.pid, fd)
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None


def measure(d: PidDir, rows: Sequence[FdRow], wanted: Collection[int] | None) -> dict[int, PipeFill]:
    """Pipe inode -> its fill, measured through one fd each: the pipes of `wanted` fds (None:
    every pipe), at most MAX_FILLS of them."""
    fills: dict[int, PipeFill] = {}
    todo: dict[int, int] = {}  # inode -> fd to measure it through (one per pipe)
    for r in rows:
        if r.kind in (ft.PIPE, ft.FIFO) and r.inode is not None and r.inode not in todo:
            if wanted is not None and r.fd not in wanted:
                continue
            if len(todo) < MAX_FILLS:
                todo[r.inode] = r.fd
            else:
                fills[r.inode] = PipeFill(None, None, f"not measured (more than {MAX_FILLS} pipes)")
    if todo:
        by_fd = pipe_fills(d.pid, [(fd, ino) for ino, fd in todo.items()], still_same=d.alive)
        fills.update((ino, by_fd[fd]) for ino, fd in todo.items())
    return fills


def fill_notes(fills: Mapping[int, PipeFill]) -> list[str]:
    """What the Files panel says when pipe fills could not be measured for want of rights."""
    if any(f.reason == NOT_PERMITTED for f in fills.values()):
        return [
            "pipe fill not measured: pidfd_getfd was refused (another user's process, no "
            "CAP_SYS_PTRACE, or a seccomp filter); the other ends and verdicts still stand"
        ]
    return []


def with_pipes(
    root: ProcRoot,
    d: PidDir,
    rows: list[FdRow],
    pipe_map: PipeMap | None,
    fifo_inodes: dict[str, int],
    fills: Mapping[int, PipeFill],
    notes: list[str],
    fds: Collection[int] | None = None,
) -> list[FdRow]:
    """Each pipe and FIFO row (of `fds`; None: every one) with its holders (from `pipe_map`,
    scanned here when None) and its fill (`fills` by inode; a pipe not there was not measured:
    `NOT_READ`)."""
    if not any(r.kind in (ft.PIPE, ft.FIFO) and (fds is None or r.fd in fds) for r in rows):
        return rows
    if pipe_map is None:
        pipe_map = scan_pipes(root, fifos=fifo_inodes)
    elif fifo_inodes and not set(fifo_inodes) <= set(pipe_map.fifos):
        extra = scan_pipes(root, fifos=fifo_inodes)
        pipe_map = replace(pipe_map, fifos=extra.fifos)
    if pipe_map.unreadable:
        notes.append(f"{pipe_map.unreadable} processes could not be read: pipe ends there are unknown")
    watchers = _epoll_readers(rows)
    unread = PipeFill(None, None, NOT_READ)
    out = []
    me: str | None = None  # this process's name, read once if needed
    ends: dict[int, list[FdRow]] | None = None  # inode -> this process's rows, made once if needed
    for r in rows:
        if (
            r.kind not in (ft.PIPE, ft.FIFO)
            or r.inode is None
            or r.mode is None
            or (fds is not None and r.fd not in fds)
        ):
            out.append(r)
            continue
        unseen = r.kind == ft.PIPE and pipe_map.only is not None and r.inode not in pipe_map.only
        if unseen:  # its own ends are all that is known
            me = me if me is not None else _comm(root, d.pid)
            if ends is None:  # one pass over the rows, not one per pipe (20,000 fds, hundreds of pipes)
                ends = {}
                for o in rows:
                    if o.inode is not None:
                        ends.setdefault(o.inode, []).append(o)
            holders = tuple(PipeEnd(d.pid, me, o.fd, o.mode or "?") for o in ends[r.inode])
        else:
            holders = pipe_map.holders(r.inode) if r.kind == ft.PIPE else pipe_map.fifo_holders(r.target)
        view = pipe_view(
            d.pid,
            r.fd,
            r.mode,
            r.inode,
            holders,
            fills.get(r.inode, unread),
            partial=pipe_map.unreadable > 0,
            watched_by=tuple(dict.fromkeys(watchers.get(r.inode, ()))),
            others_unseen=unseen,
        )
        out.append(r._replace(pipe=view))
    return out


def _epoll_readers(rows: Sequence[FdRow]) -> dict[int, list[int]]:
    """Pipe inode -> this process's epoll fds watching it for input (a wake-up pipe's reader)."""
    watchers: dict[int, list[int]] = {}
    for r in rows:
        if r.kind == ft.EPOLL and r.info is not None:
            for e in r.info.epoll:
                if e.events & select.EPOLLIN:
                    watchers.setdefault(e.ino, []).append(r.fd)
    return watchers


def _best(candidates: Sequence[FdRow], events: int) -> FdRow | None:
    """Both ends of a pipe share an inode: an EPOLLIN registration was made on a read end."""
    want = _READ_ENDS if events & select.EPOLLIN else _WRITE_ENDS if events & select.EPOLLOUT else ()
    return next((r for r in candidates if r.mode in want), candidates[0] if candidates else None)


def with_epoll(rows: list[FdRow], socket_states: Mapping[int, str]) -> list[FdRow]:
    """Each epoll row with its interest list, each watch resolved to the fd it watches now."""
    if not any(r.kind == ft.EPOLL for r in rows):
        return rows
    by_fd = {r.fd: r for r in rows}
    by_ino: dict[int, list[FdRow]] = {}
    for r in rows:
        if r.inode is not None:
            by_ino.setdefault(r.inode, []).append(r)
    out = []
    for r in rows:
        if r.kind != ft.EPOLL or r.info is None:
            out.append(r)
            continue
        watches = []
        for e in r.info.epoll:
            same = by_fd.get(e.tfd)
            match = (
                same if same is not None and same.inode == e.ino else _best(by_ino.get(e.ino, ()), e.events)
            )
            watches.append(
                EpollWatch(
                    tfd=e.tfd,
                    events=e.events,
                    event_names=e.event_names(),
                    ino=e.ino,
                    fd=match.fd if match else None,
                    kind=match.kind if match else None,
                    target=match.target if match else None,
                    stale=match is None or match.fd != e.tfd,
                    socket_state=socket_states.get(e.ino),
                    pipe=match.pipe if match else None,
                )
            )
        out.append(r._replace(epoll=tuple(watches)))
    return out
