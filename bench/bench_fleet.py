"""Benchmark: the cost on a box of the fleet's textfile run (issue 21, item 2). A script, not a
timed test.

Run: python bench/bench_fleet.py [--extra 2000] [--runs 7] [--every 60] [--timeout 60] [--this-box]
By default it runs in a new pid and network namespace (`unshare --pid --fork --mount-proc
--net`, as root): the box measured is exactly --extra idle processes and no socket, whatever
else runs on this machine (other benchmarks' thousands of processes and sockets would make it
another box; the kernel ends whatever is left in the namespace when the script ends). With
--this-box it measures the machine as it is, plus --extra.
Measures, with --extra idle `sleep` processes started here (bench_proclist.Sleepers: ended by
pid and reaped in a finally block), the CPU time (user + system, of stucktui and anything it
ran) of `stucktui report --all --format openmetrics --output FILE`, the command the README's
systemd timer runs once a minute, as a new process each time (as the timer starts it). Runs
are interleaved with `ps -eo ...` (bench_proclist's command) as a yardstick of the box's speed
at that moment. Prints each run and the medians, and the median CPU as a share of one core at
one run every --every seconds: the target is under 2% at 60 s on a box of 2,000 processes.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_proclist import PS_ARGV, Sleepers, children_cpu, median

STUCKTUI = [sys.executable, "-m", "stucktui"]


def one_run(out: Path, timeout: float) -> tuple[float, float, int, dict[str, float]]:
    """(cpu s, wall s, exit status, the file's unlabelled gauges) of one textfile run."""
    argv = [*STUCKTUI, "report", "--all", "--format", "openmetrics", "--output", str(out)]
    argv += ["--timeout", f"{timeout:g}"]
    c0, t0 = children_cpu(), time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if r.returncode not in (0, 4):
        raise SystemExit(f"stucktui exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
    gauges = {
        m.group(1): float(m.group(2)) for m in re.finditer(r"^(stucktui_\w+) (\S+)$", out.read_text(), re.M)
    }
    return cpu, wall, r.returncode, gauges


def ps_cpu() -> float:
    c0 = children_cpu()
    subprocess.run(PS_ARGV, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
    return children_cpu() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extra", type=int, default=2000, help="extra idle processes started here")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--every", type=float, default=60.0, help="seconds between two runs on the box")
    ap.add_argument("--timeout", type=float, default=60.0, help="stucktui's --timeout per run")
    ap.add_argument("--this-box", action="store_true", help="measure the machine as it is, plus --extra")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)  # already in the namespace
    args = ap.parse_args()
    if not (args.this_box or args.inside):
        unshare = ["unshare", "--pid", "--fork", "--mount-proc", "--net"]
        return subprocess.run([*unshare, sys.executable, *sys.argv, "--inside"], check=False).returncode
    where = "its own pid and network namespace" if args.inside else "this machine as it is"
    cpus, walls, pss = [], [], []
    with Sleepers() as sleepers, tempfile.TemporaryDirectory() as tmp:
        sleepers.grow_to(args.extra)
        out = Path(tmp) / "stucktui.prom"
        print(
            f"{platform.node()}, {where}: {args.extra} extra idle processes, {args.runs} runs, "
            f"{time.strftime('%F %T %Z')}"
        )
        print("| run | CPU s | wall s | exit | processes | examined | findings | scan s | ps CPU s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for i in range(args.runs):
            cpu, wall, code, g = one_run(out, args.timeout)
            ps = ps_cpu()
            cpus.append(cpu)
            walls.append(wall)
            pss.append(ps)
            findings = g.get("stucktui_processes_with_findings", float("nan"))
            print(
                f"| {i + 1} | {cpu:.3f} | {wall:.2f} | {code} | {g.get('stucktui_processes', 0):.0f} | "
                f"{g.get('stucktui_examined_processes', 0):.0f} | {findings:.0f} | "
                f"{g['stucktui_scan_duration_seconds']:.2f} | {ps:.3f} |",
                flush=True,
            )
    cpu = median(cpus)
    share = 100.0 * cpu / args.every
    print(
        f"\nmedian CPU {cpu:.3f} s a run (wall {median(walls):.2f} s; ps {median(pss):.3f} s, "
        f"ratio {cpu / median(pss):.1f}x): {share:.2f}% of one core at one run every {args.every:g} s "
        f"(target < 2%: {'met' if share < 2 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
