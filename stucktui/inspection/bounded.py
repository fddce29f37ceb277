"""`stucktui report PID` under a deadline: what was read in time, and what was not.

The examination runs in a worker the report stops waiting for at the deadline
(inspection.deadline); it tells a Progress each step and each panel once read. Past the
deadline the report has the process's facts and the panels read so far; the panel being read
is "timed out", those after it "not read"; the findings are the rules' on those facts alone
(the wait chains into other processes are what is left out); and `incomplete` says what could
not be read and why, in the words the report prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from stucktui.diagnose.engine import evaluate, sort_findings, subject_of
from stucktui.inspection.deadline import HUNG_HINT, Overdue, Progress, run_bounded
from stucktui.inspection.examine import examine_pid
from stucktui.model.files import ProcessFiles
from stucktui.model.findings import Finding
from stucktui.model.locks import ProcessLocks
from stucktui.model.panels import PanelData
from stucktui.model.process import ProcessDetail, Unavailable
from stucktui.model.signals import SignalsSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import ThreadsSnapshot
from stucktui.model.waits import WaitChain
from stucktui.procfs.root import ProcRoot

DEFAULT_TIMEOUT = 20.0  # seconds: py-spy's own limit and a loaded box's slowest scans fit well within
T = TypeVar("T")
_ORDER = ("sockets", "files", "locks", "threads", "signals")  # as PanelCollector reads them


@dataclass(frozen=True, slots=True)
class BoundedExamination:
    """One process examined within a deadline. `detail` is None when even the process's own
    facts were not read in time; `incomplete` is empty when everything was."""

    detail: ProcessDetail | None
    panels: PanelData | None
    findings: tuple[Finding, ...] = ()
    chains: tuple[WaitChain, ...] = ()
    incomplete: tuple[str, ...] = ()  # 'could not read X: timed out after N s (a hung filesystem?)'


def examine_pid_bounded(
    root: ProcRoot, pid: int, *, python: bool = True, timeout: float = DEFAULT_TIMEOUT, window: float = 0.5
) -> BoundedExamination:
    """examine_pid() given `timeout` seconds. Raises what it raises when it ends in time
    (ProcessGone, AccessDenied, OSError)."""
    progress = Progress()

    def work() -> BoundedExamination:
        seen = examine_pid(root, pid, python=python, window=window, progress=progress)
        return BoundedExamination(seen.detail, seen.panels, seen.findings, seen.chains)

    out = run_bounded(work, timeout, lambda: progress.now, name="report")
    if not isinstance(out, Overdue):
        return out
    return partial(progress.results, out)


def partial(results: dict[str, object], late: Overdue) -> BoundedExamination:
    """What a report can say from the results read before `late` stopped it."""
    got = dict(results)  # the worker may still add to it
    detail = got.get("detail")
    if not isinstance(detail, ProcessDetail):
        return BoundedExamination(None, None, incomplete=(str(late),))
    timed_out = Unavailable("timed out", f"after {late.seconds:g} s: {HUNG_HINT}")
    not_read = Unavailable("not read", "the report's deadline passed before it")
    reading = next((name for name in _ORDER if name not in got), None)
    value = {n: got.get(n, timed_out if n == reading else not_read) for n in _ORDER}
    panels = PanelData(
        threads=_as(value["threads"], ThreadsSnapshot),
        signals=_as(value["signals"], SignalsSnapshot),
        files=_as(value["files"], ProcessFiles),
        locks=_as(value["locks"], ProcessLocks),
        sockets=_as(value["sockets"], ProcessSockets),
    )
    findings = tuple(sort_findings(evaluate(subject_of(detail, panels))))
    return BoundedExamination(detail, panels, findings, incomplete=(str(late),))


def _as(v: object, kind: type[T]) -> T | Unavailable:
    if isinstance(v, (kind, Unavailable)):
        return v
    return Unavailable("not available", "no result")
