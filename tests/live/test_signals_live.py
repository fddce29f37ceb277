"""Live: a blocked-then-raised SIGALRM, a mask inherited by a grandchild across fork and exec
(docs/incidents.md §3), and a signalfd reader. Every process started here is ended by pid."""

from __future__ import annotations

import os
import signal

import pytest

from stucktui.collect.signals import collect_signals
from stucktui.model.signals import mask_names
from stucktui.procfs.root import ProcRoot
from stucktui.report.panels_json import signals_report
from tests.helpers import ready_lines, wait_until

pytestmark = pytest.mark.live


def _signals(pid: int):
    root = ProcRoot()
    with root.pid_dir(pid) as d:
        return collect_signals(root, d)


def test_blocked_then_raised_sigalrm_is_pending_and_blocked(children):
    p = children.python(
        """
        import signal, time
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        signal.raise_signal(signal.SIGALRM)   # thread-directed: SigPnd of this thread
        signal.alarm(1)                       # process-directed: ShdPnd, within a second
        ready()
        while True:
            time.sleep(1000)
        """
    )
    children.wait_ready(p)
    snap = wait_until(lambda: (s := _signals(p.pid)).shared_pending and s, timeout=30, what="alarm in ShdPnd")
    rep = signals_report(snap)
    assert rep["pending"] == ["SIGALRM"] and rep["shared_pending"] == ["SIGALRM"]
    assert rep["blocked"] == ["SIGALRM"]
    assert "SIGALRM" in snap.stuck
    row = next(r for r in snap.rows if r.name == "SIGALRM")
    assert row.number == int(signal.SIGALRM) and row.default_action == "Term"
    assert row.pending_process and row.pending_tids == (p.pid,) and row.blocked_everywhere
    assert row.disposition == "default"


def test_grandchild_inherits_a_threads_blocked_mask(children):
    p = children.python(
        """
        import signal, subprocess, threading, time
        def spawner():
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM, signal.SIGUSR2])
            c = subprocess.Popen(["sleep", "1000"])
            print(c.pid, threading.get_native_id(), flush=True)
            ready()
            time.sleep(1000)
        threading.Thread(target=spawner, daemon=True).start()
        while True:
            time.sleep(1000)
        """
    )
    grandchild, spawner_tid = (int(x) for x in ready_lines(p))
    try:
        snap = _signals(grandchild)
        assert snap.parent is not None and snap.parent.parent_pid == p.pid
        assert mask_names(snap.parent.blocked_here_only) == ("SIGUSR2", "SIGALRM")
        assert snap.parent.same_mask_parent_tid == spawner_tid
        diff = signals_report(snap)["parent_diff"]
        assert diff["blocked_here_only"] == ["SIGUSR2", "SIGALRM"] and diff["blocked_parent_only"] == []
        # sent a SIGALRM, the grandchild keeps it pending forever: docs/incidents.md §3
        os.kill(grandchild, signal.SIGALRM)
        stuck = wait_until(lambda: _signals(grandchild).stuck, timeout=30, what="SIGALRM stuck")
        assert stuck == ("SIGALRM",)
    finally:
        try:
            os.kill(grandchild, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_signalfd_reader_is_noted_and_not_stuck(children):
    p = children.python(
        """
        import ctypes, os, signal, time
        libc = ctypes.CDLL(None, use_errno=True)
        libc.signalfd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        mask = (ctypes.c_uint64 * 16)()
        mask[0] = 1 << (signal.SIGUSR1 - 1)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
        fd = libc.signalfd(-1, mask, 0)
        assert fd >= 0, ctypes.get_errno()
        print(fd, flush=True)
        os.kill(os.getpid(), signal.SIGUSR1)
        ready()
        while True:
            time.sleep(1000)
        """
    )
    (fd,) = (int(x) for x in ready_lines(p))
    snap = _signals(p.pid)
    assert [(s.fd, mask_names(s.mask)) for s in snap.signalfds] == [(fd, ("SIGUSR1",))]
    row = next(r for r in snap.rows if r.name == "SIGUSR1")
    assert row.pending_process and row.blocked_everywhere and not row.stuck
