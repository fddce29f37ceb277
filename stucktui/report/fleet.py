"""What the fleet formats (`report --all --format openmetrics|jsonl`) share: the box's
CLOSE_WAIT count from the process list's column, counts by severity, and the scan's facts.

The renderers (report.openmetrics, report.jsonl) take a FleetBox: the box report when the
triage finished, None when its --timeout cut it short (then only that is said)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stucktui.model.findings import SEVERITIES, Finding, Severity
from stucktui.model.process import ProcessRow
from stucktui.report import BoxReport

# The most CLOSE_WAIT holders named one by one (the rest are counted as left out).
CLOSE_WAIT_HOLDERS = 10


@dataclass(frozen=True, slots=True)
class CloseWait:
    """CLOSE_WAIT connections held on the box: the process list's column (fds on CLOSE_WAIT
    sockets, a dup counting twice, plus the closed connections in the accept queues of the
    listeners a process holds), summed over the processes whose fds could be read."""

    total: int
    holders: tuple[tuple[int, str, int], ...]  # (pid, name, count), most first, at most the cap
    left_out: int  # holders beyond the cap
    unknown: int  # processes whose fds could not be read (not counted)


def close_wait(rows: Sequence[ProcessRow], cap: int = CLOSE_WAIT_HOLDERS) -> CloseWait:
    held = sorted(((r.pid, r.name, r.close_wait) for r in rows if r.close_wait), key=lambda h: (-h[2], h[0]))
    unknown = sum(1 for r in rows if r.close_wait is None)
    return CloseWait(sum(h[2] for h in held), tuple(held[:cap]), max(0, len(held) - cap), unknown)


@dataclass(frozen=True, slots=True)
class FleetBox:
    """One box's scan for a fleet: `report` None when it was cut short (`incomplete` says why)."""

    host: str
    started: float  # time.time() when the scan started
    report: BoxReport | None
    close_wait: CloseWait | None = None
    incomplete: tuple[str, ...] = ()
    timeout: float | None = None  # the scan's --timeout, seconds

    @property
    def taken_at(self) -> float:
        return self.report.taken_at if self.report is not None else self.started

    @property
    def duration(self) -> float:
        if self.report is not None:
            return self.report.duration
        return self.timeout or 0.0

    def by_severity(self) -> dict[Severity, int]:
        return severity_counts(self.report.findings if self.report is not None else ())


def severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts
