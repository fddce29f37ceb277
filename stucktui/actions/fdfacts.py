"""What one fd of the target is, and what decides which close methods can work on it.

Gathered once per confirmation (the UI calls this from a worker thread): the link, the socket
or pipe behind it, other fds of the same file, epoll sets watching it, whether the binary is
dynamic (gdb needs libc's `close`), whether gdb could attach, and a pidfd_getfd probe that
proves permission and that the fd is still the file the user picked.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace

from stucktui.actions.denial import no_permission
from stucktui.actions.target import Target, TargetError
from stucktui.collect.files import collect_files
from stucktui.collect.sockets import SocketCollector
from stucktui.model.files import FdRow, pipe_summary
from stucktui.model.net import InetSocket
from stucktui.model.sockets import SocketRow
from stucktui.procfs import fdtarget as ft
from stucktui.procfs import pidfd as pf
from stucktui.procfs.elf import auxv_interpreter
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.status import parse_status
from stucktui.procfs.statx import statx_cached
from stucktui.tools.gdb import call_canary


@dataclass(frozen=True, slots=True)
class FdFacts:
    """Everything the close methods depend on, gathered from /proc and one probe."""

    pid: int
    fd: int
    link: str | None  # /proc/PID/fd/N now; None: not open (or unreadable, see denied)
    kind: str | None  # fdtarget kind: socket, pipe, file...
    inode: int | None
    description: str  # what the fd is, in words
    socket: SocketRow | None = None
    other_fds: tuple[int, ...] = ()  # the same file open under other numbers in this process
    watched_by: tuple[int, ...] = ()  # epoll fds of this process watching it
    # every registration of this file in an epoll set of the process: (epoll fd, registered
    # fd number), the key epoll_ctl needs; the number may be stale (dup'ed, then closed)
    epoll_regs: tuple[tuple[int, int], ...] = ()
    # some registration is level-triggered (neither ET nor ONESHOT): epoll reports a closed
    # socket on every wait, the busy loop of docs/incidents.md §4; an edge-triggered one reports it once
    level_triggered: bool = False
    null_fd: int | None = None  # an fd of the target open read-write on /dev/null
    threads: int = 1
    kernel_thread: bool = False
    tracer_pid: int = 0
    dynamic: bool | None = None  # a dynamic loader was loaded (auxv AT_BASE); None: unreadable
    denied: bool = False  # the fd table or pidfd_getfd refused us
    probe: str | None = None  # pidfd_getfd probe failure (procfs.pidfd reason), None when fine
    gone: str | None = None  # the target exited: why, in words
    gdb: str | None = None  # path of gdb, None when not installed
    gdb_canary: str | None = None  # why gdb cannot call functions on this machine

    @property
    def socket_state(self) -> str | None:
        return self.socket.state if self.socket is not None and self.socket.sock is not None else None


def _describe_socket(row: SocketRow | None, inode: int | None) -> str:
    if row is not None and row.closed_tcp:
        return (
            f"socket:[{inode}] {row.protocol}, state CLOSE (reset or shut down: in no table, remote unknown)"
        )
    if row is None or row.sock is None:
        kind = f"{row.protocol}, " if row is not None and row.protocol else ""
        return f"socket:[{inode}] ({kind}in no socket table read here: netlink, packet or raw)"
    s = row.sock
    if isinstance(s, InetSocket):
        text = f"{row.proto} {row.local} -> {row.remote} {row.state}, Recv-Q {s.recv_q}, Send-Q {s.send_q}"
        return text + (f" ({row.service})" if row.service else "")
    peer = ""
    if row.peer is not None:
        peer = f", peer held by pid {row.peer.pid} ({row.peer.name}) fd {row.peer.fd}"
    elif row.peer_path:
        peer = f", peer {row.peer_path}"
    return f"unix {s.type_name} {s.path or '(unbound)'} {row.state}{peer}"


def _describe_pipe(row: FdRow) -> str:
    p = row.pipe
    if p is None:
        return f"{row.target} ({row.mode or '?'} end)"
    if p.peers:
        others = ", ".join(f"pid {h.pid} ({h.name}) fd {h.fd}" for h in p.peers[:4])
        others += f" and {len(p.peers) - 4} more" if len(p.peers) > 4 else ""
    else:
        others = "nobody"
    end = {"r": "read", "w": "write"}.get(p.end, "read-write")
    return f"{row.target}, {end} end; other end held by {others}; {pipe_summary(p)}"


def probe_fd(target: Target, fd: int, inode: int | None) -> tuple[str | None, bool | None]:
    """(failure reason, is a socket) from a pidfd_getfd copy of the fd, closed at once and
    never read: proves permission, and that fd N is still the file we described."""
    try:
        with target.pidfd() as pidfd:
            dup = pf.pidfd_getfd(pidfd, fd)
    except OSError as exc:
        return pf.failure_reason(exc), None
    except TargetError as exc:  # the handle was closed meanwhile
        return str(exc), None
    try:
        st = statx_cached(dup, "")  # cached attributes: a fstat of a FUSE file asks its daemon
    except OSError as exc:
        return pf.failure_reason(exc), None
    finally:
        os.close(dup)
    if inode is not None and st.st_ino != inode:
        return pf.CHANGED, None
    return None, stat.S_ISSOCK(st.st_mode)


def gather_fd_facts(
    target: Target,
    fd: int,
    *,
    gdb: str | None = "",
    canary: Callable[[str], str | None] = call_canary,
) -> FdFacts:
    """Read everything about fd `fd` of the target. Never raises for a vanished process.
    gdb "" looks gdb up on PATH; None means no gdb."""
    gdb_path = shutil.which("gdb") if gdb == "" else gdb
    base = FdFacts(target.pid, fd, None, None, None, "", gdb=gdb_path, kernel_thread=target.kernel_thread)
    if (why := target.check()) is not None:
        return replace(base, gone=why, description=why)
    d = target.piddir
    try:
        link = d.readlink(f"fd/{fd}")
    except FileNotFoundError:
        return replace(base, description=f"fd {fd} is not open")
    except AccessDenied:
        return replace(base, denied=True, description=no_permission(target.pid, "read the fds"))
    except (ProcessGone, ValueError):
        return replace(base, gone=f"process {target.pid} has exited", description="process gone")
    try:
        status = parse_status(d.read_text("status"))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        status = None
    socket_row, states = None, {}
    if link.startswith("socket:["):
        try:
            ps = SocketCollector().process_sockets(target.pid, piddir=d)
            socket_row = next((r for r in ps.rows if r.fd == fd), None)
            states = {r.inode: r.state for r in ps.rows if r.state}
        except (ProcessGone, AccessDenied, OSError, ValueError):
            pass
    rows: tuple[FdRow, ...] = ()
    try:
        rows = collect_files(ProcRoot(), target.pid, piddir=d, socket_states=states).rows
    except (ProcessGone, AccessDenied, OSError, ValueError):
        pass
    row = next((r for r in rows if r.fd == fd), None)
    kind = row.kind if row is not None else ft.classify(link)
    inode = row.inode if row is not None else ft.bracket_inode(link)
    if kind == ft.SOCKET:
        description = _describe_socket(socket_row, inode)
    elif row is not None and kind in (ft.PIPE, ft.FIFO):
        description = _describe_pipe(row)
    else:
        description = f"{kind} {link}"
    same = tuple(r.fd for r in rows if r.fd != fd and r.inode == inode and r.target == link)
    watched = tuple(r.fd for r in rows for w in r.epoll if w.fd == fd and not w.stale)
    regs = tuple((r.fd, w.tfd) for r in rows for w in r.epoll if w.fd == fd)
    level = any(not {"ET", "ONESHOT"} & set(w.event_names) for r in rows for w in r.epoll if w.fd == fd)
    null_fd = next((r.fd for r in rows if r.target == "/dev/null" and r.mode == "rw" and r.fd != fd), None)
    try:
        # the auxiliary vector, not the binary, which may sit on a hung mount
        dynamic = auxv_interpreter(d.read_bytes("auxv"))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        dynamic = None
    probe, is_socket = probe_fd(target, fd, inode)
    if is_socket is not None and is_socket != (kind == ft.SOCKET):
        kind = ft.SOCKET if is_socket else kind
    return FdFacts(
        pid=target.pid,
        fd=fd,
        link=link,
        kind=kind,
        inode=inode,
        description=description,
        socket=socket_row,
        other_fds=same,
        watched_by=watched,
        epoll_regs=regs,
        level_triggered=level,
        null_fd=null_fd,
        threads=status.threads if status else 1,
        kernel_thread=target.kernel_thread,
        tracer_pid=status.tracer_pid if status else 0,
        dynamic=dynamic,
        denied=probe == pf.NOT_PERMITTED,
        probe=probe,
        gdb=gdb_path,
        gdb_canary=canary(gdb_path) if gdb_path and probe is None else None,
    )
