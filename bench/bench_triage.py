"""Benchmark of the box-wide triage (issue 7): findings for every process, next to one
process-list snapshot measured in the same run, with 2,000 extra idle processes.

    python bench/bench_triage.py [--extra 2000] [--runs 9] [--demo]

Measured, interleaved (one of each per round), medians of --runs after one warm-up call each:
  snapshot          ProcessListCollector.collect(), steady state (the sampler's collector,
                    which reuses the rows of unchanged processes)
  first snapshot    ProcessListCollector().collect(): a new collector's first call
  triage            triage_box(processes=snapshot): what the sampler adds to a refresh
  triage standalone triage_box() taking its own first snapshot (as `report --all` does)
--demo also starts `stucktui demo`'s five incidents, so suspects get their full look (py-spy
included for the lock poller). Extra processes are ended by pid; so are the demo's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_files import end_many, spawn_many  # noqa: E402

from stucktui.collect.proclist import ProcessListCollector  # noqa: E402
from stucktui.demo import start_demo  # noqa: E402
from stucktui.diagnose.history import History
from stucktui.inspection.triage import triage_box
from stucktui.procfs.root import ProcRoot


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall ms, this thread's CPU ms, result)."""
    w0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    return (time.perf_counter() - w0) * 1000, (time.thread_time() - c0) * 1000, out


def measure(runs: int, python: bool) -> dict[str, list[float]]:
    root = ProcRoot()
    collector = ProcessListCollector(root)
    collector.collect()
    history = History()
    snap = collector.collect()
    triage_box(root, processes=snap, history=history, python=python)  # warm-up
    triage_box(root, python=python)
    keys = ("snap", "snap_cpu", "first", "first_cpu", "tri", "tri_cpu", "alone", "alone_cpu")
    res: dict[str, list[float]] = {k: [] for k in keys}
    suspects = findings = 0
    for _ in range(runs):
        w, c, snap = timed(collector.collect)
        res["snap"].append(w)
        res["snap_cpu"].append(c)
        w, c, _ = timed(ProcessListCollector(root).collect)
        res["first"].append(w)
        res["first_cpu"].append(c)
        w, c, r = timed(lambda: triage_box(root, processes=snap, history=history, python=python))  # noqa: B023
        res["tri"].append(w)
        res["tri_cpu"].append(c)
        suspects, findings = r.suspects, len(r.findings)  # type: ignore[attr-defined]
        w, c, _ = timed(lambda: triage_box(root, python=python))
        res["alone"].append(w)
        res["alone_cpu"].append(c)
    rows = len(snap.rows)  # type: ignore[attr-defined]
    med = {k: statistics.median(v) for k, v in res.items()}
    print(
        f"  {rows} processes, {suspects} suspects, {findings} findings, "
        f"python stacks {'on' if python else 'off'}\n"
        f"  snapshot           {med['snap']:7.1f} ms wall {med['snap_cpu']:7.1f} ms CPU\n"
        f"  first snapshot     {med['first']:7.1f} ms wall {med['first_cpu']:7.1f} ms CPU\n"
        f"  triage             {med['tri']:7.1f} ms wall {med['tri_cpu']:7.1f} ms CPU   "
        f"{med['tri'] / med['snap']:.2f}x the snapshot (wall), "
        f"{med['tri_cpu'] / med['snap_cpu']:.2f}x (CPU)\n"
        f"  triage standalone  {med['alone']:7.1f} ms wall {med['alone_cpu']:7.1f} ms CPU   "
        f"{med['alone'] / med['first']:.2f}x the first snapshot (wall), "
        f"{med['alone_cpu'] / med['first_cpu']:.2f}x (CPU)",
        flush=True,
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extra", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--demo", action="store_true", help="also run with the demo's five incidents")
    a = ap.parse_args()
    load = os.getloadavg()
    print(
        f"kernel {os.uname().release}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"euid {os.geteuid()}, load {load[0]:.2f}, medians of {a.runs}",
        flush=True,
    )
    spawner, pids = spawn_many(a.extra) if a.extra else (None, [])
    try:
        print(f"{a.extra} extra idle processes:", flush=True)
        measure(a.runs, python=True)
        if a.demo:
            demo = start_demo()
            try:
                demo.wait_developed(timeout=120)  # stderr full, CLOSE_WAIT sockets, the spin
                print(f"{a.extra} extra idle processes and the demo's incidents:", flush=True)
                measure(a.runs, python=True)
                measure(a.runs, python=False)
            finally:
                demo.stop()
    finally:
        if spawner is not None:
            end_many(spawner, pids)


if __name__ == "__main__":
    main()
