"""Wait chains: what each blocked thread waits for, who could end that wait, and the chain of
waits followed across processes to its end (the root cause). Pure data and the pure helpers
that tell a thread's wait from its syscall; stucktui.inspection gathers the graph and
stucktui.diagnose.chains follows it.

A wait (an edge) goes from some threads of one process to the parties that could end it: the
holders of a pipe's other end, a child, a lock's holder, a tracer. A chain ends where nobody
is waiting any more (a stopped, traced, running or idle process, the kernel), where it comes
back on itself (a cycle: a deadlock), or where the party is missing.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Final

from stucktui.model.context import SEND_CALLS, WRITE_CALLS
from stucktui.model.mounts import KernelWait
from stucktui.model.threads import ThreadRow, ThreadsSnapshot

# Kinds of wait: the thread is blocked ...
PIPE_WRITE: Final = "pipe_write"  # writing to a full pipe or FIFO: waits for a reader
PIPE_READ: Final = "pipe_read"  # reading an empty pipe or FIFO: waits for a writer
CHILD: Final = "child"  # in wait4/waitid: waits for a child to exit
LOCK: Final = "lock"  # in flock/fcntl: waits for a file lock's holder
SOCKET_SEND: Final = "socket_send"  # sending on a socket whose receiver does not read
CONNECT: Final = "connect"  # in connect(): waits for a listener to take the connection
FUTEX: Final = "futex"  # a lock private to the process: its owner thread, or none left to release it
SIGNAL: Final = "signal"  # in sigwait, pause or sigsuspend: waits for a signal
# waits inside the process that no other process is a party to: when no thread of it is named,
# `certain` says that nothing can end them, and `why` says why (or who may)
OWN_WAITS: Final = frozenset({FUTEX, SIGNAL})
SOCKET_RECV: Final = "socket_recv"  # reading a connected socket with nothing queued: waits for the peer
# asleep in the kernel on a FUSE mount (D, or in the request): waits for the daemon to answer
FUSE: Final = "fuse"
UNINTERRUPTIBLE: Final = "uninterruptible"  # in D on anything else: a device, a mount, the kernel

# How a chain ends
CYCLE: Final = "cycle"  # the chain came back to a process already in it: a deadlock
STOPPED: Final = "stopped"  # state T: job control stopped it; SIGCONT resumes it
TRACED: Final = "traced"  # state t: a tracer holds it; the tracer must continue or detach
MISSING: Final = "missing"  # nobody holds the other end, or the awaited process is gone
KERNEL: Final = "kernel"  # uninterruptible sleep (D): the kernel, a device or a mount
ZOMBIE: Final = "zombie"  # exited, not reaped
IDLE: Final = "idle"  # alive and asleep in something that is not a wait stucktui follows
RUNNING: Final = "running"  # on a CPU: busy, perhaps slow
REMOTE: Final = "remote"  # the party is off this box
UNREADABLE: Final = "unreadable"  # its threads could not be read (another user's, no root)
UNKNOWN: Final = "unknown"  # not looked at (the budget), or the wait is not understood
DEPTH: Final = "depth"  # the chain goes on past the depth stucktui follows
# every thread of the process waits, without a timeout, on a lock private to it (a futex): no
# thread is left to release it (a lock inherited locked across fork, or taken twice)
UNRELEASABLE: Final = "unreleasable"

# Ends that cannot end by themselves: the chain is stuck until someone acts.
STUCK_ENDS: Final = frozenset({CYCLE, STOPPED, TRACED, MISSING, ZOMBIE, UNRELEASABLE})
# Most telling first, when a process waits on several parties at once.
END_RANK: Final = {
    k: i
    for i, k in enumerate(
        (
            CYCLE,
            TRACED,
            STOPPED,
            UNRELEASABLE,
            MISSING,
            ZOMBIE,
            KERNEL,
            IDLE,
            REMOTE,
            RUNNING,
            UNREADABLE,
            UNKNOWN,
            DEPTH,
        )
    )
}

READ_CALLS: Final = frozenset(
    {"read", "readv", "pread64", "preadv", "preadv2", "splice", "recvfrom", "recvmsg"}
)
WAIT_CALLS: Final = frozenset({"wait4", "waitid"})
LOCK_CALLS: Final = frozenset({"flock", "fcntl", "fcntl64"})
# fcntl commands that block until the lock is granted (fcntl(2)); flock blocks unless LOCK_NB
BLOCKING_LOCK_CMDS: Final = frozenset({"F_SETLKW", "F_OFD_SETLKW", "F_SETLKW64"})
# Tracers that pass job-control stops on, so SIGCONT resumes a process stopped under them
# (docs/kernel-notes.md §A.4); any other tracer (gdb, a debugger, a tool of its own) holds it in
# a ptrace stop that SIGCONT does not end: only the tracer's continue, detach or exit does.
PASS_STOPS_ON: Final = frozenset({"strace", "ltrace"})


@dataclass(frozen=True, slots=True)
class Party:
    """Who could end a wait. `pid` None: nobody on this box (a missing party, or `endpoint`)."""

    pid: int | None
    name: str
    role: str  # 'holds the read end (fd 3)', 'child', 'lock holder', 'tracer'
    endpoint: str | None = None  # a peer off this box
    tid: int | None = None  # a thread of `pid` (the owner of a mutex): the chain follows its wait


@dataclass(frozen=True, slots=True)
class Wait:
    """Threads of one process blocked on one object, and the parties that could end it."""

    kind: str
    tids: tuple[int, ...]
    what: str  # 'write to fd 1 (pipe:[123])', 'wait4(pid 4321)'
    fd: int | None
    parties: tuple[Party, ...]
    # only these parties can end it (a cycle through certain edges is a deadlock); False for a
    # wait some other process or a timeout might end
    certain: bool = True
    _: KW_ONLY  # what follows is named at every call: several kinds of wait add their own facts
    # a socket read: seconds since the peer last sent a byte (tcp_info), and whether this side
    # spoke last (it sent after the peer's last byte: a request waits for its reply)
    silent_s: float | None = None
    asked: bool = False
    # the facts that show the wait where the syscall does not (a poller's stack, its sleep's caller)
    evidence: tuple[str, ...] = ()
    why: str = ""  # why nobody can end it, or who may (a futex or signal wait with no party)
    kernel: KernelWait | None = None  # FUSE, UNINTERRUPTIBLE: the mount, the call, the stack


@dataclass(frozen=True, slots=True)
class ProcessWaits:
    """One process of the graph: its state and its waits."""

    pid: int
    name: str
    state: str  # proc(5) letter of the main thread
    command: str  # its command line, for a root the user must act on
    waits: tuple[Wait, ...] = ()
    tracer_pid: int = 0
    readable: bool = True  # False: its threads could not be read
    doing: str = ""  # what its threads do, in brief, when it waits on nothing stucktui follows
    wchan: str | None = None  # where its main thread sleeps in the kernel
    # every thread is in one of `waits`: no other thread of it can end a wait the chain passes
    # through (read the pipe, release the lock); a chain through a process with other threads
    # is stuck only if those could not help either, which stucktui cannot tell
    all_blocked: bool = False
    owners: tuple[ThreadDoing, ...] = ()  # the threads of it that parties name (mutex owners)


@dataclass(frozen=True, slots=True)
class ThreadDoing:
    """A thread a chain may end at: its state and what it does."""

    tid: int
    state: str
    doing: str  # its call, 'read(0 -> /dev/pts/1)'


@dataclass(frozen=True, slots=True)
class WaitGraph:
    """The processes reached from `start` by following waits, as far as the budget went."""

    start: int
    nodes: Mapping[int, ProcessWaits] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of a chain: threads of a process waiting on an object."""

    pid: int
    name: str
    tids: tuple[int, ...]
    wait: str  # the kind
    obj: str  # what it waits on
    detail: str  # who could end it
    fd: int | None = None
    silent_s: float | None = None  # a socket read: seconds since the peer last sent a byte

    def to_json(self) -> dict[str, object]:
        tid = self.tids[0] if self.tids else None
        return {"pid": self.pid, "name": self.name, "tid": tid, "tids": list(self.tids), "wait": self.wait,
                "object": self.obj, "detail": self.detail, "fd": self.fd,
                "peer_silent_s": self.silent_s}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChainEnd:
    kind: str
    pid: int | None
    name: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "pid": self.pid, "name": self.name, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class WaitChain:
    """Waits from the threads `tids` of the first hop's process to the end."""

    hops: tuple[Hop, ...]
    end: ChainEnd

    @property
    def tids(self) -> tuple[int, ...]:
        return self.hops[0].tids if self.hops else ()

    @property
    def stuck(self) -> bool:
        """It cannot end by itself: someone must act on the end."""
        return self.end.kind in STUCK_ENDS

    @property
    def processes(self) -> tuple[int, ...]:
        """Every process on the chain, the end included, in order."""
        pids = [h.pid for h in self.hops]
        if self.end.pid is not None and self.end.pid not in pids:
            pids.append(self.end.pid)
        return tuple(dict.fromkeys(pids))

    def to_json(self) -> dict[str, object]:
        """An item of `report --format json` `wait_chains` (keys are a contract)."""
        return {"tids": list(self.tids), "hops": [h.to_json() for h in self.hops], "end": self.end.to_json()}


