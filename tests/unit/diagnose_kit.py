"""Builders of collected snapshots for the rule tests: the same frozen types the collectors
produce, filled in by hand with the facts each incident shows."""

from __future__ import annotations

import socket

from stucktui.collect.signals import signal_table
from stucktui.diagnose.subject import Subject
from stucktui.model.context import ChildProcess, Context, ForeignLock, PeerProcess
from stucktui.model.fdinfo import FdInfo
from stucktui.model.files import EpollWatch, FdRow, PipeEnd, PipeFill, PipeView, ProcessFiles, pipe_verdicts
from stucktui.model.locks import FileUser, LockEntry, LockRow, ProcessLocks
from stucktui.model.net import InetSocket
from stucktui.model.python import PyFrame, PyThread
from stucktui.model.signals import ParentDiff, SignalsSnapshot, ThreadMasks, mask_names
from stucktui.model.sockets import ProcessSockets, SocketRow
from stucktui.model.syscall import CallKind, SyscallLine
from stucktui.model.threads import FdArg, ThreadRow, ThreadsSnapshot, group_threads
from stucktui.procfs.status import parse_status
from stucktui.procfs.syscall import decode_call

PID = 4242
NR = {"write": 1, "read": 0, "accept4": 288, "epoll_wait": 232, "flock": 73, "wait4": 61, "futex": 202}
NR.update(
    {"clock_nanosleep": 230, "sendto": 44, "fcntl": 72, "pause": 34, "pselect6": 270, "rt_sigsuspend": 130}
)


def thread(
    tid: int,
    call: str | None,
    args: tuple[int, ...] = (0, 0, 0, 0, 0, 0),
    *,
    state: str = "S",
    targets: dict[int, str] | None = None,
    wchan: str | None = None,
    frames: tuple[tuple[str, str], ...] = (),
    **cpu: object,
) -> ThreadRow:
    """A thread blocked in `call` (x86_64 numbers) with raw `args`; None: running. `cpu` sets
    the CPU fields (cpu_percent, utime, stime, sys_percent, runnable_percent)."""
    if call is None:
        line, decoded, text, fd_args = SyscallLine(CallKind.RUNNING), None, "running", ()
    else:
        line = SyscallLine(CallKind.IN_SYSCALL, NR[call], (*args, 0, 0, 0, 0, 0, 0)[:6], 0, 0)
        decoded = decode_call(line, "x86_64")
        assert decoded is not None
        t = targets or {}
        text = decoded.text(t)
        fd_args = tuple(FdArg(fd, t.get(fd, "?")) for fd in decoded.fds)
    py = None
    if frames:
        py = PyThread(
            tid, tid, None, False, False, tuple(PyFrame(fn, f, f, i + 1) for i, (fn, f) in enumerate(frames))
        )
    row = ThreadRow(tid, "python3", state, None, line, decoded, text, fd_args, wchan, (), None, py)
    return row._replace(**cpu) if cpu else row


def threads(*rows: ThreadRow, pid: int = PID) -> ThreadsSnapshot:
    return ThreadsSnapshot(pid, "x86_64", tuple(rows), group_threads(tuple(rows)), 0.0)


def pipe_row(
    fd: int, mode: str, inode: int, holders: tuple[PipeEnd, ...], *, queued: int = 65536, pid: int = PID
) -> FdRow:
    peers = tuple(h for h in holders if not (h.pid == pid and h.fd == fd))
    no_reader, no_writer = pipe_verdicts(holders)
    view = PipeView(inode, mode, holders, peers, no_reader, no_writer, PipeFill(queued, 65536), False)
    return FdRow(fd, "pipe", f"pipe:[{inode}]", mode, (), 0, inode, None, None, view)


def file_row(fd: int, path: str, inode: int, *, locks: tuple[LockEntry, ...] = ()) -> FdRow:
    info = FdInfo(0, 0o2, 30, inode, locks=locks)
    return FdRow(fd, "file", path, "rw", (), 0, inode, info)


def epoll_row(fd: int, watches: tuple[EpollWatch, ...]) -> FdRow:
    return FdRow(fd, "epoll", "anon_inode:[eventpoll]", "rw", (), 0, 99, None, None, None, watches)


def watch(tfd: int, ino: int, state: str | None, events: tuple[str, ...] = ("IN",)) -> EpollWatch:
    return EpollWatch(tfd, 1, events, ino, tfd, "socket", f"socket:[{ino}]", False, state)


def files(*rows: FdRow, soft: int | None = 1024, pid: int = PID) -> ProcessFiles:
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    return ProcessFiles(pid, tuple(rows), tuple(kinds.items()), soft, 4096, (), 0.0)


def tcp(
    fd: int,
    inode: int,
    state: int,
    local: tuple[str, int],
    remote: tuple[str, int],
    recv_q: int = 0,
    send_q: int = 0,
) -> SocketRow:
    s = InetSocket(
        "tcp", socket.AF_INET, state, local[0], local[1], remote[0], remote[1], recv_q, send_q, 0, inode
    )
    return SocketRow(fd, inode, s, 1, "netlink")


def sockets(*rows: SocketRow, pid: int = PID) -> ProcessSockets:
    return ProcessSockets(pid, 1, "netlink", tuple(rows), (), (), (), 0.0)


def lock_row(
    role: str,
    inode: int,
    path: str,
    holders: tuple[FileUser, ...],
    *,
    waiters: tuple[int, ...] = (),
    listed: int = PID,
) -> LockRow:
    holder = holders[0].pid if holders else listed
    return LockRow(
        role, "FLOCK", "WRITE", 0, None, 254, 0, inode, path, 1, listed, holders, holder, waiters, (), (), (),
        request="WRITE 0-EOF" if role == "waiting" else None,
    )  # fmt: skip


def locks(*rows: LockRow, pid: int = PID) -> ProcessLocks:
    return ProcessLocks(pid, tuple(rows), (), 0.0)


def signals(
    *, pending: int = 0, shared: int = 0, blocked: int = 0, caught: int = 0, parent: ParentDiff | None = None,
    tids: tuple[int, ...] = (PID,),
) -> SignalsSnapshot:  # fmt: skip
    status = parse_status(
        f"Name:\tx\nPid:\t{PID}\nSigPnd:\t{pending:016x}\nShdPnd:\t{shared:016x}\nSigBlk:\t{blocked:016x}\n"
        f"SigIgn:\t0000000000000000\nSigCgt:\t{caught:016x}\n"
    )
    ts = tuple(ThreadMasks(t, "x", pending if t == PID else 0, blocked) for t in tids)
    return SignalsSnapshot(
        PID, pending, shared, blocked, 0, caught, None, ts, signal_table(status, ts), parent, ()
    )


def subject(**kw: object) -> Subject:
    base: dict[str, object] = {"pid": PID, "name": "app", "state": "S", "starttime": 100}
    base.update(kw)
    return Subject(**base)  # type: ignore[arg-type]


__all__ = [
    "ChildProcess",
    "Context",
    "FileUser",
    "ForeignLock",
    "LockEntry",
    "ParentDiff",
    "PeerProcess",
    "PipeEnd",
    "mask_names",
]
