"""The triage view says when its findings were taken and when the next look comes ('as of
14:03:27, next in 58 s', counting down by the app's clock; 'next: paused' while paused), and a
finding that depends on time says since when stucktui has seen it."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from stucktui.inspection.request import TRIAGE_EVERY
from stucktui.model.findings import Finding, TriageResult
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.triage import TriageScreen, as_of
from tests.fixture_proc import PROC, frozen_clock, frozen_now
from tests.ui.appkit import SIZE, wait_for
from tests.ui.test_triage_chains import TriageSampler
from tests.ui.test_why_stuck import screen_text

pytestmark = pytest.mark.ui

TAKEN = frozen_now()
HOSTILE = "[bold]x\x1b]0;pwn\x07"
SPIN = Finding("epoll-spin", "critical", 41, "python", "pid 41 burns 100% CPU", ("CPU 100%",), ("c",))
ZOMBIES = Finding(
    "zombie-children", "warning", 42, HOSTILE, "has 12 zombie children", ("zombies: pids 7",), ("reap",),
    since=TAKEN - 300,
)  # fmt: skip
RESULT = TriageResult((SPIN, ZOMBIES), 120, 2, 0.4, TAKEN, cpu_window=0.41)


def hms(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def test_as_of_text():
    assert as_of(TAKEN, 58.4) == f"as of {hms(TAKEN)}, next in 58 s"
    assert as_of(TAKEN, None) == f"as of {hms(TAKEN)}, next: paused"
    assert as_of(TAKEN, 0.2, 0.412) == f"as of {hms(TAKEN)}, next: now · CPU% over 0.4 s"


@pytest.mark.parametrize("size", [(80, 24), SIZE])
async def test_the_header_counts_down_to_the_next_triage_and_says_paused(size):
    mono = [1000.0]
    sampler = TriageSampler.for_path(str(PROC), clock=frozen_clock(), monotonic=lambda: mono[0])
    sampler.result = RESULT
    # a long interval: no second refresh during the test, so the clock alone moves the countdown
    app = StuckApp(
        interval=10.0, sampler=sampler, clock=frozen_clock(), monotonic=lambda: mono[0], euid=0,
        triage_at_start=True,
    )  # fmt: skip
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is RESULT)
        screen = app.screen
        assert isinstance(screen, TriageScreen)
        # just triaged: the next refresh in 10 s, then TRIAGE_EVERY more before the one that triages
        first = 10.0 * (TRIAGE_EVERY + 1)
        await wait_for(pilot, lambda: screen.next_in == pytest.approx(first))
        await pilot.pause()
        shown = screen_text(app)
        assert f"as of {hms(TAKEN)}, next in {first:.0f} s" in shown
        mono[0] += 5.0
        app._tick_status()  # the app's one-second tick
        await pilot.pause()
        assert f"as of {hms(TAKEN)}, next in {first - 5:.0f} s" in screen_text(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.next_in is None)
        await pilot.pause()
        assert f"as of {hms(TAKEN)}, next: paused" in screen_text(app)
        # the finding that depends on time says since when; the other does not
        await pilot.press("down")
        await wait_for(pilot, lambda: "zombie" in str(screen.query_one("#triage-detail").render()))
        detail = str(screen.query_one("#triage-detail").render())
        assert f"since: {hms(TAKEN - 300)} (first seen by stucktui)" in detail
        assert "\x1b" not in screen_text(app)
        await pilot.press("up")
        await wait_for(pilot, lambda: "epoll-spin" in str(screen.query_one("#triage-detail").render()))
        assert "since:" not in str(screen.query_one("#triage-detail").render())
        screen.update_triage(replace(RESULT, taken_at=TAKEN + 60))  # a new triage: its own time
        await pilot.pause()
        assert f"as of {hms(TAKEN + 60)}, next: paused" in screen_text(app)
