"""The findings grouped as an incident summary: one group per process and cause."""

from __future__ import annotations

from stucktui.diagnose.engine import sort_findings
from stucktui.model.finding_groups import group_findings, group_matches, group_tail
from stucktui.model.findings import Finding


def f(
    pid: int, id: str, severity="critical", *, fds=(), tids=(), start: int | None = 1, summary=""
) -> Finding:
    return Finding(id, severity, pid, f"p{pid}", summary or f"{id} of {pid}", (), (), fds=fds, tids=tids,
                   starttime=start)  # fmt: skip


def test_one_group_per_process_and_cause_most_severe_and_most_involved_first():
    findings = sort_findings([
        # a pool leaking to 16 ports, one finding per remote: one group
        *(f(30, "close-wait-leak", "critical", fds=(100 + i,)) for i in range(16)),
        # the same threads seen by two rules: one cause
        f(40, "pipe-writers-blocked", fds=(2,), tids=(41, 42, 43, 44)),
        f(40, "workers-all-blocked", tids=(41, 42, 43, 44)),
        # another cause of the same process: its own group
        f(40, "close-wait-unread", fds=(5, 6, 7)),
        f(50, "zombie-children", "warning"),
        f(60, "signal-blocked-pending", "warning"),
        f(60, "lock-wait", "warning", fds=(3,), tids=(60,)),
    ])  # fmt: skip
    groups = group_findings(findings)
    heads = [(findings[g.head].pid, findings[g.head].id, len(g.members), g.severity) for g in groups]
    assert heads == [
        (30, "close-wait-leak", 16, "critical"),  # 16 fds: the most involved
        (40, "pipe-writers-blocked", 2, "critical"),  # 5 (fd 2 and 4 threads), the cause first
        (40, "close-wait-unread", 1, "critical"),  # the same process's next group, not another's
        (60, "signal-blocked-pending", 1, "warning"),  # the rules' cause order within a process
        (60, "lock-wait", 1, "warning"),
        (50, "zombie-children", 1, "warning"),
    ]
    assert groups[0].involved == 16 and groups[1].involved == 5
    assert sorted(i for g in groups for i in g.members) == list(range(len(findings)))
    assert group_tail(groups[0], findings) == "+15: close-wait-leak ×15"
    assert group_tail(groups[1], findings) == "+1: workers-all-blocked"
    assert group_tail(groups[2], findings) == ""


def test_a_group_is_one_process_not_one_pid_and_relations_are_transitive():
    findings = [
        f(7, "a", fds=(1,)), f(7, "b", fds=(1,), tids=(9,)), f(7, "c", tids=(9,)),
        f(7, "a", start=2),  # pid 7 again, another process: never grouped with the first
    ]  # fmt: skip
    groups = group_findings(findings)
    assert [g.members for g in groups] == [(0, 1, 2), (3,)]
    assert [(g.pid, g.starttime) for g in groups] == [(7, 1), (7, 2)]
    assert group_findings([]) == ()


def test_search_words_match_pid_name_rule_or_summary_of_any_finding_of_the_group():
    findings = [
        f(40, "pipe-writers-blocked", tids=(1,)),
        f(40, "workers-all-blocked", tids=(1,), summary="All 8 workers"),
    ]
    (g,) = group_findings(findings)
    assert group_matches(g, findings, "")
    assert group_matches(g, findings, "40")
    assert group_matches(g, findings, "P40 workers")  # case-insensitive, every word
    assert group_matches(g, findings, "all 8")
    assert not group_matches(g, findings, "workers zombie")
