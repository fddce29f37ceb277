"""Signal picker: names resolved on this architecture, the order, what each signal does to the
process, and the plain-words warnings; on /proc status files copied from real processes
(tests/fixtures/threads/sigproc, described in test_signals.py)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stucktui.actions.signals import (
    COMMON,
    choices_from_rows,
    picker_order,
    resolve_signal,
    signal_warnings,
)
from stucktui.collect.signals import collect_signals
from stucktui.procfs.root import ProcRoot

SIG = Path(__file__).parent.parent / "fixtures" / "threads" / "sigproc"
PID, CHILD = (int(x) for x in (SIG / "PIDS").read_text().split())
RTMIN, RTMAX = int(signal.SIGRTMIN), int(signal.SIGRTMAX)


def _choices(pid: int, **kw):
    root = ProcRoot(str(SIG))
    with root.pid_dir(pid) as d:
        snap = collect_signals(root, d, with_parent=False)
    return {c.name: c for c in choices_from_rows(snap.rows, **kw)}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("TERM", "SIGTERM"),
        ("sigterm", "SIGTERM"),
        (" usr1 ", "SIGUSR1"),
        ("IOT", "SIGABRT"),  # an alias resolves to the canonical name
        ("RTMIN+2", "SIGRTMIN+2"),
        ("SIGRTMIN+0", "SIGRTMIN"),
        ("RTMAX-1", f"SIGRTMIN+{RTMAX - 1 - RTMIN}"),
        ("SIGRTMAX", "SIGRTMAX"),
    ],
)
def test_resolve_signal_names(text, name):
    number, canon = resolve_signal(text)
    assert canon == name and number == (
        int(signal.Signals[name]) if "+" not in name else RTMIN + int(name[9:])
    )


@pytest.mark.parametrize(
    "text", ["10", "-9", "SIG10", "SIG32", "SIG33", "NOPE", "", "RTMIN+99", "RTMAX-40", "SIGRTMIN+-1"]
)
def test_resolve_signal_refuses_numbers_and_unknown_names(text):
    with pytest.raises(ValueError):
        resolve_signal(text)


def test_numbers_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="numbers differ between architectures"):
        resolve_signal("30")


def test_picker_order_common_first_then_rest_then_realtime():
    order = picker_order()
    assert order[:10] == [int(signal.Signals[n]) for n in COMMON]
    assert len(order) == len(set(order))
    assert 32 not in order and 33 not in order
    standard = {int(s) for s in signal.Signals if int(s) < 32}
    assert set(order) == standard | set(range(RTMIN, RTMAX + 1))
    rest = order[10 : 10 + len(standard) - 10]
    assert rest == sorted(rest) and all(n < 32 for n in rest)
    assert order[-(RTMAX - RTMIN + 1) :] == list(range(RTMIN, RTMAX + 1))


def test_choices_of_a_python_process_with_a_handler():
    c = _choices(PID)
    assert list(c)[:10] == list(COMMON)
    usr1 = c["SIGUSR1"]
    assert (usr1.disposition, usr1.warnings, usr1.effect, usr1.common) == ("caught", (), None, True)
    assert usr1.number == int(signal.SIGUSR1) and usr1.label == f"SIGUSR1 ({int(signal.SIGUSR1)})"
    assert c["SIGINT"].disposition == "ignored"
    assert c["SIGINT"].warning == "SIGINT is ignored by this process: sending it has no effect"
    term = c["SIGTERM"]
    assert term.default_action == "terminate" and term.effect == "exit"
    assert term.warning == "SIGTERM is not caught by this process: its default action terminates it"
    assert "dumps core" in (c["SIGSEGV"].warning or "") and c["SIGSEGV"].default_action == "core"
    # SIGUSR2 is blocked only in the 'blocker' thread: the main thread can still take it
    blocker = next(t for t in c["SIGUSR2"].blocked_tids)
    assert blocker != PID and f"blocked in thread {blocker}" in c["SIGUSR2"].handling
    assert c["SIGUSR2"].effect == "exit"
    # SIGALRM is blocked in both threads: it would stay pending (docs/incidents.md §3)
    alrm = c["SIGALRM"]
    assert alrm.blocked_everywhere and alrm.effect is None
    assert "blocked in every thread: it will stay pending" in (alrm.warning or "")
    assert c["SIGKILL"].handling == "cannot be caught, blocked or ignored" and c["SIGKILL"].effect == "exit"
    assert "SIGRTMIN+2" in c and "SIG32" not in c and "SIG33" not in c


def test_choices_of_a_process_without_handlers():
    c = _choices(CHILD)
    assert c["SIGUSR1"].warning == "SIGUSR1 is not caught by this process: its default action terminates it"
    assert c["SIGCHLD"].warning == (
        "SIGCHLD is not caught by this process: its default action ignores it, so it has no effect"
    )
    assert c["SIGTSTP"].effect == "stop" and "stops it until it gets SIGCONT" in (c["SIGTSTP"].warning or "")
    assert c["SIGCONT"].warnings == () and c["SIGCONT"].effect == "continue"


def test_namespace_init_drops_uncaught_signals():
    c = _choices(CHILD, namespace_init=True)
    assert "PID 1 of its pid namespace" in (c["SIGTERM"].warning or "") and c["SIGTERM"].effect is None
    assert c["SIGKILL"].effect == "exit"


def test_warnings_table():
    assert signal_warnings("SIGKILL", "terminate", "default", False)[1] == "exit"
    assert signal_warnings("SIGSTOP", "stop", "default", False)[0] == (
        "SIGSTOP cannot be caught: it stops the process until it gets SIGCONT",
    )
    w, effect = signal_warnings("SIGUSR1", "terminate", "caught", False, stopped=True)
    assert effect is None and w == (
        "the process is stopped (state T): it handles the signal only after SIGCONT",
    )
    assert signal_warnings("SIGUSR1", "terminate", "signalfd", True) == ((), None)
    w, effect = signal_warnings("SIGHUP", "terminate", "caught", True)
    assert effect is None and w == (
        "SIGHUP is blocked in every thread: it will stay pending until a thread unblocks it",
    )
