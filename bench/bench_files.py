"""Benchmark of the Files data layer: the box-wide pipe map and a 20,000-fd Files panel,
each next to lsof (and lsfd) measured in the same run. Extra processes are ended by pid.

    python bench/bench_files.py [--procs 2000,5000] [--fds 20000] [--runs 5] [--tab-extra 2000]

"Files tab" is what the app runs for the tab each refresh (PanelCollector.collect for the files
panel, the rows on screen given as the table asks for them), with --tab-extra idle processes
on the box (the box-wide work a tab may do grows with them), next to lsof -p in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

from stucktui.collect.files import collect_files, scan_pipes
from stucktui.inspection.sampler import Sampler
from stucktui.procfs.root import ProcRoot

# A spawner forks N children, each holding both ends of its own pipe, then reaps them.
SPAWNER = textwrap.dedent(
    """
    import os, signal, sys
    n = int(sys.argv[1])
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.pipe()
            signal.pause()
            os._exit(0)
        pids.append(pid)
    sys.stdout.write(" ".join(map(str, pids)) + "\\n"); sys.stdout.flush()
    for _ in pids:
        os.wait()
    """
)

# One process with N fds: pipes (a tenth) and the rest a regular file opened again and again.
HOLDER = textwrap.dedent(
    """
    import os, resource, signal, sys
    n = int(sys.argv[1])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # may be exactly n: fds 0..n-1
    for _ in range(n // 20):
        os.pipe()
    have = len(os.listdir("/proc/self/fd")) - 1
    for _ in range(n - have):
        os.open("/etc/hostname", os.O_RDONLY)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    signal.pause()
    """
)


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_cmd(argv: list[str]) -> Callable[[], object]:
    return lambda: subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def spawn_many(n: int) -> tuple[subprocess.Popen[bytes], list[int]]:
    p = subprocess.Popen(
        [sys.executable, "-c", SPAWNER, str(n)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert p.stdout is not None
    pids = [int(x) for x in p.stdout.readline().split()]
    if len(pids) != n:
        raise RuntimeError(f"spawner started {len(pids)} of {n} processes")
    return p, pids


def end_many(spawner: subprocess.Popen[bytes], pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        spawner.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.kill(spawner.pid, signal.SIGKILL)
        spawner.wait()
    if spawner.stdout:
        spawner.stdout.close()


def bench_pipe_map(counts: list[int], runs: int) -> None:
    lsfd = shutil.which("lsfd")
    root = ProcRoot()
    for n in counts:
        spawner, pids = spawn_many(n)
        try:
            m = scan_pipes(root)
            fds = sum(len(v) for v in m.pipes.values())
            ours = median_time(lambda: scan_pipes(root), runs)
            lsof = median_time(run_cmd(["lsof", "-n"]), runs)
            line = (
                f"pipe map, {n} extra processes ({len(root.pids())} in all, {len(m.pipes)} pipes, "
                f"{fds} pipe fds): stucktui {ours * 1000:.0f} ms, lsof -n {lsof * 1000:.0f} ms "
                f"(ratio {ours / lsof:.2f})"
            )
            if lsfd:
                lf = median_time(run_cmd([lsfd]), runs)
                line += f", lsfd {lf * 1000:.0f} ms (ratio {ours / lf:.2f})"
            else:
                line += ", lsfd not installed (apt-get install util-linux)"
            print(line, flush=True)
        finally:
            end_many(spawner, pids)


def bare_loop(pid: int) -> int:
    """The floor of the panel: readlink and fdinfo of every fd, through one open directory
    each, with no parsing and no rows."""
    fd_dir = os.open(f"/proc/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    info_dir = os.open(f"/proc/{pid}/fdinfo", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    n = 0
    try:
        for name in os.listdir(fd_dir):
            os.readlink(name, dir_fd=fd_dir)
            f = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=info_dir)
            n += len(os.read(f, 4096))
            os.close(f)
    finally:
        os.close(fd_dir)
        os.close(info_dir)
    return n


ON_SCREEN = 60  # rows of the Files table a tall terminal shows


def bench_tab(pid: int, runs: int, lsof: float) -> None:
    """The Files tab as the app refreshes it: the panel collector kept across refreshes, the
    fds on screen asked for (when this version of stucktui takes them)."""
    root = ProcRoot()
    panels = Sampler(root).panels  # the collector the app's sampler keeps
    want = frozenset({"files"})
    with root.pid_dir(pid) as d:
        if hasattr(panels, "show_fds"):
            panels.show_fds(pid, frozenset(range(ON_SCREEN)))
        panels.collect(d, want)  # the first refresh of the tab, not counted
        tab = median_time(lambda: panels.collect(d, want), runs)
    procs = sum(1 for x in os.listdir("/proc") if x.isdigit())
    print(
        f"Files tab as the app runs it ({procs} processes on the box): {tab * 1000:.0f} ms, "
        f"lsof -p {lsof * 1000:.0f} ms (ratio {tab / lsof:.2f})",
        flush=True,
    )


def bench_panel(nfds: int, runs: int, tab_extra: int = 0) -> None:
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(nfds)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert p.stdout is not None
        if p.stdout.readline() != b"ready\n":
            raise RuntimeError("fd holder failed (raising RLIMIT_NOFILE needs root)")
        root = ProcRoot()
        pipe_map = scan_pipes(root)
        files = collect_files(root, p.pid, pipe_map=pipe_map)
        panel = median_time(lambda: collect_files(root, p.pid, pipe_map=pipe_map), runs)
        full = median_time(lambda: collect_files(root, p.pid), runs)
        bare = median_time(lambda: bare_loop(p.pid), runs)
        lsof = median_time(run_cmd(["lsof", "-p", str(p.pid)]), runs)
        print(
            f"Files panel, {files.fd_count} fds ({dict(files.counts)}): stucktui with fdinfo "
            f"{panel * 1000:.0f} ms (pipe map given), {full * 1000:.0f} ms (scanning the pipe map "
            f"too), lsof -p {lsof * 1000:.0f} ms (ratios {panel / lsof:.2f} and {full / lsof:.2f}); "
            f"floor: bare readlink + fdinfo loop {bare * 1000:.0f} ms (ratio {bare / lsof:.2f})",
            flush=True,
        )
        bench_tab(p.pid, runs, lsof)
        if tab_extra:
            spawner, pids = spawn_many(tab_extra)
            try:
                lsof = median_time(run_cmd(["lsof", "-p", str(p.pid)]), runs)
                bench_tab(p.pid, runs, lsof)
            finally:
                end_many(spawner, pids)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        if p.stdout:
            p.stdout.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--procs", default="2000,5000")
    ap.add_argument("--fds", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tab-extra", type=int, default=2000, help="idle processes for the tab's second run")
    a = ap.parse_args()
    print(
        f"kernel {os.uname().release}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, medians of {a.runs}"
    )
    bench_pipe_map([int(x) for x in a.procs.split(",") if x], a.runs)
    if a.fds:
        bench_panel(a.fds, a.runs, a.tab_extra)


if __name__ == "__main__":
    main()