def party_names(parties: tuple[Party, ...]) -> str:
    """'pid 9 (postgres)', or the endpoint for a party off this box ('10.0.0.5:5432')."""
    return "; ".join(
        f"pid {p.pid} ({p.name})" if p.pid is not None else p.role.removeprefix("the peer ") for p in parties
    )


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def awaited_children(t: ThreadRow) -> tuple[str, int] | None:
    """What a thread in wait4/waitid waits for: ('pid', N), ('any', 0), ('group', PGID) or
    ('pidfd', FD); None when it is not in one (wait(2), waitid(2))."""
    if t.call is None or t.call.name not in WAIT_CALLS or t.syscall is None or len(t.syscall.args) < 2:
        return None
    a = t.syscall.args
    if t.call.name == "wait4":  # wait4(pid, ...): -1 any child, 0 my group, < -1 that group
        pid = _int32(a[0])
        if pid > 0:
            return ("pid", pid)
        return ("any", 0) if pid == -1 else ("group", -pid if pid < -1 else 0)
    idtype, ident = a[0], _int32(a[1])  # waitid(idtype, id, ...)
    if idtype == 1:
        return ("pid", ident)
    if idtype == 3:
        return ("pidfd", ident)
    return ("group", ident) if idtype == 2 else ("any", 0)


