"""The box facts kept across refreshes on real processes: a writer blocked on a pipe and a
client waiting on a loopback TCP connection, whose other end moves to another process (passed
over a unix socket, its fd number in the first reused for a new pipe: the fd count unchanged).
The examine path, with one BoxFacts ticked between looks as the sampler does, must name the
new holder and never the old. Every process is a child of the test, ended by its pid."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from stucktui.collect.boxfacts import BoxFacts
from stucktui.inspection.examine import Examined, examine_pid
from stucktui.model import waits as W
from stucktui.model.waits import WaitChain
from stucktui.procfs.root import ProcRoot
from tests.helpers import RESET_POOL, Children, wait_until

pytestmark = pytest.mark.live

# Holds fd N and never reads it; on a line on stdin passes it over the unix socket on fd S,
# then reuses the number N for a new pipe (dup2), so its fd count does not change.
MOVER = """
import os, socket
n, s = int(sys.argv[1]), int(sys.argv[2])
ready()
sys.stdin.readline()
sock = socket.socket(fileno=s)  # kept open: the fd count must not change
socket.send_fds(sock, [b"x"], [n])
r, w = os.pipe()
os.dup2(r, n)
os.close(r)
os.close(w)
print("moved", flush=True)
sys.stdin.readline()
"""

# Receives one fd over the unix socket on fd S and keeps it, never reading it. (Its fd count
# grows by one: one whose count stayed the same would be found by a full pass within
# fdindex.RESCAN_GAP refreshes, tests/unit/test_boxfacts.py.)
TAKER = """
import socket, time
sock = socket.socket(fileno=int(sys.argv[1]))
_, fds, _, _ = socket.recv_fds(sock, 16, 1)
print(fds[0], flush=True)
ready()
time.sleep(3600)
"""

WRITER = """
import os
w = int(sys.argv[1])
ready()
while True:
    os.write(w, b"x" * 4096)
"""

READER = """
import socket
c = socket.socket(fileno=int(sys.argv[1]))
c.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
ready()
c.recv(100)
"""


def _spawn(children: Children, code: str, *fds: int, stdin: int | None = None) -> subprocess.Popen[bytes]:
    kw = {} if stdin is None else {"stdin": stdin}
    return children.python(code, *map(str, fds), pass_fds=fds, **kw)


def _move(children: Children, held: int) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """The first holder of `held` (it holds it as fd `held`) and the process it will pass it to."""
    a, b = socket.socketpair()
    first = _spawn(children, MOVER, held, a.fileno(), stdin=subprocess.PIPE)
    then = _spawn(children, TAKER, b.fileno())
    children.wait_ready(first)
    a.close()
    b.close()
    os.close(held)
    return first, then


def _look(pid: int, facts: BoxFacts) -> Examined:
    """One refresh: the examine path with the kept facts, as the sampler runs it."""
    facts.tick()
    return examine_pid(ProcRoot(), pid, python=False, window=0.1, facts=facts)


def _waits_on(seen: Examined, wait: str) -> set[int | None]:
    """Who the chains whose first hop is a `wait` go to next; a hop's detail names the others."""
    return {_next(c) for c in seen.chains if c.hops[0].wait == wait}


def _named(seen: Examined, pid: int) -> bool:
    return pid in _parties(seen) or any(f"pid {pid} " in h.detail for c in seen.chains for h in c.hops)


def _moved(children: Children, first: subprocess.Popen[bytes], then: subprocess.Popen[bytes], pid: int,
           facts: BoxFacts, wait: str) -> None:  # fmt: skip
    """Waits until `pid`'s `wait` goes to `first` alone, moves the end to `then`, and checks
    that the very next refresh names `then`, and `first` nowhere."""

    def before() -> Examined | None:
        seen = _look(pid, facts)
        return seen if _waits_on(seen, wait) == {first.pid} else None

    seen = wait_until(before, timeout=30, interval=0.2, what=f"pid {pid}'s {wait} chain to pid {first.pid}")
    assert not _named(seen, then.pid)
    _pass_on(children, first, then)
    seen = _look(pid, facts)
    assert _waits_on(seen, wait) == {then.pid}
    assert not _named(seen, first.pid)


def _next(c: WaitChain) -> int | None:
    """Who the chain's first hop waits on."""
    return c.hops[1].pid if len(c.hops) > 1 else c.end.pid


def _pass_on(children: Children, first: subprocess.Popen[bytes], then: subprocess.Popen[bytes]) -> None:
    assert first.stdin is not None and first.stdout is not None
    first.stdin.write(b"go\n")
    first.stdin.flush()
    children.wait_ready(then)
    assert first.stdout.readline().strip() == b"moved"


def _parties(seen: Examined) -> set[int]:
    return {h.pid for c in seen.chains for h in c.hops} | {c.end.pid for c in seen.chains if c.end.pid}


def test_a_pipe_writer_is_followed_to_the_new_reader_after_the_read_end_moves(children: Children):
    r, w = os.pipe()
    writer = _spawn(children, WRITER, w)
    children.wait_ready(writer)
    os.close(w)
    first, then = _move(children, r)
    facts = BoxFacts(ProcRoot())
    _moved(children, first, then, writer.pid, facts, W.PIPE_WRITE)
    # found by the kept index: the refreshes since the first read changed processes only
    assert facts.index.full_scans == 1 and facts.index.passes >= 2


def _client(children: Children) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """A child waiting for a reply on a loopback TCP connection, and the server's end."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server_end, _ = listener.accept()
    reader = _spawn(children, READER, client.fileno())
    client.close()
    children.wait_ready(reader)
    return reader, server_end


def test_a_client_is_followed_to_the_new_holder_of_the_servers_end(children: Children):
    reader, server_end = _client(children)
    first, then = _move(children, server_end.detach())
    facts = BoxFacts(ProcRoot())
    _moved(children, first, then, reader.pid, facts, W.SOCKET_RECV)


def test_a_socket_opened_after_the_kept_dump_is_read_fresh(children: Children):
    facts = BoxFacts(ProcRoot(), socket_cadence=3600)
    facts.sockets().own_table().inet({0})  # a dump made before the connection exists
    reader, server_end = _client(children)
    try:
        facts.tick()
        rows = facts.process_sockets(reader.pid).rows
        assert [r.state for r in rows if r.proto == "tcp"] == ["ESTAB"]
        assert facts.collectors == 2  # the kept dump did not list it: dumped again
    finally:
        server_end.close()


def test_sockets_in_no_table_make_one_fresh_dump_not_one_each_refresh(children: Children):
    """A socket in no table might have been opened after the kept dump: one fresh dump
    settles it. One already found in no table by a later dump never goes back into a table,
    so the refreshes after it keep the dump (100,000 sockets are not dumped every second
    because a process holds a reset one)."""
    p = children.python(RESET_POOL)
    children.wait_ready(p)
    facts = BoxFacts(ProcRoot(), socket_cadence=3600)
    facts.sockets().own_table().inet({0})  # the kept dump, made before any refresh

    def closed() -> int:
        facts.tick()
        return sum(1 for r in facts.process_sockets(p.pid).rows if r.closed_tcp)

    wait_until(lambda: closed() == 25, 30, what="25 reset sockets in no table")
    made = facts.collectors
    for _ in range(3):
        assert closed() == 25
    assert facts.collectors == made  # no dump again for the same reset sockets
