"""Wait chains inside a process, on real children: two threads deadlocked on each other's
pthread mutex, a mutex whose owner thread is blocked on a pipe whose reader is stopped, a
signal wait no signal sent to the process can reach; and a daemon at rest (a thread pool idle
on a queue, the main thread in sigwait for SIGTERM) that must stay silent. Every process is a
child (or a grandchild whose pid the test learns) and is ended by its pid.

Python's own locks record no owner, so the mutexes are glibc's pthread_mutex_t through ctypes,
which releases the GIL during a foreign call."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import textwrap
from dataclasses import replace

import pytest

from stucktui.collect.proclist import ProcessListCollector
from stucktui.inspection.examine import Examined, examine_pid
from stucktui.inspection.triage import triage_box
from stucktui.model import waits as W
from stucktui.procfs.root import ProcRoot
from tests.helpers import Children, wait_until

pytestmark = pytest.mark.live


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


def _may_read_children_memory() -> bool:
    """/proc/PID/mem of a child needs ptrace rights: Yama's scope 2 or 3 refuses them without
    CAP_SYS_PTRACE."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read()) < 2 or os.geteuid() == 0
    except (OSError, ValueError):
        return True


needs_mutex_owner = pytest.mark.skipif(
    not (_glibc() and _may_read_children_memory()),
    reason="needs glibc's pthread_mutex_t (its owner word) and the right to read a child's memory",
)

MUTEXES = """
import ctypes, threading, time
libc = ctypes.CDLL(None)
def mutex():
    m = ctypes.create_string_buffer(64)  # pthread_mutex_t: 40 bytes on x86_64 and aarch64
    assert libc.pthread_mutex_init(m, None) == 0
    return m
"""

# Two threads each take one mutex, then wait for the other's: ABBA.
ABBA = """
a, b = mutex(), mutex()
both = threading.Barrier(2)
def take(first, second):
    libc.pthread_mutex_lock(first)
    both.wait()
    libc.pthread_mutex_lock(second)
ts = [threading.Thread(target=take, args=p, daemon=True) for p in ((a, b), (b, a))]
for t in ts:
    t.start()
print(*(t.native_id for t in ts), flush=True)
ready()
for t in ts:
    t.join()  # the main thread waits for them: every thread of it is in a futex wait
"""

# A thread holds a mutex while it writes to a pipe; another thread waits for the mutex. The
# pipe's reader (a forked child, which dies with its parent) is then stopped.
OWNER_ON_A_PIPE = """
import os, signal
r, w = os.pipe()
reader = os.fork()
if reader == 0:
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.close(w)
    while os.read(r, 65536):
        pass
    os._exit(0)
os.close(r)
m = mutex()
held = threading.Event()
def writer():
    libc.pthread_mutex_lock(m)
    held.set()
    while True:
        os.write(w, b"x" * 4096)
def waiter():
    held.wait()
    libc.pthread_mutex_lock(m)
ws, wt = threading.Thread(target=writer, daemon=True), threading.Thread(target=waiter, daemon=True)
ws.start(); wt.start()
print(reader, ws.native_id, wt.native_id, flush=True)
ready()
time.sleep(3600)
"""

# A thread in sigwait for SIGUSR1 while the main thread, which does not block it, has a
# handler for it: every SIGUSR1 sent to the process runs the handler in the main thread.
SIGWAIT_LOST = """
import signal, sys, threading, time
def handled(*_):
    sys.stdout.write("handled\\nready\\n"); sys.stdout.flush()
signal.signal(signal.SIGUSR1, handled)
t = threading.Thread(target=signal.sigwait, args=({signal.SIGUSR1},), daemon=True)
t.start()
print(t.native_id, flush=True)
ready()
while True:
    time.sleep(3600)
"""

