"""diagnose() around the rules: the rule list, ordering, History's clocks, a failing rule
contained, the cheap first pass's parsers, and triage on the fixture /proc tree."""

from __future__ import annotations

import signal

import pytest

from stucktui.collect.boxscan import scan_box, stuck_signal_mask
from stucktui.collect.detail import collect_detail
from stucktui.collect.proclist import ProcessListCollector
from stucktui.diagnose import engine
from stucktui.diagnose.engine import RULE_IDS, diagnose, evaluate, sort_findings, subject_of
from stucktui.diagnose.history import History
from stucktui.diagnose.spec import RuleSpec
from stucktui.inspection.triage import triage_box
from stucktui.model.findings import Finding, worst
from stucktui.model.net import TCP_CLOSE_WAIT
from stucktui.model.panels import PanelData
from stucktui.model.process import NO_PERMISSION
from tests.fixture_proc import fixture_root, frozen_clock, frozen_monotonic
from tests.unit.diagnose_kit import PID, sockets, subject, tcp


def test_every_rule_of_the_issue_is_registered_once():
    assert sorted(RULE_IDS) == sorted(
        [
            "pipe-writers-blocked",
            "event-loop-blocked",
            "workers-wait-on-peer",
            "silent-peer",
            "close-wait-unread",
            "close-wait-leak",
            "close-wait-unanswered",
            "epoll-spin",
            "signal-blocked-pending",
            "lock-self-wait",
            "lock-wait",
            "lock-holder",
            "workers-all-blocked",
            "fd-exhaustion",
            "listen-backlog-full",
            "accept-queue-abandoned",
            "socket-send-blocked",
            "uninterruptible",
            "zombie-children",
            "wait-chain",
        ]
    )


def _f(sev: str, pid: int = 1, rule: str = "x") -> Finding:
    return Finding(rule, sev, pid, "n", "s", (), ())  # type: ignore[arg-type]


def test_most_severe_first_and_the_json_contract():
    ordered = sort_findings([_f("info", 1), _f("critical", 9), _f("warning", 2), _f("critical", 3)])
    assert [(f.severity, f.pid) for f in ordered] == [
        ("critical", 3),
        ("critical", 9),
        ("warning", 2),
        ("info", 1),
    ]
    assert worst(ordered) == "critical" and worst([]) is None
    assert set(_f("info").to_json()) == {"id", "severity", "summary", "evidence", "next_steps"}


def test_the_bigger_problem_first_within_a_severity():
    small = Finding("epoll-spin", "critical", 3, "spin", "s", (), (), fds=(3, 4))
    big = [
        Finding("close-wait-unanswered", "critical", 9, "api", "s", (), (), fds=tuple(range(100))),
        Finding("workers-all-blocked", "critical", 9, "api", "s", (), (), tids=(1, 2)),
    ]
    ordered = sort_findings([small, *big, _f("warning", 1)])
    assert [(f.pid, f.id) for f in ordered] == [
        (9, "workers-all-blocked"),  # the process with 100 fds involved, its cause first
        (9, "close-wait-unanswered"),
        (3, "epoll-spin"),
        (1, "x"),
    ]


def test_causes_before_symptoms_within_a_severity():
    rules = ["close-wait-unread", "workers-all-blocked", "pipe-writers-blocked"]
    ordered = sort_findings([_f("critical", 7, r) for r in rules] + [_f("warning", 7, "epoll-spin")])
    assert [f.id for f in ordered] == [
        "pipe-writers-blocked",
        "workers-all-blocked",
        "close-wait-unread",
        "epoll-spin",  # severity still comes first
    ]


def _leaking(n: int = 1):
    rows = [
        tcp(10 + i, 200 + i, TCP_CLOSE_WAIT, ("10.0.0.1", 50000 + i), ("10.0.0.5", 3306), 1) for i in range(n)
    ]
    return subject(sockets=sockets(*rows))


def test_history_makes_a_close_wait_leak_grow_with_time():
    h = History()
    assert [f.severity for f in evaluate(_leaking(), h, now=1000.0)] == ["info"]
    assert [f.severity for f in evaluate(_leaking(), h, now=1070.0)] == ["warning"]
    (f,) = evaluate(_leaking(), h, now=1700.0)
    assert f.severity == "critical" and any("for 11m" in e for e in f.evidence)


