"""What a rule reads (Subject) and what it returns (Finding): plain frozen data, no /proc access.

Strings in a Finding are raw: process names, paths and peers come from whoever started the
process, so every renderer escapes them (stucktui.textsafe), exactly as it does the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from stucktui.collect.context import Context
from stucktui.collect.files import FdRow, ProcessFiles
from stucktui.collect.locks import ProcessLocks
from stucktui.collect.signals import SignalsSnapshot
from stucktui.collect.socket_rows import ProcessSockets
from stucktui.collect.threads import ThreadRow, ThreadsSnapshot
from stucktui.listing import human_age

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class Finding:
    """One diagnosis: a sentence naming the concrete process, threads, fd, peer, signal or
    file; the facts it rests on; what to do next, including the stucktui key that fits."""

    id: str  # the rule, e.g. 'pipe-writers-blocked'
    severity: Severity
    pid: int
    name: str  # comm of the process
    summary: str
    evidence: tuple[str, ...]
    next_steps: tuple[str, ...]
    panel: str | None = None  # where the evidence is: threads, sockets, files, locks, signals
    fds: tuple[int, ...] = ()
    tids: tuple[int, ...] = ()
    starttime: int | None = None  # clock ticks after boot: (pid, starttime) is the identity

    @property
    def rank(self) -> int:
        """0 for critical, 1 warning, 2 info: sorts most severe first."""
        return _RANK[self.severity]

    def to_json(self) -> dict[str, object]:
        """The `findings` items of `stucktui report` (keys are a contract)."""
        return {
            "id": self.id,
            "severity": self.severity,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "next_steps": list(self.next_steps),
        }


# Within one severity and process, causes before the symptoms they produce: blocked writers
# leave requests unread (close-wait-unread) and workers busy (workers-all-blocked).
_CAUSE_FIRST = {
    rule: i
    for i, rule in enumerate(
        (
            "pipe-writers-blocked",
            "socket-send-blocked",
            "lock-self-wait",
            "epoll-spin",
            "signal-blocked-pending",
            "lock-wait",
            "uninterruptible",
            "workers-all-blocked",
            "listen-backlog-full",
            "accept-queue-abandoned",
            "close-wait-unread",
            "close-wait-unanswered",
            "close-wait-leak",
            "fd-exhaustion",
            "zombie-children",
        )
    )
}


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first; within a severity, the process with the most fds and threads
    involved first (a box-wide list puts the 4,000-connection pile-up above a lone socket),
    each process's findings together, causes before symptoms."""
    size: dict[tuple[int, int], int] = {}
    for f in findings:
        key = (f.rank, f.pid)
        size[key] = max(size.get(key, 0), len(f.fds) + len(f.tids))
    last = len(_CAUSE_FIRST)
    return sorted(
        findings,
        key=lambda f: (
            f.rank,
            -size[(f.rank, f.pid)],
            f.pid,
            _CAUSE_FIRST.get(f.id, last),
            f.id,
            f.fds,
            f.tids,
        ),
    )


def worst(findings: list[Finding] | tuple[Finding, ...]) -> Severity | None:
    """The most severe severity of a process's findings (the process list's column)."""
    return min((f.severity for f in findings), key=_RANK.__getitem__, default=None)


@dataclass(frozen=True, slots=True)
class Ages:
    """How long stucktui has seen each tracked thing, in seconds, by kind ('close_wait' socket
    inodes, 'dstate' tids, 'zombie' (pid, starttime), 'stuck_signal' numbers, 'lock_wait' lock
    ids, 'pipe_write' (fd, pipe inode) written to by blocked threads). Empty without a
    History: one-shot callers (reports) cannot tell age."""

    by_kind: Mapping[str, Mapping[object, float]] = field(default_factory=dict)
    tracked: bool = False  # a History was given: an absent key means "new", not "unknown"

    def age(self, kind: str, key: object) -> float | None:
        if not self.tracked:
            return None
        return self.by_kind.get(kind, {}).get(key, 0.0)

    def brief(self, kind: str, keys: list[object] | tuple[object, ...], seconds: float) -> bool:
        """Tracked and seen for less than `seconds`: a condition that may pass by itself is
        reported only once it has lasted (no flicker in a refreshing view)."""
        age = self.oldest(kind, keys)
        return age is not None and age < seconds

    def oldest(self, kind: str, keys: list[object] | tuple[object, ...]) -> float | None:
        if not self.tracked:
            return None
        ages = self.by_kind.get(kind, {})
        return max((ages.get(k, 0.0) for k in keys), default=0.0)


NO_AGES = Ages()


@dataclass(frozen=True, slots=True)
class Subject:
    """Everything the rules may look at for one process. A panel is None when it was not
    collected or could not be read: every rule then stays silent rather than guess."""

    pid: int
    name: str
    state: str  # of the main thread (proc(5) letter)
    starttime: int | None = None
    ppid: int = 0
    cpu_percent: float | None = None  # 100 = one core; None: unknown (first sample)
    num_fds: int | None = None
    fd_soft_limit: int | None = None  # None: unlimited or unreadable
    threads: ThreadsSnapshot | None = None
    signals: SignalsSnapshot | None = None
    files: ProcessFiles | None = None
    locks: ProcessLocks | None = None
    sockets: ProcessSockets | None = None
    context: Context = field(default_factory=Context)
    ages: Ages = NO_AGES

    @property
    def label(self) -> str:
        """'pid 123 (python3)' for summaries."""
        return f"pid {self.pid} ({self.name})"

    def fd_row(self, fd: int) -> FdRow | None:
        if self.files is None:
            return None
        return next((r for r in self.files.rows if r.fd == fd), None)

    def finding(
        self,
        rule: str,
        severity: Severity,
        summary: str,
        evidence: list[str] | tuple[str, ...],
        next_steps: list[str] | tuple[str, ...],
        *,
        panel: str | None = None,
        fds: tuple[int, ...] = (),
        tids: tuple[int, ...] = (),
    ) -> Finding:
        return Finding(
            rule,
            severity,
            self.pid,
            self.name,
            summary,
            tuple(evidence),
            tuple(next_steps),
            panel,
            fds,
            tids,
            self.starttime,
        )


Rule = Callable[[Subject], list[Finding]]

# Calls in which a thread waits; used to name what the threads of a process are doing.
BLOCKED_STATES = frozenset("SD")
# Multiplexing waits: which fds they wait on is in the target's memory (notes 1.2), so a thread
# in one of them may be about to read (or accept on) any fd.
POLL_CALLS = frozenset(
    {"poll", "ppoll", "select", "_newselect", "pselect6", "ppoll_time64", "pselect6_time64"}
)
EPOLL_WAITS = frozenset({"epoll_wait", "epoll_pwait", "epoll_pwait2"})


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def seen_for(age: float | None) -> str | None:
    """'seen for 5m' once stucktui has watched something for a while; None when unknown/new."""
    if age is None or age < 1:
        return None
    return f"seen by stucktui for {human_age(age)}"


def id_list(values: list[int] | tuple[int, ...], limit: int = 8) -> str:
    """'7, 8, 9 and 12 more'."""
    shown = ", ".join(str(v) for v in values[:limit])
    more = len(values) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def thread_activity(threads: ThreadsSnapshot | None, limit: int = 3) -> str | None:
    """What the threads are doing, biggest groups first: '10 threads: write(2 -> pipe:[..])'."""
    if threads is None or not threads.groups:
        return None
    return "; ".join(g.summary for g in threads.groups[:limit])


def call_name(r: ThreadRow) -> str | None:
    return r.call.name if r.call is not None else None