# A daemon at rest: SIGTERM and SIGINT blocked before any thread starts (the threads inherit
# the mask), a pool idle on a queue, the main thread in sigwait for them.
DAEMON = """
import concurrent.futures, queue, signal, threading
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
pool = concurrent.futures.ThreadPoolExecutor(4)
for f in [pool.submit(lambda: None) for _ in range(8)]:
    f.result()
jobs = queue.Queue()
for _ in range(2):
    threading.Thread(target=jobs.get, daemon=True).start()
ready()
signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""


def _spawn(children: Children, code: str) -> subprocess.Popen[bytes]:
    return children.python(textwrap.dedent(code))


def _examined(pid: int, want: str) -> Examined:
    def look() -> Examined | None:
        seen = examine_pid(ProcRoot(), pid, python=False, window=0.1)
        return seen if any(c.end.kind == want for c in seen.chains) else None

    return wait_until(look, timeout=30, interval=0.3, what=f"a chain of pid {pid} ending {want}")


@needs_mutex_owner
def test_two_threads_on_each_others_mutex_are_a_deadlock_between_them(children: Children):
    p = _spawn(children, MUTEXES + ABBA)
    a, b = map(int, children.wait_ready(p))
    seen = _examined(p.pid, W.CYCLE)
    cycles = [c for c in seen.chains if c.end.kind == W.CYCLE]
    assert {c.hops[0].tids for c in cycles} == {(a,), (b,)}
    for c in cycles:
        assert [h.wait for h in c.hops] == [W.FUTEX, W.FUTEX] and c.processes == (p.pid,)
        assert "held by thread" in c.hops[0].obj and "lock wait, forever" in c.hops[0].obj
    (f,) = [f for f in seen.findings if f.id == "wait-chain"]
    assert f.severity == "critical" and "a deadlock between threads" in f.summary
    assert f"thread {a}" in f.summary and f"thread {b}" in f.summary
    assert seen.chains[0].to_json()["end"]["kind"] == "cycle"
    # the box-wide triage finds it too: every thread of a small process asleep in a futex wait
    # makes it a suspect (the triage of our own process only: nothing of the box is read)
    snap = ProcessListCollector(ProcRoot()).collect()
    snap = replace(snap, rows=tuple(r for r in snap.rows if r.pid == p.pid))
    result = triage_box(ProcRoot(), processes=snap, python=False)
    assert any(f.id == "wait-chain" and f.pid == p.pid and f.severity == "critical" for f in result.findings)


@needs_mutex_owner
def test_a_mutex_owner_blocked_on_a_stopped_reader_ends_the_chain_stopped(children: Children):
    p = _spawn(children, MUTEXES + OWNER_ON_A_PIPE)
    reader, writer, waiter = map(int, children.wait_ready(p))
    os.kill(reader, signal.SIGSTOP)
    try:
        seen = _examined(p.pid, W.STOPPED)
        (c,) = [c for c in seen.chains if c.end.kind == W.STOPPED and c.hops[0].wait == W.FUTEX]
        assert [(h.wait, h.tids) for h in c.hops] == [(W.FUTEX, (waiter,)), (W.PIPE_WRITE, (writer,))]
        assert c.end.pid == reader and c.processes == (p.pid, reader)
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert f.severity == "critical" and f"thread {writer} waits to write" in f.summary
        assert f"pid {reader}" in f.summary and "is stopped" in f.summary
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(reader, signal.SIGKILL)


def _in_signal_wait(pid: int, tid: int) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/wchan") as f:
        return "sigtimedwait" in f.read()
    return False


def test_a_sigwait_no_signal_sent_to_the_process_can_reach_cannot_end(children: Children):
    p = _spawn(children, SIGWAIT_LOST)
    (tid,) = map(int, children.wait_ready(p))
    seen = _examined(p.pid, W.UNRELEASABLE)
    (c,) = [c for c in seen.chains if c.end.kind == W.UNRELEASABLE]
    assert [(h.wait, h.tids) for h in c.hops] == [(W.SIGNAL, (tid,))]
    assert c.hops[0].obj == "SIGUSR1 (sigwait, forever)"
    (f,) = [f for f in seen.findings if f.id == "wait-chain"]
    assert f.severity == "warning" and f"thread {tid} of pid {p.pid}" in f.summary
    assert f"goes to the main thread {p.pid}" in f.summary
    # and indeed: a SIGUSR1 sent to the process runs the handler; the sigwait goes on waiting
    os.kill(p.pid, signal.SIGUSR1)
    assert children.wait_ready(p) == ["handled"]
    assert _in_signal_wait(p.pid, tid)


def test_a_pause_whose_every_handler_is_blocked_cannot_end(children: Children):
    p = children.python(
        "import signal\nsignal.signal(signal.SIGUSR1, lambda *a: None)\n"
        "signal.signal(signal.SIGINT, lambda *a: None)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGINT})\nready()\nsignal.pause()\n"
    )
    children.wait_ready(p)
    seen = _examined(p.pid, W.UNRELEASABLE)
    (c,) = [c for c in seen.chains if c.end.kind == W.UNRELEASABLE]
    assert c.hops[0].wait == W.SIGNAL and "blocked in this thread" in c.end.detail


def test_a_daemon_at_rest_in_sigwait_beside_an_idle_pool_is_silent(children: Children):
    p = _spawn(children, DAEMON)
    children.wait_ready(p)

    def look() -> Examined | None:
        seen = examine_pid(ProcRoot(), p.pid, python=False, window=0.1)
        return seen if any(c.hops[0].wait == W.SIGNAL for c in seen.chains) else None

    seen = wait_until(look, timeout=30, interval=0.3, what="the daemon's main thread in sigwait")
    assert not [f for f in seen.findings if f.severity in ("critical", "warning")], seen.findings
    assert all(not c.stuck for c in seen.chains), [c.end for c in seen.chains]
    (c,) = [c for c in seen.chains if c.hops[0].wait == W.SIGNAL]
    assert c.hops[0].tids == (p.pid,) and "SIGTERM" in c.hops[0].obj and c.end.kind == W.IDLE
    # and indeed: SIGTERM ends it
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(timeout=20) == 0
