"""Benchmark of the socket collector on a box with 10k/50k/100k CLOSE_WAIT sockets, next to ss and lsof.

Run as root from the repository root:  python bench/bench_sockets.py [--levels 10000,50000,100000]
Each level starts holder processes on loopback (each owns a listener whose accepted ends send
300 bytes and close, so the holder's ends sit in CLOSE_WAIT with unread data), waits for the
server ends to leave FIN_WAIT_2 (tcp_fin_timeout) unless --no-settle, times the operations,
prints medians and ratios, then ends exactly its holders by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stucktui.collect.sockets import SocketCollector  # noqa: E402

# RLIMIT_NOFILE's hard limit is 20,000 here and CAP_SYS_RESOURCE is missing, so a holder keeps
# at most this many sockets (plus stdio and its listener).
MAX_PER_PROC = 19_990

HOLDER = """
import os, resource, socket, sys, threading
k = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4096)
def serve():
    for _ in range(k):
        a, _ = srv.accept()
        a.sendall(b"x" * 300)
        a.close()
threading.Thread(target=serve, daemon=True).start()
keep = [socket.create_connection(srv.getsockname()) for _ in range(k)]
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.read()
"""

PEAK = """
import json, sys
sys.path.insert(0, sys.argv[2])
from stucktui.collect.sockets import SocketCollector
def hwm():  # VmHWM, not ru_maxrss: a child inherits its parent's ru_maxrss across fork + exec
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
base = hwm()
c = SocketCollector()
c.process_sockets(int(sys.argv[1]))
c.state_counts()
c.summary()
print(json.dumps({"base_kib": base, "peak_kib": hwm()}))
"""


def split(total: int) -> list[int]:
    """The selected holder first: 20,000 (19,990 here) when the box has room, else half."""
    first = min(MAX_PER_PROC, total // 2 if total < 2 * MAX_PER_PROC else MAX_PER_PROC)
    rest = total - first
    n = -(-rest // MAX_PER_PROC)
    return [first] + [rest // n + (1 if i < rest % n else 0) for i in range(n)]


def start(shares: list[int]) -> list[subprocess.Popen[bytes]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(k)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for k in shares
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline() != b"ready\n":
                raise SystemExit(f"holder {p.pid} failed")
    except BaseException:
        end(procs)
        raise
    return procs


def end(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)


def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run_cmd(argv: list[str]):
    return lambda: subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def level(total: int, reps: int, settle: bool) -> dict:
    shares = split(total)
    base_cw = SocketCollector().state_counts().get("CLOSE_WAIT", 0)
    t0 = time.monotonic()
    procs = start(shares)
    try:
        pid = procs[0].pid
        wait_for(
            lambda: SocketCollector().state_counts().get("CLOSE_WAIT", 0) >= base_cw + total,
            120,
            "CLOSE_WAIT",
        )
        if settle:  # orphaned server ends stay FIN_WAIT_2 for tcp_fin_timeout (60 s)
            wait_for(
                lambda: SocketCollector().state_counts().get("FIN_WAIT_2", 0) < total // 100, 150, "settle"
            )
        setup = time.monotonic() - t0
        states = SocketCollector().state_counts()
        res = {
            "total": total,
            "shares": shares,
            "box_states": states,
            "setup_s": round(setup, 1),
            "panel": timed(lambda: SocketCollector().process_sockets(pid), reps),
            "ss -tanp": timed(run_cmd(["ss", "-tanp"]), reps),
            "lsof -p PID -a -i": timed(run_cmd(["lsof", "-n", "-P", "-p", str(pid), "-a", "-i"]), reps),
            "counts": timed(lambda: SocketCollector().state_counts(), reps),
            "ss -s": timed(run_cmd(["ss", "-s"]), reps),
            "ss -tan state close-wait": timed(run_cmd(["ss", "-tan", "state", "close-wait"]), reps),
            "summary": timed(lambda: SocketCollector().summary(), reps),
        }
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = subprocess.run(
            [sys.executable, "-c", PEAK, str(pid), root], capture_output=True, text=True, check=True
        )
        res["memory"] = json.loads(out.stdout)
        ps = SocketCollector().process_sockets(pid)
        res["panel_rows"] = len(ps.rows)
        return res
    finally:
        end(procs)


def report(r: dict) -> None:
    med = {k: statistics.median(v) * 1000 for k, v in r.items() if isinstance(v, list) and k != "shares"}
    print(f"\n== {r['total']:,} CLOSE_WAIT sockets; holders {r['shares']}; box TCP states {r['box_states']}")
    print(f"   setup {r['setup_s']} s; selected process: {r['panel_rows']:,} socket rows")
    for k, v in med.items():
        print(f"   {k:<28} {v:8.1f} ms")
    print(
        f"   panel / lsof -p PID -a -i    {med['panel'] / med['lsof -p PID -a -i']:.2f}x   (target <= 0.5x)"
    )
    print(f"   panel / ss -tanp             {med['panel'] / med['ss -tanp']:.2f}x")
    print(
        f"   counts / ss -tan state cw    {med['counts'] / med['ss -tan state close-wait']:.2f}x"
        "   (target <= 0.75x)"
    )
    print(f"   counts / ss -s               {med['counts'] / med['ss -s']:.2f}x")
    m = r["memory"]
    print(
        f"   peak RSS {m['peak_kib'] / 1024:.1f} MiB (interpreter + imports {m['base_kib'] / 1024:.1f} MiB)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="10000,50000,100000")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--no-settle", action="store_true")
    ap.add_argument("--json", help="also write the raw timings here")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"kernel {os.uname().release}, {os.cpu_count()} cpus, RLIMIT_NOFILE {soft}/{hard}, reps {a.reps}")
    results = []
    for total in map(int, a.levels.split(",")):
        r = level(total, a.reps, not a.no_settle)
        report(r)
        results.append(r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
