"""The Files panel: every fd of one process, pipe ends and their verdicts, epoll interest lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import NamedTuple

from stucktui.model.fdinfo import FdInfo
from stucktui.model.process import Unavailable
from stucktui.model.sockets import SocketRow, endpoint_text


@dataclass(frozen=True, slots=True)
class PipeFill:
    """Bytes queued in a pipe and its capacity, or why they could not be measured."""

    queued: int | None
    capacity: int | None
    reason: str | None = None  # one of the constants above when not measured
    # the measured end saw the other side gone (a read end: no writer left, poll says HUP; a
    # write end: no reader left, POLLERR); None when not measured
    hung_up: bool | None = None

    @property
    def measured(self) -> bool:
        return self.reason is None


_READ_ENDS = ("r", "rw")


_WRITE_ENDS = ("w", "rw")


class PipeEnd(NamedTuple):
    """One holder of a pipe or FIFO: `end` is 'r', 'w' or 'rw' (a FIFO opened O_RDWR).
    A NamedTuple: the pipe map builds one per pipe fd on the box, every refresh."""

    pid: int
    name: str
    fd: int
    end: str


@dataclass(frozen=True, slots=True)
class PipeView:
    """One pipe fd seen from its process: the other ends, the verdicts, the fill level."""

    inode: int
    end: str
    holders: tuple[PipeEnd, ...]  # everyone, this fd included
    peers: tuple[PipeEnd, ...]  # holders of the other end, other than this fd
    no_reader: bool  # nobody can drain it: no read end, or only in processes that also write
    no_writer: bool  # nobody can fill it: no write end, or only in processes that also read
    fill: PipeFill
    partial: bool  # some processes were unreadable, so an end may exist unseen
    # epoll fds of this process that watch the pipe for input: a self-pipe (wake-up pipe) that
    # its event loop drains, so neither "no reader" nor "no writer" applies
    watched_by: tuple[int, ...] = ()

    @property
    def reader_is_writer(self) -> bool:
        """A read end exists but only inside writers (docs/incidents.md §1 or a self-pipe)."""
        return self.no_reader and any(h.end in _READ_ENDS for h in self.holders)


@dataclass(frozen=True, slots=True)
class EpollWatch:
    """One registration of an epoll fd, resolved by inode to what it watches now."""

    tfd: int  # fd number at registration time
    events: int
    event_names: tuple[str, ...]  # without the ERR|HUP the kernel adds to every registration
    ino: int
    fd: int | None  # the fd of this process that is that file now, if any
    kind: str | None
    target: str | None
    stale: bool  # tfd was closed or now refers to another file
    socket_state: str | None = None
    pipe: PipeView | None = None

    def describe(self) -> str:
        if self.fd is None:
            what = f"inode {self.ino} (fd {self.tfd} closed; registration kept alive elsewhere)"
        else:
            what = self.target or "?"
            if self.stale:
                what += f" (now fd {self.fd}; fd {self.tfd} was closed)"
        if self.socket_state:
            what += f" {self.socket_state}"
        if self.pipe is not None:
            what += " " + pipe_summary(self.pipe)
        return what


class FdRow(NamedTuple):
    """One fd of the Files panel. Immutable; a NamedTuple rather than a frozen dataclass
    because the panel builds one per fd (20,000 in the benchmark) and a NamedTuple is built
    4x faster (measured), as is FdInfo."""

    fd: int
    kind: str
    target: str  # the /proc/PID/fd/N link text
    mode: str | None  # r, w, rw, path; None when fdinfo was unreadable
    flags: tuple[str, ...]
    pos: int | None
    inode: int | None
    info: FdInfo | None = None
    detail: str | None = None  # decoded signalfd/eventfd/timerfd/inotify/pidfd/epoll state
    pipe: PipeView | None = None
    epoll: tuple[EpollWatch, ...] = ()
    socket_state: str | None = None  # from the socket_states mapping, e.g. 'CLOSE_WAIT'
    # fdinfo not read yet (the Files view reads it for the rows on screen and those the rules
    # need): mode, flags and position unknown, and a pipe's fill not measured
    unread: bool = False
    # a socket's ends, as the Sockets panel reads them: 'tcp 10.0.0.1:40196 -> 10.0.0.5:5432',
    # 'unix /run/x.sock -> pid 812 (nginx) fd 9'; None when not known (not read, not a socket)
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessFiles:
    pid: int
    rows: tuple[FdRow, ...]
    counts: tuple[tuple[str, int], ...]  # kind -> fds, most common first
    fd_soft_limit: int | None  # RLIMIT_NOFILE; None = unlimited or unreadable
    fd_hard_limit: int | None
    notes: tuple[str, ...]
    duration: float
    unlisted: Unavailable | None = None  # why the fd table could not be listed (no rows then)
    lazy: bool = False  # read lazily: some rows are `unread`

    @property
    def unread(self) -> frozenset[int]:
        """The fds whose fdinfo was not read."""
        return frozenset(r.fd for r in self.rows if r.unread)

    @property
    def fd_count(self) -> int:
        return len(self.rows)


def with_endpoints(files: ProcessFiles, rows: Iterable[SocketRow]) -> ProcessFiles:
    """The Files rows with each socket's ends (model.sockets.endpoint_text) from the Sockets
    panel's rows of the same process, matched by fd and inode (an fd reused since is not).
    Only the rows that change are copied (a process may hold 20,000 sockets)."""
    ends: dict[tuple[int, int | None], SocketRow] = {(r.fd, r.inode): r for r in rows}
    if not ends:
        return files
    out = list(files.rows)
    for i, r in enumerate(out):
        s = ends.get((r.fd, r.inode)) if r.kind == "socket" else None
        if s is not None:
            out[i] = r._replace(endpoint=endpoint_text(s))
    return replace(files, rows=tuple(out))


def pipe_verdicts(holders: Iterable[PipeEnd]) -> tuple[bool, bool]:
    """(no_reader, no_writer). A read end held only by processes that also hold the write end
    is never drained by anyone else (docs/incidents.md §1: the writer leaked the read end into itself);
    the same holds the other way round for EOF."""
    readers: set[int] = set()
    writers: set[int] = set()
    for h in holders:
        if h.end in _READ_ENDS:
            readers.add(h.pid)
        if h.end in _WRITE_ENDS:
            writers.add(h.pid)
    return (not (readers - writers), not (writers - readers))


def pipe_view(
    pid: int,
    fd: int,
    end: str,
    inode: int,
    holders: tuple[PipeEnd, ...],
    fill: PipeFill,
    partial: bool = False,
    watched_by: tuple[int, ...] = (),
    others_unseen: bool = False,
) -> PipeView:
    """`others_unseen`: `holders` are only this process's own ends (the box was not scanned
    for this pipe); the verdicts then rest on what the kernel said of the measured end (a read
    end hung up: no writer anywhere), never on the holders seen."""
    if not any(h.pid == pid and h.fd == fd for h in holders):
        holders = (*holders, PipeEnd(pid, "?", fd, end))  # opened after the map was scanned
    want = _WRITE_ENDS if end == "r" else _READ_ENDS if end == "w" else ("r", "w", "rw")
    peers = tuple(h for h in holders if h.end in want and not (h.pid == pid and h.fd == fd))
    no_reader, no_writer = pipe_verdicts(holders)
    if others_unseen:
        hung = fill.hung_up is True
        no_reader, no_writer = (hung and end == "w"), (hung and end == "r")
        partial = True
    own_read = any(h.pid == pid and h.end in _READ_ENDS for h in holders)
    if watched_by and own_read and no_reader:
        no_reader = no_writer = False  # its own event loop reads what it writes: by design
    return PipeView(inode, end, holders, peers, no_reader, no_writer, fill, partial, watched_by)


def pipe_summary(p: PipeView) -> str:
    """'52.1 KiB queued, 64 KiB pipe; no reader' in one line."""
    f = p.fill
    if f.queued is not None and f.capacity is not None:
        text = f"{_size(f.queued)} queued, {_size(f.capacity)} pipe"
    else:
        text = f"fill unknown ({f.reason})"
    epolls = ", ".join(map(str, p.watched_by))
    if p.watched_by and not p.no_reader and not p.no_writer:
        text += f"; a wake-up pipe: epoll fd {epolls} here reads it"
    elif p.watched_by and p.no_writer and p.end in _READ_ENDS:
        # nobody can write: every read returns end-of-file, so epoll reports it ready (HUP) forever
        text += f"; epoll fd {epolls} here watches it, but no process holds a write end: always ready (HUP)"
        return text
    # some processes' fds could not be listed (another user's, without root): an end held
    # there is unseen, so the verdict is only what stucktui can see
    unseen = " seen (some processes could not be read)" if p.partial else ""
    if p.no_reader:
        if p.reader_is_writer:
            text += "; no reader (read end only inside the writers" + (
                ", as far as stucktui can see)" if p.partial else ")"
            )
        else:
            text += "; no reader" + unseen
    if p.no_writer and not p.reader_is_writer:
        # when the only readers are the writers themselves, "no writer" (nobody else fills it,
        # reads never see EOF) is true but reads as a contradiction next to blocked writers
        text += "; no writer" + unseen
    return text


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    v = n / 1024
    return f"{v:.0f} KiB" if v == int(v) else f"{v:.1f} KiB"
