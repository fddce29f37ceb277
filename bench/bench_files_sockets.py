"""The Files tab (the sampler's PanelCollector.collect for the files panel alone, lazy, the
first 60 fds on screen) of a child holding loopback TCP connections (about 3/4 of N fds, half
of the accepted ends closed: CLOSE_WAIT), after a first refresh: the median and the fastest
of RUNS refreshes, and how many rows got their socket's ends. The child is ended by pid.

    python bench/bench_files_sockets.py N RUNS

Run it against two checkouts (PYTHONPATH=CHECKOUT) in turns to compare code.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time

from stucktui.inspection.sampler import Sampler
from stucktui.procfs.root import ProcRoot

HOLDER = textwrap.dedent(
    """
    import resource, signal, socket, sys
    n = int(sys.argv[1])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4096)
    keep = []
    for i in range(n // 2):
        c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()
        if i % 2: a.close()  # half CLOSE_WAIT
        else: keep.append(a)
        keep.append(c)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    signal.pause()
    """
)


def main() -> None:
    n, runs = int(sys.argv[1]), int(sys.argv[2])
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(n)], stdout=subprocess.PIPE)
    try:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        s = Sampler(ProcRoot())
        panels = s.panels
        fds = sorted(int(x) for x in os.listdir(f"/proc/{p.pid}/fd"))
        panels.show_fds(p.pid, frozenset(fds[:60]))
        times = []
        rows: tuple[object, ...] = ()
        for i in range(runs + 1):
            t = time.perf_counter()
            with ProcRoot().pid_dir(p.pid) as d:
                s.facts.tick()
                files = panels.collect(d, frozenset({"files"})).files
            if i:
                times.append((time.perf_counter() - t) * 1000)
            rows = getattr(files, "rows", ())
        ends = sum(1 for r in rows if getattr(r, "endpoint", None))
        med, low = statistics.median(times), min(times)
        print(f"{len(rows)} fds, {ends} with endpoints: median {med:.1f} ms, min {low:.1f} ms")
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()


if __name__ == "__main__":
    main()
