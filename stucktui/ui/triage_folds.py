"""The triage's folds: the root of stuck wait chains gets one row, and the findings of the
processes that wait on it (their wait-chain findings and every other finding of theirs: the
symptoms of that wait) fold under it. Pure: no Textual, no Rich."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the wait chains' model loads with the triage, in the sampler's thread
    from stucktui.model.finding_groups import FindingGroup
    from stucktui.model.findings import Finding
    from stucktui.model.waits import ChainEnd, WaitChain


@dataclass(frozen=True, slots=True)
class Fold:
    """One root: `head` indexes the finding its row stands for (its wait-chain finding, else
    its most severe), `members` the findings folded under it, `waiters` their processes in the
    order of their findings, `end` how their chains end at the root."""

    root: int
    head: int
    members: tuple[int, ...]
    waiters: tuple[int, ...]
    end: ChainEnd


@dataclass(frozen=True, slots=True)
class Row:
    """A row of the triage table: the group (model.finding_groups) whose head is the finding
    `index` (in TriageResult.findings), on a root's row (`fold`: the group of the root's
    wait-chain finding), folded under one (`under`), or neither."""

    index: int
    group: FindingGroup
    fold: Fold | None = None
    under: Fold | None = None


def waiting_on(chains: Sequence[WaitChain]) -> dict[int, ChainEnd]:
    """pid -> where its stuck chain ends, for every process whose stuck chain ends at another
    process; the most telling end (END_RANK) when it has several."""
    from stucktui.model import waits as W

    last = len(W.END_RANK)
    out: dict[int, ChainEnd] = {}
    for c in chains:
        if not c.stuck or not c.hops or c.end.pid is None or c.end.pid == c.hops[0].pid:
            continue
        pid = c.hops[0].pid
        old = out.get(pid)
        if old is None or W.END_RANK.get(c.end.kind, last) < W.END_RANK.get(old.kind, last):
            out[pid] = c.end
    return out


def _root_end(pid: int, ends: dict[int, ChainEnd]) -> ChainEnd | None:
    """The end past every root that itself waits on another; None when they wait in a ring."""
    end, seen = ends[pid], {pid}
    while True:
        nxt = end.pid
        if nxt is None or nxt not in ends:
            return end
        if nxt in seen:
            return None
        seen.add(nxt)
        end = ends[nxt]


def fold_findings(findings: Sequence[Finding], chains: Sequence[WaitChain]) -> tuple[Fold, ...]:
    """The folds of a triage: one per root that has a finding of its own (its row) and has
    waiting processes with findings. A process waiting on a root with no finding keeps its rows."""
    ends = waiting_on(chains)
    pids = {f.pid for f in findings}
    root_of: dict[int, ChainEnd] = {}
    for pid in pids & ends.keys():
        end = _root_end(pid, ends)
        if end is not None and end.pid in pids:
            root_of[pid] = end
    members: dict[int, list[int]] = {}
    first_end: dict[int, ChainEnd] = {}
    for i, f in enumerate(findings):
        end = root_of.get(f.pid)
        if end is not None and end.pid is not None:
            members.setdefault(end.pid, []).append(i)
            first_end.setdefault(end.pid, end)
    out = []
    for root, folded in members.items():
        mine = [i for i, f in enumerate(findings) if f.pid == root]
        head = next((i for i in mine if findings[i].id == "wait-chain"), mine[0])
        waiters = tuple(dict.fromkeys(findings[i].pid for i in folded))
        out.append(Fold(root, head, tuple(folded), waiters, first_end[root]))
    return tuple(out)


def layout(
    groups: Sequence[FindingGroup],
    folds: Sequence[Fold],
    open_roots: Collection[int],
    keep: Callable[[FindingGroup], bool] | None = None,
) -> list[Row]:
    """The rows for the groups of the findings (most severe first): each group not folded as
    it was; each root's row (its wait-chain finding's group) where the first group of its fold
    was, then, when the root is open, the groups of the processes that wait on it. `keep`
    filters (severity, search): a root's row stays while any group of its fold is kept."""
    fold_of: dict[int, Fold] = {}
    for f in folds:
        fold_of[f.head] = f
        for i in f.members:
            fold_of[i] = f
    in_fold: dict[int, list[FindingGroup]] = {}
    root_group: dict[int, FindingGroup] = {}
    for g in groups:
        fold = next((fold_of[i] for i in g.members if i in fold_of), None)
        if fold is not None:
            in_fold.setdefault(fold.root, []).append(g)
            if fold.head in g.members:
                root_group[fold.root] = g
    rows: list[Row] = []
    shown: set[int] = set()
    for g in groups:
        fold = next((fold_of[i] for i in g.members if i in fold_of), None)
        if fold is None or fold.root not in root_group:
            if keep is None or keep(g):
                rows.append(Row(g.head, g))
            continue
        if fold.root in shown:
            continue
        shown.add(fold.root)
        mine = in_fold[fold.root]
        if keep is not None and not any(keep(m) for m in mine):
            continue
        head = root_group[fold.root]
        rows.append(Row(fold.head, head, fold=fold))
        if fold.root in open_roots:
            rows.extend(
                Row(m.head, m, under=fold) for m in mine if m is not head and (keep is None or keep(m))
            )
    return rows


def root_words(end: ChainEnd) -> str:
    """What the root is, after 'pid 12 (backup)': 'is stopped (state T)'."""
    from stucktui.model import waits as W

    if end.kind == W.CYCLE:
        return "is on a cycle of waits: a deadlock"
    if end.kind == W.UNRELEASABLE:
        return f"cannot go on: {end.detail}"
    return f"is {end.detail}"
