"""One process as the list and the process view show it: identity, state, resources and
ancestry; and why a field could not be read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stucktui.model.text import clock_time

if TYPE_CHECKING:
    from stucktui.model.meters import BoxMeters

# State letters of fs/proc/array.c task_state_array, as documented in proc(5).
STATE_NAMES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk sleep (uninterruptible)",
    "T": "stopped",
    "t": "tracing stop",
    "X": "dead",
    "Z": "zombie",
    "P": "parked",
    "I": "idle",
    "W": "paging",
    "x": "dead",
    "K": "wakekill",
}


@dataclass(frozen=True, slots=True)
class ProcessRow:
    """One line of the process list."""

    pid: int
    ppid: int
    uid: int
    user: str
    state: str  # one letter, proc(5)
    name: str  # comm
    cmdline: tuple[str, ...]
    cpu_percent: float | None  # None on the first sample of a process; 100 = one full core
    rss_bytes: int
    num_threads: int
    num_fds: int | None  # None: not permitted to list /proc/PID/fd
    start_time: float  # seconds since the epoch
    starttime_ticks: int  # identity together with pid
    is_kernel_thread: bool
    close_wait: int | None = None  # CLOSE_WAIT sockets held; None: fds not ours to list
    finding: str | None = None  # the most severe finding of the last triage: critical, warning, info
    # its fds, exe, syscalls and stacks may be read (the kernel's ptrace read check passes):
    # False for another user's process without root, or a non-dumpable one
    readable: bool = True

    @property
    def command(self) -> str:
        """What ps shows: the argv joined, or [comm] when there is none (kernel threads,
        zombies)."""
        return " ".join(self.cmdline) if self.cmdline else f"[{self.name}]"


@dataclass(frozen=True, slots=True)
class ProcessListSnapshot:
    taken_at: float  # time.time() when the scan started
    duration: float  # seconds the scan took
    rows: tuple[ProcessRow, ...]
    hidden: int = 0  # pids listed but unreadable (hidepid=noaccess)
    my_uid: int = 0
    box_tasks: int | None = None  # tasks (threads) on the whole box: /proc/loadavg, which hidepid leaves
    cpu_window: float | None = None  # seconds the rows' CPU% was measured over; None: no CPU%
    meters: BoxMeters | None = None  # the box's CPU, memory, load and tasks (model/meters.py)

    def by_pid(self) -> dict[int, ProcessRow]:
        return {r.pid: r for r in self.rows}

    @property
    def visibility(self) -> Visibility:
        return Visibility(
            processes=len(self.rows),
            unreadable=sum(1 for r in self.rows if not r.readable and not r.is_kernel_thread),
            hidden=self.hidden,
            box_tasks=self.box_tasks,
            visible_tasks=sum(r.num_threads for r in self.rows),
            as_root=self.my_uid == 0,
        )


def _processes(n: int) -> str:
    return f"{n:,} process" if n == 1 else f"{n:,} processes"


# Threads that come and go during one scan of /proc: fewer visible than this far below the
# box's count is not taken for processes hidden from stucktui.
_TASKS_SLACK = 0.05


@dataclass(frozen=True, slots=True)
class Visibility:
    """How much of the box stucktui could see: what an empty list of findings is worth."""

    processes: int  # processes listed
    unreadable: int  # listed, but their fds, exe, syscalls and stacks refused (ptrace read check)
    hidden: int  # listed, but not even their stat readable (/proc's hidepid=noaccess)
    box_tasks: int | None  # threads on the whole box (/proc/loadavg), None when unknown
    visible_tasks: int  # threads of the processes listed
    as_root: bool

    @property
    def unseen_tasks(self) -> int:
        """Threads on the box not in any listed process (hidepid=invisible, other pid
        namespaces), when clearly more than the churn of one scan; else 0."""
        if self.box_tasks is None:
            return 0
        missing = self.box_tasks - self.visible_tasks
        return missing if missing > max(10, _TASKS_SLACK * self.box_tasks) else 0

    def lines(self) -> list[str]:
        """What was not seen and what that hides, one sentence each (none when all was)."""
        out = []
        if self.unreadable:
            n = _processes(self.unreadable)
            if self.as_root:
                out.append(
                    f"{n} not readable even as root: fds, sockets, threads not seen (no "
                    "CAP_SYS_PTRACE, as in a container, or a security module)"
                )
            else:
                out.append(f"{n} of other users: fds, sockets, threads not readable; run as root")
        if self.hidden:
            out.append(
                f"{_processes(self.hidden)} listed but hidden by /proc (hidepid): nothing of them read"
            )
        if self.unseen_tasks:
            out.append(
                f"{self.box_tasks:,} tasks (threads) on this box, {self.visible_tasks:,} visible: /proc "
                "hides the rest (hidepid) or they run in other pid namespaces"
            )
        return out


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why something could not be read: a field of the detail, a whole panel, the fd table, the
    box's socket tables. The one encoding of "could not read" everywhere (a value is either
    the thing or this). `reason` is short and stable ('no permission', 'not available',
    'process gone'); `detail` says more (the kernel's rule, the error)."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason

    @property
    def denied(self) -> bool:
        """Refused by the kernel's permission checks (not gone, not missing)."""
        return self.reason.startswith("no permission")


NO_PERMISSION = Unavailable("no permission")
NOT_AVAILABLE = Unavailable("not available")


@dataclass(frozen=True, slots=True)
class Ancestor:
    pid: int
    name: str


@dataclass(frozen=True, slots=True)
class ProcessDetail:
    """The facts of the detail view and of `stucktui report`."""

    pid: int
    ppid: int
    name: str
    cmdline: tuple[str, ...]
    exe: str | Unavailable
    cwd: str | Unavailable
    uid: int
    user: str
    state: str
    state_name: str
    start_time: float
    starttime_ticks: int
    cpu_percent: float | None
    rss_bytes: int
    num_threads: int
    num_fds: int | Unavailable
    fd_limit: tuple[int | None, int | None] | Unavailable  # soft, hard; None = unlimited
    parents: tuple[Ancestor, ...]  # parent first, up to pid 1 (or the namespace's top)
    cgroup: str | Unavailable  # the unified-hierarchy path, or the first one
    container_hint: str | None
    nspid: tuple[int, ...]
    tracer_pid: int
    is_kernel_thread: bool
    taken_at: float
    notes: tuple[str, ...] = field(default=())  # what could not be seen and why

    @property
    def is_zombie(self) -> bool:
        return self.state == "Z"


@dataclass(frozen=True, slots=True)
class DetailGone:
    """The selected process exited: the refresh at `taken_at` found it gone, or found its pid
    naming another process (a start time that changed). Nothing of that other process is
    carried but what it takes to offer opening it."""

    pid: int
    taken_at: float
    starttime: int | None = None  # the identity of the process that was shown, when known
    successor: int | None = None  # start time (ticks) of the process that has the pid now
    successor_name: str = ""  # its name (comm)


def exited_line(pid: int, gone_at: float, last_seen: float | None) -> str:
    """'pid 123 exited at 14:03:27 (last seen 14:03:25)': when a refresh found it gone, and
    the time of the last facts shown."""
    seen = f" (last seen {clock_time(last_seen)})" if last_seen is not None else ""
    return f"pid {pid} exited at {clock_time(gone_at)}{seen}"
