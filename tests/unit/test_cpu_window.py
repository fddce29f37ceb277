"""The first look's CPU window: a triage with no earlier sample measures CPU% over a short
window at once (only /proc/PID/stat, read twice), says over how long, and gives none to a
process born, gone or whose pid was reused meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stucktui.collect.proclist import (
    FIRST_CPU_WINDOW,
    ProcessListCollector,
    measure_cpu,
    read_ticks,
    window_cpu,
    with_cpu,
)
from stucktui.procfs.root import ProcRoot

TICKS = os.sysconf("SC_CLK_TCK")
STAT = "{pid} ({comm}) R 1 {pid} {pid} 0 -1 0 0 0 0 0 {u} {s} 0 0 20 0 {n} 0 {start} 0 10 0\n"


def _proc(tmp_path: Path, procs: dict[int, tuple[str, int, int, int]]) -> ProcRoot:
    """A /proc of processes pid -> (comm, utime, threads, start time)."""
    (tmp_path / "stat").write_text("cpu 1 1 1 1\nbtime 1000\n")
    for pid, proc in procs.items():
        _set(tmp_path, pid, *proc)
    return ProcRoot(str(tmp_path))


def _set(tmp_path: Path, pid: int, comm: str, utime: int, threads: int = 1, start: int = 500) -> None:
    p = tmp_path / str(pid)
    (p / "fd").mkdir(parents=True, exist_ok=True)
    (p / "stat").write_text(STAT.format(pid=pid, comm=comm, u=utime, s=0, n=threads, start=start))
    (p / "cmdline").write_bytes(comm.encode() + b"\0")


def test_window_cpu_is_ticks_over_the_window_clamped_to_the_threads():
    before = {(1, 10): (100, 1), (2, 20): (0, 4), (3, 30): (5, 1), (4, 40): (0, 1)}
    after = {(1, 10): (100 + TICKS // 5, 1), (2, 20): (TICKS, 4), (3, 30): (5 + TICKS, 1), (5, 50): (9, 1)}
    cpu = window_cpu(before, after, 0.4)
    assert cpu[(1, 10)] == pytest.approx(50.0)  # a fifth of a second of CPU in 0.4 s
    assert cpu[(2, 20)] == pytest.approx(250.0)  # four threads may use four cores
    assert cpu[(3, 30)] == 100.0  # one thread uses one core at most: tick rounding clamped
    assert (4, 40) not in cpu and (5, 50) not in cpu  # gone, or born meanwhile: no rate
    assert window_cpu(before, after, 0.0) == {}


def test_read_ticks_reads_stat_only_and_survives_hostile_and_torn_entries(tmp_path):
    root = _proc(tmp_path, {7: ("evil) R 1 (x", 30, 2, 77), 8: ("ok", 5, 1, 88)})
    (tmp_path / "9").mkdir()  # vanished between listdir and read
    (tmp_path / "10").mkdir()
    (tmp_path / "10" / "stat").write_text("10 (torn")
    assert read_ticks(root, [7, 8, 9, 10, 11]) == {(7, 77): (30, 2), (8, 88): (5, 1)}


def test_measure_cpu_waits_the_rest_of_the_window_and_says_how_long_it_was(tmp_path):
    root = _proc(tmp_path, {7: ("spin", 0, 1, 77), 8: ("idle", 3, 1, 88), 9: ("reused", 0, 1, 99)})
    t = [100.0]
    slept: list[float] = []

    def clock() -> float:
        t[0] += 0.05  # each clock read: 50 ms of reading /proc
        return t[0]

    def sleep(s: float) -> None:
        slept.append(s)
        t[0] += s
        _set(tmp_path, 7, "spin", 40, start=77)  # 40 ticks of CPU meanwhile
        _set(tmp_path, 9, "reused", 0, start=123)  # its pid now another process

    cpu, window = measure_cpu(root, [7, 8, 9], 0.4, sleep=sleep, monotonic=clock)
    # first pass 100.05..100.10, slept until 100.45, second pass 100.50..100.55
    assert slept == [pytest.approx(0.35)] and window == pytest.approx(0.45)
    assert cpu[(7, 77)] == pytest.approx(40 / TICKS / 0.45 * 100)
    assert cpu[(8, 88)] == 0.0 and (9, 99) not in cpu and (9, 123) not in cpu


def test_measure_cpu_does_not_wait_when_reading_took_the_window(tmp_path):
    root = _proc(tmp_path, {7: ("spin", 0, 1, 77)})
    t = [0.0]

    def clock() -> float:
        t[0] += 0.5  # a sick box: one pass over /proc takes longer than the window
        return t[0]

    def sleep(s: float) -> None:
        raise AssertionError(f"slept {s}")

    cpu, window = measure_cpu(root, [7], 0.4, sleep=sleep, monotonic=clock)
    assert window == pytest.approx(1.0) and cpu == {(7, 77): 0.0}


def test_with_cpu_fills_only_the_rows_without_cpu(tmp_path):
    root = _proc(tmp_path, {7: ("spin", 0, 1, 77), 8: ("idle", 0, 1, 88)})
    first = ProcessListCollector(root).collect()
    assert first.cpu_window is None and all(r.cpu_percent is None for r in first.rows)
    snap = with_cpu(root, first, 0.05)
    assert snap.cpu_window is not None and snap.cpu_window >= 0.05
    assert [r.cpu_percent for r in snap.rows] == [0.0, 0.0]  # nothing ran in the fixture
    assert [(r.pid, r.name) for r in snap.rows] == [(r.pid, r.name) for r in first.rows]


def test_a_primed_collector_has_cpu_on_its_first_collect(tmp_path):
    root = _proc(tmp_path, {7: ("spin", 0, 1, 77)})
    t = [10.0]

    def sleep(s: float) -> None:
        t[0] += s
        _set(tmp_path, 7, "spin", TICKS // 5, start=77)  # a fifth of a second of CPU

    c = ProcessListCollector(root, clock=lambda: 2000.0, monotonic=lambda: t[0])
    c.prime(FIRST_CPU_WINDOW, sleep=sleep)
    snap = c.collect()
    assert snap.cpu_window == pytest.approx(FIRST_CPU_WINDOW)
    assert snap.rows[0].cpu_percent == pytest.approx(50.0)
    t[0] += 2.0
    assert c.collect().cpu_window == pytest.approx(2.0)  # then the refresh interval, as before


def test_the_window_work_runs_even_when_the_pass_outlasts_the_window(tmp_path):
    """On a big loaded box the ticks pass alone may take longer than the window: the wait is
    still called (for nothing left to sleep), so what it does in the window (the fd index's
    pass, the socket dumps) is never skipped."""
    root = _proc(tmp_path, {7: ("spin", 0, 1, 77)})
    t = [10.0]
    asked: list[float] = []

    def monotonic() -> float:
        t[0] += 1.0  # every read of the clock: a second later (a slow pass)
        return t[0]

    c = ProcessListCollector(root, clock=lambda: 2000.0, monotonic=monotonic)
    c.prime(FIRST_CPU_WINDOW, sleep=asked.append)
    assert asked == [0.0]


def test_the_first_look_made_ahead_is_not_made_again_by_the_first_refresh(tmp_path, monkeypatch):
    """The TUI starts the first look's window in a thread while Textual starts
    (inspection.first_look); the first box refresh then finds it made and has CPU% at once."""
    from stucktui.inspection.first_look import start_first_look
    from stucktui.inspection.request import SampleRequest
    from stucktui.inspection.sampler import Sampler

    root = _proc(tmp_path, {7: ("spin", 0, 1, 77)})
    primes: list[float] = []
    real = ProcessListCollector.prime

    def prime(self, window, sleep=None):  # type: ignore[no-untyped-def]
        primes.append(window)
        real(self, window, sleep=lambda s: None)  # no real wait in a unit test

    monkeypatch.setattr(ProcessListCollector, "prime", prime)
    s = Sampler(root)
    start_first_look(s).join(10)
    assert primes == [Sampler.first_cpu_window] and not s.processes.fresh
    snap = s.sample_box(SampleRequest(want_list=True, triage=True), yielding=False)
    assert primes == [Sampler.first_cpu_window]  # made once, ahead
    assert snap.processes is not None and snap.processes.cpu_window is not None


def test_a_first_look_that_fails_is_left_to_the_first_refresh(tmp_path):
    """A /proc the thread cannot read: it ends quietly (no traceback over the TUI), and the
    first refresh makes the window itself."""
    from stucktui.inspection.first_look import start_first_look
    from stucktui.inspection.sampler import Sampler

    s = Sampler(ProcRoot(str(tmp_path / "missing")))
    t = start_first_look(s)
    t.join(10)
    assert not t.is_alive()


def test_the_window_does_not_wait_for_the_fd_index_pass_and_the_triage_does(tmp_path, monkeypatch):
    """The first look's window starts the fd index's pass and the socket dumps in threads and
    returns once the window is over, however long they take (a second or more on a big box):
    the list is read beside them. The triage waits for both before it reads them (settle)."""
    import threading
    import time

    from stucktui.collect.boxfacts import BoxFacts
    from stucktui.inspection import triage

    root = _proc(tmp_path, {7: ("spin", 0, 1, 77)})
    facts = BoxFacts(root)
    go = threading.Event()
    done: list[str] = []

    def slow(name: str):  # type: ignore[no-untyped-def]
        def work() -> None:
            go.wait(10)
            done.append(name)

        return work

    monkeypatch.setattr(facts, "warm_index", slow("index"))
    monkeypatch.setattr(facts, "prefetch_sockets", slow("dumps"))
    t0 = time.monotonic()
    triage.cpu_window_wait(facts)(0.05)
    assert time.monotonic() - t0 < 5 and done == []  # back after the window, both still under way
    waiter = threading.Thread(target=triage.settle, args=(facts,))
    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive()  # settle waits for them
    go.set()
    waiter.join(10)
    assert not waiter.is_alive() and sorted(done) == ["dumps", "index"]
    triage.settle(facts)  # nothing left: returns at once


def test_a_first_triage_reads_the_box_after_its_window_work(tmp_path, monkeypatch):
    """triage_box's own first look (report --all): the list is read while the window's work
    runs, and the suspects are looked at only once it has ended."""
    import threading

    from stucktui.collect.boxfacts import BoxFacts
    from stucktui.inspection import triage

    root = _proc(tmp_path, {7: ("spin", 0, 1, 77)})
    facts = BoxFacts(root)
    order: list[str] = []
    gate = threading.Event()

    def dumps() -> None:
        gate.wait(10)
        order.append("dumps")

    def scan(*a, **k):  # type: ignore[no-untyped-def]
        order.append("scan")
        return real_scan(*a, **k)

    real_scan = triage.scan_box
    monkeypatch.setattr(facts, "prefetch_sockets", dumps)
    monkeypatch.setattr(triage, "scan_box", scan)
    real_collect = ProcessListCollector.collect

    def collect(self):  # type: ignore[no-untyped-def]
        order.append("list")
        gate.set()  # the list is read while the dumps are under way
        return real_collect(self)

    monkeypatch.setattr(ProcessListCollector, "collect", collect)
    result = triage.triage_box(root, cpu_window=0.01, facts=facts, python=False)
    assert order == ["list", "dumps", "scan"] and result.processes == 1
