"""The header meters (CPU per core, memory, swap, load, tasks): psutil reads the /proc given,
CPU% is this reader's own between two readings, tasks come from the process list."""

from __future__ import annotations

import os
from dataclasses import replace

from stucktui.collect.meters import MeterCollector, busy_percent
from stucktui.model.meters import BoxMeters, TaskCounts, task_counts
from stucktui.procfs.root import ProcRoot
from tests.fixture_proc import PROC, fixture_root
from tests.unit.test_listing import row

GIB = 1 << 30
METERS = BoxMeters(
    cpu=(12.5, 97.0),
    mem_total=8 * GIB,
    mem_used=3 * GIB,
    mem_available=4 * GIB,
    swap_total=2 * GIB,
    swap_used=0,
    load=(2.04, 1.5, 0.25),
    tasks=TaskCounts(5012, 5300, 60, 3),
)


def test_busy_share_between_two_readings():
    assert busy_percent((1000.0, 800.0), (1100.0, 850.0)) == 50.0
    assert busy_percent((1000.0, 800.0), (1100.0, 900.0)) == 0.0
    assert busy_percent((1000.0, 800.0), (1000.0, 800.0)) == 0.0  # no time passed: not a division by 0


def test_task_counts_from_the_rows():
    rows = [
        replace(row(1, 0), num_threads=40),
        replace(row(2, 1), state="R"),
        replace(row(3, 2), state="I", is_kernel_thread=True),
        replace(row(4, 2), state="R", is_kernel_thread=True),
    ]
    assert task_counts(rows) == TaskCounts(processes=2, threads=41, kernel_threads=2, running=2)


def test_the_fixture_proc_is_read_not_the_real_one():
    reader = MeterCollector(fixture_root())
    first = reader.read([])
    assert first is not None and first.cpu is None  # CPU% needs two readings
    assert first.mem_total == 24684084 * 1024  # the fixture's MemTotal, not this box's
    assert first.load is None  # the kernel's load average is of the real /proc only
    assert first.swap_total is None  # no vmstat in the fixture: not read (psutil would warn)
    second = reader.read([])
    assert second is not None and second.cpu == (0.0, 0.0)  # cpu0 and cpu1, unchanged files


def test_a_proc_without_stat_gives_no_meters(tmp_path):
    assert MeterCollector(ProcRoot(str(tmp_path))).read([]) is None


def test_the_real_proc():
    reader = MeterCollector(ProcRoot())
    reader.read([])
    m = reader.read([])
    assert m is not None and m.cpu is not None and len(m.cpu) == os.cpu_count()
    assert all(0.0 <= p <= 100.0 for p in m.cpu)
    assert m.load is not None and 0 < m.mem_used < m.mem_total
    assert str(PROC) not in repr(m)


def _lines(width: int, m: BoxMeters = METERS) -> list[str]:
    from stucktui.ui.widgets.meters import meters_text

    return meters_text(m, width).plain.splitlines()


def test_two_cores_one_line_each_bar_then_memory_then_tasks_and_load():
    lines = _lines(78)
    assert len(lines) == 3 and all(len(line) <= 78 for line in lines)
    assert lines[0].startswith("0[") and "12.5%]" in lines[0] and "1[" in lines[0] and "97.0%]" in lines[0]
    assert lines[1].startswith("Mem[") and "3.0G/8.0G]" in lines[1] and "Swp[" in lines[1]
    assert lines[2] == "Tasks: 5,012, 5,300 thr, 60 kthr; 3 running   Load average: 2.04 1.50 0.25"


def test_many_cores_one_block_each_and_the_first_reading_says_it_measures():
    from rich.console import Console

    from stucktui.ui.widgets.meters import meters_text

    many = replace(METERS, cpu=tuple(i * 100 / 63 for i in range(64)))
    text = meters_text(many, 78)
    shown = text.wrap(Console(width=78), 78)  # as the widget shows it
    assert len(shown) <= 4 and "64 cores" in text.plain and "▁" in text.plain and "█" in text.plain
    assert _lines(78, replace(METERS, cpu=None))[0].startswith("CPU: measuring")
    assert "Swp: none" in _lines(78, replace(METERS, swap_total=0, swap_used=0))[1]
    assert "Load" not in _lines(78, replace(METERS, load=None))[2]
