"""The sampler's two lanes (issue 18, items 1-3): the plan split per lane (pure), the merge of
the lanes' snapshots (pure), the process lane's partial snapshots in order, the box lane
letting a process refresh go first, and the status line's words for slow and blocked."""

from __future__ import annotations

import threading
from dataclasses import replace

from stucktui.inspection.deadline import Progress
from stucktui.inspection.request import (
    PYTHON_EVERY,
    TRIAGE_EVERY,
    Cadence,
    SampleRequest,
    ViewState,
    plan_lanes,
)
from stucktui.inspection.sampler import Sampler
from stucktui.model.findings import TriageResult
from stucktui.model.process import DetailGone, ProcessDetail, ProcessListSnapshot
from stucktui.model.snapshot import Snapshot
from stucktui.ui.lanes import LaneState, box_news, process_blocked, status_text
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic
from tests.helpers import wait_until
from tests.unit.test_identity import copy_proc, reuse

SEEN = ViewState(have_snapshot=True, have_list=True)
PROC1 = replace(SEEN, view="process", tab="files", selected=(1, 10))


def lanes(state: ViewState, cadence: Cadence | None = None, *names: str):
    out = plan_lanes(state, cadence or Cadence(), frozenset(names or ("process", "box")))  # type: ignore[arg-type]
    assert out is not None
    return out


def test_the_first_refresh_of_a_process_opened_at_start_splits_into_both_lanes():
    p = lanes(replace(PROC1, have_snapshot=False, have_list=False))
    assert p.process == SampleRequest(want_list=False, selected=(1, 10), panels=frozenset({"files"}))
    assert p.box == SampleRequest(want_list=True, triage=True)  # no process read in the box lane
    assert p.cadence.since_triage == 0


def test_a_process_view_has_no_box_work_once_the_list_is_known():
    p = lanes(PROC1)
    assert p.box is None and p.process is not None and p.process.panels == {"files"}
    assert p.cadence.since_triage == TRIAGE_EVERY + 1  # the box lane was asked: its clock runs


def test_the_list_has_no_process_work_unless_one_is_still_pinned():
    p = lanes(SEEN)
    assert p.process is None and p.box == SampleRequest(want_list=True, triage=True)
    pinned = lanes(replace(SEEN, process_pinned=True))
    assert pinned.process is not None and pinned.process.selected is None  # one refresh unpins it
    assert not pinned.process.want_list and not pinned.process.triage


def test_a_busy_lane_keeps_its_counters_so_its_work_is_planned_again():
    asked = Cadence(python_requested=True, since_python=0, since_triage=TRIAGE_EVERY)
    box_busy = lanes(replace(SEEN, view="process", tab="threads", selected=(1, 10)), asked, "process")
    assert box_busy.box is None and box_busy.process is not None and box_busy.process.python
    assert box_busy.cadence == Cadence(False, 0, TRIAGE_EVERY)  # the triage waits for the box lane
    process_busy = lanes(replace(SEEN, view="triage", selected=(1, 10)), asked, "box")
    assert process_busy.process is None and process_busy.box is not None and process_busy.box.triage
    assert process_busy.cadence == Cadence(True, 0, 0)  # py-spy still asked for
    assert lanes(
        replace(SEEN, view="process", tab="threads", selected=(1, 10)), Cadence(), "box"
    ).cadence == (Cadence(False, PYTHON_EVERY, TRIAGE_EVERY + 1))  # py-spy's clock waits too
    assert plan_lanes(replace(PROC1, paused=True), Cadence(), frozenset({"process"})) is None


def _plist(n: int = 3, duration: float = 0.0) -> ProcessListSnapshot:
    return ProcessListSnapshot(0.0, duration, ())


def test_the_lanes_snapshots_merge_and_a_stale_one_keeps_only_the_box():
    plist = _plist()
    gone = DetailGone(7, 1.0, 5, None, "")
    first = Snapshot(None, gone, 7).over(None)
    assert first.detail is gone
    boxed = Snapshot(plist, None, None).over(first)
    assert boxed.processes is plist and boxed.detail is gone and boxed.selected_pid == 7
    closed = Snapshot(None, None, None).over(boxed)
    assert closed.processes is plist  # a process refresh never drops the list
    tri = TriageResult((), 1, 0, 0.1, 0.0)
    stale = Snapshot(plist, gone, 7, triage=tri).without_process()
    assert stale.detail is None and stale.selected_pid is None and stale.triage is tri


def sampler(proc=PROC) -> Sampler:
    return Sampler.for_path(str(proc), clock=frozen_clock(), monotonic=frozen_monotonic())


def test_the_process_lane_posts_the_detail_then_the_panels_then_the_findings():
    s = sampler()
    posted: list[Snapshot] = []
    try:
        final = s.sample_process(
            SampleRequest(selected=(1, None), panels=frozenset({"files"})), posted.append
        )
    finally:
        s.close()
    assert [type(p.detail) for p in posted] == [ProcessDetail, ProcessDetail]
    assert posted[0].panels is None and posted[0].findings is None  # the Overview, at once
    assert posted[1].panels is not None and posted[1].panels.files is not None and posted[1].findings is None
    assert final.findings is not None and final.chains is not None and final.panels == posted[1].panels
    assert all(p.processes is None for p in [*posted, final])  # the list is the box lane's


