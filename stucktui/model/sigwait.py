"""Threads waiting for a signal (pure): what each waits for, and whether a signal sent to the
process can ever end the wait (docs/kernel-notes.md §A.5).

rt_sigtimedwait(set, info, timeout, size) (sigwait, sigwaitinfo, sigtimedwait) takes a signal
of `set` without running its handler. The kernel unblocks the set in the waiting thread for
the wait, so that thread's SigBlk does not show it: the set is read from its memory. pause()
and rt_sigsuspend(mask) return only once a signal handler has run in the thread; during
rt_sigsuspend SigBlk shows the temporary mask.

A signal sent to the process (kill) goes to its main thread whenever that thread does not
block it; another thread gets it only when the main one blocks it (or is stopped or exiting).
So a thread waiting for a signal that the main thread does not block, and whose handler
consumes it (or which is ignored), never gets it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Final

from stucktui.model.signals import (
    UNBLOCKABLE,
    default_action,
    is_libc_internal,
    mask_names,
    mask_numbers,
    mask_of,
)

TAKING_CALLS: Final = frozenset({"rt_sigtimedwait", "rt_sigtimedwait_time64"})
SUSPENDING_CALLS: Final = frozenset({"rt_sigsuspend", "sigsuspend", "pause"})
SIGNAL_WAIT_CALLS: Final = TAKING_CALLS | SUSPENDING_CALLS
# raised by a thread's own fault (or abort()), never sent to wake anyone: a crash handler
# installed for them is no way to end a pause
_SYNCHRONOUS: Final = mask_of(
    int(s)
    for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP)
) | mask_of([int(signal.SIGSYS)])
_FATAL: Final = frozenset({"Term", "Core"})


@dataclass(frozen=True, slots=True)
class ProcessSignals:
    """What decides where a signal sent to the process goes."""

    leader: int  # the main thread's tid (the pid)
    leader_blocked: int | None  # its SigBlk; None: not read
    # the main thread can take a signal: not stopped, not exiting, not waiting for one itself
    # (a main thread in sigwait takes what it waits for, the program's design)
    leader_takes: bool
    caught: int  # SigCgt
    ignored: int  # SigIgn
    other_waiter: bool = False  # some other thread waits for signals (a signal thread)


@dataclass(frozen=True, slots=True)
class SignalWait:
    what: str  # 'SIGUSR1 (sigwait, forever)'
    stuck: bool  # no signal sent to the process can end it
    why: str  # who could end it, or why nobody can


def _names(mask: int) -> str:
    return ", ".join(mask_names(mask)) or "none"


def judge(
    call: str, tid: int, blocked: int, awaited: int | None, timed: bool, p: ProcessSignals
) -> SignalWait:
    """The wait of thread `tid` in `call`, with its SigBlk `blocked` and, for rt_sigtimedwait,
    the set it waits for (`awaited`, None when its memory could not be read) and whether it
    has a timeout."""
    lost_to_leader = 0  # signals that, sent to the process, go to the main thread instead
    if tid != p.leader and p.leader_takes and p.leader_blocked is not None:
        lost_to_leader = ~p.leader_blocked
    if call in TAKING_CALLS:
        return _taking(call, awaited, timed, lost_to_leader, p)
    return _suspending(call, blocked, lost_to_leader, p)


def _taking(call: str, awaited: int | None, timed: bool, lost: int, p: ProcessSignals) -> SignalWait:
    how = "sigtimedwait, with a timeout" if timed else "sigwait, forever"
    if awaited is None:
        why = "it waits for a signal of a set its memory holds, which could not be read"
        return SignalWait(f"a signal ({how}; which could not be read)", False, why)
    awaited &= ~mask_of(UNBLOCKABLE)
    what = f"{_names(awaited)} ({how})"
    if timed:
        return SignalWait(what, False, f"it waits for {_names(awaited)}, and its timeout ends the wait")
    fates = []
    for n in mask_numbers(awaited):
        bit = 1 << (n - 1)
        if not lost & bit:
            return SignalWait(what, False, f"it waits for {_names(awaited)}: a process may send it")
        if p.caught & bit:
            fates.append(f"{mask_names(bit)[0]} runs its handler there")
        elif p.ignored & bit:
            fates.append(f"{mask_names(bit)[0]} is ignored (dropped)")
        elif default_action(n) in _FATAL:
            # sent, it ends the process, this wait with it
            return SignalWait(what, False, f"it waits for {_names(awaited)}, which would end the process")
        else:
            fates.append(f"{mask_names(bit)[0]} is dropped (ignored by default)")
    why = (
        f"no signal sent to the process can reach this wait: it goes to the main thread {p.leader}, "
        f"which does not block it, and {'; '.join(fates)}"
    )
    return SignalWait(what, True, why)


def _suspending(call: str, blocked: int, lost: int, p: ProcessSignals) -> SignalWait:
    name = "pause" if call == "pause" else "sigsuspend"
    handlers = p.caught & ~_SYNCHRONOUS & ~mask_of(UNBLOCKABLE)
    handlers &= ~mask_of(n for n in mask_numbers(handlers) if is_libc_internal(n))
    what = f"a signal handler to run ({name}, forever)"
    if not handlers:
        return SignalWait(what, False, "it waits until a signal ends it (no handler is installed)")
    wakers = handlers & ~blocked & ~lost
    if wakers:
        return SignalWait(what, False, f"it waits for a signal whose handler runs in it: {_names(wakers)}")
    if p.other_waiter:
        return SignalWait(what, False, "another thread of it waits for the process's signals")
    parts = []
    if handlers & blocked:
        parts.append(f"{_names(handlers & blocked)} blocked in this thread")
    if handlers & ~blocked:
        taken = f"taken by the main thread {p.leader}, which does not block them"
        parts.append(f"{_names(handlers & ~blocked)} {taken}")
    why = f"no signal sent to the process can end it: of the signals it has handlers for, {'; '.join(parts)}"
    return SignalWait(what, True, why)
