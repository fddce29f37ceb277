"""Live: lock waits followed to their holder. An fcntl byte-range lock held by a process idle on
a pipe, with a blocking waiter and a poller that retries with F_SETLK and sleeps; a real SQLite
write transaction left open with a second connection's busy handler retrying behind it; and the
healthy shapes (a SQLite reader, a `tail`-like reader of a locked log) that must stay silent.
Every process is a child of the test, ended by its pid."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from stucktui.collect.proclist import ProcessListCollector
from stucktui.inspection.examine import Examined, examine_pid
from stucktui.inspection.triage import triage_box
from stucktui.model import waits as W
from stucktui.model.lock_polls import POLLING
from stucktui.model.locks import ProcessLocks
from stucktui.procfs.root import ProcRoot
from stucktui.tools.pyspy import find_pyspy
from tests.helpers import Children, wait_until

pytestmark = pytest.mark.live

# Takes a POSIX write lock on bytes 100-199 with F_SETLK, then sits reading its stdin (a pipe
# whose writer sleeps): idle, holding the lock.
RANGE_HOLDER = """
import fcntl, os
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 100)
ready()
sys.stdin.buffer.read()
"""

# Blocks in F_SETLKW on bytes 150-249, overlapping the holder's.
RANGE_WAITER = """
import fcntl, os
fd = os.open(sys.argv[1], os.O_RDWR)
ready()
fcntl.lockf(fd, fcntl.LOCK_EX, 100, 150)
"""

# Retries F_SETLK on the same bytes and sleeps between tries, as a lock helper does.
RANGE_POLLER = """
import fcntl, os, time
fd = os.open(sys.argv[1], os.O_RDWR)
def try_lock():
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 100)
            return
        except OSError:
            time.sleep(0.05)
ready()
try_lock()
"""

# Opens a write transaction (BEGIN IMMEDIATE takes RESERVED), writes a row, then idles on its
# stdin, as a sqlite3 shell left at its prompt with a transaction open.
SQLITE_HOLDER = """
import sqlite3
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("create table if not exists t (x)")
c.execute("BEGIN IMMEDIATE")
c.execute("insert into t values (1)")
ready()
sys.stdin.buffer.read()
"""

# A second connection with a busy timeout: SQLite's busy handler sleeps and retries.
SQLITE_WRITER = """
import sqlite3
c = sqlite3.connect(sys.argv[1], timeout=600, isolation_level=None)
ready()
c.execute("BEGIN IMMEDIATE")
"""

# A healthy reader: reads the database now and then, holds nothing in between.
SQLITE_READER = """
import sqlite3, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("create table if not exists t (x)")
c.execute("select count(*) from t").fetchall()
ready()
while True:
    c.execute("select count(*) from t").fetchall()
    time.sleep(0.2)
"""

FLOCK_LOGGER = """
import fcntl, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
ready()
while True:
    f.write("line\\n"); f.flush()
    time.sleep(0.2)
"""

# `tail -f` as it runs without inotify: reads what is new, sleeps, reads again; never locks.
TAILER = """
import time
f = open(sys.argv[1])
ready()
while True:
    f.read()
    time.sleep(0.2)
