"""Snapshot tests: what the user sees, frozen. Update with `pytest --snapshot-update` after a
deliberate change, and look at the diff report before committing it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stucktui.inspection.sampler import Sampler
from stucktui.ui.app import StuckApp
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic, pid_where
from tests.ui.appkit import SIZE, wait_for, wait_for_list

pytestmark = pytest.mark.ui


class SteadySampler(Sampler):
    """The fixture's sampler with the triage's duration zeroed: measured by the wall clock, it
    reaches 1 s on a busy box and the status line then says 'triage: 1 s' (a flaky snapshot)."""

    def sample_box(self, request, *, yielding: bool = True):
        snap = super().sample_box(request, yielding=yielding)
        return snap if snap.triage is None else replace(snap, triage=replace(snap.triage, duration=0.0))


def fixture_app(**kw) -> StuckApp:
    clock, mono = frozen_clock(), frozen_monotonic()
    sampler = SteadySampler.for_path(str(PROC), clock=clock, monotonic=mono)
    return StuckApp(sampler=sampler, clock=clock, monotonic=mono, euid=0, interval=0.2, **kw)


async def wait_for_meters(pilot, app) -> None:
    """The list, and the meters' second reading (CPU per core: the fixture's, all idle)."""
    await wait_for_list(pilot, app)
    await wait_for(pilot, lambda: (m := app.list_screen.snapshot.meters) is not None and m.cpu is not None)
    meters = app.list_screen.query_one("#meters")
    await wait_for(pilot, lambda: meters.display and meters.meters.cpu is not None)


def test_process_list_sorted_by_pid(snap_compare):
    """The list: every fixture process sorted by pid, the hostile one shown escaped."""
    app = fixture_app()

    async def ready(pilot):
        await wait_for_meters(pilot, app)
        await pilot.press("N")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_process_list_at_80x24(snap_compare):
    """At 80 columns: the meters, NAME and a readable COMMAND (THR, AGE, CL_WAIT, FDS give way)."""
    app = fixture_app()

    async def ready(pilot):
        await wait_for_meters(pilot, app)
        await pilot.press("N")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


def test_process_tree(snap_compare):
    """The tree view: children under their parents with guides."""
    app = fixture_app()

    async def ready(pilot):
        await wait_for_meters(pilot, app)
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
    # the header's countdown depends on when the one-second tick lands against the box lane's
    # refreshes (a loaded box shows "next: now" or "next in 1 s"): the look is tested here,
    # the countdown by its unit tests (tests/unit/test_view_request.py), so it is fixed at 1 s
    monkeypatch.setattr("stucktui.ui.app.next_triage", lambda *a: 1.0)
    app, _ = triage_app()

    async def ready(pilot):
        from stucktui.ui.screens.triage import TriageScreen

        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is BUSY)
        app._tick_status()  # the countdown shown now, not at the first tick a second after start
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)
