"""Builds the Files view of one process: every fd, pipe ends and their verdicts, epoll
interest lists (collect/fdviews.py), with the box-wide pipe map (collect/pipemap.py).

Eager (`stucktui report`, actions): the fdinfo of every fd. Lazy (the TUI, and every rule's look
at a process): a readlink of every fd, and fdinfo only where something reads it: the fds asked
for (the rows on screen, the fds the threads' calls name), the special fds (epoll, eventfd,
timerfd, signalfd, inotify, pidfd), one fd per path (its mount and inode: the file's kind, and
whether /proc/locks has a lock on it) and every fd of a locked file; a pipe's end comes from
the mode of its link (one lstat). The other rows are `unread`: `with_details` reads them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from stucktui.collect.fdviews import NOT_READ, fill_notes, measure, pipe_end, with_epoll, with_pipes
from stucktui.collect.fileid import MountTable, fd_stat
from stucktui.collect.pipemap import PipeMap, fd_end, scan_pipes
from stucktui.model.fdinfo import FdInfo, access_mode, flag_names
from stucktui.model.files import FdRow, PipeFill, ProcessFiles
from stucktui.model.process import Unavailable
from stucktui.procfs import fdtarget as ft
from stucktui.procfs.errors import AccessDenied
from stucktui.procfs.fdinfo import describe_special, parse_fdinfo
from stucktui.procfs.limits import parse_limits
from stucktui.procfs.locks import parse_locks
from stucktui.procfs.privilege import refusal
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.statx import FileStat

__all__ = ["PipeMap", "collect_files", "fd_end", "scan_pipes", "stat_fd", "with_details"]

# kinds whose state lives in fdinfo (describe_special)
_SPECIAL_KINDS = frozenset({ft.SIGNALFD, ft.EVENTFD, ft.TIMERFD, ft.INOTIFY, ft.PIDFD, ft.EPOLL})
# socket inode -> TCP state, or a function giving it, called only if the process has a socket
SocketStates = Mapping[int, str] | Callable[[], Mapping[int, str]]


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
    socket_states: SocketStates | None = None,
    measure_fill: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    lazy: bool = False,
    detail: Iterable[int] = (),
    first: int = 0,
) -> ProcessFiles:
    """Every fd of `pid`. Raises ProcessGone when the process is gone; a refused listing gives
    an empty view with a note. `pipe_map` (scanned once per refresh) is scanned here when not
    given; `socket_states` maps socket inode -> TCP state (e.g. 'CLOSE_WAIT'). `lazy`: fdinfo
    only where needed (see above), and for the `detail` fds and the `first` lowest fds (the
    rows a table in fd order shows first); a lazy view measures the fill of those fds' pipes
    only."""
    own = piddir is None
    d = piddir or root.pid_dir(pid)
    try:
        return _collect(root, d, pipe_map, socket_states or {}, measure_fill, clock, lazy, set(detail), first)
    finally:
        if own:
            d.close()


def _limits(d: PidDir) -> tuple[int | None, int | None]:
    try:
        lim = parse_limits(d.read_text("limits")).get("Max open files")
    except (AccessDenied, OSError):
        return (None, None)
    return (lim.soft, lim.hard) if lim else (None, None)


class _Paths:
    """The kind and inode of path fds: one statx of cached attributes per file (by mount and
    inode), on local mounts only (docs/kernel-notes.md §10.5)."""

    def __init__(self, root: ProcRoot, d: PidDir) -> None:
        self.d = d
        self.modes: dict[tuple[int | None, int], FileStat] = {}
        self.mounts = MountTable(root, d.pid, d)  # mountinfo read at the first file
        self.fifos: dict[str, int] = {}  # FIFO path -> inode
        self.by_target: dict[str, tuple[str, int | None]] = {}

    def kind(self, fd: int, target: str, info: FdInfo | None) -> tuple[str, int | None]:
        ino = info.ino if info is not None else None
        key = (info.mnt_id, ino) if ino is not None and info is not None else None
        st = self.modes.get(key) if key else None
        if st is None and info is not None:
            st = stat_fd(self.d, fd, info.mnt_id, self.mounts)  # local mounts only
            if key and st is not None:
                self.modes[key] = st
        kind = ft.classify(target, st.st_mode if st else None)
        inode = ino if ino is not None else st.st_ino if st is not None else None
        if kind == ft.FIFO and inode is not None:
            self.fifos[target] = inode
        return kind, inode

    def shared(self, fd: int, target: str, info: FdInfo | None) -> tuple[str, int | None]:
        """The kind and inode of a path read once, through its first fd: every fd whose link
        reads the same path is taken to be the same file (a file replaced since shows
        ' (deleted)' on the old one's links)."""
        got = self.by_target.get(target)
        if got is None:
            got = self.by_target[target] = self.kind(fd, target, info)
        return got


def _parse(text: str | None) -> FdInfo | None:
    if text is None:
        return None
    try:
        return parse_fdinfo(text)
    except ValueError:
        return None


def _to_read(
    root: ProcRoot, d: PidDir, links: list[tuple[int, str]], detail: set[int]
) -> tuple[dict[int, str], int, dict[str, int], set[int]]:
    """A lazy view's fdinfo reads: (texts by fd, how many were refused, the first fd of each
    path, every fd asked for)."""
    want = set(detail)
    firsts: dict[str, int] = {}
    for fd, target in links:
        c = target[:1]
        if c == "/":
            if target not in firsts:
                firsts[target] = fd
        elif (c == "a" or target[:6] == "pidfd:") and ft.classify(target) in _SPECIAL_KINDS:
            want.add(fd)
    want.update(firsts.values())
    texts, denied = d.read_fdinfos(sorted(want))
    if firsts:
        try:
            locked = {e.inode for e in parse_locks(root.read_text("locks"))}
        except OSError:
            locked = set()
        if locked:  # every fd of a locked file: its `lock:` lines tell who holds what
            inos = {t: _parse(texts.get(fd)) for t, fd in firsts.items()}
            held = {t for t, i in inos.items() if i is not None and i.ino in locked}
            more = [fd for fd, t in links if t in held and fd not in want]
            if more:
                extra, refused = d.read_fdinfos(more)
                texts.update(extra)
                denied += refused
                want.update(more)
    return texts, denied, firsts, want


def _collect(
    root: ProcRoot,
    d: PidDir,
    pipe_map: PipeMap | None,
    states: SocketStates,
    measure_fill: bool,
    clock: Callable[[], float],
    lazy: bool,
    detail: set[int],
    first: int = 0,
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
    if lazy and first:
        detail.update(fd for fd, _ in links[:first])
    texts: dict[int, str] | None
    firsts: dict[str, int] = {}
    asked: set[int] | None = None  # a lazy view's fds whose fdinfo was read (or refused)
    try:
        if lazy:
            texts, denied_info, firsts, asked = _to_read(root, d, links, detail)
        else:
            texts, denied_info = d.read_fdinfos(fd for fd, _ in links)
    except (AccessDenied, FileNotFoundError):
        texts, denied_info = None, len(links)  # rows without mode, flags and position
    socket_states: Mapping[int, str] = {}
    if callable(states):
        if any(t[:7] == "socket:" for _, t in links):
            socket_states = states()
    else:
        socket_states = states
    rows: list[FdRow] = []
    paths = _Paths(root, d)
    specials = _SPECIAL_KINDS
    SOCKET, bracket_inode, classify = ft.SOCKET, ft.bracket_inode, ft.classify
    unread = texts is not None  # a row without fdinfo: not read yet (or, with no texts, refused)
    shared = paths.by_target
    # The loop runs once per fd (20,000 in the benchmark): no keyword arguments, no property
    # lookups, no calls for the common case.
    for fd, target in links:
        text = texts.get(fd) if texts is not None else None
        if text is None:
            if texts is not None and (asked is None or fd in asked):
                continue  # closed between the listing and the read, or refused (counted)
            if target[:1] == "/":
                got = shared.get(target)
                if got is None:
                    first = firsts.get(target, fd)
                    got = paths.shared(first, target, _parse(texts.get(first) if texts is not None else None))
                kind, inode = got
            else:
                kind, inode = classify(target), bracket_inode(target)
            state = socket_states.get(inode) if kind == SOCKET and inode is not None else None
            rows.append(FdRow(fd, kind, target, None, (), None, inode, None, None, None, (), state, unread))
            continue
        info = _parse(text)
        if target[:1] == "/":
            kind, inode = paths.kind(fd, target, info)
        else:
            kind = classify(target)
            inode = info.ino if info is not None and info.ino is not None else bracket_inode(target)
        state = socket_states.get(inode) if kind == SOCKET and inode is not None else None
        if info is None:
            rows.append(FdRow(fd, kind, target, None, (), None, inode, None, None, None, (), state))
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
                state,
            )
        )
    if denied_info:
        notes.append(f"{denied_info} fds could not be read (no permission)")
    viewed: set[int] | None = None  # the pipe rows that get their holders (None: every one)
    if lazy:  # pipes read, asked for, or watched by an epoll set here (the rules look at those)
        watched = {e.ino for r in rows if r.kind == ft.EPOLL and r.info is not None for e in r.info.epoll}
        viewed = {
            r.fd for r in rows if r.kind in _PIPES and (not r.unread or r.fd in detail or r.inode in watched)
        }
        rows = [_with_end(root, d, r) if r.fd in viewed and r.mode is None else r for r in rows]
    if not measure_fill:
        fills = {r.inode: _NOT_MEASURED for r in rows if r.inode is not None}
    else:
        fills = measure(d, rows, viewed)
        notes.extend(fill_notes(fills))
    rows = with_pipes(root, d, rows, pipe_map, paths.fifos, fills, notes, viewed)
    rows = with_epoll(rows, socket_states)
    counts = Counter(r.kind for r in rows)
    return ProcessFiles(
        pid=pid,
        rows=tuple(rows),
        counts=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        fd_soft_limit=soft,
        fd_hard_limit=hard,
        notes=tuple(notes),
        duration=clock() - t0,
        lazy=lazy,
    )