"""


def _idle(children: Children, code: str, *args: str) -> subprocess.Popen[bytes]:
    """The child reads its stdin, a pipe whose only writer is a `sleep` (a child too): idle."""
    writer = children.spawn(["sleep", "3600"], stdout=subprocess.PIPE)
    assert writer.stdout is not None
    p = children.python(code, *args, stdin=writer.stdout)
    writer.stdout.close()  # the test keeps no end of it
    writer.stdout = None
    children.wait_ready(p)
    return p


def _chain(pid: int, want, python: bool = False) -> tuple[Examined, W.WaitChain]:
    def look():
        seen = examine_pid(ProcRoot(), pid, python=python, window=0.1)
        c = next((c for c in seen.chains if c.hops and want(c)), None)
        return (seen, c) if c is not None else None

    return wait_until(look, timeout=40, interval=0.3, what=f"the lock chain of pid {pid}")


def _in_lock_wait(pid: int) -> bool:
    """A `->` line of /proc/locks: the pid waits for a lock."""
    with open("/proc/locks") as f:
        return any("->" in line and line.split("->")[1].split()[3] == str(pid) for line in f)


def test_a_blocked_waiter_names_the_byte_range_and_the_idle_holder(children: Children, tmp_path: Path):
    lock = str(tmp_path / "ranges.lock")
    holder = _idle(children, RANGE_HOLDER, lock)
    waiter = children.python(RANGE_WAITER, lock)
    children.wait_ready(waiter)
    wait_until(lambda: _in_lock_wait(waiter.pid), timeout=20, what="the waiter blocked in F_SETLKW")
    seen, c = _chain(waiter.pid, lambda c: c.hops[0].wait == W.LOCK)
    hop = c.hops[0]
    assert hop.obj == f"POSIX WRITE lock on {lock} (bytes 100-199)" and f"pid {holder.pid}" in hop.detail
    # the holder reads its stdin: the chain goes on through it, and nothing there is stuck
    assert holder.pid in c.processes and not c.stuck
    (f,) = [f for f in seen.findings if f.id == "lock-wait"]
    assert f.severity == "warning" and f"held by pid {holder.pid}" in f.summary
    # the holder's side: idle on a pipe with a process blocked on its lock
    mine = examine_pid(ProcRoot(), holder.pid, python=False, window=0.1)
    (h,) = [f for f in mine.findings if f.id == "lock-holder"]
    assert h.severity == "warning"
    assert f"holds the POSIX WRITE lock on {lock} (bytes 100-199) while idle, reading a pipe" in h.summary
    assert "1 process waits for it" in h.summary


def test_a_retrying_poller_is_an_edge_to_the_holder(children: Children, tmp_path: Path):
    if find_pyspy() is None:
        pytest.skip("py-spy is not installed: only a Python stack proves this poller")
    lock = str(tmp_path / "ranges.lock")
    holder = _idle(children, RANGE_HOLDER, lock)
    poller = children.python(RANGE_POLLER, lock)
    children.wait_ready(poller)
    seen, c = _chain(poller.pid, lambda c: c.hops[0].obj.startswith(POLLING), python=True)
    hop = c.hops[0]
    assert hop.wait == W.LOCK and hop.obj == f"{POLLING}the POSIX WRITE lock on {lock} (bytes 100-199)"
    assert f"pid {holder.pid}" in hop.detail and holder.pid in c.processes
    (f,) = [f for f in seen.findings if f.id == "lock-wait"]
    assert f"trying to lock {lock}" in f.summary and f"held by pid {holder.pid}" in f.summary
    assert f.severity == "info"  # one look cannot tell how long it has polled
    assert any("try_lock" in e for e in f.evidence)


def _can_read_stacks(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/mem", "rb"):
            return True
    except OSError:
        return False


def test_sqlite_names_the_write_lock_its_holder_and_the_busy_poller(children: Children, tmp_path: Path):
    db = str(tmp_path / "app.db")
    holder = _idle(children, SQLITE_HOLDER, db)
    writer = children.python(SQLITE_WRITER, db)
    children.wait_ready(writer)
    if not _can_read_stacks(writer.pid):
        pytest.skip("/proc/PID/mem is not readable here: the busy handler's sleep cannot be told")
    seen, c = _chain(writer.pid, lambda c: c.hops[0].obj.startswith(POLLING))
    hop = c.hops[0]
    assert hop.obj == f"{POLLING}the write lock (RESERVED) of {db}"
    assert f"pid {holder.pid} (python" in hop.detail
    assert f"holds the write lock (RESERVED) of {db}" in hop.detail
    (f,) = [f for f in seen.findings if f.id == "lock-wait"]
    assert f"polls for the write lock (RESERVED) of {db}, held by pid {holder.pid}" in f.summary
    assert any("SQLite's busy handler" in e for e in f.evidence)
    assert f.severity == "info"
    # the holder's Locks panel names the bytes
    mine = examine_pid(ProcRoot(), holder.pid, python=False, window=0.1)
    assert isinstance(mine.panels.locks, ProcessLocks)
    names = {r.sqlite.name for r in mine.panels.locks.rows if r.role == "held" and r.sqlite is not None}
    assert names == {"RESERVED", "SHARED"}
    # box-wide: the holder is told with the poller behind it
    ours = {holder.pid, writer.pid}
    collector = ProcessListCollector(ProcRoot())

    def holder_finding():
        snap = collector.collect()
        snap = replace(snap, rows=tuple(r for r in snap.rows if r.pid in ours))
        found = triage_box(ProcRoot(), processes=snap, python=False).findings
        return next((x for x in found if x.id == "lock-holder" and x.pid == holder.pid), None)

    h = wait_until(holder_finding, timeout=40, interval=0.5, what="the holder's finding box-wide")
    assert f"holds the write lock (RESERVED) of {db} while idle, reading a pipe" in h.summary
    assert h.summary.endswith("1 process waits for it (1 polling)") and h.severity == "info"


def test_a_busy_poller_behind_a_stopped_holder_is_a_stuck_chain(children: Children, tmp_path: Path):
    db = str(tmp_path / "app.db")
    holder = _idle(children, SQLITE_HOLDER, db)
    os.kill(holder.pid, signal.SIGSTOP)
    try:
        writer = children.python(SQLITE_WRITER, db)
        children.wait_ready(writer)
        if not _can_read_stacks(writer.pid):
            pytest.skip("/proc/PID/mem is not readable here: the busy handler's sleep cannot be told")
        seen, c = _chain(writer.pid, lambda c: c.hops[0].obj.startswith(POLLING) and c.stuck)
        assert c.end.kind == W.STOPPED and c.end.pid == holder.pid
        (f,) = [f for f in seen.findings if f.id == "wait-chain"]
        assert f.severity == "critical"
        assert f"keeps polling for the write lock (RESERVED) of {db} held by pid {holder.pid}" in f.summary
        assert any(f"stucktui signal {holder.pid} CONT" in s for s in f.next_steps)
        # the holder's own look sees nobody blocked (a poller is proven only from its side): the
        # triage's root finding is where the stopped holder hears of it
        mine = examine_pid(ProcRoot(), holder.pid, python=False, window=0.1)
        assert not [x for x in mine.findings if x.id == "lock-holder"]
    finally:
        os.kill(holder.pid, signal.SIGCONT)


def test_a_sqlite_reader_and_a_tail_of_a_locked_log_stay_silent(children: Children, tmp_path: Path):
    db = str(tmp_path / "app.db")
    reader = children.python(SQLITE_READER, db)
    children.wait_ready(reader)
    log = str(tmp_path / "app.log")
    logger = children.python(FLOCK_LOGGER, log)
    children.wait_ready(logger)
    tail = children.python(TAILER, log)
    children.wait_ready(tail)
    for pid in (reader.pid, logger.pid, tail.pid):
        for _ in range(3):  # whatever instant the look falls on: reading, writing or asleep
            seen = examine_pid(ProcRoot(), pid, python=find_pyspy() is not None, window=0.1)
            loud = [f for f in seen.findings if f.severity in ("warning", "critical")]
            assert not loud, loud
            assert not [f for f in seen.findings if f.id.startswith("lock")], seen.findings
            assert not any(c.hops[0].obj.startswith(POLLING) for c in seen.chains if c.hops)
    os.kill(reader.pid, 0)  # all still alive: the looks saw the real shapes
