"""The process view and the triage are of processes, never of pids (issue 20, item 1): once the
process shown exits, its facts freeze, every panel says when, and the process that got its pid
is only offered (O), never shown under it. The fixture tree fakes the reuse by a new start time."""

from __future__ import annotations

import shutil

import pytest
from textual.widgets import Static

from stucktui.model.findings import Finding, TriageResult
from stucktui.procfs.stat import parse_stat
from stucktui.ui.panels import DETAIL_PANELS
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.screens.triage import TriageScreen
from tests.ui.appkit import copy_tree, fixture_app, wait_for, wait_for_list
from tests.unit.test_identity import PID, reuse

pytestmark = pytest.mark.ui


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_view_opened_by_pid_freezes_when_the_pid_changes_hands(tmp_path, size):
    proc = copy_tree(tmp_path / "proc")
    app = fixture_app(proc, start_pid=PID)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        screen = app.screen
        old = screen.detail
        assert app.selected == (PID, old.starttime_ticks)  # --pid: the first refresh's process
        new = reuse(proc, PID, comm="imposter")
        await wait_for(pilot, lambda: screen.gone and screen.successor is not None)
        title = text(screen, "#process-title")
        assert f"pid {PID} exited at " in title and "(last seen " in title and "imposter" not in title
        frozen = screen.detail  # the last facts seen of the old process, frozen
        assert (frozen.name, frozen.starttime_ticks) == (old.name, old.starttime_ticks)
        gone = text(screen, "#gone")
        assert f"A new process now has pid {PID} (imposter): O opens it" in gone
        assert f"pid {PID} exited at" in text(screen, "#status")
        for n, spec in enumerate(DETAIL_PANELS, 1):  # the banner stands over every panel
            await pilot.press(str(n))
            await pilot.pause()
            assert screen.query_one("#gone", Static).display, spec.id
            assert screen.detail is frozen
        # further refreshes keep it gone: nothing of the new process reaches the view
        last = app.last
        await wait_for(pilot, lambda: app.last is not last)
        assert screen.detail is frozen and "imposter" not in text(screen, "#process-title")
        shown = {b.binding.key for b in screen.active_bindings.values() if b.binding.show and b.enabled}
        assert "O" in shown  # the footer offers it
        await pilot.press("O")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen is not screen)
        fresh = app.screen
        await wait_for(pilot, lambda: fresh.detail is not None)
        assert fresh.detail.name == "imposter" and fresh.detail.starttime_ticks == new
        assert app.selected == (PID, new) and not fresh.gone
        assert sum(isinstance(s, ProcessScreen) for s in app.screen_stack) == 1  # replaced, not stacked


async def test_a_process_that_vanished_offers_nothing(tmp_path):
    proc = copy_tree(tmp_path / "proc")
    app = fixture_app(proc, start_pid=PID)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        screen = app.screen
        shutil.rmtree(proc / str(PID))
        await wait_for(pilot, lambda: screen.gone)
        assert "O opens it" not in text(screen, "#gone") and screen.successor is None
        await pilot.press("O")  # nothing to open: says so
        await pilot.pause()
        assert app.screen is screen


async def test_triage_rows_of_processes_that_exited_are_marked_not_reattached(tmp_path):
    proc = copy_tree(tmp_path / "proc")
    born = parse_stat((proc / str(PID) / "stat").read_text()).starttime
    app = fixture_app(proc)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen))
        screen = app.screen
        f = Finding("fd-exhaustion", "warning", PID, "sick", "pid 7654 is sick", (), (), starttime=born)
        result = TriageResult((f,), 10, 1, 0.01, 0.0)
        app.cadence = app.cadence.__class__(since_triage=-10_000)  # no triage overwrites ours
        screen.update_triage(result)
        assert screen.exited_at(f) is None
        reuse(proc, PID)  # the pid now names another process: the finding is not about it
        await wait_for(pilot, lambda: screen.exited_at(f) is not None)
        table = screen.query_one("#triage-table")
        await wait_for(pilot, lambda: "exited" in str(table.get_row_at(0)[0]))
        assert "[exited " in str(table.get_row_at(0)[3])
        assert f"pid {PID} exited at" in text(screen, "#triage-detail")
