"""Findings: what stucktui concludes about a process, in plain words, with the facts behind
it; and the result of the box-wide triage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from stucktui.model.process import Visibility
    from stucktui.model.waits import WaitChain

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
    # a finding that depends on time: when stucktui first saw what it rests on (time.time());
    # None when it does not depend on time, or nothing was watched over time (a one-shot report)
    since: float | None = None

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


def sort_findings(findings: list[Finding], cause_order: Mapping[str, int] | None = None) -> list[Finding]:
    """Most severe first; within a severity, the process with the most fds and threads
    involved first (a box-wide list puts the 4,000-connection pile-up above a lone socket),
    each process's findings together, causes before symptoms (`cause_order`: rule id -> rank,
    from the rule specs)."""
    size: dict[tuple[int, int], int] = {}
    for f in findings:
        key = (f.rank, f.pid)
        size[key] = max(size.get(key, 0), len(f.fds) + len(f.tids))
    order = cause_order or {}
    last = len(order)
    return sorted(
        findings,
        key=lambda f: (
            f.rank,
            -size[(f.rank, f.pid)],
            f.pid,
            order.get(f.id, last),
            f.id,
            f.fds,
            f.tids,
        ),
    )


def worst(findings: list[Finding] | tuple[Finding, ...]) -> Severity | None:
    """The most severe severity of a process's findings (the process list's column)."""
    return min((f.severity for f in findings), key=_RANK.__getitem__, default=None)


@dataclass(frozen=True, slots=True)
class TriageResult:
    findings: tuple[Finding, ...]  # most severe first
    processes: int  # processes in the snapshot
    suspects: int  # processes that got a full look
    duration: float  # seconds, the process-list snapshot included when triage took it
    taken_at: float  # time.time() when it started
    # the stuck wait chains of the suspects (each from its first hop's process), by root
    chains: tuple[WaitChain, ...] = ()
    # how much of the box could be read: no finding can come from what was not
    visibility: Visibility | None = None
    cpu_window: float | None = None  # seconds CPU% was measured over; None: CPU unknown