_NOT_MEASURED = PipeFill(None, None, "not measured")
_PIPES = (ft.PIPE, ft.FIFO)
_NOTHING = PipeMap({}, {}, 0, 0.0, only=frozenset())  # no pipe's holders known


def _with_end(root: ProcRoot, d: PidDir, r: FdRow) -> FdRow:
    end = pipe_end(root, d, r.fd)
    return r if end is None else r._replace(mode=end)


def with_details(
    root: ProcRoot,
    d: PidDir,
    files: ProcessFiles,
    fds: Iterable[int],
    *,
    pipe_map: PipeMap | None = None,
    socket_states: Mapping[int, str] | None = None,
) -> ProcessFiles:
    """`files` with the fdinfo of these fds read where it was not, and the fill of their pipes
    measured: what the rows on screen and the rules need of a lazy view. `pipe_map` gives the
    exact holders of the pipes it covers; `socket_states`, every socket's state (the Sockets
    panel's). A row whose fd now names another file is left as it was (the next refresh shows
    the new one). Raises ProcessGone."""
    want = set(fds)
    rows = list(files.rows)
    todo = [
        i
        for i, r in enumerate(rows)
        if r.fd in want and (r.unread or (r.pipe is not None and r.pipe.fill.reason == NOT_READ))
    ]
    if not todo and pipe_map is None and socket_states is None:
        return files
    unread = [rows[i].fd for i in todo if rows[i].unread]
    try:
        texts = d.read_fdinfos(unread)[0] if unread else {}
    except (AccessDenied, FileNotFoundError):
        texts = {}
    paths = _Paths(root, d)
    states = socket_states or {}
    for i in todo:
        r = rows[i]
        info = _parse(texts.get(r.fd))
        if info is None:
            continue
        try:
            if d.readlink(f"fd/{r.fd}") != r.target:
                continue
        except (AccessDenied, FileNotFoundError):
            continue
        kind, inode = paths.kind(r.fd, r.target, info) if r.target[:1] == "/" else (r.kind, r.inode)
        detail = describe_special(kind, info) if kind in _SPECIAL_KINDS else None
        mode = r.mode if r.kind in (ft.PIPE, ft.FIFO) and r.mode else access_mode(info.flags)
        rows[i] = r._replace(
            kind=kind, mode=mode, flags=flag_names(info.flags), pos=info.pos, inode=inode,
            info=info, detail=detail, unread=False,
        )  # fmt: skip
    if socket_states is not None:
        rows = [
            r._replace(socket_state=states.get(r.inode)) if r.kind == ft.SOCKET and r.inode is not None else r
            for r in rows
        ]
    else:  # the states the view had, for the epoll watches
        states = {r.inode: r.socket_state for r in rows if r.socket_state and r.inode is not None}
        states.update((w.ino, w.socket_state) for r in rows for w in r.epoll if w.socket_state)
    rows = _views(root, d, rows, {rows[i].fd for i in todo}, pipe_map)
    rows = with_epoll(rows, states)
    return replace(files, rows=tuple(rows))


