"""The box's meters over the process list, as htop shows them: CPU per core, memory, swap,
load and tasks. Read by stucktui.collect.meters (psutil) in the box lane, never the UI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stucktui.model.process import ProcessRow


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """Counted from the process list just read (no second walk of /proc)."""

    processes: int  # user processes (kernel threads not counted), as htop's Tasks
    threads: int  # their threads
    kernel_threads: int
    running: int  # processes in state R


def task_counts(rows: Iterable[ProcessRow]) -> TaskCounts:
    processes = threads = kthreads = running = 0
    for r in rows:
        if r.is_kernel_thread:
            kthreads += 1
        else:
            processes += 1
            threads += r.num_threads
        running += r.state == "R"
    return TaskCounts(processes, threads, kthreads, running)


@dataclass(frozen=True, slots=True)
class BoxMeters:
    cpu: tuple[float, ...] | None  # busy % of each core since the last reading; None: first reading
    mem_total: int  # bytes
    mem_used: int  # bytes in use by processes and the kernel (not cache, not buffers), as htop
    mem_available: int  # bytes that could be had without swapping (MemAvailable)
    swap_total: int | None  # None: not read
    swap_used: int | None
    load: tuple[float, float, float] | None  # 1, 5, 15 minutes; None: not the real /proc
    tasks: TaskCounts
