"""Wait chains on real processes: a pipe reader held in a ptrace stop, a parent and child
waiting for each other, a stopped lock holder two hops away; and healthy shapes that must stay
silent. Every process is a child (or a grandchild whose pid the test learns) and is ended by
its pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stucktui.inspection.examine import Examined, examine_pid
from stucktui.model import waits as W
from stucktui.procfs.root import ProcRoot
from tests.helpers import Children, wait_until

pytestmark = pytest.mark.live

# The writer: forks a reader that drains a pipe (and dies with its parent), then writes to the
# pipe forever; it blocks as soon as the reader stops reading.
WRITER = """
import ctypes, os, signal
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: dies with the writer
    os.close(w)
    LOCK = sys.argv[1] if len(sys.argv) > 1 else ""
    if LOCK:
        import fcntl
        f = open(LOCK, "w")
        fcntl.flock(f, fcntl.LOCK_EX)  # blocks while another process holds it
    while os.read(r, 65536):
        pass
    os._exit(0)
os.close(r)
print(pid, flush=True)
ready()
while True:
    os.write(w, b"x" * 4096)
"""

# A tracer that is no debugger anyone knows: attaches with PTRACE_ATTACH and holds the tracee.
TRACER = """
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
    raise SystemExit("attach: " + os.strerror(ctypes.get_errno()))