def _views(
    root: ProcRoot, d: PidDir, rows: list[FdRow], read: set[int], pipe_map: PipeMap | None
) -> list[FdRow]:
    """Pipe views after reading `read`: those rows' pipes measured; a view built where one of
    them had none, and where `pipe_map` covers the pipe (the holders the rules looked up);
    the other views keep their holders, with the new fill."""

    def covered(r: FdRow) -> bool:
        return (
            pipe_map is not None
            and r.kind == ft.PIPE
            and r.inode is not None
            and (pipe_map.only is None or r.inode in pipe_map.only)
        )

    fills = measure(d, [r for r in rows if r.fd in read], None)
    fresh = {
        r.fd
        for r in rows
        if r.kind in _PIPES and r.mode is not None and ((r.fd in read and r.pipe is None) or covered(r))
    }
    if fresh:
        kept = {r.inode: r.pipe.fill for r in rows if r.pipe is not None and r.inode is not None}
        fifos = {r.target: r.inode for r in rows if r.fd in fresh and r.kind == ft.FIFO and r.inode}
        rows = with_pipes(root, d, rows, pipe_map or _NOTHING, fifos, {**kept, **fills}, [], fresh)
    return [
        r._replace(pipe=replace(r.pipe, fill=fills[r.inode]))
        if r.pipe is not None and r.fd not in fresh and r.inode is not None and r.inode in fills
        else r
        for r in rows
    ]
