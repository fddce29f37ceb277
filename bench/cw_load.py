"""A CLOSE_WAIT load for the process-list benchmark (`bench_proclist.py --close-wait N`).

Started as children of the benchmark, ended by pid in its finally block:
- holders: each owns a listener whose accepted ends send 300 bytes and close, so the holder's
  own client ends sit in CLOSE_WAIT (N in all, at most MAX_PER_PROC a process);
- a stuck server: a listener that never accepts, with QUEUED connections whose clients
  closed while they waited in its accept queue (CLOSE_WAIT with inode 0: no fd holds them);
- a leaker: a new CLOSE_WAIT socket every LEAK_EVERY seconds (its fd count grows);
- a swapper: the same, but it closes its oldest CLOSE_WAIT socket each time (its fd count
  stays the same, so only a read of its fds can tell the new socket is its own);
- optionally ESTAB established loopback connections, both ends held (a busy box's sockets,
  none of them in CLOSE_WAIT).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from stucktui.collect.sockets import SocketCollector

MAX_PER_PROC = 19_990
QUEUED = 64
LEAK_EVERY = 0.2

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

PAIRS = """
import resource, socket, sys, threading
k = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4096)
ends = []
def serve():
    for _ in range(k):
        ends.append(srv.accept()[0])
t = threading.Thread(target=serve, daemon=True)
t.start()
keep = [socket.create_connection(srv.getsockname()) for _ in range(k)]
t.join()
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.read()
"""

STUCK_SERVER = """
import socket, sys
m = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(m + 8)
for _ in range(m):
    socket.create_connection(srv.getsockname()).close()
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.read()
"""

LEAKER = """
import socket, sys, threading, time
every, swap = float(sys.argv[1]), sys.argv[2] == "swap"
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(128)
def serve():
    while True:
        a, _ = srv.accept()
        a.close()
threading.Thread(target=serve, daemon=True).start()
keep = [socket.create_connection(srv.getsockname()) for _ in range(50)]
sys.stdout.write("ready\\n"); sys.stdout.flush()
while len(keep) < 5000:
    time.sleep(every)
    if swap:
        keep.pop(0).close()
    keep.append(socket.create_connection(srv.getsockname()))
sys.stdin.read()
"""


def _close_wait() -> int:
    return SocketCollector().state_counts().get("CLOSE_WAIT", 0)


class CloseWaitLoad:
    """N held CLOSE_WAIT sockets, QUEUED abandoned in an accept queue, a leaker and a swapper."""

    def __init__(self, n: int, estab: int = 0) -> None:
        self.n = n
        self.estab = estab
        self.procs: list[subprocess.Popen[bytes]] = []

    def _start(self, script: str, *args: str) -> None:
        p = subprocess.Popen(
            [sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.procs.append(p)
        assert p.stdout is not None
        if p.stdout.readline() != b"ready\n":
            raise RuntimeError(f"load process {p.pid} failed to start")

    def __enter__(self) -> CloseWaitLoad:
        base = _close_wait()
        try:
            left = self.n
            while left > 0:
                k = min(MAX_PER_PROC, left)
                self._start(HOLDER, str(k))
                left -= k
            left = self.estab
            while left > 0:
                k = min(MAX_PER_PROC // 2, left)
                self._start(PAIRS, str(k))
                left -= k
            self._start(STUCK_SERVER, str(QUEUED))
            self._start(LEAKER, str(LEAK_EVERY), "grow")
            self._start(LEAKER, str(LEAK_EVERY), "swap")
            deadline = time.monotonic() + 120
            while _close_wait() < base + self.n + QUEUED:
                if time.monotonic() > deadline:
                    raise RuntimeError("the CLOSE_WAIT sockets did not appear")
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for p in self.procs:
            if p.returncode is None:  # not reaped yet: the pid is still our child
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            p.wait()
        self.procs = []

    def describe(self) -> str:
        states = SocketCollector().state_counts()
        return (
            f"socket load: {self.estab:,} established connections; CLOSE_WAIT: {self.n:,} held, "
            f"{QUEUED} abandoned in a stuck listener's accept queue, "
            f"one leaker and one swapper adding one every {LEAK_EVERY:g} s; box TCP states now "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items()))
        )
