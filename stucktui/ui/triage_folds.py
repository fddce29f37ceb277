"""The triage's folds: the root of stuck wait chains gets one row, and the findings of the
processes that wait on it (their wait-chain findings and every other finding of theirs: the
symptoms of that wait) fold under it. Pure: no Textual, no Rich."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the wait chains' model loads with the triage, in the sampler's thread
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
    """A row of the triage table: the finding `index` (in TriageResult.findings), on a root's
    row (`fold`), folded under one (`under`), or neither."""

    index: int
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


def layout(n: int, folds: Sequence[Fold], open_roots: Collection[int]) -> list[Row]:
    """The rows for `n` findings (most severe first): each finding not folded as it was, each
    root's row where the most severe finding of its group was, then, when the root is open,
    the findings folded under it."""
    group: dict[int, Fold] = {}
    for f in folds:
        group[f.head] = f
        for i in f.members:
            group[i] = f
    rows: list[Row] = []
    shown: set[int] = set()
    for i in range(n):
        fold = group.get(i)
        if fold is None:
            rows.append(Row(i))
        elif fold.root not in shown:
            shown.add(fold.root)
            rows.append(Row(fold.head, fold=fold))
            if fold.root in open_roots:
                rows.extend(Row(m, under=fold) for m in fold.members)
    return rows


def root_words(end: ChainEnd) -> str:
    """What the root is, after 'pid 12 (backup)': 'is stopped (state T)'."""
    from stucktui.model import waits as W

    if end.kind == W.CYCLE:
        return "is on a cycle of waits: a deadlock"
    if end.kind == W.UNRELEASABLE:
        return f"cannot go on: {end.detail}"
    return f"is {end.detail}"
