"""signal-blocked-pending: a signal delivered but blocked by every thread it could go to."""

from __future__ import annotations

from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject, call_name, id_list, seen_for
from stucktui.model import clues
from stucktui.model.findings import Finding, Severity
from stucktui.model.signals import HARMLESS_ACTIONS, mask_names
from stucktui.model.sigwait import SIGNAL_WAIT_CALLS

_STEPS_SIGNALS = "press 6 for the Signals panel: every mask decoded per thread, and the parent's"


def _list(names: tuple[str, ...], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "") if names else "-"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def signal_blocked_pending(s: Subject) -> list[Finding]:
    """A signal pending but blocked by every thread it could go to: it is never delivered, and
    a program that waits for it waits forever. Says where the mask came from: a blocked mask
    survives fork and exec, so a child started from a thread that blocks signals inherits them."""
    sig = s.signals
    if sig is None:
        return []
    # A shell waiting for its pipeline blocks SIGCHLD and reaps in wait4(): the pending
    # SIGCHLD is how it works, not a signal anyone waits for.
    reaping = s.threads is not None and any(call_name(t) in ("wait4", "waitid") for t in s.threads.rows)
    # An ignored signal is discarded once unblocked: nothing waits for it (coreutils timeout
    # ignores the SIGTERM and SIGCONT it sends its own process group).
    # A signal whose default action does nothing to a running process (SIGWINCH after a
    # terminal resize, SIGURG, SIGCHLD, SIGCONT) stays pending harmlessly in a process that
    # blocks it; it is a stuck signal only when the process waits for it: a handler installed
    # for it and a thread waiting in sigwait, sigsuspend or pause.
    in_signal_wait = s.threads is not None and any(call_name(t) in SIGNAL_WAIT_CALLS for t in s.threads.rows)
    stuck = [
        r
        for r in sig.rows
        if r.stuck
        and not r.harmless  # libc's own, ignored, or a harmless default with no handler
        and not (reaping and r.name == "SIGCHLD")
        and (r.default_action not in HARMLESS_ACTIONS or in_signal_wait)  # a handler that waits
    ]
    if not stuck:
        return []
    names = [r.name for r in stuck]
    bits = 0
    for r in stuck:
        bits |= 1 << (r.number - 1)
    p = sig.parent
    if p is None:
        origin = "its parent could not be read, so where the mask came from is unknown"
    elif not p.blocked_here_only & bits:
        origin = f"the mask was inherited: its parent pid {p.parent_pid} ({p.parent_name}) blocks it too"
    elif len(p.same_mask_parent_tids) > 1:
        origin = (
            f"the mask was inherited from its parent pid {p.parent_pid} ({p.parent_name}), whose "
            f"threads {id_list(list(p.same_mask_parent_tids), 6)} block the same signals (one of them "
            "started it; /proc does not say which)"
        )
    elif p.same_mask_parent_tid is not None:
        origin = (
            f"the mask was inherited from its parent pid {p.parent_pid} ({p.parent_name}), whose "
            f"thread {p.same_mask_parent_tid} blocks the same signals (the thread that started it)"
        )
    elif blockers := p.parent_tids_blocking(bits):
        origin = (
            f"the mask was inherited from its parent pid {p.parent_pid} ({p.parent_name}), whose "
            f"{'thread' if len(blockers) == 1 else 'threads'} {id_list(list(blockers), 6)} "
            f"({len(blockers)} of {len(p.parent_blocked)}) block {'it' if len(names) == 1 else 'them'} "
            "(one of them started it; it has changed other parts of its mask since)"
        )
    elif p.parent_pid == 1 or s.ppid == 1:
        # an orphan is reparented to pid 1 (or a subreaper): its real parent may be gone
        origin = (
            f"its parent is pid 1 ({p.parent_name}), which does not block it: either this process "
            "blocked it itself, or it was started by a process that has exited since (it was then "
            "reparented to pid 1), whose mask cannot be read any more"
        )
    else:
        origin = (
            f"its parent pid {p.parent_pid} ({p.parent_name}) does not block it: this process blocked "
            "it itself, or a parent thread that has since changed its mask started it"
        )
    verb = "is" if len(names) == 1 else "are"
    summary = (
        f"{_names(names)} {verb} blocked and pending in {s.label}: this process will wait forever for "
        f"{'it' if len(names) == 1 else 'them'}; {origin}."
    )
    age = s.ages.oldest(clues.STUCK_SIGNAL, [r.number for r in stuck])
    if s.ages.brief(clues.STUCK_SIGNAL, [r.number for r in stuck], 1.0):
        return []  # first sighting: a program that blocks and then sigwait()s takes it in a moment
    severity: Severity = "critical" if (age or 0) >= 10 else "warning"
    evidence = [
        f"pending: {_list(mask_names(sig.shared_pending | sig.pending))} "
        f"(process-directed: {_list(mask_names(sig.shared_pending))})",
        f"blocked (main thread): {_list(mask_names(sig.blocked))}",
    ]
    for r in stuck:
        where = "every thread" if r.blocked_everywhere else "threads " + id_list(list(r.blocked_tids))
        evidence.append(
            f"{r.name} (number {r.number} here, default action {r.default_action}, {r.disposition}): "
            f"blocked in {where}"
        )
    if p is not None and p.blocked_here_only:
        evidence.append(
            f"blocked here but not in the parent's main thread: {_list(mask_names(p.blocked_here_only))}"
        )
    if (seen := seen_for(age)) is not None:
        evidence.append(f"pending, {seen}")
    term_blocked = any(r.name == "SIGTERM" and r.blocked_everywhere for r in sig.rows)
    steps = [
        _STEPS_SIGNALS,
        "k sends a signal: "
        + (
            "SIGTERM is blocked too, so only SIGKILL ends it"
            if term_blocked
            else "SIGTERM or SIGKILL ends it"
        ),
        "fix the code that starts it: unblock signals in the child before exec (the forking "
        "thread's mask survives fork and exec), e.g. pthread_sigmask in a pre-exec step",
    ]
    return [s.finding("signal-blocked-pending", severity, summary, evidence, steps, panel="signals", age=age)]


SIGNAL_BLOCKED_PENDING = RuleSpec(
    "signal-blocked-pending",
    signal_blocked_pending,
    clues=frozenset({clues.STUCK_SIGNAL}),
    needs=frozenset({"signals", "threads"}),
    cause_rank=40,
    ladder=("warning; critical once stuck for 10 s"),
    tracks=frozenset({clues.STUCK_SIGNAL}),
)