def test_history_forgets_what_went_away_and_processes_that_exited():
    h = History()
    h.observe((1, 5), {"close_wait": [7, 8]}, 100.0)
    ages = h.observe((1, 5), {"close_wait": [8, 9]}, 160.0)
    assert ages.age("close_wait", 8) == 60.0 and ages.age("close_wait", 9) == 0.0
    assert h.observe((1, 5), {"close_wait": [7]}, 170.0).age("close_wait", 7) == 0.0  # 7 is a new socket
    h.observe((2, 6), {"dstate": [2]}, 100.0)
    h.retain([(2, 6)])
    assert len(h) == 1
    h.sweep(["dstate"], observed=[])
    assert h.observe((2, 6), {"dstate": [2]}, 500.0).age("dstate", 2) == 0.0
    # a reused pid is another process: its clocks start again
    assert h.observe((2, 7), {"dstate": [2]}, 600.0).age("dstate", 2) == 0.0


def test_a_process_opened_from_the_triage_keeps_the_triages_clocks():
    box, view = History(), History()
    box.observe((1, 5), {"pipe_write": [(2, 99)]}, 100.0)
    view.seed_from(box, (1, 5))
    assert view.observe((1, 5), {"pipe_write": [(2, 99)]}, 110.0).age("pipe_write", (2, 99)) == 10.0
    box.observe((1, 5), {"pipe_write": [(2, 99)]}, 50.0)  # the view's own clocks are never overwritten
    view.seed_from(box, (1, 5))
    assert view.observe((1, 5), {"pipe_write": [(2, 99)]}, 120.0).age("pipe_write", (2, 99)) == 20.0
    view.seed_from(box, (1, 6))  # another process (a reused pid): nothing to take
    assert view.observe((1, 6), {"pipe_write": [(2, 99)]}, 120.0).age("pipe_write", (2, 99)) == 0.0


def test_without_history_ages_are_unknown():
    s = _leaking()
    assert s.ages.age("close_wait", 200) is None and s.ages.oldest("close_wait", [200]) is None


def test_a_failing_rule_costs_only_its_own_findings(monkeypatch):
    def broken(s):
        raise KeyError("surprise")

    spec = RuleSpec("broken", broken, clues=frozenset(), needs=frozenset(), cause_rank=0, ladder="")
    monkeypatch.setattr(engine, "RULES", (spec, *engine.RULES))
    assert [f.id for f in evaluate(_leaking())] == ["close-wait-leak"]
    with pytest.raises(KeyError):
        evaluate(_leaking(), strict=True)


def test_stuck_signal_mask_from_status_bytes():
    alrm = 1 << (signal.SIGALRM - 1)
    status = (
        b"Name:\thping3\nSigQ:\t1/63000\nSigPnd:\t0000000000000000\n"
        b"ShdPnd:\t0000000000002000\nSigBlk:\tfffffffe7ffbfeff\nSigIgn:\t0000000000000000\n"
    )
    assert stuck_signal_mask(status) == alrm
    assert stuck_signal_mask(status.replace(b"fffffffe7ffbfeff", b"0000000000000000")) == 0
    assert stuck_signal_mask(b"Name:\tx\n") == 0
    assert stuck_signal_mask(status.replace(b"0000000000002000", b"zz")) == 0  # torn: not suspect


def test_diagnose_on_fixture_detail_with_unreadable_panels():
    root = fixture_root()
    pid = 1
    detail = collect_detail(root, pid, cpu_percent=0.0, clock=frozen_clock())
    panels = PanelData(threads=NO_PERMISSION, files=NO_PERMISSION, sockets=NO_PERMISSION)
    s = subject_of(detail, panels)
    assert s.threads is None and s.files is None and s.sockets is None and s.pid == pid
    assert diagnose(detail, panels, strict=True) == []


def test_triage_on_the_fixture_tree_runs_every_stage():
    root = fixture_root()
    collector = ProcessListCollector(
        root, clock=frozen_clock(), monotonic=frozen_monotonic(), close_wait=False
    )
    snap = collector.collect()
    scan = scan_box(root, snap.rows)
    zombie = next(r for r in snap.rows if r.state == "Z")
    assert "zombies" in scan.suspects[zombie.ppid]  # the fixture's unreaped child
    assert [c.pid for c in scan.zombies[zombie.ppid]] == [zombie.pid]
    # /proc/locks names a pid that is not in the tree: suspect, then skipped by triage
    assert any(p not in snap.by_pid() for p in scan.suspects)
    result = triage_box(root, processes=snap, history=History(), python=False, strict=True)
    assert result.processes == len(snap.rows)
    assert result.suspects == len([p for p in scan.suspects if p in snap.by_pid()])
    assert all(isinstance(f, Finding) for f in result.findings)
    assert list(result.findings) == sort_findings(list(result.findings))


def test_subject_label_names_the_process():
    assert subject().label == f"pid {PID} (app)"


@pytest.mark.parametrize("module", ["stucktui.diagnose", "stucktui.inspection.triage", "stucktui.demo"])
def test_diagnosis_and_demo_never_load_ui_libraries(module):
    import subprocess
    import sys

    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", f"{module} pulled in {out}"
