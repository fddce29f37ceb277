"""Parser of /proc/PID/stat and /proc/PID/task/TID/stat (proc(5))."""

from __future__ import annotations

import os
from dataclasses import dataclass

# utime, stime and starttime count clock ticks (sysconf(_SC_CLK_TCK), 100 on Linux)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# PF_KTHREAD from include/linux/sched.h: the task is a kernel thread (docs/kernel-notes.md §10.3).
PF_KTHREAD = 0x00200000


def parse_schedstat(text: str) -> tuple[int, int]:
    """(ns on a CPU, ns waiting in the run queue) of /proc/PID/task/TID/schedstat (the first
    two of its three fields; CONFIG_SCHED_INFO)."""
    f = text.split()
    return int(f[0]), int(f[1])


def cpu_percent(ticks: int, seconds: float, threads: int = 1) -> float:
    """CPU use from `ticks` of utime+stime spent in `seconds` (100 = one core). Ticks come in
    whole 1/CLOCK_TICKS s steps, so a window of a second rounds by a tick or two: clamped to
    one core per thread, which is all a thread can use."""
    return max(0.0, min(ticks / CLOCK_TICKS / seconds * 100.0, 100.0 * max(threads, 1)))


@dataclass(frozen=True, slots=True)
class PidStat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    tty_nr: int
    flags: int
    utime: int  # clock ticks
    stime: int  # clock ticks
    num_threads: int
    starttime: int  # clock ticks after boot
    vsize: int  # bytes
    rss_pages: int
    processor: int

    @property
    def is_kernel_thread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)


def parse_stat(text: str) -> PidStat:
    """Parse one stat line. comm may hold spaces and ')', so split after the *last* ')'
    (docs/kernel-notes.md §1.4: a comm of 'evil) S 1 (x' fools a naive split)."""
    lpar = text.index("(")
    rpar = text.rindex(")")
    pid = int(text[:lpar])
    comm = text[lpar + 1 : rpar]
    f = text[rpar + 2 :].split()
    # f[0] is field 3 (state); field n of proc(5) is f[n - 3].
    return PidStat(
        pid=pid,
        comm=comm,
        state=f[0],
        ppid=int(f[1]),
        pgrp=int(f[2]),
        session=int(f[3]),
        tty_nr=int(f[4]),
        flags=int(f[6]),
        utime=int(f[11]),
        stime=int(f[12]),
        num_threads=int(f[17]),
        starttime=int(f[19]),
        vsize=int(f[20]),
        rss_pages=int(f[21]),
        processor=int(f[36]) if len(f) > 36 else -1,
    )
