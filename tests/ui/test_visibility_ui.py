"""The list, the box's findings and the Locks panel say what they could not read (issue 20,
item 3), on a fixture tree where three processes refuse their fds and exe."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from stucktui.inspection.sampler import Sampler
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.screens.triage import TriageScreen
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic
from tests.ui.appkit import wait_for, wait_for_list
from tests.unit.test_visibility import DENIED, DenyingRoot

pytestmark = pytest.mark.ui


def denying_app(euid: int = 1000, **kw) -> StuckApp:
    clock, mono = frozen_clock(), frozen_monotonic()
    sampler = Sampler(DenyingRoot(str(PROC), DENIED), clock=clock, monotonic=mono)
    return StuckApp(sampler=sampler, clock=clock, monotonic=mono, euid=euid, interval=0.2, **kw)


def rendered(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_list_banner_counts_the_processes_it_cannot_read(size):
    app = denying_app()
    async with app.run_test(size=size) as pilot:
        await wait_for_list(pilot, app)
        await wait_for(pilot, lambda: "3 processes" in rendered(app.list_screen, "#banner"))
        banner = rendered(app.list_screen, "#banner")
        assert "fds, sockets, threads not" in banner and app.list_screen.query_one("#banner").display


async def test_findings_view_says_what_it_did_not_see():
    app = denying_app(triage_at_start=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is not None)
        title = rendered(app.screen, "#triage-title")
        assert "not seen: 3 processes" in title


async def test_locks_panel_says_it_cannot_see_instead_of_nothing():
    app = denying_app(start_pid=7654)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        await pilot.press("5")
        screen = app.screen
        await wait_for(pilot, lambda: "fds could not be read" in rendered(screen, "#locks-summary"))
        summary = rendered(screen, "#locks-summary")
        assert "holds no file locks" not in summary and "/proc/locks names no lock" in summary


async def test_list_says_how_many_of_the_box_s_tasks_proc_hid(tmp_path):
    """/proc mounted hidepid=invisible lists only the reader's processes; /proc/loadavg still
    counts every task on the box, so the list says how much it could not see."""
    from tests.ui.appkit import copy_tree, fixture_app

    proc = copy_tree(tmp_path / "proc")
    (proc / "loadavg").write_text("0.10 0.20 0.30 2/5167 4321\n")
    app = fixture_app(proc)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_list(pilot, app)
        await wait_for(
            pilot, lambda: "5,167 tasks (threads) on this box" in rendered(app.list_screen, "#banner")
        )
        assert "hidepid" in rendered(app.list_screen, "#banner")
