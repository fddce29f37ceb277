"""Builds the Files view: every fd of one process, the box-wide pipe map, epoll interest lists.

The pipe map is scanned on every refresh, so it lists /proc/*/fd and reads fdinfo only for
pipe fds; the per-process view reads fdinfo for every fd of the selected process.
"""

from __future__ import annotations

import os
import select
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from stucktui.collect.fileid import MountTable, fd_stat
from stucktui.model.fdinfo import FdInfo, access_mode, flag_names
from stucktui.model.files import (
    _READ_ENDS,
    _WRITE_ENDS,
    EpollWatch,
    FdRow,
    PipeEnd,
    PipeFill,
    ProcessFiles,
    pipe_view,
)
from stucktui.model.process import Unavailable
from stucktui.procfs import fdtarget as ft
from stucktui.procfs.errors import DENIED_ERRNOS, AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import describe_special, fdinfo_flags, link_access_mode, parse_fdinfo
from stucktui.procfs.limits import parse_limits
from stucktui.procfs.pidfd import NOT_PERMITTED, pipe_fills
from stucktui.procfs.privilege import refusal
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.statx import FileStat

_MAX_FILLS = 256  # pidfd_getfd costs ~0.1 ms; a process with thousands of pipes is measured in part
# kinds whose state lives in fdinfo (describe_special)
_SPECIAL_KINDS = frozenset({ft.SIGNALFD, ft.EVENTFD, ft.TIMERFD, ft.INOTIFY, ft.PIDFD, ft.EPOLL})


@dataclass(frozen=True, slots=True)
class PipeMap:
    """Every holder of every pipe on the box, as far as this user can see. Holders found by a
    scan without `names` carry an empty name, read from comm the first time `holders` or
    `fifo_holders` returns them (the panel asks for a handful of pipes; the scan sees
    thousands), so a name is read moments after the scan, or "?" if the process has gone."""

    pipes: Mapping[int, tuple[PipeEnd, ...]]  # pipe inode -> holders
    fifos: Mapping[str, tuple[PipeEnd, ...]]  # FIFO path -> holders (only the paths asked for)
    unreadable: int  # processes whose fds could not be listed: their ends are unknown
    duration: float
    root: ProcRoot | None = None  # where the empty names are read from
    # the pipe inodes the scan looked for (None: every pipe of the box); another pipe's
    # holders here are unknown, not absent
    only: frozenset[int] | None = None
    _names: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    def holders(self, inode: int) -> tuple[PipeEnd, ...]:
        return self._named(self.pipes.get(inode, ()))

    def fifo_holders(self, path: str) -> tuple[PipeEnd, ...]:
        return self._named(self.fifos.get(path, ()))

    def _named(self, ends: tuple[PipeEnd, ...]) -> tuple[PipeEnd, ...]:
        if self.root is None or all(e.name for e in ends):
            return ends
        out = []
        for e in ends:
            if not e.name:
                name = self._names.get(e.pid)
                if name is None:
                    name = self._names[e.pid] = _comm(self.root, e.pid)
                e = e._replace(name=name)
            out.append(e)
        return tuple(out)


# -- the box-wide pipe map ---------------------------------------------------------------------
def _comm(root: ProcRoot, pid: int) -> str:
    try:
        return root.read_text(pid, "comm", pid=pid).rstrip("\n")
    except (ProcessGone, AccessDenied, OSError):
        return "?"


def fd_end(root: ProcRoot, pid: int, fd: int | str, link: str | None = None) -> str:
    """'r', 'w', 'rw' or 'path': how fd N of pid was opened, from the mode of its /proc link
    (one lstat; see link_access_mode), or from fdinfo's flags where the link is not a procfs
    one (a fixture tree). `link` is the link's path when the caller has built it already.
    Raises OSError, ProcessGone, AccessDenied or ValueError."""
    end = link_access_mode(os.lstat(link or root.join(pid, "fd", fd)).st_mode)
    if end is None:
        end = access_mode(fdinfo_flags(root.read_text(pid, "fdinfo", fd, pid=pid)))
    return end


