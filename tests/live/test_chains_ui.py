"""Live, through the real app: a parent in wait() for a child blocked writing to a pipe only the
parent reads (subprocess stdout=PIPE, then wait()) shows as a cycle in the Why stuck? view."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest
from textual.widgets import Tree

from stucktui.ui.app import StuckApp
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.screens.why_stuck import WhyStuckScreen
from tests.live.test_chains_live import PARENT_WAITS
from tests.ui.appkit import wait_for

pytestmark = [pytest.mark.live, pytest.mark.ui]


async def test_a_parent_and_child_deadlock_shows_as_a_cycle_in_why_stuck(children):
    parent = children.python(PARENT_WAITS)
    child = int(children.wait_ready(parent)[0])  # the parent prints its child's pid
    try:
        app = StuckApp(interval=0.3, start_pid=parent.pid)
        async with app.run_test(size=(80, 24)) as pilot:
            # the first refresh also triages the box: slow on a loaded machine
            await wait_for(
                pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None, 60
            )
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, WhyStuckScreen), 30)
            screen = app.screen
            tree = screen.query_one(Tree)

            def cycle():
                return next((n for n in tree.root.children if "cycle (a deadlock)" in n.label.plain), None)

            await wait_for(pilot, lambda: cycle() is not None, 60)  # the refreshes follow the chains
            node = cycle()
            assert node.label.plain.startswith("STUCK 1 thread waits → ends: cycle (a deadlock): ")
            assert f"pid {parent.pid} " in node.label.plain
            assert [n.data[0] for n in node.children] == [parent.pid, child, parent.pid]  # hops, then the end
            assert "wait for a child" in node.children[0].label.plain
            assert "write to a full pipe" in node.children[1].label.plain
            assert "1 stuck" in str(screen.query_one("#why-title").render())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
