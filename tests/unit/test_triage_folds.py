"""Which triage findings fold under which chain root, and the rows they make."""

from __future__ import annotations

from stucktui.model import waits as W
from stucktui.model.finding_groups import group_findings
from stucktui.model.findings import Finding
from stucktui.ui.triage_folds import Row, fold_findings, layout, root_words, waiting_on


def rows(findings, folds, open_roots=(), keep=None) -> list[tuple[int, ...]]:
    """The layout as (head index, 'fold'|'under'|'', its group's members)."""
    out = layout(group_findings(findings), folds, set(open_roots), keep)
    return [(r.index, "fold" if r.fold else "under" if r.under else "", *r.group.members) for r in out]


def f(pid: int, id: str = "wait-chain", severity="critical") -> Finding:
    return Finding(id, severity, pid, f"p{pid}", f"finding {id} of {pid}", (), ())


def chain(*pids: int, end: str = W.STOPPED, end_pid: int | None = None) -> W.WaitChain:
    hops = tuple(W.Hop(p, f"p{p}", (p,), W.PIPE_WRITE, "write to fd 1", "reader") for p in pids)
    return W.WaitChain(hops, W.ChainEnd(end, end_pid, "root", "stopped (state T)"))


def test_waiters_and_their_other_findings_fold_under_the_root():
    findings = [f(10, "pipe-writers-blocked"), f(10), f(11), f(12), f(20, "zombie-children", "warning")]
    (fold,) = fold_findings(findings, [chain(10, 11, end_pid=12), chain(11, end_pid=12)])
    assert (fold.root, fold.head, fold.members, fold.waiters) == (12, 3, (0, 1, 2), (10, 11))
    assert fold.end.kind == W.STOPPED
    # folded: the root's row where its group's most severe finding was, then the others; the
    # findings of one process and one rule are one group (10's pipe-writers-blocked and
    # wait-chain are two)
    assert rows(findings, [fold]) == [(3, "fold", 3), (4, "", 4)]
    assert rows(findings, [fold], {12}) == [
        (3, "fold", 3), (0, "under", 0), (1, "under", 1), (2, "under", 2), (4, "", 4),
    ]  # fmt: skip
    out = layout(group_findings(findings), [fold], {12})
    assert out[0] == Row(3, out[0].group, fold=fold) and out[1].under is fold


def test_the_roots_wait_chain_finding_heads_its_row_and_its_other_findings_stay():
    findings = [f(12, "uninterruptible"), f(10), f(12)]
    (fold,) = fold_findings(findings, [chain(10, end_pid=12)])
    assert (fold.head, fold.members) == (2, (1,))
    assert rows(findings, [fold]) == [(0, "", 0), (2, "fold", 2)]


def test_nothing_folds_without_a_root_finding_a_stuck_end_or_another_process():
    assert fold_findings([f(10), f(11)], [chain(10, end_pid=12)]) == ()  # the root has no finding
    assert fold_findings([f(10), f(12)], [chain(10, end=W.IDLE, end_pid=12)]) == ()  # not stuck
    assert fold_findings([f(10)], [chain(10, 11, end=W.CYCLE, end_pid=10)]) == ()  # back to itself
    assert fold_findings([f(10)], [chain(10, end=W.MISSING)]) == ()  # nobody
    assert rows([f(10), f(11)], (), {10}) == [(0, "", 0), (1, "", 1)]


def test_a_root_that_waits_on_another_folds_with_its_waiters_under_that_one():
    findings = [f(10), f(11), f(12)]
    (fold,) = fold_findings(findings, [chain(10, end_pid=11), chain(11, end_pid=12)])
    assert (fold.root, fold.members, fold.waiters) == (12, (0, 1), (10, 11))
    # waits in a ring fold nowhere
    assert fold_findings(findings, [chain(10, end_pid=11), chain(11, end_pid=10)]) == ()


def test_the_most_telling_end_wins():
    ends = waiting_on([chain(10, end=W.ZOMBIE, end_pid=13), chain(10, end=W.TRACED, end_pid=12)])
    assert ends[10].pid == 12


def test_root_words():
    assert root_words(W.ChainEnd(W.STOPPED, 1, "x", "stopped (state T)")) == "is stopped (state T)"
    assert root_words(W.ChainEnd(W.CYCLE, 1, "x", "")) == "is on a cycle of waits: a deadlock"
    assert root_words(W.ChainEnd(W.UNRELEASABLE, 1, "x", "no thread")).startswith("cannot go on: no thread")


def test_a_filter_keeps_a_roots_row_while_any_group_of_its_fold_is_kept():
    findings = [f(10), f(11), f(12), f(20, "zombie-children", "warning")]
    (fold,) = fold_findings(findings, [chain(10, end_pid=12), chain(11, end_pid=12)])
    critical = lambda g: g.severity == "critical"  # noqa: E731
    assert rows(findings, [fold], keep=critical) == [(2, "fold", 2)]
    only_11 = lambda g: findings[g.head].pid == 11  # noqa: E731
    assert rows(findings, [fold], {12}, keep=only_11) == [(2, "fold", 2), (1, "under", 1)]
    assert rows(findings, [fold], keep=lambda g: False) == []
