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

from stucktui.collect.threads import ThreadCollector, collect_with_python
from stucktui.model.python import PyDump
from stucktui.model.threads import merge_python
from stucktui.procfs.root import ProcRoot
from stucktui.tools.pyspy import find_pyspy, parse_pyspy_json, pyspy_dump_argv, start_dump
from stucktui.tools.runner import run

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
    argv = pyspy_dump_argv(p.pid, nonblocking=True, binary=pyspy)
    times: dict[str, list[float]] = {k: [] for k in ("spy", "collect", "parse_merge", "view")}
    try:
        d = root.pid_dir(p.pid)
        col = ThreadCollector(root)
        col.collect(d)  # warm: ABI cached, CPU baseline taken, as in the app after selection
        order = ["spy", "collect", "view"]
        for i in range(runs):
            # rotate the order so no step always runs on a warmer cache
            for step in order[i % 3 :] + order[: i % 3]:
                t0 = time.perf_counter()
                if step == "spy":  # py-spy's own time: the process, no parsing
                    r = run(argv, timeout=120)
                    times["spy"].append(time.perf_counter() - t0)
                    assert r.ok, r.first_error_line
                    t0 = time.perf_counter()
                    dump = PyDump(p.pid, parse_pyspy_json(r.stdout), r.duration, True)
                    parse = time.perf_counter() - t0
                    snap = col.collect(d)
                    t0 = time.perf_counter()
                    merge_python(snap, dump)
                    times["parse_merge"].append(parse + time.perf_counter() - t0)
                elif step == "collect":
                    snap = col.collect(d)
                    times["collect"].append(time.perf_counter() - t0)
                    assert len(snap.rows) == n, (len(snap.rows), n)
                else:  # what the Threads view costs: /proc reads overlapped with py-spy
                    merged = collect_with_python(
                        col, d, start=lambda *a, **kw: start_dump(*a, binary=pyspy, **kw)
                    )
                    times["view"].append(time.perf_counter() - t0)
                    assert sum(r.python is not None for r in merged.rows) == n
        d.close()
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    m = {k: median_ms(v) for k, v in times.items()}
    return {
        "n": n,
        **m,
        "seq_ratio": (m["collect"] + m["parse_merge"]) / m["spy"],
        "view_ratio": (m["view"] - m["spy"]) / m["spy"],
    }


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
    print(
        "| threads | py-spy dump alone | /proc collect | parse + merge | Threads view "
        "(overlapped) | added by the view | sequential sum added |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.threads.split(",")):
        r = bench(n, args.runs, pyspy)
        print(
            f"| {n} | {r['spy']:.1f} ms | {r['collect']:.1f} ms | {r['parse_merge']:.1f} ms | "
            f"{r['view']:.1f} ms | {r['view_ratio'] * 100:+.0f}% | {r['seq_ratio'] * 100:+.0f}% |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