def test_the_process_lane_posts_nothing_of_a_process_that_took_the_pid(tmp_path):
    proc = copy_proc(tmp_path)
    s = sampler(proc)
    first = s.sample_process(SampleRequest(selected=(7654, None)))
    assert isinstance(first.detail, ProcessDetail)
    reuse(proc, 7654)
    posted: list[Snapshot] = []
    again = s.sample_process(SampleRequest(selected=(7654, None), panels=frozenset({"files"})), posted.append)
    assert posted == [] and isinstance(again.detail, DetailGone)
    s.close()


def test_the_box_lane_lets_a_process_refresh_paint_first():
    s = sampler()
    order: list[str] = []
    release = threading.Event()
    inner_collect = s.panels.collect
    inner_list = s.processes.collect

    def held_panels(*a, **kw):  # the process refresh is slow in its panels
        release.wait(30)
        return inner_collect(*a, **kw)

    def listed():
        order.append("box list")
        return inner_list()

    s.panels.collect = held_panels  # type: ignore[method-assign]
    s.processes.collect = listed  # type: ignore[method-assign]
    request = SampleRequest(selected=(1, None), panels=frozenset({"files"}))

    def painted(snap: Snapshot) -> None:
        if snap.panels is not None:
            order.append("panels painted")

    proc = threading.Thread(target=lambda: s.sample_process(request, painted))
    proc.start()
    wait_until(lambda: s.turns.process_wanted == 1, what="the process refresh under way")
    box = threading.Thread(target=lambda: s.sample_box(SampleRequest()))
    box.start()
    try:
        wait_until(lambda: len(s.turns._cond._waiters) == 1, what="the box lane waiting its turn")  # type: ignore[attr-defined]
        assert order == []
    finally:
        release.set()
        proc.join(30)
        box.join(30)
        s.close()
    assert order == ["panels painted", "box list"]  # its findings need not hold the box back


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_read_is_blocked_only_when_one_step_has_not_returned_for_long():
    clock = Clock()
    progress, lane = Progress(clock), LaneState(since=90.0)
    progress.reading("the fds of pid 7 (/proc/7/fd)")
    clock.t = 102.0
    assert process_blocked(lane, progress, 3.0) is None  # 2 s in this step: not blocked
    clock.t = 110.0
    assert process_blocked(lane, progress, 3.0) == (
        "waiting 10s for /proc: the fds of pid 7 (/proc/7/fd) (a hung filesystem?; keys still work, q quits)"
    )
    progress.done()
    assert process_blocked(lane, progress, 3.0) is None and progress.stalled() == 0.0


def test_the_box_lane_is_named_slow_with_numbers_and_blocked_only_far_past_its_last_time():
    clock = Clock()
    progress = Progress(clock)
    progress.reading("the process list (/proc/*/stat, cmdline, fd)")
    running = LaneState(since=100.0, last_done=50.0, last_duration=11.2)
    clock.t = 108.0
    assert box_news(running, progress, clock.t, None, None, 2.0) == (
        "box scan running 8 s: the process list (/proc/*/stat, cmdline, fd)"
    )
    clock.t = 130.0  # 30 s in one step, under 3x the last 11.2 s refresh: slow, not blocked
    assert box_news(running, progress, clock.t, None, None, 2.0).startswith("box scan running 30 s")
    clock.t = 140.0
    assert box_news(running, progress, clock.t, None, None, 2.0).startswith("waiting 40s for /proc")
    idle = LaneState(last_done=50.0, last_duration=25.0)
    plist = ProcessListSnapshot(0.0, 11.23, tuple(_rows(5140)))
    tri = TriageResult((), 5140, 38, 14.2, 0.0)
    assert box_news(idle, progress, clock.t, plist, tri, 2.0) == (
        "box scan: 11.2 s for 5,140 processes · triage: 14 s, 38 suspects looked at"
    )
    assert box_news(idle, progress, clock.t, replace(plist, duration=0.2), None, 2.0) is None  # quick


def _rows(n: int):
    from stucktui.model.process import ProcessRow

    row = ProcessRow(1, 0, 0, "root", "S", "x", "x", 0.0, 0, 1, 0, 0.0, 1, False)
    return [row] * n


def test_the_status_line_of_a_process_view_says_its_refresh_and_the_box_scan_under_way():
    clock = Clock()
    s = Sampler.for_path(str(PROC), clock=frozen_clock(), monotonic=clock)
    lanes_ = {"process": LaneState(last_done=99.0, last_duration=0.04), "box": LaneState(since=95.0)}
    s.box_progress.reading("the process list (/proc/*/stat, cmdline, fd)")
    s.box_progress.since = 95.0
    line = status_text(lanes_, s, clock.t, 2.0, None, process_view=True, read_only=False)  # type: ignore[arg-type]
    assert line == (
        "refreshed 1s ago in 40 ms, every 2s · "
        "box scan running 5 s: the process list (/proc/*/stat, cmdline, fd)"
    )
    fresh = {"process": LaneState(since=99.5), "box": LaneState()}
    assert status_text(fresh, s, clock.t, 2.0, None, process_view=True, read_only=True) == "collecting…"  # type: ignore[arg-type]