def scan_pipes(
    root: ProcRoot,
    *,
    names: Mapping[int, str] | None = None,
    fifos: Mapping[str, int] | None = None,
    pids: Iterable[int] | None = None,
) -> PipeMap:
    """Who holds which end of every pipe. `names` (pid -> comm, e.g. from the process list)
    names the holders; without it they are named when asked for (PipeMap.holders).
    `fifos` (path -> inode) also collects the holders of those FIFOs.

    This runs on every refresh of a Files panel, over every process on the box, so it costs
    one listdir per process, one readlink per fd and one lstat per pipe fd: the end comes
    from the mode of the /proc/PID/fd/N link itself (see link_access_mode), not fdinfo."""
    t0 = time.perf_counter()
    pipes: dict[str, list[PipeEnd]] = {}  # by link text; one int() per pipe at the end
    fifo_holders: dict[str, list[PipeEnd]] = {}
    unreadable = 0
    readlink, listdir = os.readlink, os.listdir
    for pid in root.pids() if pids is None else pids:
        base = f"{root.path}/{pid}/fd/"
        try:
            fds = listdir(base)
        except OSError as exc:
            if exc.errno in DENIED_ERRNOS:
                unreadable += 1
            continue  # or gone
        name = (names.get(pid) or "") if names else ""
        for n in fds:
            try:
                target = readlink(base + n)
            except OSError:
                continue  # closed between listdir and readlink, or the process exited
            if target[:6] == "pipe:[":
                bucket = pipes.get(target)
                if bucket is None:
                    bucket = pipes[target] = []
            elif fifos and target in fifos:
                try:  # its inode from fdinfo: a stat() would enter the FIFO's file system
                    if parse_fdinfo(root.read_text(pid, "fdinfo", n, pid=pid)).ino != fifos[target]:
                        continue
                except (ProcessGone, AccessDenied, OSError, ValueError):
                    continue
                bucket = fifo_holders.setdefault(target, [])
            else:
                continue
            try:
                end = fd_end(root, pid, n, base + n)
            except (ProcessGone, AccessDenied, OSError, ValueError):
                continue
            bucket.append(PipeEnd(pid, name, int(n), end))
    by_inode = {}
    for target, ends in pipes.items():
        inode = ft.bracket_inode(target)
        if inode is not None:
            by_inode[inode] = tuple(ends)
    return PipeMap(
        pipes=by_inode,
        fifos={k: tuple(v) for k, v in fifo_holders.items()},
        unreadable=unreadable,
        duration=time.perf_counter() - t0,
        root=root,
    )


# -- one process -------------------------------------------------------------------------------
def stat_fd(d: PidDir, fd: int | str, mnt_id: int | None, mounts: MountTable) -> FileStat | None:
    """Type and inode of what fd N points to, from the kernel's cache, on local mounts only
    (collect.fileid.fd_stat; docs/kernel-notes.md §10.5)."""
    return fd_stat(d.fd, f"fd/{fd}", mnt_id, mounts)


