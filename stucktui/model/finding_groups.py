"""Findings grouped the way an incident summary reads: one group per process and cause.

Several rules often see one cause from different sides (the threads blocked on a pipe are
also 'all workers blocked'; one finding per remote of one pool), and a box-wide list of every
finding pushes the real incidents out of sight. A group holds the findings of one process
(pid and start time) that name the same rule, or the same threads or fds: one cause; its
head is its most severe finding, causes before symptoms (the order of the findings given).
Groups come most severe first, then the most involved (fds and threads over all their
findings). Pure: the triage screen and `stucktui report --all` group alike; the wait chains'
folds (ui/triage_folds) then fold the groups of the processes waiting on a root under it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from stucktui.model.findings import SEVERITIES, Finding, Severity

_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """Indexes into the findings grouped: `members` in their order, `head` (the first) the
    finding the group's row stands for."""

    pid: int
    starttime: int | None
    members: tuple[int, ...]
    severity: Severity  # the most severe of its findings
    involved: int  # distinct fds and threads named by its findings

    @property
    def head(self) -> int:
        return self.members[0]


def _clusters(idx: list[int], findings: Sequence[Finding]) -> list[list[int]]:
    """The findings `idx` of one process in clusters: the same rule, threads or fds, transitively."""
    out: list[tuple[list[int], set[str], set[int], set[int]]] = []  # members, ids, tids, fds
    for i in idx:
        f = findings[i]
        joined: tuple[list[int], set[str], set[int], set[int]] = ([i], {f.id}, set(f.tids), set(f.fds))
        rest = []
        for c in out:
            if c[1] & joined[1] or c[2] & joined[2] or c[3] & joined[3]:
                joined = (c[0] + joined[0], c[1] | joined[1], c[2] | joined[2], c[3] | joined[3])
            else:
                rest.append(c)
        out = [*rest, joined]
    return sorted((sorted(c[0]) for c in out), key=lambda m: m[0])


def group_findings(findings: Sequence[Finding]) -> tuple[FindingGroup, ...]:
    """The groups of `findings` (most severe first, causes before symptoms, as sort_findings
    gives them): the findings of one process that name the same rule, threads or fds are one
    group (transitively). Most severe first, then the process most involved (fds and threads),
    then as given."""
    by_process: dict[tuple[int, int | None], list[int]] = {}
    for i, f in enumerate(findings):
        by_process.setdefault((f.pid, f.starttime), []).append(i)
    groups: list[FindingGroup] = []
    for (pid, start), idx in by_process.items():
        for members in _clusters(idx, findings):
            fs = [findings[i] for i in members]
            severity = min((f.severity for f in fs), key=_RANK.__getitem__)
            involved = len({fd for f in fs for fd in f.fds}) + len({t for f in fs for t in f.tids})
            groups.append(FindingGroup(pid, start, tuple(members), severity, involved))
    # a process's groups of one severity stay together, causes first (the findings' order)
    most: dict[tuple[int, int, int | None], int] = {}
    for g in groups:
        k = (_RANK[g.severity], g.pid, g.starttime)
        most[k] = max(most.get(k, 0), g.involved)
    groups.sort(key=lambda g: (_RANK[g.severity], -most[(_RANK[g.severity], g.pid, g.starttime)], g.head))
    return tuple(groups)


def group_tail(group: FindingGroup, findings: Sequence[Finding]) -> str:
    """What a group's row adds to its head's summary: '+2: workers-all-blocked, lock-wait ×2'
    (the rules of its other findings); '' for a group of one."""
    rest = Counter(findings[i].id for i in group.members[1:])
    if not rest:
        return ""
    ids = ", ".join(i if n == 1 else f"{i} ×{n}" for i, n in rest.items())
    return f"+{sum(rest.values())}: {ids}"


def group_matches(group: FindingGroup, findings: Sequence[Finding], words: str) -> bool:
    """The `/` search: every word (case-insensitive) in the pid, name, rule or summary of one
    of the group's findings."""
    want = words.lower().split()
    for i in group.members:
        f = findings[i]
        text = f"{f.pid} {f.name} {f.id} {f.summary}".lower()
        if all(w in text for w in want):
            return True
    return not want
