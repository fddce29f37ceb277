"""`stucktui --pid CHILD` shows the child's command line while the box lane is held back
(issue 18, item 2): the process lane reads the child's own /proc files and paints them without
waiting for the box's process list or triage, which the test holds until it has seen them."""

from __future__ import annotations

import pytest

from stucktui.ui.app import StuckApp
from stucktui.ui.screens.process import ProcessScreen
from tests.helpers import Children
from tests.ui.appkit import wait_for
from tests.ui.test_lanes_ui import HeldSampler

pytestmark = [pytest.mark.live, pytest.mark.ui]

MARKER = "lanes-overview-marker"


async def test_a_process_opened_at_start_shows_its_command_line_before_the_box_scan(children: Children):
    child = children.python("ready()\nimport time\ntime.sleep(600)\n", MARKER)
    children.wait_ready(child)
    sampler = HeldSampler.for_path("/proc")
    assert isinstance(sampler, HeldSampler)
    sampler.scan = False  # the test needs its child only, never the whole box's list
    app = StuckApp(interval=0.5, start_pid=child.pid, sampler=sampler)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None
            )
            screen = app.screen
            assert isinstance(screen, ProcessScreen) and screen.detail is not None
            assert MARKER in screen.detail.cmdline
            await wait_for(pilot, lambda: MARKER in app.export_screenshot())  # painted, in the Overview
            assert sampler.box_started.is_set() and not sampler.box_gate.is_set()
            assert app.last is not None and app.last.processes is None  # no box scan came yet
            await pilot.press("5")  # a tab switch too gets its panel while the box lane is held
            await wait_for(pilot, lambda: "locks" in screen.have)
            assert not sampler.box_gate.is_set()
    finally:
        sampler.box_gate.set()
        children.end(child)