def collect_files(
    root: ProcRoot,
    pid: int,
    *,
    piddir: PidDir | None = None,
    pipe_map: PipeMap | None = None,
    socket_states: Mapping[int, str] | None = None,
    measure_fill: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> ProcessFiles:
    """Every fd of `pid`. Raises ProcessGone when the process is gone; a refused listing gives
    an empty view with a note. `pipe_map` (scanned once per refresh) is scanned here when not
    given; `socket_states` maps socket inode -> TCP state (e.g. 'CLOSE_WAIT')."""
    own = piddir is None
    d = piddir or root.pid_dir(pid)
    try:
        return _collect(root, d, pipe_map, socket_states or {}, measure_fill, clock)
    finally:
        if own:
            d.close()


def _limits(d: PidDir) -> tuple[int | None, int | None]:
    try:
        lim = parse_limits(d.read_text("limits")).get("Max open files")
    except (AccessDenied, OSError):
        return (None, None)
    return (lim.soft, lim.hard) if lim else (None, None)


def _collect(
    root: ProcRoot,
    d: PidDir,
    pipe_map: PipeMap | None,
    socket_states: Mapping[int, str],
    measure_fill: bool,
    clock: Callable[[], float],
) -> ProcessFiles:
    t0 = clock()
    pid = d.pid
    notes: list[str] = []
    soft, hard = _limits(d)
    try:
        links = d.fd_links()
    except AccessDenied:
        why = Unavailable(f"no permission to list /proc/{pid}/fd", refusal())
        notes.append(f"open files: {why}")
        return ProcessFiles(pid, (), (), soft, hard, tuple(notes), clock() - t0, unlisted=why)
    except FileNotFoundError:
        links = []  # a zombie or kernel thread has no fd table left
    links.sort()
    texts: dict[int, str] | None
    try:
        texts, denied_info = d.read_fdinfos(fd for fd, _ in links)
    except (AccessDenied, FileNotFoundError):
        texts, denied_info = None, len(links)  # rows without mode, flags and position
    rows: list[FdRow] = []
    fifo_inodes: dict[str, int] = {}
    modes: dict[tuple[int | None, int], FileStat] = {}
    mounts: MountTable | None = None  # where a statx of cached attributes cannot wait on anything
    specials = _SPECIAL_KINDS
    SOCKET, FIFO, bracket_inode = ft.SOCKET, ft.FIFO, ft.bracket_inode
    # The loop runs once per fd (20,000 in the benchmark): no keyword arguments, no property
    # lookups, no calls for the common case.
    for fd, target in links:
        if texts is not None:
            text = texts.get(fd)
            if text is None:
                continue  # closed between the listing and the read, or refused (counted)
            try:
                info: FdInfo | None = parse_fdinfo(text)
            except ValueError:
                info = None
        else:
            info = None
        ino = info.ino if info is not None else None
        if target[:1] == "/":
            # Same (mount, inode), same file type: 20,000 fds of one file need one stat.
            key = (info.mnt_id, ino) if ino is not None and info is not None else None
            st = modes.get(key) if key else None
            if st is None and info is not None:
                if mounts is None:
                    mounts = MountTable(root, pid, d)  # read once, at the first file of the process
                st = stat_fd(d, fd, info.mnt_id, mounts)  # local mounts only (docs/kernel-notes.md §10.5)
                if key and st is not None:
                    modes[key] = st
            kind = ft.classify(target, st.st_mode if st else None)
            inode = ino if ino is not None else st.st_ino if st is not None else None
            if kind == FIFO and inode is not None:
                fifo_inodes[target] = inode
        else:
            kind = ft.classify(target)
            inode = ino if ino is not None else bracket_inode(target)
        if info is None:
            rows.append(FdRow(fd, kind, target, None, (), None, inode))
            continue
        rows.append(
            FdRow(
                fd,
                kind,
                target,
                access_mode(info.flags),
                flag_names(info.flags),
                info.pos,
                inode,
                info,
                describe_special(kind, info) if kind in specials else None,
                None,
                (),
                socket_states.get(inode) if kind == SOCKET and inode is not None else None,
            )
        )
    if denied_info:
        notes.append(f"{denied_info} fds could not be read (no permission)")
    rows = _with_pipes(root, d, rows, pipe_map, fifo_inodes, measure_fill, notes)
    rows = _with_epoll(rows, socket_states)
    counts = Counter(r.kind for r in rows)
    return ProcessFiles(
        pid=pid,
        rows=tuple(rows),
        counts=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        fd_soft_limit=soft,
        fd_hard_limit=hard,
        notes=tuple(notes),
        duration=clock() - t0,
    )


def _with_pipes(
    root: ProcRoot,
    d: PidDir,
    rows: list[FdRow],
    pipe_map: PipeMap | None,
    fifo_inodes: dict[str, int],
    measure_fill: bool,
    notes: list[str],
) -> list[FdRow]:
    if not any(r.kind in (ft.PIPE, ft.FIFO) for r in rows):
        return rows
    if pipe_map is None:
        pipe_map = scan_pipes(root, fifos=fifo_inodes)
    elif fifo_inodes and not set(fifo_inodes) <= set(pipe_map.fifos):
        extra = scan_pipes(root, fifos=fifo_inodes)
        pipe_map = replace(pipe_map, fifos=extra.fifos)
    if pipe_map.unreadable:
        notes.append(f"{pipe_map.unreadable} processes could not be read: pipe ends there are unknown")
    fills: dict[int, PipeFill] = {}
    todo: dict[int, int] = {}  # inode -> fd to measure it through (one per pipe)
    for r in rows:
        if r.kind in (ft.PIPE, ft.FIFO) and r.inode is not None and r.inode not in todo:
            if measure_fill and len(todo) < _MAX_FILLS:
                todo[r.inode] = r.fd
            else:
                reason = f"not measured (more than {_MAX_FILLS} pipes)" if measure_fill else "not measured"
                fills[r.inode] = PipeFill(None, None, reason)
    if todo:
        by_fd = pipe_fills(d.pid, [(fd, ino) for ino, fd in todo.items()], still_same=d.alive)
        fills.update((ino, by_fd[fd]) for ino, fd in todo.items())
        if any(f.reason == NOT_PERMITTED for f in by_fd.values()):
            notes.append(
                "pipe fill not measured: pidfd_getfd was refused (another user's process, no "
                "CAP_SYS_PTRACE, or a seccomp filter); the other ends and verdicts still stand"
            )
    # pipes this process's own epoll sets watch for input (by inode: the read end's)
    watchers: dict[int, list[int]] = {}
    for r in rows:
        if r.kind == ft.EPOLL and r.info is not None:
            for e in r.info.epoll:
                if e.events & select.EPOLLIN:
                    watchers.setdefault(e.ino, []).append(r.fd)
    out = []
    me: str | None = None  # this process's name, read once if needed
    for r in rows:
        if r.kind not in (ft.PIPE, ft.FIFO) or r.inode is None or r.mode is None:
            out.append(r)
            continue
        unseen = r.kind == ft.PIPE and pipe_map.only is not None and r.inode not in pipe_map.only
        if unseen:  # its own ends are all that is known
            me = me if me is not None else _comm(root, d.pid)
            holders = tuple(PipeEnd(d.pid, me, o.fd, o.mode or "?") for o in rows if o.inode == r.inode)
        else:
            holders = pipe_map.holders(r.inode) if r.kind == ft.PIPE else pipe_map.fifo_holders(r.target)
        view = pipe_view(
            d.pid,
            r.fd,
            r.mode,
            r.inode,
            holders,
            fills[r.inode],
            partial=pipe_map.unreadable > 0,
            watched_by=tuple(dict.fromkeys(watchers.get(r.inode, ()))),
            others_unseen=unseen,
        )
        out.append(r._replace(pipe=view))
    return out


def _best(candidates: Sequence[FdRow], events: int) -> FdRow | None:
    """Both ends of a pipe share an inode: an EPOLLIN registration was made on a read end."""
    want = _READ_ENDS if events & select.EPOLLIN else _WRITE_ENDS if events & select.EPOLLOUT else ()
    return next((r for r in candidates if r.mode in want), candidates[0] if candidates else None)


def _with_epoll(rows: list[FdRow], socket_states: Mapping[int, str]) -> list[FdRow]:
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
