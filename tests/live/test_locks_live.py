"""Locks view on real children: a flock holder, a blocked waiter, and a LOCK_NB poller."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from stucktui.collect.locks import collect_locks
from stucktui.procfs.root import ProcRoot
from tests.helpers import wait_until

pytestmark = pytest.mark.live


def waiting_in_proc_locks(pid: int) -> bool:
    return any(" -> " in line and f" {pid} " in line for line in Path("/proc/locks").read_text().splitlines())


def test_flock_holder_waiter_and_poller(children, tmp_path):
    lock = tmp_path / "job.lock"
    lock.write_text("")
    holder = children.python(
        "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
        "ready()\nwhile True: time.sleep(1)\n",
        str(lock),
    )
    children.wait_ready(holder)
    waiter = children.python(
        "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
        "ready()\nfcntl.flock(fd, fcntl.LOCK_EX)\n",
        str(lock),
    )
    # The filelock pattern (docs/kernel-notes.md §8.3), except that the fd stays open so the test can see it.
    poller = children.python(
        "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\nready()\nwhile True:\n"
        "    try:\n        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    except BlockingIOError:\n"
        "        time.sleep(0.05)\n",
        str(lock),
    )
    children.wait_ready(waiter)
    children.wait_ready(poller)
    wait_until(lambda: waiting_in_proc_locks(waiter.pid), 30, what="waiter in /proc/locks")
    root = ProcRoot()

    held = [r for r in collect_locks(root, holder.pid).rows if r.path == str(lock)]
    assert len(held) == 1
    h = held[0]
    assert (h.role, h.type, h.mode, h.range_text) == ("held", "FLOCK", "WRITE", "0-EOF")
    assert h.holder_pid == holder.pid and h.waiters == (waiter.pid,) and h.warning is None
    assert waiter.pid in h.others_waiting and poller.pid not in h.others_waiting
    assert poller.pid in {u.pid for u in h.others_open}

    (w,) = [r for r in collect_locks(root, waiter.pid).rows if r.path == str(lock)]
    assert w.role == "waiting" and w.holder_pid == holder.pid and w.request == "WRITE 0-EOF"

    # the poller neither holds nor waits in /proc/locks: the lock on its open file, as 'open'
    (o,) = [r for r in collect_locks(root, poller.pid).rows if r.path == str(lock)]
    assert (o.role, o.holder_pid) == ("open", holder.pid)


def test_flock_passed_on_by_fork_names_the_real_holder(children, tmp_path):
    lock = tmp_path / "inherited.lock"
    lock.write_text("")
    p = children.python(
        "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
        "pid = os.fork()\nif pid == 0:\n    print(os.getpid())\n    ready()\n    while True: time.sleep(1)\n",
        str(lock),
    )
    (kid,) = map(int, children.wait_ready(p))  # the child says who it is: no search of the box
    try:
        p.wait(timeout=20)  # the creator of the lock exits; its child keeps the lock
        root = ProcRoot()
        entries = [line for line in Path("/proc/locks").read_text().splitlines() if f" {p.pid} " in line]
        assert entries, "flock should still name its dead creator"
        wait_until(lambda: _holds(kid, str(lock)), what="the forked child to hold the lock")
        (row,) = [r for r in collect_locks(root, kid).rows if r.path == str(lock)]
        assert row.role == "held" and row.listed_pid == p.pid and row.holder_pid == kid
        assert row.warning is not None and "exited" in row.warning
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(kid, signal.SIGKILL)


def _holds(pid: int, path: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{n}") == path for n in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False
