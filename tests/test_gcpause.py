"""The cyclic collector's full passes wait for a pause in the input (inspection/gcpause.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from stucktui.inspection.gcpause import EVERY, IDLE, LONGEST, IdlePasses


@pytest.fixture
def passes() -> Iterator[IdlePasses]:
    before = gc.get_threshold()
    p = IdlePasses()
    p.take_over(100.0)
    try:
        yield p
    finally:
        p.give_back()
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0


def test_take_over_freezes_start_up_and_stops_automatic_full_passes(passes: IdlePasses) -> None:
    assert gc.get_freeze_count() > 1000  # this test process's modules and objects
    assert gc.get_threshold()[2] >= 1 << 30
    passes.take_over(200.0)  # a second call changes nothing
    assert passes.last_pass == 100.0


def test_a_full_pass_waits_for_a_pause_in_the_input(passes: IdlePasses) -> None:
    t = 100.0 + EVERY
    passes.input(t - IDLE / 2)  # a key half a pause ago
    assert not passes.due(t)
    assert passes.due(t + IDLE / 2)


def test_full_passes_are_spaced_and_collect_cycles(passes: IdlePasses) -> None:
    assert not passes.due(100.0 + EVERY - 0.1)  # idle, but the last pass is too recent

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: no reference count reaches 0
    gc.collect(1)  # both old now: only a full pass can free them
    alive = weakref.ref(a)
    del a, b
    gc.collect(1)
    assert alive() is not None
    assert passes.tick(100.0 + EVERY)
    assert alive() is None
    assert not passes.tick(100.0 + EVERY + 1)  # spaced again from this pass


def test_typing_without_pause_still_gets_a_pass_within_the_longest_wait(passes: IdlePasses) -> None:
    t = 100.0
    while t < 100.0 + LONGEST:
        passes.input(t)
        assert not passes.tick(t)
        t += 0.3
    passes.input(t)
    assert passes.tick(t)


def test_nothing_runs_before_take_over() -> None:
    before = gc.get_threshold()
    p = IdlePasses()
    assert not p.due(1e9)
    p.give_back()  # harmless
    p.take_over(1.0)  # too late: the app has ended
    assert not p.active and gc.get_threshold() == before and gc.get_freeze_count() == 0
