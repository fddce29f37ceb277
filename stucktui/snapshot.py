"""Immutable snapshots: what one refresh learned about the box and the selected process.

Built by stucktui.collect in a worker, consumed by the UI and by report.py; never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stucktui.collect.panels import PanelData
    from stucktui.collect.socket_rows import SocketSummary
    from stucktui.diagnose.model import Finding
    from stucktui.diagnose.triage import TriageResult


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

    def by_pid(self) -> dict[int, ProcessRow]:
        return {r.pid: r for r in self.rows}


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a field could not be read: 'no permission', 'process gone', 'not available'."""

    reason: str

    def __str__(self) -> str:
        return self.reason


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
    """The selected process exited."""

    pid: int
    taken_at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One refresh: the list, and the detail of the selected process if one is open."""

    processes: ProcessListSnapshot | None
    detail: ProcessDetail | DetailGone | None
    selected_pid: int | None
    panels: PanelData | None = None  # the selected process's panels that were asked for
    # the box-wide Sockets view, or why it could not be built; None when not asked for
    box_sockets: SocketSummary | str | None = None
    findings: tuple[Finding, ...] | None = None  # of the selected process, most severe first
    triage: TriageResult | None = None  # the box's findings, when a triage ran this refresh
