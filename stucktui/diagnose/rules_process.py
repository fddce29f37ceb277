"""Whole-process rules: signal-blocked-pending (incident 3), fd-exhaustion, uninterruptible
and zombie-children."""

from __future__ import annotations

from stucktui.diagnose.subject import Subject, call_name, id_list, plural, seen_for
from stucktui.model.findings import Finding, Severity
from stucktui.model.signals import mask_names
from stucktui.model.text import human_age

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
    stuck = [
        r
        for r in sig.rows
        if r.stuck
        and not r.libc_internal
        and r.disposition != "ignored"
        and not (reaping and r.name == "SIGCHLD")
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
    age = s.ages.oldest("stuck_signal", [r.number for r in stuck])
    if s.ages.brief("stuck_signal", [r.number for r in stuck], 1.0):
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
    return [s.finding("signal-blocked-pending", severity, summary, evidence, steps, panel="signals")]


def fd_exhaustion(s: Subject) -> list[Finding]:
    """Open fds near RLIMIT_NOFILE: once at the limit, accept(), open() and socket() fail."""
    n = s.files.fd_count if s.files is not None and s.files.rows else s.num_fds
    limit = s.files.fd_soft_limit if s.files is not None and s.files.fd_soft_limit else s.fd_soft_limit
    if n is None or not limit:
        return []
    share = n / limit
    if share < 0.85:
        return []
    severity: Severity = "critical" if share >= 0.95 else "warning"
    summary = (
        f"{s.label} has {n} of its {limit} file descriptors open ({share:.0%}): at the limit, "
        "accept(), open() and socket() fail with EMFILE."
    )
    evidence = [f"{n} fds open, soft RLIMIT_NOFILE {limit}"]
    if s.files is not None and s.files.counts:
        evidence.append("by kind: " + ", ".join(f"{k} {v}" for k, v in s.files.counts[:5]))
        if s.files.fd_hard_limit:
            evidence.append(f"hard limit {s.files.fd_hard_limit}")
    if s.sockets is not None:
        cw = sum(1 for r in s.sockets.rows if r.state == "CLOSE_WAIT")
        if cw:
            evidence.append(f"{cw} of them are CLOSE_WAIT sockets")
    steps = [
        "press 4 for the Files panel: which kind of fd piles up (sockets in CLOSE_WAIT, pipes, files)",
        f"buy time: `prlimit --pid {s.pid} --nofile=NEW:HARD` raises the soft limit up to the hard one",
    ]
    return [s.finding("fd-exhaustion", severity, summary, evidence, steps, panel="files")]


_D_MIN_AGE = 10.0  # a D state seen for less is normal disk or page-fault I/O


def uninterruptible(s: Subject) -> list[Finding]:
    """Threads in uninterruptible sleep (D) for a long time: nothing, not even SIGKILL, ends
    them until the kernel call returns. Needs a History: one look cannot tell long from brief."""
    rows: list[tuple[int, str | None, str | None, tuple[str, ...] | None]]
    if s.threads is not None:
        rows = [(t.tid, t.wchan, t.call_text, t.kernel_stack) for t in s.threads.rows if t.state == "D"]
    elif s.state == "D":
        rows = [(s.pid, None, None, None)]
    else:
        return []
    if not rows:
        return []
    age = s.ages.oldest("dstate", [r[0] for r in rows])
    if age is None or age < _D_MIN_AGE:
        return []
    severity: Severity = "critical" if age >= 120 else "warning"
    tids = tuple(r[0] for r in rows)
    wchans = sorted({r[1] for r in rows if r[1]})
    where = f" in {', '.join(wchans)}" if wchans else ""
    who = f"Thread {tids[0]}" if len(tids) == 1 else f"{len(tids)} threads"
    summary = (
        f"{who} of {s.label} {'has' if len(tids) == 1 else 'have'} been in uninterruptible sleep (D) "
        f"for {human_age(age)}{where}: no signal, not even SIGKILL, ends "
        f"{'it' if len(tids) == 1 else 'them'} until that kernel call returns."
    )
    evidence = [f"threads {id_list(list(tids))} in state D, {seen_for(age)}"]
    for tid, wchan, call, stack in rows[:4]:
        line = f"thread {tid}: " + (call or "syscall unknown") + (f", wchan {wchan}" if wchan else "")
        if stack:
            line += ", kernel stack " + " <- ".join(stack[:5])
        evidence.append(line)
    steps = [
        "the wait channel names the subsystem: nfs_* or rpc_* an NFS server, io_schedule or blk_* "
        "storage, kernel_clone a vfork child that has not exec'd yet",
        "press 2 for the Threads panel (as root it shows kernel stacks)",
        "k cannot end it: fix what it waits for (the server, the disk, the child)",
    ]
    return [s.finding("uninterruptible", severity, summary, evidence, steps, panel="threads", tids=tids)]


_ZOMBIE_MIN_AGE = 30.0
_ZOMBIE_MANY = 10


def zombie_children(s: Subject) -> list[Finding]:
    """A parent that does not reap its children: each zombie keeps a pid until it does."""
    kids = s.context.children
    if not kids:
        return []
    zombies = [c for c in kids if c.state == "Z"]
    if not zombies:
        return []
    age = s.ages.oldest("zombie", [(c.pid, c.starttime) for c in zombies])
    if len(zombies) < _ZOMBIE_MANY and (age is None or age < _ZOMBIE_MIN_AGE):
        return []  # a child that just exited waits a moment for its parent's wait(): normal
    severity: Severity = "critical" if len(zombies) >= 1000 else "warning"
    pids = [c.pid for c in zombies]
    since = f", the oldest for {human_age(age)}" if age and age >= 1 else ""
    summary = (
        f"{s.label} has {plural(len(zombies), 'zombie child', 'zombie children')} it has not reaped "
        f"(pid {id_list(pids, 5)}){since}: it does not call wait() for its children."
    )
    names = sorted({c.name for c in zombies})
    evidence = [f"zombies: pids {id_list(pids)} ({', '.join(names[:5])})"]
    if s.signals is not None:
        chld = next((r for r in s.signals.rows if r.name == "SIGCHLD"), None)
        if chld is not None:
            evidence.append(
                f"SIGCHLD is {chld.disposition} here" + (", blocked" if chld.blocked_everywhere else "")
            )
    if s.threads is not None and s.threads.groups:
        evidence.append(f"its threads: {s.threads.groups[0].summary}")
    steps = [
        f"zombies use no memory, only pids: they go away when pid {s.pid} reaps them or exits",
        f"k sends SIGCHLD to pid {s.pid}: a parent whose handler reaps may catch up",
        "fix the parent: wait() for every child, or set SIGCHLD to SIG_IGN so the kernel reaps them",
    ]
    return [s.finding("zombie-children", severity, summary, evidence, steps, panel="threads")]
