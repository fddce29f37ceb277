"""Run the test suite on a busy box, as stucktui's users' boxes are: both cores busy and
thousands of extra processes. The suite must pass here every time.

    .venv/bin/python scripts/stress_tests.py                 # 3 runs, 2,000 idle processes, a hog per CPU
    .venv/bin/python scripts/stress_tests.py --runs 1 --procs 500 -- -m "not slow"

Everything it starts is a child ended by its pid in a `finally` (each also dies with this
script, PR_SET_PDEATHSIG, and ends itself after --lifetime minutes). Prints each run's result
and duration; exits 1 when any run failed.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _hog(lifetime: float) -> subprocess.Popen[bytes]:
    code = f"import time\nend = time.monotonic() + {lifetime}\nwhile time.monotonic() < end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code], preexec_fn=_die_with_parent)


def _idle(n: int, lifetime: float) -> subprocess.Popen[bytes]:
    """One spawner that forks `n` sleeping children (each dies with the spawner) and prints
    'ready' once they all exist."""
    code = f"""
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None)
kids = []
for _ in range({n}):
    pid = os.fork()
    if pid == 0:
        libc.prctl(1, signal.SIGKILL)
        time.sleep({lifetime})
        os._exit(0)
    kids.append(pid)
print("ready", flush=True)
try:
    time.sleep({lifetime})
finally:
    for pid in kids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, preexec_fn=_die_with_parent)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of the suite (default 3)")
    ap.add_argument("--procs", type=int, default=2000, help="extra idle processes (default 2000)")
    ap.add_argument("--hogs", type=int, default=os.cpu_count() or 2, help="busy loops (default: one per CPU)")
    ap.add_argument("--lifetime", type=float, default=60.0, help="minutes before the load ends itself")
    ap.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = ap.parse_args(argv)
    lifetime = args.lifetime * 60
    started: list[subprocess.Popen[bytes]] = []
    failed = 0
    try:
        if args.procs:
            spawner = _idle(args.procs, lifetime)
            started.append(spawner)
            assert spawner.stdout is not None
            if spawner.stdout.readline().strip() != b"ready":
                print("stress: the idle processes did not start", file=sys.stderr)
                return 2
        started += [_hog(lifetime) for _ in range(args.hogs)]
        print(f"stress: {args.procs} idle processes, {args.hogs} busy loops; {args.runs} runs", flush=True)
        for i in range(1, args.runs + 1):
            t0 = time.monotonic()
            rc = subprocess.call([sys.executable, "-m", "pytest", "-ra", "-q", *args.pytest_args])
            took = time.monotonic() - t0
            failed += rc != 0
            print(
                f"stress: run {i}: {'passed' if rc == 0 else f'FAILED (exit {rc})'} in {took:.0f} s",
                flush=True,
            )
    finally:
        for p in reversed(started):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
