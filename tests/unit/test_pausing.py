"""Pause points (collect/pausing.py): the box lane's long loops let a process refresh go first,
every PAUSE_EVERY items, in the registering thread only."""

from __future__ import annotations

import threading

from stucktui.collect.pausing import PAUSE_EVERY, pause_point, pausing


def test_the_registering_thread_pauses_every_few_items_and_no_other_does():
    paused: list[str] = []
    with pausing(lambda: paused.append(threading.current_thread().name)):
        for i in range(3 * PAUSE_EVERY + 1):
            pause_point(i)
        other = threading.Thread(
            target=lambda: [pause_point(i) for i in range(2 * PAUSE_EVERY)], name="other"
        )
        other.start()
        other.join()
    assert paused == [threading.current_thread().name] * 3  # not at item 0, not in "other"
    pause_point(PAUSE_EVERY)  # outside: nothing registered
    assert len(paused) == 3


def test_the_fd_index_pass_pauses_in_the_box_lane(tmp_path):
    from stucktui.collect.fdindex import FdIndex
    from stucktui.procfs.root import ProcRoot

    for pid in range(1, 2 * PAUSE_EVERY + 2):
        (tmp_path / str(pid) / "fd").mkdir(parents=True)
    calls: list[int] = []
    with pausing(lambda: calls.append(1)):
        FdIndex(ProcRoot(str(tmp_path))).current()
    assert len(calls) == 2


def test_work_handed_to_another_thread_pauses_as_its_caller_would():
    """The first look's fd index pass runs in a side thread (inspection/triage.py): it takes
    the box lane's pause with it, so a key's refresh does not share the interpreter with it."""
    from stucktui.collect.pausing import inheriting

    paused: list[str] = []

    def work() -> None:
        for i in range(2 * PAUSE_EVERY + 1):
            pause_point(i)

    with pausing(lambda: paused.append(threading.current_thread().name)):
        handed = inheriting(work)
    other = threading.Thread(target=handed, name="side")
    other.start()
    other.join()
    assert paused == ["side", "side"]
    assert inheriting(work) is work  # nothing registered here: nothing to take along


def test_the_triages_row_pass_pauses_in_the_box_lane():
    """scan_box's pass over every process (5,000 on a sick box) lets a key's refresh go first."""
    from dataclasses import replace

    from stucktui.collect.boxscan import scan_box
    from stucktui.collect.proclist import ProcessListCollector
    from tests.fixture_proc import fixture_root, frozen_clock, frozen_monotonic

    root = fixture_root()
    snap = ProcessListCollector(
        root, clock=frozen_clock(), monotonic=frozen_monotonic(), close_wait=False
    ).collect()
    rows = [replace(snap.rows[0], pid=10_000 + i) for i in range(2 * PAUSE_EVERY + 1)]  # gone: not suspect
    calls: list[int] = []
    with pausing(lambda: calls.append(1)):
        scan_box(root, rows, listeners=False)
    assert len(calls) == 2
