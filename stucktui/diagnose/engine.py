"""The engine: the rule list (derived from the specs), and evaluate()/diagnose(): one process's
facts in, its findings out, most severe first."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace

from stucktui.diagnose.history import History
from stucktui.diagnose.rules import all_specs
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject
from stucktui.diagnose.tracking import tracked
from stucktui.model.context import Context
from stucktui.model.files import ProcessFiles
from stucktui.model.findings import Finding
from stucktui.model.findings import sort_findings as model_sort
from stucktui.model.locks import ProcessLocks
from stucktui.model.panels import PanelData
from stucktui.model.process import ProcessDetail, Unavailable
from stucktui.model.signals import SignalsSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import ThreadsSnapshot

RULES: tuple[RuleSpec, ...] = all_specs()
RULE_IDS = tuple(r.id for r in RULES)
# within one severity and process, causes before the symptoms they produce
CAUSE_ORDER: Mapping[str, int] = {r.id: i for i, r in enumerate(RULES)}
# every kind History follows: a box-wide scan that no longer sees one in a process ends its clock
TRACKED_KINDS: tuple[str, ...] = tuple(sorted(set().union(*(r.tracks for r in RULES))))


def needs_for(found: Iterable[str]) -> frozenset[str]:
    """What the rules answering these first-pass clues read (RuleSpec.needs)."""
    want = set(found)
    return frozenset().union(*(r.needs for r in RULES if r.clues & want))


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, the most involved process first, causes before symptoms."""
    return model_sort(list(findings), CAUSE_ORDER)


def subject_of(detail: ProcessDetail, panels: PanelData | None, context: Context | None = None) -> Subject:
    """The Subject of one process from the detail view's data."""
    p = panels or PanelData()
    limit = None if isinstance(detail.fd_limit, Unavailable) else detail.fd_limit[0]
    return Subject(
        pid=detail.pid,
        name=detail.name,
        state=detail.state,
        starttime=detail.starttime_ticks,
        ppid=detail.ppid,
        cpu_percent=detail.cpu_percent,
        num_fds=None if isinstance(detail.num_fds, Unavailable) else detail.num_fds,
        fd_soft_limit=limit,
        threads=p.threads if isinstance(p.threads, ThreadsSnapshot) else None,
        signals=p.signals if isinstance(p.signals, SignalsSnapshot) else None,
        files=p.files if isinstance(p.files, ProcessFiles) else None,
        locks=p.locks if isinstance(p.locks, ProcessLocks) else None,
        sockets=p.sockets if isinstance(p.sockets, ProcessSockets) else None,
        context=context or Context(),
    )


def evaluate(
    s: Subject,
    history: History | None = None,
    *,
    now: float | None = None,
    strict: bool = False,
    wall: float | None = None,
) -> list[Finding]:
    """Run every rule on one Subject. A rule that fails (a bug, or data in a shape never seen)
    costs its own findings, never the others' nor the caller's; strict=True re-raises (tests).
    `now` is History's (monotonic) clock; `wall` the time of day it stands for (time.time()),
    from which the findings that depend on time say since when."""
    if history is not None:
        kinds = tracked(s, TRACKED_KINDS)
        ages = history.observe((s.pid, s.starttime), kinds, time.monotonic() if now is None else now)
        s = replace(s, ages=replace(ages, at=time.time() if wall is None else wall))
    out: list[Finding] = []
    for rule in RULES:
        try:
            out.extend(rule.check(s))
        except Exception:
            if strict:
                raise
    return sort_findings(out)


def diagnose(
    detail: ProcessDetail,
    panels: PanelData | None,
    history: History | None = None,
    *,
    context: Context | None = None,
    now: float | None = None,
    strict: bool = False,
) -> list[Finding]:
    """Pure: the findings of one process, most severe first. `history` (kept by the caller
    across refreshes) lets findings grow with time; `context` (gathered by stucktui.inspection) adds the other
    processes involved: pipe readers, lock holders, children."""
    return evaluate(subject_of(detail, panels, context), history, now=now, strict=strict)
