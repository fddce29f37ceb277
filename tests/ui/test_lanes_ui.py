"""The process view paints at once (issue 18, items 1-2): with the box lane held back (its
scan blocks on an Event the test controls), a process opened at start shows its Overview, a
tab switch gets its panel, and a panel with no data yet says what it waits for."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Static

from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.model.snapshot import Snapshot
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.widgets.files_panel import FilesPanel
from stucktui.ui.widgets.locks_panel import LocksPanel
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic
from tests.ui.appkit import SIZE, wait_for

pytestmark = pytest.mark.ui


class HeldSampler(Sampler):
    """The fixture sampler; its box lane (and, when asked, its panels) wait for the test."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.box_gate = threading.Event()
        self.panel_gate = threading.Event()
        self.panel_gate.set()
        self.box_started = threading.Event()
        self.scan = True  # False: the box lane, once let go, reads nothing (a live test's /proc)
        inner = self.panels.collect

        def collect(*a, **kw):  # type: ignore[no-untyped-def]
            self.panel_gate.wait(60)
            return inner(*a, **kw)

        self.panels.collect = collect  # type: ignore[method-assign]

    def sample_box(self, request: SampleRequest, *, yielding: bool = True) -> Snapshot:
        self.box_started.set()
        self.box_gate.wait(60)
        if not self.scan:
            return Snapshot(None, None, None)
        return super().sample_box(request, yielding=yielding)


def held_app(pid: int) -> tuple[StuckApp, HeldSampler]:
    clock, mono = frozen_clock(), frozen_monotonic()
    s = HeldSampler.for_path(str(PROC), clock=clock, monotonic=mono)
    assert isinstance(s, HeldSampler)
    return StuckApp(interval=0.2, start_pid=pid, sampler=s, clock=clock, monotonic=mono, euid=0), s


def title(app: StuckApp) -> str:
    return str(app.screen.query_one("#process-title", Static).render())


@pytest.mark.parametrize("size", [(80, 24), SIZE])
async def test_the_overview_and_a_tab_switch_do_not_wait_for_the_box_scan(size):
    app, s = held_app(1)
    try:
        async with app.run_test(size=size) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None
            )
            screen = app.screen
            assert s.box_started.is_set() and not s.box_gate.is_set()  # the box scan is still held
            assert "process_api" in title(app)
            await wait_for(pilot, lambda: screen.examined)  # its findings too
            await pilot.press("4")  # Files
            await wait_for(pilot, lambda: "files" in screen.have)
            assert screen.query_one(FilesPanel).display
            assert app.lanes["box"].since is not None  # all that while the box lane never returned
            assert "box scan" not in app.freshness()  # frozen clock: not late yet, nothing to say
            s.box_gate.set()
            await wait_for(pilot, lambda: app.last is not None and app.last.processes is not None)
    finally:
        s.box_gate.set()


async def test_a_panel_without_data_says_what_it_waits_for_then_shows():
    # Locks: a tab the view does not read ahead (Files and Threads are, test_read_ahead_ui.py)
    app, s = held_app(1)
    s.box_gate.set()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
            screen = app.screen
            s.panel_gate.clear()  # the Locks panel's read is slow
            await pilot.press("5")
            reading = screen.query_one("#reading-locks", Static)
            await wait_for(pilot, lambda: app.lanes["process"].since is not None)
            assert reading.display and not screen.query_one(LocksPanel).display
            assert "reading… the file locks of pid 1 (/proc/locks" in str(reading.render())
            assert "reading… the file locks of pid 1" in app.export_screenshot().replace("&#160;", " ")
            s.panel_gate.set()
            await wait_for(pilot, lambda: "locks" in screen.have)
            assert not reading.display and screen.query_one(LocksPanel).display
    finally:
        s.panel_gate.set()


async def test_the_findings_line_says_they_are_being_worked_out_until_they_come(monkeypatch):
    from stucktui.inspection import examine as examine_mod  # the sampler imports it when it runs

    gate, inner = threading.Event(), examine_mod.examine

    def examine(*a, **kw):  # type: ignore[no-untyped-def]
        gate.wait(60)
        return inner(*a, **kw)

    monkeypatch.setattr(examine_mod, "examine", examine)
    app, s = held_app(1)
    s.box_gate.set()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None
            )
            screen = app.screen
            line = str(screen.query_one("#findings", Static).render())
            assert line == "findings: being worked out (what the threads of pid 1 wait on)…"
            assert not screen.examined and "process_api" in title(app)
            gate.set()
            await wait_for(pilot, lambda: screen.examined)
            assert "being worked out" not in str(screen.query_one("#findings", Static).render())
    finally:
        gate.set()


class HeldRelease(Sampler):
    """The fixture sampler whose process refresh with nothing selected (the one that unpins
    the closed process) waits for the test."""

    gate = threading.Event()

    def sample_process(self, request: SampleRequest, post=None, *, processes=None) -> Snapshot:
        if request.selected is None:
            self.gate.wait(60)
        return super().sample_process(request, post, processes=processes)


async def test_a_refresh_asked_for_while_the_process_lane_unpins_runs_once_it_ends():
    """Asked for while busy, with nothing left to refresh once it ends: the lane waits for its
    timer again (it once asked itself again without end)."""
    clock, mono = frozen_clock(), frozen_monotonic()
    s = HeldRelease.for_path(str(PROC), clock=clock, monotonic=mono)
    assert isinstance(s, HeldRelease)
    s.gate = threading.Event()
    app = StuckApp(interval=0.2, start_pid=1, sampler=s, clock=clock, monotonic=mono, euid=0)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
            await pilot.press("escape")
            await wait_for(
                pilot, lambda: app.screen is app.list_screen and app.lanes["process"].since is not None
            )
            app.sample_now()  # the process lane is busy: it runs again when it ends
            assert app.lanes["process"].again
            s.gate.set()
            await wait_for(
                pilot, lambda: app.lanes["process"].since is None and not app.lanes["process"].again
            )
            await wait_for(pilot, lambda: app.lanes["process"].timer is not None)
    finally:
        s.gate.set()


async def test_a_tab_switch_moves_the_underline_at_once_without_frames_of_animation():
    """The tab underline's slide was 0.3 s of frames on the UI thread while the refresh the key
    asked for read (both need the interpreter lock): it jumps now, in the switch's first frame."""
    from textual.widgets import Tabs
    from textual.widgets._tabs import Underline

    app, s = held_app(1)
    s.box_gate.set()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
        assert app.animation_level == "none"
        await pilot.press("4")
        await pilot.pause()
        tabs = app.screen.query_one(Tabs)
        active = tabs.active_tab
        assert active is not None and active.id is not None and "files" in active.id
        start, end = active.virtual_region.shrink(active.styles.gutter).column_span
        line = tabs.query_one(Underline)
        assert (line.highlight_start, line.highlight_end) == (start, end)
        assert not app.animator.is_being_animated(line, "highlight_start")
