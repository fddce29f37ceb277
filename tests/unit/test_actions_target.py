"""Target handles on the test process itself (nothing is sent to it): identity, the wording of
confirmations, and close() while an action still holds the handles."""

from __future__ import annotations

import json
import os
import threading

import pytest

from stucktui.actions import results as R
from stucktui.actions.audit import AuditLog, Policy
from stucktui.actions.closefd import close_fd, close_methods
from stucktui.actions.signals import send_signal
from stucktui.actions.target import Target, TargetError, read_state
from stucktui.procfs.root import ProcRoot


def _starttime() -> int:
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def test_pins_this_process():
    with Target.open(os.getpid(), _starttime()) as t:
        assert t.check() is None and not t.exited() and not t.kernel_thread
        head = t.describe()
        assert head[0].startswith(f"process {os.getpid()} (") and f"(uid {os.getuid()})" in head[0]
        assert f"(ticks {t.starttime})" in head[1] and head[2].startswith("command: ")
        state = read_state(t)
        assert state.alive and state.state in ("R", "S")


def test_fixture_root_is_refused():
    with pytest.raises(TargetError, match="live /proc") as exc:
        Target.open(os.getpid(), root=ProcRoot("/tmp"))
    assert exc.value.outcome == R.UNAVAILABLE


def test_close_waits_for_work_in_progress(tmp_path):
    t = Target.open(os.getpid())
    with t.in_use():
        closer = threading.Thread(target=t.close)
        closer.start()
        closer.join(timeout=10)
        assert not closer.is_alive(), "close() must not block on work in progress"
        assert t.closed and not t.exited()  # the pidfd is still ours while in use
        with t.pidfd() as pidfd:
            os.fstat(pidfd)
    assert t.exited() and "was closed" in (t.check() or "")
    with pytest.raises(TargetError), t.in_use():
        pass
    policy = Policy(audit=AuditLog(tmp_path / "a.log"))
    assert send_signal(t, "TERM", policy).outcome == R.GONE
    assert close_fd(t, 0, "shutdown-both", policy).outcome == R.GONE
    assert close_methods(t, 0).facts.gone is not None
    lines = [json.loads(x) for x in (tmp_path / "a.log").read_text().splitlines()]
    assert [(x["action"], x["result"]) for x in lines] == [("signal", R.GONE), ("close-fd", R.GONE)]


def test_declined_is_logged(tmp_path):
    policy = Policy(audit=AuditLog(tmp_path / "a.log"))
    with Target.open(os.getpid()) as t:
        assert policy.declined(t, "close-fd", "gdb-null", extra={"fd": 3}) is None
    (rec,) = (json.loads(x) for x in (tmp_path / "a.log").read_text().splitlines())
    assert (rec["result"], rec["method"], rec["fd"], rec["pid"]) == (R.DECLINED, "gdb-null", 3, os.getpid())


@pytest.mark.parametrize("pid", [0, -1, 4194305, 2**32, 2**64, 10**20])
def test_a_pid_out_of_range_is_an_invalid_request_not_an_overflow(pid):
    with pytest.raises(TargetError, match="pid must be a whole number from 1 to 4194304") as exc:
        Target.open(pid)
    assert exc.value.outcome == R.BAD_REQUEST


def test_a_pid_that_names_nothing_is_gone():
    with pytest.raises(TargetError, match="no process with pid 4194304") as exc:
        Target.open(4194304)
    assert exc.value.outcome == R.GONE


def test_a_thread_id_names_its_process():
    started, stop = threading.Event(), threading.Event()
    tid: list[int] = []

    def worker() -> None:
        tid.append(threading.get_native_id())
        started.set()
        stop.wait(30)

    t = threading.Thread(target=worker)
    t.start()
    try:
        assert started.wait(30)
        with pytest.raises(TargetError, match=f"^{tid[0]} is a thread of process {os.getpid()}") as exc:
            Target.open(tid[0])
        assert exc.value.outcome == R.BAD_REQUEST
    finally:
        stop.set()
        t.join(30)
