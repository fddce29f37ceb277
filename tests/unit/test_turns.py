"""The box lane's pause points let a process refresh and the UI's input go first
(inspection/turns.py)."""

from __future__ import annotations

import threading

from stucktui.inspection.turns import Turns
from tests.helpers import wait_until


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _parked(turns: Turns) -> tuple[threading.Thread, threading.Event]:
    """A box lane at a pause point, in a thread; the event is set once it goes on."""
    went_on = threading.Event()

    def lane() -> None:
        turns.wait()
        went_on.set()

    t = threading.Thread(target=lane, daemon=True)
    t.start()
    return t, went_on


def test_nothing_to_let_go_first_costs_no_wait() -> None:
    turns = Turns(Clock())
    turns.wait()  # returns at once: no thread, no lock


def test_an_input_parks_the_box_lane_until_its_frame_is_painted() -> None:
    turns = Turns()  # the real clock: the lease (0.2 s) must not end it first
    turns.input(lease=60.0)
    lane, went_on = _parked(turns)
    wait_until(lambda: len(turns._cond._waiters) == 1, what="the box lane parked")  # type: ignore[attr-defined]
    assert not went_on.is_set()
    turns.painted()
    assert went_on.wait(10)
    lane.join(10)


def test_an_input_lease_ends_by_itself() -> None:
    turns = Turns()
    turns.input(lease=0.05)  # no painted(): a key whose frame never came
    lane, went_on = _parked(turns)
    assert went_on.wait(10)
    lane.join(10)


def test_a_process_refresh_goes_first_until_it_has_painted() -> None:
    turns = Turns()
    turns.painting(+1)
    lane, went_on = _parked(turns)
    wait_until(lambda: len(turns._cond._waiters) == 1, what="the box lane parked")  # type: ignore[attr-defined]
    turns.input(lease=0.0)  # an input meanwhile does not end the process refresh's turn
    assert not went_on.is_set()
    turns.painting(-1)
    assert went_on.wait(10)
    lane.join(10)


def test_a_lease_past_is_no_wait() -> None:
    clock = Clock()
    turns = Turns(clock)
    turns.input(lease=0.2)
    clock.t += 0.3
    turns.wait()  # the lease ended: goes on at once
