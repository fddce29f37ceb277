"""Benchmark: the Threads data (stucktui's /proc reads + py-spy merge) against `py-spy dump`
alone, for targets with 1, 100 and 1,000 threads, measured in the same run.

Run: python bench/bench_threads.py [--runs 9] [--threads 1,100,1000]
Each target is a CPython child whose threads block in a mix of pipe writes, lock waits and
sleeps; it is ended by pid at the end. Prints medians and ratios as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import textwrap
import time

from stucktui.collect.threads import ThreadCollector, merge_python
from stucktui.procfs import ProcRoot
from stucktui.tools.pyspy import PyDump, dump_python, find_pyspy

TARGET = textwrap.dedent(
    """
    import os, sys, threading, time
    n = int(sys.argv[1])
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 65536)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    lock = threading.Lock()
    lock.acquire()
    def pipe_writer():
        os.write(w, b"y")
    def lock_waiter():
        lock.acquire()
    def sleeper():
        time.sleep(100000)
    kinds = (pipe_writer, lock_waiter, sleeper)
    threading.stack_size(256 * 1024)
    for i in range(n - 1):
        threading.Thread(target=kinds[i % 3], daemon=True).start()
    print("ready", flush=True)
    time.sleep(100000)
    """
)


def start_target(n: int) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [sys.executable, "-c", TARGET, str(n)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    assert p.stdout is not None
    if p.stdout.readline().strip() != b"ready":
        raise RuntimeError("target did not start")
    deadline = time.monotonic() + 60
    while len(os.listdir(f"/proc/{p.pid}/task")) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return p


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def bench(n: int, runs: int, pyspy: str) -> dict[str, float]:
    p = start_target(n)
    root = ProcRoot()
    try:
        d = root.pid_dir(p.pid)
        col = ThreadCollector(root)
        col.collect(d)  # warm: ABI cached, CPU baseline taken, as in the app after selection
        t_spy: list[float] = []
        t_collect: list[float] = []
        t_merge: list[float] = []
        for i in range(runs):
            # alternate the order so neither side always runs on a warmer cache
            steps = ["spy", "collect"] if i % 2 == 0 else ["collect", "spy"]
            dump = None
            snap = None
            for step in steps:
                t0 = time.perf_counter()
                if step == "spy":
                    dump = dump_python(p.pid, binary=pyspy, timeout=120)
                    t_spy.append(time.perf_counter() - t0)
                else:
                    snap = col.collect(d)
                    t_collect.append(time.perf_counter() - t0)
            assert isinstance(dump, PyDump), dump
            assert snap is not None and len(snap.rows) == n, (len(snap.rows) if snap else None, n)
            t0 = time.perf_counter()
            merged = merge_python(snap, dump)
            t_merge.append(time.perf_counter() - t0)
            assert sum(r.python is not None for r in merged.rows) == n
        d.close()
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    spy, collect, merge = median_ms(t_spy), median_ms(t_collect), median_ms(t_merge)
    return {"n": n, "pyspy": spy, "collect": collect, "merge": merge, "ratio": (collect + merge) / spy}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--threads", default="1,100,1000")
    args = ap.parse_args()
    pyspy = find_pyspy()
    if pyspy is None:
        print("py-spy not found", file=sys.stderr)
        return 1
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, kernel {platform.release()}, "
        f"Python {platform.python_version()}, {args.runs} runs per size, py-spy --json --nonblocking"
    )
    print()
    print("| threads | py-spy dump (ms) | stucktui /proc collect (ms) | merge + group (ms) | added / py-spy |")
    print("|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.threads.split(",")):
        r = bench(n, args.runs, pyspy)
        print(
            f"| {n} | {r['pyspy']:.1f} | {r['collect']:.1f} | {r['merge']:.2f} | {r['ratio'] * 100:.0f}% |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
