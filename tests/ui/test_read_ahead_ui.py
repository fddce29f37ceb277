"""The process view reads its Files and Threads tabs ahead (issue 18): once its first findings
are painted, one read-ahead fills the tabs not shown yet, so their key shows data at once,
dated "as of HH:MM:SS (refreshing…)" until the refresh the key asked for replaces it; a key
pressed while the read-ahead runs stops it, and it never runs again for that process."""

from __future__ import annotations

import re
import threading

import pytest
from textual.widgets import Static

from stucktui.inspection.request import SampleRequest
from stucktui.model.python import PySpyError, PySpyFailure
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.widgets.files_panel import FilesPanel
from stucktui.ui.widgets.threads_panel import ThreadsPanel
from tests.ui.appkit import SIZE, wait_for
from tests.ui.test_lanes_ui import HeldSampler, held_app

pytestmark = pytest.mark.ui

DATED = re.compile(r"^as of \d\d:\d\d:\d\d \(refreshing…\)$")


@pytest.fixture
def dumps(monkeypatch) -> list[int]:
    """py-spy as the panels start it, never run: the fixture's pids are not this box's."""
    started: list[int] = []

    def start(pid, **_kw):  # type: ignore[no-untyped-def]
        started.append(pid)
        return lambda: PySpyError(pid, PySpyFailure.NOT_PYTHON, "not a Python process")

    monkeypatch.setattr("stucktui.collect.panels.start_dump", start)
    return started


def recorded(s: HeldSampler) -> list[SampleRequest]:
    asked: list[SampleRequest] = []
    inner = s.sample_process

    def sample_process(request, post=None, **kw):  # type: ignore[no-untyped-def]
        asked.append(request)
        return inner(request, post, **kw)

    s.sample_process = sample_process  # type: ignore[method-assign]
    return asked


def label(screen: ProcessScreen, key: str) -> Static:
    return screen.query_one(f"#asof-{key}", Static)


@pytest.mark.parametrize("size", [(80, 24), SIZE])
async def test_tabs_read_ahead_show_at_once_dated_until_their_refresh_comes(size, dumps):
    app, s = held_app(1)
    s.box_gate.set()
    asked = recorded(s)
    try:
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
            screen = app.screen
            assert isinstance(screen, ProcessScreen)
            await wait_for(pilot, lambda: {"files", "threads"} <= screen.have)
            ahead = [r for r in asked if r.prefetch]
            assert len(ahead) == 1 and ahead[0].panels == {"files", "threads"} and ahead[0].nonblocking
            assert dumps == [1]  # its py-spy, nonblocking
            assert not label(screen, "threads").display  # not on screen: nothing to date
            s.panel_gate.clear()  # the refresh the key asks for is held
            await pilot.press("2")
            await wait_for(pilot, lambda: app.lanes["process"].since is not None)
            # the stacks read ahead, at once, dated; the reading… line is gone
            assert screen.query_one(ThreadsPanel).display
            assert not screen.query_one("#reading-threads", Static).display
            dated = label(screen, "threads")
            assert dated.display and DATED.match(str(dated.render()))
            await pilot.pause()
            assert "(refreshing…)" in app.export_screenshot().replace("&#160;", " ")
            assert asked[-1].panels == {"threads"} and not asked[-1].prefetch
            s.panel_gate.set()
            await wait_for(pilot, lambda: not dated.display)  # the key's own refresh came
            # the next tab too, then refreshes go on as timed: no second read-ahead
            s.panel_gate.clear()
            await pilot.press("4")
            assert screen.query_one(FilesPanel).display and label(screen, "files").display
            s.panel_gate.set()
            await wait_for(pilot, lambda: not label(screen, "files").display)
            n = len(asked)
            await wait_for(pilot, lambda: len(asked) >= n + 2)
            assert [r for r in asked if r.prefetch] == ahead
    finally:
        s.panel_gate.set()


async def test_a_key_during_the_read_ahead_stops_it_and_its_refresh_comes_next(dumps):
    app, s = held_app(1)
    s.box_gate.set()
    s.panel_gate.clear()  # the read-ahead's first panel (Files) is held
    asked = recorded(s)
    held = threading.Event()  # the read-ahead is inside its panel read, held by the gate
    gated = s.panels.collect

    def collect(*a, **kw):  # type: ignore[no-untyped-def]
        held.set()
        return gated(*a, **kw)

    s.panels.collect = collect  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
            screen = app.screen
            assert isinstance(screen, ProcessScreen)
            await wait_for(pilot, lambda: bool(asked) and asked[-1].prefetch and held.is_set())
            await pilot.press("4")
            # asked for while the read-ahead runs (the key's message may be handled a frame later)
            await wait_for(pilot, lambda: app.lanes["process"].again)
            s.panel_gate.set()
            await wait_for(pilot, lambda: "files" in screen.have and not asked[-1].prefetch)
            await wait_for(pilot, lambda: app.lanes["process"].since is None)
            # it read the Files links it had begun, then stopped: no py-spy, no Threads data
            assert dumps == [] and "threads" not in screen.have
            assert asked[-1].panels == {"files"} and sum(r.prefetch for r in asked) == 1
    finally:
        s.panel_gate.set()


async def test_a_dated_panel_of_a_process_that_exited_does_not_say_refreshing(dumps):
    app, s = held_app(1)
    s.box_gate.set()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
            screen = app.screen
            assert isinstance(screen, ProcessScreen)
            await wait_for(pilot, lambda: "threads" in screen.have)
            s.panel_gate.clear()
            await pilot.press("2")
            assert label(screen, "threads").display
            from stucktui.model.process import DetailGone

            screen.update_detail(DetailGone(1, screen.now, screen.starttime, None, ""))
            assert not label(screen, "threads").display
    finally:
        s.panel_gate.set()
