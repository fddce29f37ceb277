"""Facts about other processes that one process's diagnosis needs.

The other ends of its blocked pipes and sends, locks others hold on files it has open, and
its children; with the pure helpers that find which of its fds those are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stucktui.model.files import ProcessFiles
from stucktui.model.net import TCP_LISTEN, InetSocket, TcpInfo, UnixSocket
from stucktui.model.sockets import ProcessSockets, SocketRow
from stucktui.model.threads import ThreadsSnapshot

if TYPE_CHECKING:
    from stucktui.model.waits import WaitGraph

# Calls that write into an fd: a thread blocked in one of them on a pipe waits for a reader.
WRITE_CALLS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "splice", "vmsplice", "tee"})


# Calls that send on a socket: blocked in one, a thread waits for the other end to read.
SEND_CALLS = WRITE_CALLS | frozenset({"sendto", "sendmsg", "sendmmsg", "sendfile", "sendfile64"})


@dataclass(frozen=True, slots=True)
class PeerProcess:
    """A process holding the other end of a pipe: its state and what its threads do."""

    pid: int
    name: str
    state: str  # main thread's proc(5) letter; '?' unreadable
    threads: ThreadsSnapshot | None  # None: unreadable (permission) or gone
    # bytes it read (rchar of /proc/PID/io) during a short window: > 0 means it still reads
    # something (a slow consumer is not a dead one); None: not measured or not permitted
    read_during: int | None = None
    window: float = 0.0  # seconds the read_during window lasted


@dataclass(frozen=True, slots=True)
class ForeignLock:
    """A lock that another process holds on a file this process has open through `fd`."""

    fd: int
    path: str
    type: str  # FLOCK, POSIX, OFD
    mode: str
    holder_pid: int  # as /proc/locks prints it: -1 for OFD, maybe a creator that exited
    holder_name: str


@dataclass(frozen=True, slots=True)
class ChildProcess:
    pid: int
    name: str
    state: str
    starttime: int


@dataclass(frozen=True, slots=True)
class SendPeer:
    """The other end of a stream socket that threads are blocked sending on (or reading
    from, for the wait chains)."""

    fd: int  # the sender's socket fd
    on_box: bool | None  # another socket of this box; False: elsewhere; None: not known
    inode: int | None = None
    recv_q: int | None = None  # bytes it has received and not read
    pid: int | None = None  # the first process found holding it
    name: str | None = None
    peer_fd: int | None = None
    note: str | None = None  # why it is not known
    # TCP: the sender's zero-window probe timer runs (the receiver advertises no room); False:
    # data still flows, the receiver is only slower than the sender; None: unix, or not known
    zero_window: bool | None = None
    retransmits: int = 0  # TCP: retransmission timeouts in a row with no ACK (the peer is gone)
    info: TcpInfo | None = None  # TCP: this socket's traffic (how long the peer has been silent)


@dataclass(frozen=True, slots=True)
class Context:
    """Each field is empty (or None) when it was not collected."""

    peers: Mapping[int, PeerProcess] = field(default_factory=dict)
    foreign_locks: tuple[ForeignLock, ...] = ()
    children: tuple[ChildProcess, ...] | None = None  # None: not known
    send_peers: Mapping[int, SendPeer] = field(default_factory=dict)  # by the sender's fd
    # the waits followed from this process across others (stucktui.model.waits); None: not
    # gathered (no thread of it blocked on something a chain follows)
    waits: WaitGraph | None = None


def blocked_pipe_inodes(threads: ThreadsSnapshot | None, files: ProcessFiles | None) -> dict[int, int]:
    """fd -> pipe inode for every pipe or FIFO fd a thread of the process is blocked writing to."""
    if threads is None or files is None:
        return {}
    pipe_fds = {r.fd: r.inode for r in files.rows if r.kind in ("pipe", "fifo") and r.inode is not None}
    out: dict[int, int] = {}
    for t in threads.rows:
        if t.state not in "SD" or t.call is None or t.call.name not in WRITE_CALLS:
            continue
        for a in t.fd_args:
            ino = pipe_fds.get(a.fd)
            if ino is not None:
                out[a.fd] = ino
    return out


_STREAMS = ("stream", "seqpacket")


def connected_stream(r: SocketRow) -> bool:
    """A connected stream socket: TCP other than a listener, a connected unix stream or
    seqpacket socket."""
    s = r.sock
    if isinstance(s, InetSocket):
        return s.proto == "tcp" and s.state != TCP_LISTEN
    return isinstance(s, UnixSocket) and bool(s.peer_inode) and s.type_name in _STREAMS


def blocked_socket_sends(threads: ThreadsSnapshot | None, sockets: ProcessSockets | None) -> dict[int, int]:
    """fd -> socket inode for every connected stream socket (TCP, unix stream) a thread of the
    process is blocked sending on. A send blocks only while the socket's send buffer is full."""
    if threads is None or sockets is None:
        return {}
    sent = {  # the fd sent on; sendfile's second fd is the file read from
        a.fd
        for t in threads.rows
        if t.state in "SD" and t.call is not None and t.call.name in SEND_CALLS
        for a in t.fd_args[:1]
    }
    if not sent:  # no thread sending: a pool's 20,000 sockets are not gone through
        return {}
    return {r.fd: r.inode for r in sockets.rows if r.fd in sent and connected_stream(r)}


def pipe_peer_pids(pid: int, files: ProcessFiles, fds: Iterable[int]) -> list[int]:
    """Other processes holding a read end of the pipes on `fds`."""
    want = set(fds)
    out: list[int] = []
    for r in files.rows:
        if r.fd in want and r.pipe is not None:
            out.extend(h.pid for h in r.pipe.holders if h.pid != pid and h.end in ("r", "rw"))
    return out


def send_peer_pids(pid: int, ends: Mapping[int, SendPeer]) -> list[int]:
    """Other processes at the other end of blocked sends: their state and threads are looked at."""
    return [e.pid for e in ends.values() if e.pid is not None and e.pid != pid]