os.waitpid(pid, 0x40000000)  # __WALL: the tracee is in its ptrace stop
ready()
time.sleep(3600)
"""

# A parent that waits for a child whose output it never reads (subprocess stdout=PIPE, then
# wait()): the child blocks on the full pipe, the parent in wait4 for the child.
PARENT_WAITS = """
import subprocess
code = "import sys; sys.stdout.write('x' * 400000); sys.stdout.flush()"
p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
print(p.pid, flush=True)
ready()
p.wait()
"""

HOLDER = """
import fcntl, time
f = open(sys.argv[1], "w")
fcntl.flock(f, fcntl.LOCK_EX)
ready()
time.sleep(3600)
"""

SLEEPY_CHILD = """
import subprocess
p = subprocess.Popen(["sleep", "3600"])
print(p.pid, flush=True)
ready()
p.wait()
"""


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _blocked_writing(pid: int) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/wchan") as f:
        return "pipe" in f.read()
    return False


def _examined(pid: int, want: str) -> Examined:
    def look() -> Examined | None:
        seen = examine_pid(ProcRoot(), pid, python=False, window=0.1)
        return seen if any(c.end.kind == want for c in seen.chains) else None

    return wait_until(look, timeout=30, interval=0.3, what=f"a chain of pid {pid} ending {want}")


def _spawn(children: Children, code: str, *args: str) -> subprocess.Popen[bytes]:
    return children.python(textwrap.dedent(code), *args)


def _can_ptrace() -> bool:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return f.read().strip() == "0" or os.geteuid() == 0
    except OSError:
        return True


@pytest.mark.skipif(not _can_ptrace(), reason="Yama forbids attaching to a sibling (ptrace_scope > 0)")
def test_a_reader_held_by_a_tracer_ends_the_writers_chain(children: Children):
    w = _spawn(children, WRITER)
    reader = int(children.wait_ready(w)[0])
    try:
        t = _spawn(children, TRACER, str(reader))
        children.wait_ready(t)
        assert _state(reader) == "t"
        wait_until(lambda: _blocked_writing(w.pid), timeout=20, what="the writer blocked on the pipe")
        seen = _examined(w.pid, W.TRACED)
        (c,) = [c for c in seen.chains if c.end.kind == W.TRACED]
        assert [h.wait for h in c.hops] == [W.PIPE_WRITE] and c.end.pid == reader
        assert f"held in tracing stop by pid {t.pid}" in c.end.detail
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert f.severity == "critical" and f"pid {reader}" in f.summary and f"pid {t.pid}" in f.summary
        assert any(f"SIGCONT will not resume pid {reader}" in s for s in f.next_steps)
        # the reader's own rule no longer proposes SIGCONT for a process a tracer holds
        pipe = [f for f in seen.findings if f.id == "pipe-writers-blocked"]
        assert all(f"signal {reader} CONT" not in s for f in pipe for s in f.next_steps)
        assert seen.chains[0].to_json()["end"]["kind"] == "traced"
    finally:
        _kill(reader)


def test_a_parent_waiting_for_a_child_it_never_reads_is_a_deadlock(children: Children):
    parent = _spawn(children, PARENT_WAITS)
    child = int(children.wait_ready(parent)[0])
    try:
        wait_until(lambda: _blocked_writing(child), timeout=20, what="the child blocked writing")
        seen = _examined(parent.pid, W.CYCLE)
        (c,) = [c for c in seen.chains if c.end.kind == W.CYCLE]
        assert [h.wait for h in c.hops] == [W.CHILD, W.PIPE_WRITE] and c.processes == (parent.pid, child)
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert "a deadlock" in f.summary and any("communicate()" in s for s in f.next_steps)
    finally:
        _kill(child)


def _stopped_holder_behind_a_reader(
    children: Children, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int]:
    """A writer blocked on a pipe whose reader waits for a flock held by a stopped process:
    (holder, writer, the reader's pid). The caller resumes the holder and ends the reader."""
    lock = str(tmp_path / "app.lock")
    holder = _spawn(children, HOLDER, lock)
    children.wait_ready(holder)
    os.kill(holder.pid, signal.SIGSTOP)
    w = _spawn(children, WRITER, lock)
    reader = int(children.wait_ready(w)[0])
    wait_until(lambda: _blocked_writing(w.pid), timeout=20, what="the writer blocked on the pipe")
    return holder, w, reader


def test_a_stopped_lock_holder_two_hops_away_is_the_root(children: Children, tmp_path):
    holder, w, reader = _stopped_holder_behind_a_reader(children, tmp_path)
    try:
        seen = _examined(w.pid, W.STOPPED)
        (c,) = [c for c in seen.chains if c.end.kind == W.STOPPED]
        assert [h.wait for h in c.hops] == [W.PIPE_WRITE, W.LOCK]
        assert c.processes == (w.pid, reader, holder.pid)
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert f"pid {holder.pid}" in f.summary and "is stopped" in f.summary
        assert any(f"stucktui signal {holder.pid} CONT" in s for s in f.next_steps)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        _kill(reader)


def test_healthy_waits_end_idle_and_say_nothing(children: Children):
    """A parent waiting for a child that sleeps, a writer whose reader drains: no finding."""
    parent = _spawn(children, SLEEPY_CHILD)
    child = int(children.wait_ready(parent)[0])
    try:
        seen = _examined(parent.pid, W.IDLE)
        assert not any(f.id == "wait-chain" for f in seen.findings)
        assert all(not c.stuck for c in seen.chains)
    finally:
        _kill(child)
    flowing = children.python(
        "import os\nr, w = os.pipe()\nif os.fork() == 0:\n    os.close(w)\n"
        "    while os.read(r, 65536): pass\n    os._exit(0)\nready()\nwhile True: os.write(w, b'x' * 65536)\n"
    )
    children.wait_ready(flowing)
    seen = examine_pid(ProcRoot(), flowing.pid, python=False, window=0.1)
    assert not any(f.id == "wait-chain" for f in seen.findings)
    assert all(not c.stuck for c in seen.chains), [c.end for c in seen.chains]


def test_report_json_has_wait_chains_with_the_documented_keys(children: Children):
    parent = _spawn(children, PARENT_WAITS)
    child = int(children.wait_ready(parent)[0])
    try:
        wait_until(lambda: _blocked_writing(child), timeout=20, what="the child blocked writing")

        def report() -> dict[str, object] | None:
            import json

            argv = [sys.executable, "-m", "stucktui", "report", str(parent.pid), "--format", "json"]
            out = subprocess.run([*argv, "--no-python"], capture_output=True, text=True, timeout=60)
            data: dict[str, object] = json.loads(out.stdout)
            chains = data["wait_chains"]
            assert isinstance(chains, list)
            return data if any(c["end"]["kind"] == "cycle" for c in chains) else None

        data = wait_until(report, timeout=40, interval=0.5, what="a cycle in report's wait_chains")
        chains = data["wait_chains"]
        assert isinstance(chains, list)
        (c,) = [c for c in chains if c["end"]["kind"] == "cycle"]
        assert set(c) >= {"tids", "hops", "end"}
        assert set(c["hops"][0]) >= {"pid", "name", "tid", "wait", "object", "detail"}
        assert set(c["end"]) >= {"kind", "pid", "detail"}
    finally:
        _kill(child)


# A server that accepts one connection and never answers, and a client thread waiting for the
# answer. The server is then stopped: the client's chain ends at it.
SILENT_SERVER = """
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
ready()
conn, _ = s.accept()
conn.recv(100)
time.sleep(3600)
"""

CLIENT = """
import socket
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
ready()
c.recv(100)
"""


def test_a_client_waiting_for_a_reply_follows_its_socket_to_the_server(children: Children):
    server = _spawn(children, SILENT_SERVER)
    port = children.wait_ready(server)[0]
    client = _spawn(children, CLIENT, port)
    children.wait_ready(client)
    # healthy so far: a server that has not answered yet is asleep, not stuck
    seen = _examined(client.pid, W.IDLE)
    (c,) = [c for c in seen.chains if c.hops[0].wait == W.SOCKET_RECV]
    assert c.end.pid == server.pid and not any(f.id == "wait-chain" for f in seen.findings)
    os.kill(server.pid, signal.SIGSTOP)
    try:
        seen = _examined(client.pid, W.STOPPED)
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert f"which pid {server.pid}" in f.summary and "should write to" in f.summary
    finally:
        os.kill(server.pid, signal.SIGCONT)


def test_triage_tells_the_root_who_waits_on_it(children: Children, tmp_path):
    from dataclasses import replace

    from stucktui.collect.proclist import ProcessListCollector
    from stucktui.inspection.triage import triage_box

    holder, w, reader = _stopped_holder_behind_a_reader(children, tmp_path)
    try:
        ours = {holder.pid, w.pid, reader}
        collector = ProcessListCollector(ProcRoot())

        def root_finding():
            # the triage of our own processes only: the first pass reads nothing of the box's
            snap = collector.collect()
            snap = replace(snap, rows=tuple(r for r in snap.rows if r.pid in ours))
            result = triage_box(ProcRoot(), processes=snap, python=False)
            found = [f for f in result.findings if f.id == "wait-chain" and f.pid == holder.pid]
            return (found[0], result) if found else None

        f, result = wait_until(
            root_finding, timeout=40, interval=0.5, what="a wait-chain finding on the root"
        )
        assert f.severity == "critical" and f"pid {w.pid}" in f.summary and "is stopped" in f.summary
        assert any(c.end.pid == holder.pid and c.hops[0].pid == w.pid for c in result.chains)
        assert any(f.id == "wait-chain" and f.pid == w.pid for f in result.findings)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        _kill(reader)


# A parent forks while another of its threads holds a lock; the child (one thread) takes the
# inherited, locked lock and waits forever; the parent waits for the child.
FORK_WITH_A_HELD_LOCK = """
import os, threading, time
lock = threading.Lock()
held = threading.Event()
def holder():
    with lock:
        held.set()
        time.sleep(3600)
threading.Thread(target=holder, daemon=True).start()
held.wait()
pid = os.fork()
if pid == 0:
    lock.acquire()
    os._exit(0)
print(pid, flush=True)
ready()
os.waitpid(pid, 0)
"""


def test_a_child_that_inherited_a_held_lock_is_the_root(children: Children):
    parent = _spawn(children, FORK_WITH_A_HELD_LOCK)
    child = int(children.wait_ready(parent)[0])
    try:
        seen = _examined(parent.pid, W.UNRELEASABLE)
        (c,) = [c for c in seen.chains if c.end.kind == W.UNRELEASABLE]
        assert [h.wait for h in c.hops] == [W.CHILD, W.FUTEX] and c.end.pid == child
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert f.severity == "critical" and f"pid {child}" in f.summary
        alone = examine_pid(ProcRoot(), child, python=False, window=0.1)
        assert [f.severity for f in alone.findings if f.id == "wait-chain"] == ["warning"]
    finally:
        _kill(child)


def test_an_idle_thread_pool_waiting_for_a_signal_is_healthy(children: Children):
    """Every thread in a private futex without timeout: workers waiting for work, the main
    thread waiting for an Event a signal handler sets. A daemon at rest, not a deadlock."""
    p = children.python(
        "import concurrent.futures, signal, threading\n"
        "pool = concurrent.futures.ThreadPoolExecutor(4)\n"
        "for f in [pool.submit(lambda: None) for _ in range(8)]: f.result()\n"
        "stop = threading.Event()\nsignal.signal(signal.SIGTERM, lambda *a: stop.set())\n"
        "ready()\nstop.wait()\n"
    )
    children.wait_ready(p)
    seen = examine_pid(ProcRoot(), p.pid, python=False, window=0.1)
    assert not [f for f in seen.findings if f.severity in ("critical", "warning")], seen.findings
    assert all(not c.stuck for c in seen.chains)


NEVER_ACCEPTS = """
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
ready()
time.sleep(3600)
"""

CONNECTS = """
import socket
ready()
socket.create_connection(("127.0.0.1", int(sys.argv[1])))
import time
time.sleep(3600)
"""


def _in_connect(pid: int) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/syscall") as f:
        return f.read().split()[0] == "42"  # connect on x86_64 (the test skips elsewhere)
    return False


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="reads connect's x86_64 syscall number")
def test_a_client_stuck_in_connect_follows_to_the_listener(children: Children):
    server = _spawn(children, NEVER_ACCEPTS)
    port = children.wait_ready(server)[0]
    os.kill(server.pid, signal.SIGSTOP)
    try:
        clients = []
        for _ in range(4):  # the accept queue holds two; the next connects wait for a SYN-ACK
            c = _spawn(children, CONNECTS, port)
            children.wait_ready(c)
            clients.append(c)
        stuck = wait_until(
            lambda: [c for c in clients if _in_connect(c.pid)], timeout=20, what="a client in connect"
        )
        seen = _examined(stuck[0].pid, W.STOPPED)
        (c,) = [c for c in seen.chains if c.end.kind == W.STOPPED]
        assert [h.wait for h in c.hops] == [W.CONNECT] and c.end.pid == server.pid
        assert "accept queue 2 of backlog 1" in c.hops[0].detail  # listen(1) holds backlog + 1
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert f"which pid {server.pid}" in f.summary and "should accept" in f.summary
    finally:
        os.kill(server.pid, signal.SIGCONT)
