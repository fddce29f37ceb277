"""Benchmark: the Threads data (stucktui's /proc reads + py-spy merge) against `py-spy dump`
alone, for targets with 1, 100 and 1,000 threads, measured in the same run.

Run: python bench/bench_threads.py [--runs 9] [--threads 1,100,1000] [--extra N] [--close-wait N]
Each target is a CPython child whose threads block in a mix of pipe writes, lock waits and
sleeps; it is ended by pid at the end. Prints medians and ratios as a Markdown table.
"Threads tab" is what the app runs for the tab each refresh: PanelCollector.collect for the
threads panel, with py-spy (every 5th refresh) and without; --extra adds idle processes that
hold a pipe each (bench_files.py's spawner) and --close-wait a socket load (cw_load.py), both
ended by pid, to show whether the tab's cost grows with the box.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import textwrap
import time

from bench_files import end_many, spawn_many
from cw_load import CloseWaitLoad

from stucktui.collect.threads import ThreadCollector, collect_with_python
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
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
    times: dict[str, list[float]] = {
        k: [] for k in ("spy", "collect", "parse_merge", "view", "tab", "tab_between", "refresh")
    }
    tab_want = frozenset({"threads"})
    try:
        d = root.pid_dir(p.pid)
        col = ThreadCollector(root)
        col.collect(d)  # warm: ABI cached, CPU baseline taken, as in the app after selection
        panels = Sampler(root).panels  # the collector the app's sampler keeps
        panels.collect(d, tab_want, python=True)  # the tab's first refresh, not counted
        sampler = Sampler(root)
        # the process view's whole refresh between dumps: detail, the tab, every rule's look
        request = SampleRequest(want_list=False, selected=(p.pid, None), panels=tab_want)
        sampler.sample(request)
        order = ["spy", "collect", "view", "tab", "tab_between", "refresh"]
        for i in range(runs):
            # rotate the order so no step always runs on a warmer cache
            k = i % len(order)
            for step in order[k:] + order[:k]:
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
                elif step in ("tab", "tab_between"):  # the app's refresh of the Threads tab
                    data = panels.collect(d, tab_want, python=step == "tab")
                    times[step].append(time.perf_counter() - t0)
                    assert data.threads is not None and not isinstance(data.threads, str)
                elif step == "refresh":
                    sampler.sample(request)
                    times[step].append(time.perf_counter() - t0)
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
        sampler.close()
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    m = {k: median_ms(v) for k, v in times.items()}
    return {
        "n": n,
        **m,
        "seq_ratio": (m["collect"] + m["parse_merge"]) / m["spy"],
        "view_ratio": (m["view"] - m["spy"]) / m["spy"],
        "tab_ratio": m["tab"] / m["spy"],
        "between_ratio": m["tab_between"] / m["spy"],
        "refresh_ratio": m["refresh"] / m["spy"],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--threads", default="1,100,1000")
    ap.add_argument("--extra", type=int, default=0, help="idle processes holding a pipe each")
    ap.add_argument("--close-wait", type=int, default=0, help="CLOSE_WAIT sockets held on the box")
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
    with contextlib.ExitStack() as stack:
        if args.extra:
            spawner, pids = spawn_many(args.extra)
            stack.callback(end_many, spawner, pids)
        if args.close_wait:
            print(stack.enter_context(CloseWaitLoad(args.close_wait)).describe())
        print(f"{sum(1 for x in os.listdir('/proc') if x.isdigit())} processes on the box")
        print()
        print(
            "| threads | py-spy dump alone | /proc collect | parse + merge | Threads view "
            "(overlapped) | added by the view | sequential sum added | Threads tab (with py-spy) "
            "| tab / py-spy | tab between dumps | between / py-spy | whole refresh | refresh / py-spy |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in (int(x) for x in args.threads.split(",")):
            r = bench(n, args.runs, pyspy)
            print(
                f"| {n} | {r['spy']:.1f} ms | {r['collect']:.1f} ms | {r['parse_merge']:.1f} ms | "
                f"{r['view']:.1f} ms | {r['view_ratio'] * 100:+.0f}% | {r['seq_ratio'] * 100:+.0f}% | "
                f"{r['tab']:.1f} ms | {r['tab_ratio']:.2f}x | {r['tab_between']:.1f} ms | "
                f"{r['between_ratio']:.2f}x | {r['refresh']:.1f} ms | {r['refresh_ratio']:.2f}x |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
