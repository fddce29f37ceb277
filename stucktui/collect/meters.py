"""The box's meters (CPU per core, memory, swap, load) with psutil, whose home ground they are;
the task counts come from the process list already read.

Cheap on a sick box: /proc/stat and /proc/meminfo (and /proc/vmstat for swap) once per refresh,
nothing per process. psutil reads the /proc it is given (psutil.PROCFS_PATH, set under a lock
for the few calls); the load average is the kernel's (getloadavg), so only of the real /proc.
CPU% per core is measured between this reader's own readings, not psutil's module-wide ones.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import psutil

from stucktui.model.meters import BoxMeters, task_counts
from stucktui.model.process import ProcessRow
from stucktui.procfs.root import ProcRoot

_PSUTIL = threading.Lock()  # psutil.PROCFS_PATH is module-wide


def _total_idle(t: object) -> tuple[float, float]:
    """(all time, idle time) of one core: guest time is already counted in user time, iowait
    is idle (psutil's cpu_percent does the same)."""
    fields = t._asdict()  # type: ignore[attr-defined]
    total = sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)
    return total, fields["idle"] + fields.get("iowait", 0.0)


def busy_percent(before: tuple[float, float], after: tuple[float, float]) -> float:
    """The busy share of one core between two (total, idle) readings, 0-100."""
    total = after[0] - before[0]
    if total <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * (1.0 - (after[1] - before[1]) / total)))


class MeterCollector:
    def __init__(self, root: ProcRoot) -> None:
        self.root = root
        self._last: list[tuple[float, float]] | None = None

    def read(self, rows: Sequence[ProcessRow]) -> BoxMeters | None:
        """The meters now (CPU% since the last call), or None when psutil cannot read them."""
        swap = os.path.exists(self.root.join("vmstat"))  # psutil warns without it
        with _PSUTIL:
            saved = psutil.PROCFS_PATH
            psutil.PROCFS_PATH = self.root.path
            try:
                cores = [_total_idle(t) for t in psutil.cpu_times(percpu=True)]
                vm = psutil.virtual_memory()
                sw = psutil.swap_memory() if swap else None
            except (OSError, ValueError, RuntimeError):
                return None
            finally:
                psutil.PROCFS_PATH = saved
        last, self._last = self._last, cores
        cpu = None
        if last is not None and len(last) == len(cores):
            cpu = tuple(busy_percent(b, a) for b, a in zip(last, cores, strict=True))
        load = psutil.getloadavg() if self.root.path == "/proc" else None
        return BoxMeters(
            cpu=cpu,
            mem_total=vm.total,
            mem_used=vm.used,
            mem_available=vm.available,
            swap_total=sw.total if sw is not None else None,
            swap_used=sw.used if sw is not None else None,
            load=load,
            tasks=task_counts(rows),
        )
