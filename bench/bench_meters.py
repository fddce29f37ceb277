"""Benchmark: the cost of the header meters (issue 19) next to the process list scan they ride
on, and next to `ps -eo ...` as the yardstick of the box's speed. A script, not a timed test.

Run: python bench/bench_meters.py [--rounds 30]
Each round, interleaved: one MeterCollector.read (psutil: /proc/stat, /proc/meminfo, vmstat;
task counts from the rows), one ProcessListCollector.collect (the box lane's list scan), one
`ps -eo ...` (bench_proclist's command, as a child). Prints the medians of the CPU time of
each (this process's for the first two, the child's for ps) and the meters' share of the scan.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

from bench_proclist import PS_ARGV, children_cpu, median

from stucktui.collect.meters import MeterCollector
from stucktui.collect.proclist import ProcessListCollector
from stucktui.procfs.root import ProcRoot


def cpu_of(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    root = ProcRoot()
    scan = ProcessListCollector(root)
    meters = MeterCollector(root)
    rows = scan.collect().rows
    meters.read(rows)  # the first reading has no CPU% yet
    m, s, p = [], [], []
    for _ in range(args.rounds):
        m.append(cpu_of(lambda: meters.read(rows)))
        s.append(cpu_of(lambda: scan.collect()))
        c0 = children_cpu()
        subprocess.run(PS_ARGV, stdout=subprocess.DEVNULL, check=True)
        p.append(children_cpu() - c0)
    print(f"{platform.node()}: {len(rows):,} processes, {len(meters.read(rows).cpu or ())} cores")
    print(f"meters read   median CPU {median(m) * 1000:8.2f} ms")
    print(f"list scan     median CPU {median(s) * 1000:8.2f} ms")
    print(f"ps -eo ...    median CPU {median(p) * 1000:8.2f} ms")
    print(f"meters / list scan: {median(m) / median(s):.2%}")


if __name__ == "__main__":
    main()
