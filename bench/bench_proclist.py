"""Benchmark: the process list (issue 2, item 12). A script, not a timed test.

Run: python bench/bench_proclist.py [--quick] [--runs 15] [--extra 0,2000,5000] [--seconds 30]
                                   [--presses 40] [--skip-tui] [--profile] [--prototype]
Measures, in one run on this box:
  1. one snapshot of the process list (ProcessListCollector.collect, steady state) against
     `ps -eo pid,user,stat,pcpu,rss,nlwp,lstart,args > /dev/null`, with the box as it is and
     with 2,000 and 5,000 extra idle processes (`sleep`, started here, killed here by pid);
  2. steady CPU of the real TUI (rendering included) under a pty at --interval 1.5 against
     `htop -d 15` under the same pty size, at the largest --extra;
  3. key press to repaint of the real TUI under a pty while snapshots of the largest --extra
     are built back to back (--interval 0.1): the time from writing "down" to the pty until
     the frame with the moved cursor is handed to the terminal writer (bench/proclist_tui.py
     logs it), and until its bytes arrive on our side of the pty.
Prints Markdown tables. Every process started here is ended by pid in a finally block.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import fcntl
import io
import os
import platform
import pstats
import pty
import random
import resource
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cw_load import CloseWaitLoad

from stucktui.collect.proclist import ProcessListCollector
from stucktui.procfs.root import ProcRoot

HERE = Path(__file__).resolve().parent
PS_ARGV = ["ps", "-eo", "pid,user,stat,pcpu,rss,nlwp,lstart,args"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
COLS, ROWS = 160, 50
# sleepers outlive a benchmark that is SIGKILLed by at most this long
SLEEPER_LIFETIME_S = 1800
KEY_DOWN = b"\x1b[B"
KEY_HOME = b"\x1b[H"


def wait_until(pred: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def p95(xs: list[float]) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


# -- extra idle processes ---------------------------------------------------------------------
class Sleepers:
    """Idle `sleep` processes, children of this script, ended by pid and reaped."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Sleepers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def room() -> int:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        threads = sum(1 for _ in Path("/proc").glob("[0-9]*/task/[0-9]*"))
        return pid_max - threads - 500  # keep a margin for the rest of the box

    def grow_to(self, n: int) -> None:
        need = n - len(self.procs)
        if need <= 0:
            return
        if need > self.room():
            raise SystemExit(f"pid_max leaves no room for {need} more processes")
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY and soft < n + 1000:
            resource.setrlimit(resource.RLIMIT_NPROC, (hard, hard))
        for _ in range(need):
            p = subprocess.Popen(
                ["sleep", str(SLEEPER_LIFETIME_S)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.procs.append(p)
        # Popen returns after fork; wait until each child has exec'ed sleep and sleeps
        pending = list(self.procs)

        def all_sleeping() -> bool:
            nonlocal pending
            still = []
            for p in pending:
                try:
                    stat = Path(f"/proc/{p.pid}/stat").read_text()
                except OSError:
                    raise RuntimeError(f"sleeper {p.pid} died") from None
                if not (
                    stat[stat.index("(") + 1 : stat.rindex(")")] == "sleep"
                    and stat[stat.rindex(")") + 2] == "S"
                ):
                    still.append(p)
            pending = still
            return not pending

        wait_until(all_sleeping, 120, f"{need} sleepers to start", step=0.2)

    def stop(self) -> None:
        for p in self.procs:
            if p.returncode is None:  # not reaped yet, so the pid is still ours
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
        for p in self.procs:
            p.wait()
        self.procs = []


# -- 1. one snapshot -------------------------------------------------------------------------
@dataclass
class SnapshotCost:
    extra: int
    rows: int
    ours_wall: list[float] = field(default_factory=list)
    ours_cpu: list[float] = field(default_factory=list)
    ps_wall: list[float] = field(default_factory=list)
    ps_cpu: list[float] = field(default_factory=list)
    proto_cpu: list[float] = field(default_factory=list)
    full_scans: int = 0  # refreshes that read every fd of the box for the CLOSE_WAIT column


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def snapshot_cost(extra: int, runs: int, prototype: bool = False) -> SnapshotCost:
    coll = ProcessListCollector(ProcRoot())
    coll.collect()  # the first call fills the user cache and the CPU% baseline
    coll.collect()  # rows become reusable once they carry a CPU% rate
    proto = None
    out = SnapshotCost(extra, 0)
    scans0 = coll._cw.full_scans
    for _ in range(runs):
        if proto is not None:
            c0 = time.thread_time()
            proto.collect()
            out.proto_cpu.append(time.thread_time() - c0)
        c0, t0 = time.thread_time(), time.perf_counter()
        snap = coll.collect()
        out.ours_wall.append(time.perf_counter() - t0)
        out.ours_cpu.append(time.thread_time() - c0)
        out.rows = len(snap.rows)
        c0, t0 = children_cpu(), time.perf_counter()
        subprocess.run(PS_ARGV, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
        out.ps_wall.append(time.perf_counter() - t0)
        out.ps_cpu.append(children_cpu() - c0)
    out.full_scans = coll._cw.full_scans - scans0
    return out


def print_snapshot_table(results: list[SnapshotCost]) -> None:
    print("\n### One snapshot of the process list (median of runs, ms)\n")
    print(
        "| extra idle procs | rows | stucktui wall | stucktui CPU | ps wall | ps CPU "
        "| wall ratio | CPU ratio | full CLOSE_WAIT scans |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ow, oc, pw, pc = (median(x) * 1000 for x in (r.ours_wall, r.ours_cpu, r.ps_wall, r.ps_cpu))
        print(
            f"| {r.extra} | {r.rows} | {ow:.1f} | {oc:.1f} | {pw:.1f} | {pc:.1f} "
            f"| {ow / pw:.2f}x | {oc / pc:.2f}x | {r.full_scans} of {len(r.ours_cpu)} |"
        )
    if any(r.proto_cpu for r in results):
        print("\nPrototype with row reuse (bench/proclist_prototype.py), CPU ms and CPU ratio to ps:")
        for r in results:
            pr, pc = median(r.proto_cpu) * 1000, median(r.ps_cpu) * 1000
            print(f"- {r.extra} extra: {pr:.1f} ms, {pr / pc:.2f}x")


def profile_collect(top: int = 14) -> None:
    coll = ProcessListCollector(ProcRoot())
    coll.collect()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        coll.collect()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    print("\n### cProfile of 5 x ProcessListCollector.collect() (tottime)\n\n```")
    print("\n".join(ln for ln in buf.getvalue().splitlines() if ln.strip())[:6000])
    print("```")


def profile_tui(seconds: float, top: int = 25) -> None:
    """cProfile of the TUI's UI thread (the sampler thread is not profiled: see above)."""
    with tempfile.TemporaryDirectory(prefix="proclist-prof-") as tmp:
        out = Path(tmp) / "ui.pstats"
        with stucktui_under_pty(1.5, {"PROCLIST_PROFILE": str(out)}) as (child, log):
            wait_until(lambda: child.alive() and len(read_log(log)[0]) >= 2, 120, "two stucktui samples")
            time.sleep(seconds)
            child.send(b"q")
            wait_until(lambda: child.proc.poll() is not None, 30, "stucktui to quit")
            samples, _ = read_log(log)
        for order in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(str(out), stream=buf).sort_stats(order).print_stats(top)
            print(
                f"\n### cProfile of the TUI's UI thread, {seconds:g}s + start-up, "
                f"{len(samples)} samples ({order})\n"
            )
            print("```")
            print("\n".join(ln for ln in buf.getvalue().splitlines() if ln.strip() and "Ordered" not in ln))
            print("```")


# -- programs under a pty ---------------------------------------------------------------------
class PtyChild:
    """A program on its own pty of COLS x ROWS; a thread drains its output (a full pty
    would block it) and records when bytes arrive."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        full_env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS), **(env or {}))
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.arrivals: list[tuple[float, int]] = []  # (monotonic, bytes)
        self.tail = b""  # the last output, shown if the program dies
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain(self) -> None:
        while True:
            try:
                b = os.read(self.master, 65536)
            except OSError:
                return
            if not b:
                return
            self.arrivals.append((time.monotonic(), len(b)))
            self.tail = (self.tail + b)[-4000:]

    def alive(self) -> bool:
        if self.proc.poll() is None:
            return True
        text = self.tail.decode("utf-8", "replace")
        raise RuntimeError(
            f"{self.proc.args[:3]} exited with {self.proc.returncode}; its last output:\n{text}"
        )

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        f = stat[stat.rindex(")") + 2 :].split()
        return (int(f[11]) + int(f[12])) / CLK_TCK  # utime + stime, all threads

    def stop(self, quit_keys: bytes | None = None) -> None:
        if self.proc.returncode is None and quit_keys:
            with contextlib.suppress(OSError):
                self.send(quit_keys)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.proc.returncode is None:  # not reaped, so the pid is still this child
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


@contextlib.contextmanager
def stucktui_under_pty(interval: float, env: dict[str, str] | None = None) -> Iterator[tuple[PtyChild, Path]]:
    with tempfile.TemporaryDirectory(prefix="proclist-bench-") as tmp:
        log = Path(tmp) / "tui.log"
        log.touch()
        child = PtyChild([sys.executable, str(HERE / "proclist_tui.py"), str(interval), str(log)], env)
        try:
            yield child, log
        finally:
            child.stop(quit_keys=b"q")


def read_log(log: Path) -> tuple[list[tuple[float, float, int]], list[tuple[float, int]]]:
    samples, frames = [], []
    for line in log.read_text().splitlines():
        p = line.split()
        if p[0] == "sample":
            samples.append((float(p[1]), float(p[2]), int(p[3])))
        elif p[0] == "frame":
            frames.append((float(p[1]), int(p[2])))
    return samples, frames


# -- 2. steady CPU ----------------------------------------------------------------------------
@dataclass
class SteadyCpu:
    name: str
    cpu_s: float
    wall_s: float
    refreshes: float

    @property
    def ms_per_refresh(self) -> float:
        return self.cpu_s / self.refreshes * 1000

    @property
    def cpu_percent(self) -> float:
        return self.cpu_s / self.wall_s * 100


def steady_stucktui(seconds: float) -> SteadyCpu:
    with stucktui_under_pty(1.5) as (child, log):
        wait_until(lambda: child.alive() and len(read_log(log)[0]) >= 3, 120, "three stucktui samples")
        c0, t0 = child.cpu_seconds(), time.monotonic()
        time.sleep(seconds)  # the measurement window itself
        c1, t1 = child.cpu_seconds(), time.monotonic()
        samples, _ = read_log(log)
        n = sum(1 for _, end, _ in samples if t0 <= end <= t1)
        return SteadyCpu("stucktui --interval 1.5", c1 - c0, t1 - t0, n)


def steady_htop(seconds: float) -> SteadyCpu:
    child = PtyChild(["/usr/bin/htop", "-d", "15"])
    try:
        wait_until(lambda: sum(n for _, n in child.arrivals) > 1000, 60, "htop to draw")
        time.sleep(3.0)  # past htop's start-up scans, into its 1.5 s rhythm
        c0, t0 = child.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = child.cpu_seconds(), time.monotonic()
        return SteadyCpu("htop -d 15", c1 - c0, t1 - t0, (t1 - t0) / 1.5)
    finally:
        child.stop(quit_keys=b"q")


def print_steady(extra: int, rows: list[SteadyCpu]) -> None:
    print(f"\n### Steady CPU with rendering, {extra} extra idle processes, {COLS}x{ROWS} pty\n")
    print("| program | window s | refreshes | CPU s | CPU % | CPU ms / refresh |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.name} | {r.wall_s:.1f} | {r.refreshes:.1f} | {r.cpu_s:.2f} | {r.cpu_percent:.1f} "
            f"| {r.ms_per_refresh:.0f} |"
        )
    if len(rows) == 2:
        a, b = rows
        print(f"\nstucktui / htop per refresh: {a.ms_per_refresh / b.ms_per_refresh:.2f}x")


# -- 3. key press to repaint ------------------------------------------------------------------
@dataclass
class KeyLatency:
    by_phase: dict[str, list[float]] = field(default_factory=dict)  # seconds to the frame
    arrive: list[float] = field(default_factory=list)  # to the frame's bytes on our side
    lost: int = 0
    samples_ms: list[float] = field(default_factory=list)
    updates_ms: list[float] = field(default_factory=list)
    busy_fraction: float = 0.0
    gcs: list[tuple[float, float, int, float]] = field(default_factory=list)  # collections in the span
    with_gc: list[float] = field(default_factory=list)  # presses a collection of gen 1/2 overlapped


PHASES = (
    "sampler thread collecting",
    "UI thread updating the table",
    "neither (idle, or the UI's deferred work)",
)


def read_updates(log: Path) -> list[tuple[float, float]]:
    return [
        (float(p[1]), float(p[2]))
        for p in (ln.split() for ln in log.read_text().splitlines())
        if p[0] == "update"
    ]


def read_gcs(log: Path) -> list[tuple[float, float, int, float]]:
    """The garbage collections proclist_tui.py logged: (start, end, generation, CPU seconds)."""
    return [
        (float(p[1]), float(p[2]), int(p[3]), float(p[4]))
        for p in (ln.split() for ln in log.read_text().splitlines())
        if p[0] == "gc"
    ]


def key_latency(presses: int) -> KeyLatency:
    """Down-arrow presses at random gaps while the sampler runs back to back (interval 0.1 s).
    Each press is put in the phase the app was in when it was written: a sample being
    collected in the sampler thread, the UI thread applying a snapshot to the table, or
    neither. Sorted by pid first, so that refreshes do not move the cursor row."""
    out = KeyLatency(by_phase={p: [] for p in PHASES})
    with stucktui_under_pty(0.1) as (child, log):
        wait_until(lambda: child.alive() and len(read_log(log)[0]) >= 3, 120, "three stucktui samples")
        child.send(b"N")
        time.sleep(0.3)
        child.send(KEY_HOME)
        wait_until(
            lambda: child.alive() and (f := read_log(log)[1]) and f[-1][1] == 0, 30, "the cursor on row 0"
        )
        time.sleep(0.5)
        rng = random.Random(12)
        sends: list[float] = []
        for _ in range(presses):
            sends.append(time.monotonic())
            child.send(KEY_DOWN)
            time.sleep(rng.uniform(0.2, 0.6))
        time.sleep(2.0)
        samples, frames = read_log(log)
        updates = read_updates(log)
        gcs = read_gcs(log)
    base = [row for t, row in frames if t < sends[0]]
    r0 = base[-1] if base else 0
    for k, ts in enumerate(sends, start=1):
        hit = next((t for t, row in frames if t >= ts and row >= r0 + k), None)
        if hit is None:
            out.lost += 1
            continue
        if any(a <= ts <= b for a, b, _ in samples):
            phase = PHASES[0]
        elif any(a <= ts <= b for a, b in updates):
            phase = PHASES[1]
        else:
            phase = PHASES[2]
        out.by_phase[phase].append(hit - ts)
        if any(g and a <= hit and b >= ts for a, b, g, _ in gcs):
            out.with_gc.append(hit - ts)
        arr = next((t for t, _ in child.arrivals if t >= hit), None)
        if arr is not None:
            out.arrive.append(arr - ts)
    lo, hi = sends[0], sends[-1]
    win = [(a, b) for a, b, _ in samples if b >= lo and a <= hi]
    out.samples_ms = [(b - a) * 1000 for a, b in win]
    out.updates_ms = [(b - a) * 1000 for a, b in updates if b >= lo and a <= hi]
    out.busy_fraction = sum(min(b, hi) - max(a, lo) for a, b in win) / max(1e-9, hi - lo)
    out.gcs = [x for x in gcs if x[1] >= lo and x[0] <= hi]
    return out


def print_keys(extra: int, k: KeyLatency) -> None:
    print(f"\n### Key press (down) to repaint, {extra} extra idle processes, samples back to back\n")
    print(
        f"sampler thread collecting {k.busy_fraction * 100:.0f}% of the time; one sample "
        f"{median(k.samples_ms):.0f} ms wall median (max {max(k.samples_ms, default=float('nan')):.0f}); "
        f"applying it to the table on the UI thread {median(k.updates_ms):.0f} ms median "
        f"(max {max(k.updates_ms, default=float('nan')):.0f})"
    )
    print("\n| presses | pressed while | median ms | p95 ms | max ms |")
    print("|---:|---|---:|---:|---:|")
    rows = [(label, [x * 1000 for x in xs]) for label, xs in k.by_phase.items()]
    rows.append(("any (to the frame)", [x * 1000 for xs in k.by_phase.values() for x in xs]))
    rows.append(("any (to its bytes on the pty)", [x * 1000 for x in k.arrive]))
    for label, xs in rows:
        if xs:
            print(f"| {len(xs)} | {label} | {median(xs):.0f} | {p95(xs):.0f} | {max(xs):.0f} |")
    if k.lost:
        print(f"\n{k.lost} presses never repainted within the run")


# -- main ------------------------------------------------------------------------------------
def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that end our children


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer runs, shorter windows (about 2 minutes)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--extra", default="0,2000,5000", help="extra idle processes, comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0, help="steady-CPU window per program")
    ap.add_argument("--presses", type=int, default=40)
    ap.add_argument("--skip-tui", action="store_true", help="only the snapshot cost")
    ap.add_argument(
        "--close-wait",
        type=int,
        default=0,
        help="also hold this many CLOSE_WAIT sockets, a stuck listener and two leakers (bench/cw_load.py)",
    )
    ap.add_argument("--estab", type=int, default=0, help="with --close-wait: established connections too")
    ap.add_argument("--prototype", action="store_true", help=argparse.SUPPRESS)  # merged into stucktui
    ap.add_argument(
        "--profile", action="store_true", help="also cProfile the collector at the largest --extra"
    )
    args = ap.parse_args()
    if args.quick:
        args.runs, args.seconds, args.presses = 5, 12.0, 15
    extras = sorted(int(x) for x in args.extra.split(","))
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)

    print(f"## Process list benchmark ({time.strftime('%Y-%m-%d %H:%M')})\n")
    print(
        f"{platform.node()} · Linux {platform.release()} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · euid {os.geteuid()} · "
        f"{sum(1 for n in os.listdir('/proc') if n.isdigit())} processes before the benchmark"
    )
    results: list[SnapshotCost] = []
    with Sleepers() as sleepers, contextlib.ExitStack() as stack:
        if args.close_wait:
            load = stack.enter_context(CloseWaitLoad(args.close_wait, args.estab))
            print(f"\n{load.describe()}")
        for n in extras:
            sleepers.grow_to(n)
            results.append(snapshot_cost(n, args.runs, args.prototype))
        print_snapshot_table(results)
        if args.profile:
            profile_collect()
            if not args.skip_tui:
                profile_tui(args.seconds)
        if not args.skip_tui:
            steady = [steady_stucktui(args.seconds), steady_htop(args.seconds)]
            print_steady(extras[-1], steady)
            print_keys(extras[-1], key_latency(args.presses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
