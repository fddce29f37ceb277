"""Snapshot tests: what the user sees, frozen. Update with `pytest --snapshot-update` after a
deliberate change, and look at the diff report before committing it."""

from __future__ import annotations

import pytest

from tests.fixture_proc import pid_where
from tests.ui.appkit import SIZE, fixture_app, wait_for, wait_for_list

pytestmark = pytest.mark.ui


def test_process_list_sorted_by_pid(snap_compare):
    """The list: every fixture process sorted by pid, the hostile one shown escaped."""
    app = fixture_app()

    async def ready(pilot):
        await wait_for_list(pilot, app)
        await pilot.press("N")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_process_tree(snap_compare):
    """The tree view: children under their parents with guides."""
    app = fixture_app()

    async def ready(pilot):
        await wait_for_list(pilot, app)
        await pilot.press("N", "t")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_process_detail(snap_compare):
    """The process view of the hostile process: parents, paths, fd use against the limit."""
    evil = pid_where(lambda s: "evil" in s.comm and s.state != "Z")
    app = fixture_app(start_pid=evil)

    async def ready(pilot):
        from stucktui.ui.screens.process import ProcessScreen

        # the detail comes first, its findings after (the process lane's partial snapshots)
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_triage_grouped_at_80x24(snap_compare, monkeypatch):
    """The box's findings at 80x24: one row per process and cause (the pool's 16 findings one
    row), ten rows on screen, the selected row's detail below."""
    from tests.ui.test_triage_chains import TriageSampler, triage_app
    from tests.ui.triage_kit import BUSY

    monkeypatch.setattr(TriageSampler, "result", BUSY)
    app, _ = triage_app()

    async def ready(pilot):
        from stucktui.ui.screens.triage import TriageScreen

        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is BUSY)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)
