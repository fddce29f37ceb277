"""Signal masks decoded to names, the signal table, pending-but-blocked, the parent diff and
signalfd masks, on status files copied from a real process (tests/fixtures/threads/sigproc:
main thread blocks SIGALRM and SIGRTMIN+2 with both pending; a 'blocker' thread also blocks
SIGUSR2, which was sent to it; its child `sleep` inherited the blocker's mask)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stucktui.collect.signals import collect_signals, parse_signalfd_mask, signal_table
from stucktui.model.signals import (
    default_action,
    is_libc_internal,
    mask_names,
    mask_of,
    sig_name,
    sig_number,
    stuck_in_thread,
    stuck_process_directed,
)
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.status import parse_status
from stucktui.report.panels_json import signals_report

FIX = Path(__file__).parent.parent / "fixtures" / "threads"
SIG = FIX / "sigproc"
PID, CHILD = (int(x) for x in (SIG / "PIDS").read_text().split())
BLOCKER = next(int(t.name) for t in (SIG / str(PID) / "task").iterdir() if int(t.name) != PID)


def test_names_follow_this_machine():
    assert sig_name(int(signal.SIGALRM)) == "SIGALRM"
    assert sig_name(int(signal.SIGRTMIN) + 2) == "SIGRTMIN+2"
    assert sig_name(int(signal.SIGRTMAX)) == "SIGRTMAX"
    assert sig_name(32) == "SIG32" and is_libc_internal(32) and is_libc_internal(33)
    assert not is_libc_internal(int(signal.SIGRTMIN))
    for n in range(1, 65):
        assert sig_number(sig_name(n)) == n


def test_mask_decoding_of_real_status():
    st = parse_status((SIG / str(PID) / "status").read_text())
    assert mask_names(st.shd_pnd) == ("SIGALRM", "SIGRTMIN+2")
    assert mask_names(st.sig_blk) == ("SIGALRM", "SIGRTMIN+2")
    assert mask_names(st.sig_ign) == ("SIGINT", "SIGQUIT", "SIGPIPE", "SIGXFSZ")
    assert mask_names(st.sig_cgt) == ("SIGUSR1", "SIG33")
    assert mask_of([int(signal.SIGALRM)]) == 0x2000


def test_default_actions_from_signal7():
    assert default_action(int(signal.SIGCHLD)) == "Ign"
    assert default_action(int(signal.SIGSEGV)) == "Core"
    assert default_action(int(signal.SIGTSTP)) == "Stop"
    assert default_action(int(signal.SIGCONT)) == "Cont"
    assert default_action(int(signal.SIGALRM)) == "Term"
    assert default_action(int(signal.SIGRTMIN) + 3) == "Term"


def test_pending_but_blocked_arithmetic():
    alrm, usr2 = mask_of([int(signal.SIGALRM)]), mask_of([int(signal.SIGUSR2)])
    assert stuck_in_thread(usr2, alrm, alrm | usr2) == alrm | usr2
    assert stuck_in_thread(0, alrm, 0) == 0
    # process-directed: stuck only if every thread blocks it
    assert stuck_process_directed(alrm, [alrm, alrm | usr2]) == alrm
    assert stuck_process_directed(alrm, [alrm, 0]) == 0


def test_collect_on_fixture_tree():
    root = ProcRoot(str(SIG))
    with root.pid_dir(PID) as d:
        snap = collect_signals(root, d)
    assert snap.stuck == ("SIGUSR2", "SIGALRM", "SIGRTMIN+2")  # in signal-number order
    rows = {r.name: r for r in snap.rows}
    assert rows["SIGALRM"].pending_process and rows["SIGALRM"].blocked_everywhere
    assert rows["SIGUSR2"].pending_tids == (BLOCKER,) and rows["SIGUSR2"].blocked_tids == (BLOCKER,)
    assert rows["SIGUSR1"].disposition == "caught" and rows["SIGINT"].disposition == "ignored"
    assert rows["SIGTERM"].disposition == "default" and not rows["SIGTERM"].stuck
    assert rows["SIG33"].libc_internal
    rep = signals_report(snap)
    assert rep["shared_pending"] == ["SIGALRM", "SIGRTMIN+2"]
    assert rep["pending"] == []
    assert rep["threads"] == {
        str(BLOCKER): {"blocked": ["SIGUSR2", "SIGALRM", "SIGRTMIN+2"], "pending": ["SIGUSR2"]}
    }
    assert set(rep) == {"pending", "shared_pending", "blocked", "ignored", "caught", "threads", "parent_diff"}


def test_child_inherits_the_blocker_threads_mask():
    root = ProcRoot(str(SIG))
    with root.pid_dir(CHILD) as d:
        snap = collect_signals(root, d)
    assert snap.parent is not None and snap.parent.parent_pid == PID
    assert mask_names(snap.parent.blocked_here_only) == ("SIGUSR2",)
    assert snap.parent.same_mask_parent_tid == BLOCKER  # forked from that thread, not main
    rep = signals_report(snap)["parent_diff"]
    assert rep["blocked_here_only"] == ["SIGUSR2"] and rep["same_mask_parent_tid"] == BLOCKER
    assert snap.stuck == ()


def test_signalfd_mask_counts_as_consumer():
    mask = parse_signalfd_mask((FIX / "fdinfo_signalfd.txt").read_text())
    assert mask_names(mask) == ("SIGUSR1", "SIGTERM")
    st = parse_status((SIG / str(PID) / "status").read_text())
    from stucktui.model.signals import ThreadMasks

    threads = (ThreadMasks(PID, "x", 0, st.sig_blk),)
    plain = {r.name: r.stuck for r in signal_table(st, threads)}
    read_by_fd = {r.name: r.stuck for r in signal_table(st, threads, mask_of([int(signal.SIGALRM)]))}
    assert plain["SIGALRM"] and not read_by_fd["SIGALRM"]


def test_gone_process_raises(tmp_path):
    from stucktui.procfs.errors import ProcessGone

    with pytest.raises(ProcessGone):
        ProcRoot(str(tmp_path)).pid_dir(424242)
