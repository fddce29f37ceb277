"""A server whose clients wait because what should serve them waits on a silent backend, built
from real processes: an asyncio server whose handler makes a synchronous read of a backend that
accepts and never answers (event-loop-blocked), and a thread pool whose every worker waits for
that backend (workers-wait-on-peer). And the healthy shapes beside them: an idle asyncio
server holding a keep-alive connection, an idle pool. Every process is a child, ended by pid."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess

import pytest

from stucktui.inspection.examine import Examined, examine_pid
from stucktui.model import waits as W
from stucktui.procfs.root import ProcRoot
from tests.helpers import Children, wait_until

pytestmark = pytest.mark.live

# accepts every connection and never sends a byte
BACKEND = """
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
ready()
held = []
while True:
    held.append(s.accept()[0])
"""

# an asyncio server whose handler asks the backend synchronously: the loop stops while it waits
LOOP_SERVER = """
import asyncio, socket
backend = int(sys.argv[1])
async def handle(reader, writer):
    await reader.readline()
    b = socket.create_connection(("127.0.0.1", backend))
    b.sendall(b"query\\n")
    writer.write(b.recv(100))
    await writer.drain()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    ready()
    await srv.serve_forever()
asyncio.run(main())
"""

# a dispatcher that accepts and queues; N workers that each ask the backend
POOL_SERVER = """
import queue, socket, threading
backend, n = int(sys.argv[1]), int(sys.argv[2])
jobs = queue.Queue()
def worker():
    while True:
        c = jobs.get()
        c.recv(100)
        b = socket.create_connection(("127.0.0.1", backend))
        b.sendall(b"query\\n")
        c.sendall(b.recv(100))
for _ in range(n):
    threading.Thread(target=worker, daemon=True).start()
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
ready()
while True:
    jobs.put(s.accept()[0])
"""


def _clients(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"hello\n")
        out.append(c)
    return out


def _in_recvfrom(pid: int) -> int:
    """How many threads of `pid` are in recvfrom (x86_64 45, aarch64 207) right now."""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/syscall") as f:
            n += f.read().split(" ", 1)[0] in ("45", "207")
    return n


def _finding(pid: int, rule: str) -> Examined:
    def look() -> Examined | None:
        seen = examine_pid(ProcRoot(), pid, python=False, window=0.1)
        return seen if any(f.id == rule for f in seen.findings) else None

    return wait_until(look, timeout=30, interval=0.3, what=f"{rule} on pid {pid}")


def _backend(children: Children) -> tuple[subprocess.Popen[bytes], str]:
    p = children.python(BACKEND)
    return p, children.wait_ready(p)[0]


def test_an_event_loop_blocked_reading_a_silent_backend_is_named_with_the_backend(children: Children):
    backend, bport = _backend(children)
    server = children.python(LOOP_SERVER, bport)
    port = int(children.wait_ready(server)[0])
    clients = _clients(port, 1)  # its handler blocks the loop in a read of the backend
    wait_until(lambda: _in_recvfrom(server.pid) == 1, what="the loop blocked in recvfrom")
    clients += _clients(port, 3)  # these wait: nobody accepts them
    try:
        seen = _finding(server.pid, "event-loop-blocked")
        (f,) = [f for f in seen.findings if f.id == "event-loop-blocked"]
        assert "no thread polls epoll fd" in f.summary
        # the loop may have accepted (and read) some before it blocked: queued or unread, they wait
        assert "wait to be accepted" in f.summary or "hold bytes nobody reads" in f.summary
        assert f"pid {backend.pid}" in f.summary and "is in a blocking read from fd" in f.summary
        assert f.tids == (server.pid,)
        (c,) = [c for c in seen.chains if c.hops[0].wait == W.SOCKET_RECV]
        assert c.end.pid == backend.pid and c.hops[0].silent_s is not None
        # not told twice: the pool rule leaves a loop to event-loop-blocked
        assert not any(f.id == "workers-wait-on-peer" for f in seen.findings)
    finally:
        for c in clients:
            c.close()


def test_every_pool_worker_waiting_on_a_silent_backend_is_the_cause(children: Children):
    backend, bport = _backend(children)
    server = children.python(POOL_SERVER, bport, "2")
    port = int(children.wait_ready(server)[0])
    clients = _clients(port, 2)  # each worker takes one and blocks reading the backend
    wait_until(lambda: _in_recvfrom(server.pid) == 2, what="both workers blocked in recvfrom")
    clients += _clients(port, 2)  # accepted and queued, their requests unread
    try:
        seen = _finding(server.pid, "workers-wait-on-peer")
        (f,) = [f for f in seen.findings if f.id == "workers-wait-on-peer"]
        assert "both worker threads wait for a reply" in f.summary and f"pid {backend.pid}" in f.summary
        assert "hold requests nobody reads" in f.summary or "wait to be accepted" in f.summary
        assert len(f.tids) == 2
    finally:
        for c in clients:
            c.close()


HEALTHY_LOOP = """
import asyncio
async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    ready()
    await srv.serve_forever()
asyncio.run(main())
"""


def test_idle_servers_and_pools_with_keep_alive_clients_say_nothing(children: Children):
    loop = children.python(HEALTHY_LOOP)
    lport = int(children.wait_ready(loop)[0])
    backend, bport = _backend(children)
    pool = children.python(POOL_SERVER, bport, "3")
    children.wait_ready(pool)
    kept = socket.create_connection(("127.0.0.1", lport), timeout=10)
    try:
        kept.sendall(b"ping\n")
        assert kept.recv(10) == b"ping\n"  # answered; the connection stays open, idle
        for pid in (loop.pid, pool.pid):
            seen = examine_pid(ProcRoot(), pid, python=False, window=0.1)
            loud = [f for f in seen.findings if f.severity in ("warning", "critical")]
            assert loud == [], loud
    finally:
        kept.close()
