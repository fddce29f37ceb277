"""The process view's CPU%: a key press that refreshes early must not turn tick rounding into
108% for one busy thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from stucktui.inspection.sampler import Sampler
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.stat import CLOCK_TICKS
from tests.fixture_proc import pid_where
from tests.ui.appkit import copy_tree


def _set_ticks(stat: Path, utime: int) -> None:
    head, _, tail = stat.read_text().rpartition(")")
    fields = tail.split()
    fields[11], fields[12] = str(utime), "0"  # utime and stime: fields 14 and 15 of proc(5)
    stat.write_text(head + ") " + " ".join(fields) + "\n")


@pytest.fixture
def sleeper(tmp_path):
    """(stat file, clock, sampler, pinned dir) of the fixture's one-thread `sleep`."""
    proc = copy_tree(tmp_path / "proc")
    pid = pid_where(lambda s: s.comm == "sleep")  # one thread
    now = [100.0]
    sampler = Sampler(ProcRoot(str(proc)), monotonic=lambda: now[0])
    try:
        yield proc / str(pid) / "stat", now, sampler, sampler._pin(pid, None)
    finally:
        sampler.close()


def test_cpu_percent_needs_half_a_second_and_keeps_the_last_rate(sleeper):
    stat, now, sampler, d = sleeper
    _set_ticks(stat, 0)
    assert sampler._detail_cpu(d) is None  # one sample is no rate
    now[0] += 1.0
    _set_ticks(stat, CLOCK_TICKS)  # one second of CPU in one second
    assert sampler._detail_cpu(d) == 100.0
    now[0] += 0.1
    _set_ticks(stat, CLOCK_TICKS + 11)  # 11 ticks in 0.1 s would read 110%
    assert sampler._detail_cpu(d) == 100.0  # too short: the last rate is kept
    now[0] += 0.9
    _set_ticks(stat, 2 * CLOCK_TICKS)  # measured from the last full sample: 1 s, 100 ticks
    assert sampler._detail_cpu(d) == 100.0


def test_cpu_percent_never_over_one_core_per_thread(sleeper):
    stat, now, sampler, d = sleeper
    _set_ticks(stat, 0)
    sampler._detail_cpu(d)
    now[0] += 1.0
    _set_ticks(stat, CLOCK_TICKS + 8)  # tick rounding: 108% of one thread
    assert sampler._detail_cpu(d) == 100.0
