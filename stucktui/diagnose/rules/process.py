"""Whole-process rules: fd-exhaustion, uninterruptible and zombie-children."""

from __future__ import annotations

from stucktui.diagnose.mounts import describe, fuse_steps, kernel_waits, mount_steps, told_by_chains
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject, id_list, plural, seen_for
from stucktui.model import clues
from stucktui.model.findings import Finding, Severity
from stucktui.model.mounts import sleep_text
from stucktui.model.text import human_age


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
    # the CLOSE_WAIT sockets it names are close-wait-leak's too: sharing fds, the two findings
    # are one group (model/finding_groups), the leak and the limit it drives the process to
    cw = tuple(r.fd for r in s.sockets.rows if r.state == "CLOSE_WAIT") if s.sockets is not None else ()
    if cw:
        evidence.append(f"{len(cw)} of them are CLOSE_WAIT sockets")
    steps = [
        "press 4 for the Files panel: which kind of fd piles up (sockets in CLOSE_WAIT, pipes, files)",
        f"buy time: `prlimit --pid {s.pid} --nofile=NEW:HARD` raises the soft limit up to the hard one",
    ]
    return [s.finding("fd-exhaustion", severity, summary, evidence, steps, panel="files", fds=cw)]


_D_MIN_AGE = 10.0  # a D state seen for less is normal disk or page-fault I/O


def uninterruptible(s: Subject) -> list[Finding]:
    """Threads in uninterruptible sleep (D) for a long time: no signal ends them until the
    kernel call returns (SIGKILL only a killable wait). Needs a History: one look cannot tell
    long from brief. Names the mount and the FUSE daemon where the wait graph tells them;
    threads whose FUSE daemon is stuck are left to the wait-chain finding, which names it."""
    rows: list[tuple[int, str | None, str | None, tuple[str, ...] | None]]
    if s.threads is not None:
        rows = [(t.tid, t.wchan, t.call_text, t.kernel_stack) for t in s.threads.rows if t.state == "D"]
    elif s.state == "D":
        rows = [(s.pid, None, None, None)]
    else:
        return []
    told = told_by_chains(s.context.waits)
    rows = [r for r in rows if r[0] not in told]
    if not rows:
        return []
    age = s.ages.oldest(clues.DSTATE, [r[0] for r in rows])
    if age is None or age < _D_MIN_AGE:
        return []
    severity: Severity = "critical" if age >= 120 else "warning"
    tids = tuple(r[0] for r in rows)
    waits = [kw for kw in kernel_waits(s.context.waits, s.pid) if kw.state == "D" and kw.tids[0] in tids]
    wchans = sorted({r[1] for r in rows if r[1]})
    where = f" in {', '.join(wchans)}" if wchans else ""
    if waits:
        where += f", {describe(waits[0])}"
    who = f"Thread {tids[0]}" if len(tids) == 1 else f"{len(tids)} threads"
    summary = (
        f"{who} of {s.label} {'has' if len(tids) == 1 else 'have'} been in uninterruptible sleep (D) "
        f"for {human_age(age)}{where}: no signal ends {'it' if len(tids) == 1 else 'them'} until "
        "that kernel call returns (SIGKILL only a killable wait)."
    )
    evidence = [f"threads {id_list(list(tids))} in state D, {seen_for(age)}"]
    for tid, wchan, call, stack in rows[:4]:
        line = f"thread {tid}: " + (call or "syscall unknown") + (f", wchan {wchan}" if wchan else "")
        if stack:
            line += ", kernel stack " + " <- ".join(stack[:5])
        evidence.append(line)
    evidence += [f"threads {id_list(list(kw.tids))}: {sleep_text(kw)}" for kw in waits[:4]]
    steps = [x for kw in waits[:1] for x in fuse_steps(kw) + mount_steps(kw)]
    steps += [
        "the wait channel names the subsystem: nfs_* or rpc_* an NFS server, io_schedule or blk_* "
        "storage, request_wait_answer or a fuse mount a FUSE daemon, kernel_clone a vfork child "
        "that has not exec'd yet",
        "press 2 for the Threads panel (as root it shows kernel stacks)",
        "k cannot end it: fix what it waits for (the server, the disk, the daemon, the child)",
    ]
    return [
        s.finding("uninterruptible", severity, summary, evidence, steps, panel="threads", tids=tids, age=age)
    ]


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
    age = s.ages.oldest(clues.ZOMBIES, [(c.pid, c.starttime) for c in zombies])
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
    return [s.finding("zombie-children", severity, summary, evidence, steps, panel="threads", age=age)]


UNINTERRUPTIBLE = RuleSpec(
    "uninterruptible",
    uninterruptible,
    clues=frozenset({clues.DSTATE}),
    needs=frozenset({"threads"}),
    cause_rank=60,
    ladder=("silent for the first 10 s of D state (normal I/O); warning, critical after 2 minutes"),
    tracks=frozenset({clues.DSTATE}),
)


FD_EXHAUSTION = RuleSpec(
    "fd-exhaustion",
    fd_exhaustion,
    clues=frozenset({clues.FD_LIMIT}),
    needs=frozenset(),
    cause_rank=130,
    ladder=("warning from 85% of RLIMIT_NOFILE, critical from 95%"),
    tracks=frozenset(),
)


ZOMBIE_CHILDREN = RuleSpec(
    "zombie-children",
    zombie_children,
    clues=frozenset({clues.ZOMBIES}),
    needs=frozenset({"threads", "signals"}),
    cause_rank=140,
    ladder=("from 10 zombies or one seen for 30 s; warning, critical from 1,000"),
    tracks=frozenset({clues.ZOMBIES}),
)