_FUTEX_PRIVATE = 128  # FUTEX_PRIVATE_FLAG (include/uapi/linux/futex.h)
_FUTEX_CLOCK_REALTIME = 256
_FUTEX_WAITS = frozenset({0, 9, 11})  # FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI


def private_futex_forever(t: ThreadRow) -> bool:
    """A thread in futex(2) waiting on a lock private to its process, with no timeout (the
    timeout pointer, argument 4, is NULL): only another thread of it, or a signal, wakes it.
    A shared futex (a semaphore in shared memory, as PostgreSQL's) may be woken by another
    process, so it is not one."""
    if t.state not in "SD" or t.call is None or t.call.name != "futex" or t.syscall is None:
        return False
    a = t.syscall.args
    op = a[1] & 0xFFFFFFFF
    base = op & ~(_FUTEX_PRIVATE | _FUTEX_CLOCK_REALTIME)
    return bool(op & _FUTEX_PRIVATE) and base in _FUTEX_WAITS and a[3] == 0


def blocking_lock_call(t: ThreadRow) -> bool:
    """A thread blocked taking a file lock (flock without LOCK_NB, fcntl F_SETLKW)."""
    if t.call is None or t.call.name not in LOCK_CALLS or t.state not in "SD":
        return False
    if t.call.name == "flock":
        return not any("LOCK_NB" in x for x in t.call.extra)
    return any(x in BLOCKING_LOCK_CMDS for x in t.call.extra)


def fd_waits(
    threads: ThreadsSnapshot,
    fds: Container[int],
    writes: tuple[frozenset[str], str],
    reads: tuple[frozenset[str], str],
) -> dict[tuple[str, int], list[int]]:
    """(kind, fd) -> the tids blocked on each fd of `fds`, in a call of `writes` (calls, kind)
    or of `reads`: e.g. (WRITE_CALLS, PIPE_WRITE) and (READ_CALLS, PIPE_READ) for pipes."""
    out: dict[tuple[str, int], list[int]] = {}
    for t in threads.rows:
        if t.state not in "SD" or t.call is None:
            continue
        name = t.call.name
        kind = writes[1] if name in writes[0] else reads[1] if name in reads[0] else None
        if kind is None:
            continue
        for a in t.fd_args[:1]:  # the fd written or read (splice's first; sendfile's second is a file)
            if a.fd in fds:
                out.setdefault((kind, a.fd), []).append(t.tid)
    return out


PIPE_CALLS: Final = ((WRITE_CALLS, PIPE_WRITE), (READ_CALLS, PIPE_READ))
SOCKET_CALLS: Final = ((SEND_CALLS, SOCKET_SEND), (READ_CALLS, SOCKET_RECV))


def chain_text(c: WaitChain) -> str:
    """'pid 10 (api) threads 10, 11: write to fd 1 (pipe:[5]) -> pid 11 (tee): read from fd 0
    -> end stopped: pid 12 (sleep) stopped (state T)'."""
    parts = []
    for h in c.hops:
        tids = ", ".join(map(str, h.tids[:6])) + (", ..." if len(h.tids) > 6 else "")
        parts.append(f"pid {h.pid} ({h.name}) threads {tids}: {h.obj}")
    who = f"pid {c.end.pid} ({c.end.name}) " if c.end.pid is not None else ""
    parts.append(f"end {c.end.kind}: {who}{c.end.detail}")
    return " -> ".join(parts)
