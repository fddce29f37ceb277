"""Lock pollers and the holders they wait for (docs/kernel-notes.md §8.3, §A.7).

The poller's side is part of lock-wait (stucktui.diagnose.rules.locks): a process whose
sleeping threads are proven to retry a lock (the wait graph's poll edges) keeps trying to lock
a file another process holds. The holder's side is lock-holder: a process holds a lock while it
is idle (asleep at a prompt, reading a pipe, in a sleep) or stopped, and others wait for it,
blocked or polling. That is the incident: the lock is released only when the holder moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stucktui.diagnose.chains import follow
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject, id_list, seen_for
from stucktui.model import clues
from stucktui.model import waits as W
from stucktui.model.findings import Finding, Severity
from stucktui.model.lock_polls import POLLING, SLEEP_CALLS
from stucktui.model.locks import LockRow
from stucktui.model.threads import ThreadsSnapshot

STEPS_LOCKS = "press 5 for the Locks panel: holder, waiters and every process with the file open"
_SQLITE_STEP = (
    "a SQLite transaction holds its locks until its connection commits or rolls back: COMMIT or "
    "ROLLBACK at the holder's prompt, or end the holder (its journal rolls the transaction back)"
)
_TTY = ("/dev/pts/", "/dev/tty", "/dev/console")


def poll_waits(graph: W.WaitGraph | None) -> list[W.Wait]:
    """The waits of the graph's first process that poll for a lock (not blocked in it)."""
    start = graph.nodes.get(graph.start) if graph is not None else None
    if start is None:
        return []
    return [w for w in start.waits if w.kind == W.LOCK and w.what.startswith(POLLING)]


def poll_severity(age: float | None) -> Severity:
    """A poller alone may give up by itself, or be ordinary contention: info until it has been
    seen polling for 30 s (never in a one-shot report, which cannot tell), then a warning, and
    critical after 5 minutes."""
    if age is None or age < 30:
        return "info"
    return "critical" if age >= 300 else "warning"


def idle_words(doing: str, name: str = "") -> str:
    """What an idle lock holder is doing, from its threads' summary ('1 thread: read(0 ->
    /dev/pts/1)'): 'idle at a terminal prompt (sqlite3 shell)', 'reading a pipe', 'asleep'."""
    if "read(" in doing and any(t in doing for t in _TTY):
        shell = f" ({name} shell)" if name in ("sqlite3", "psql", "mysql", "python3", "python") else ""
        return f"idle at a terminal prompt{shell}"
    if ("read(" in doing or doing.startswith("read from")) and "pipe:[" in doing:
        return f"idle, reading a pipe ({doing})"
    if any(f"{c}(" in doing for c in ("nanosleep", "clock_nanosleep")):
        return f"asleep ({doing})"
    return f"idle ({doing})" if doing else "idle"


def _count(n: int, one: str, many: str, verb: str = "have") -> str:
    """'1 process waits', '3 processes wait'; 'has'/'have' for verb 'have'."""
    if n == 1:
        return f"1 {one} {'has' if verb == 'have' else verb + 's'}"
    return f"{n} {many} {verb}"


def _who(p: W.Party) -> str:
    return f"pid {p.pid} ({p.name})"


def poller_findings(s: Subject) -> tuple[list[Finding], set[int]]:
    """One finding per lock the wait graph shows this process polling for; and the fds told."""
    graph = s.context.waits
    waits = poll_waits(graph)
    if not waits or graph is None:
        return [], set()
    chains = {c.hops[0].obj: c for c in follow(graph) if c.hops}
    out, told = [], set()
    for w in waits:
        holders = [p for p in w.parties if p.pid is not None]
        if not holders:
            continue
        row = s.fd_row(w.fd) if w.fd is not None else None
        lock = w.what[len(POLLING) :]
        who = _who(holders[0]) + (f" and {len(holders) - 1} more" if len(holders) > 1 else "")
        target = f"{row.target} (fd {row.fd})" if row is not None else lock
        tail = ""
        c = chains.get(w.what)
        if c is not None and c.end.kind == W.IDLE and len(c.hops) > 1 and c.hops[1].pid == holders[0].pid:
            tail = f"; {_who(holders[0])} is {idle_words(c.hops[1].obj, holders[0].name)}"
        elif c is not None and c.end.pid == holders[0].pid and c.end.kind == W.IDLE:
            tail = f"; {_who(holders[0])} is {idle_words(c.end.detail, holders[0].name)}"
        elif c is not None and c.end.pid is not None:
            tail = f"; the chain ends at pid {c.end.pid} ({c.end.name}): {c.end.detail}"
        age = s.ages.age(clues.LOCK_POLL, w.what)
        # one look shows one try; only a view that has watched it for a while says it keeps trying
        verb = "keeps trying" if age is not None and age >= 1 else "was seen trying"
        summary = f"{s.label} {verb} to lock {target}: it polls for {lock}, held by {who}{tail}."
        evidence = [
            *w.evidence,
            f"{'fd ' + str(row.fd) if row else 'it'} has the file open and holds no lock on it; a "
            "poller retries without blocking, so /proc/locks never lists it as a waiter",
            *(f"{p.role}: {_who(p)}" for p in holders),
        ]
        if (seen := seen_for(age)) is not None:
            evidence.append(f"polling, {seen}")
        steps = [STEPS_LOCKS, f"open pid {holders[0].pid} to see why it keeps the lock"]
        if "SQLite" in " ".join(w.evidence) or "(RESERVED)" in lock or "WAL" in lock:
            steps.append(_SQLITE_STEP)
        fds = (w.fd,) if w.fd is not None else ()
        out.append(s.finding("lock-wait", poll_severity(age), summary, evidence, steps, panel="locks",
                             fds=fds, tids=w.tids, age=age))  # fmt: skip
        if w.fd is not None:
            told.add(w.fd)
    return out, told


def _lock_words(r: LockRow) -> str:
    if r.sqlite is not None:
        return f"{r.sqlite.short} of {r.database}"
    where = r.path or f"inode {r.inode}"
    return f"the {r.type} {r.mode} lock on {where}" + (
        "" if r.type == "FLOCK" else f" (bytes {r.range_text})"
    )


def _doing(threads: ThreadsSnapshot | None) -> str | None:
    """None while any thread runs or is in the kernel (the holder works: the lock is in use)."""
    if threads is None or not threads.rows or any(t.state != "S" for t in threads.rows):
        return None
    return "; ".join(g.summary for g in threads.groups[:2])


# Ends of the holder's own chains that mean work goes on (a child computing, a peer off this
# box answering, the kernel): the lock is in use, not forgotten
_WORKING = frozenset({W.RUNNING, W.REMOTE, W.KERNEL, W.UNKNOWN, W.DEPTH, W.UNREADABLE})


def _works_through(graph: W.WaitGraph | None) -> bool:
    """Some wait of the holder leads to a process that works (`flock(1)` waiting for its
    command, which runs): it holds the lock for that work."""
    return graph is not None and any(c.end.kind in _WORKING for c in follow(graph))


def lock_holder(s: Subject) -> list[Finding]:
    """The holder's side, from its own facts: it holds a lock that processes are blocked on
    (/proc/locks lists them) while it is idle or stopped. Pollers never show there: the others
    that have the file open are named as ones that may be polling."""
    if s.locks is None:
        return []
    stopped = s.state in ("T", "t")
    doing = None if stopped else _doing(s.threads)
    if not stopped and (doing is None or _works_through(s.context.waits)):
        return []
    out = []
    seen: set[str] = set()
    for r in s.locks.rows:
        blocked = [p for p in r.waiters if p != s.pid]
        if r.role != "held" or not blocked:
            continue
        lock = _lock_words(r)
        if lock in seen:
            continue
        seen.add(lock)
        state = ("stopped (state T)" if s.state == "T" else "held in a tracing stop") if stopped else ""
        how = state or idle_words(doing or "", s.name)
        open_too = sorted({u.pid for u in r.others_open})
        maybe = (
            f"; {_count(len(open_too), 'more process', 'more processes')} it open and may be polling"
            if open_too
            else ""
        )  # noqa: E501
        summary = f"{s.label} holds {lock} while {how}; {_count(len(blocked), 'process', 'processes', 'wait')} for it{maybe}."  # noqa: E501
        evidence = [
            f"/proc/locks: {r.type} {r.mode} {r.range_text} granted to pid {s.pid} (lock {r.lock_id}); "
            f"blocked waiting for it: {id_list([p for p in blocked if p > 0]) or 'OFD waiters (no pid)'}",
        ]
        if r.sqlite is not None:
            evidence.append(f"{r.path}: {r.sqlite.text}")
        if open_too:
            evidence.append(
                f"open, holding no lock (a poller never shows as a waiter): pids {id_list(open_too)}"
            )
        if doing:
            evidence.append(f"its threads: {doing}")
        steps = [STEPS_LOCKS]
        if s.state == "T":
            steps.insert(
                0, f"resume it: `stucktui signal {s.pid} CONT` (k in stucktui's view of pid {s.pid})"
            )
        elif s.state == "t":
            steps.insert(0, f"continue or detach pid {s.pid} in its tracer, or end the tracer")
        elif r.sqlite is not None:
            steps.append(_SQLITE_STEP)
        else:
            steps.append(f"see why pid {s.pid} keeps the lock while idle; ending it releases the lock")
        severity: Severity = "critical" if stopped else "warning"
        out.append(s.finding("lock-holder", severity, summary, evidence, steps, panel="locks"))
    return out


def _holder_of(c: W.WaitChain, i: int) -> tuple[int | None, str, str]:
    """(pid, name, what it does) of the process that hop i's lock wait goes to."""
    if c.end.kind != W.IDLE:
        return None, "", ""  # the holder, or what it waits for, works (or cannot be seen)
    if i + 1 < len(c.hops):
        h = c.hops[i + 1]
        return h.pid, h.name, h.obj
    return c.end.pid, c.end.name, c.end.detail


def holder_findings(
    graphs: Iterable[W.WaitGraph], findings: list[Finding], roots: Mapping[int, tuple[str, int]]
) -> list[Finding]:
    """The box-wide view of lock-holder: every chain through a lock wait to a holder that is
    idle or waits on something that may end (a stuck one has its root finding), grouped by
    holder, blocked waiters and pollers alike. Replaces the holder's own lock-holder finding.
    Severity: a blocked waiter makes it a warning at once; pollers alone, only once one of
    them has been polling long enough for its own finding to be a warning."""
    by_holder: dict[int, dict[int, tuple[bool, str, str]]] = {}
    names: dict[int, str] = {}
    for graph in graphs:
        for c in follow(graph):
            if c.stuck:
                continue
            for i, h in enumerate(c.hops):
                pid, name, doing = _holder_of(c, i) if h.wait == W.LOCK else (None, "", "")
                if pid is None or pid not in roots or pid == h.pid:
                    continue
                names[pid] = name
                lock = h.obj[len(POLLING) :] if h.obj.startswith(POLLING) else f"the {h.obj}"
                by_holder.setdefault(pid, {})[h.pid] = (h.obj.startswith(POLLING), lock, doing)
    severity_of = {(f.pid, f.id): f.severity for f in findings}
    # a stopped holder's root finding (wait-chain) tells it already, with every waiter
    rooted = {f.pid for f in findings if f.id == "wait-chain" and f.severity == "critical"}
    out = [f for f in findings if not (f.id == "lock-holder" and (f.pid in by_holder or f.pid in rooted))]
    for pid, waiters in sorted(by_holder.items()):
        polling = [p for p, (poll, _, _) in waiters.items() if poll]
        blocked = [p for p in waiters if p not in polling]
        told = [severity_of.get((p, "lock-wait")) for p in polling]
        severity: Severity = (
            "warning" if blocked or any(t in ("warning", "critical") for t in told) else "info"
        )
        _, lock, doing = next(iter(waiters.values()))
        name, starttime = roots[pid]
        how = idle_words(doing, name)
        n = _count(len(waiters), "process", "processes", "wait")
        summary = f"pid {pid} ({name}) holds {lock} while {how}; {n} for it" + (
            f" ({len(polling)} polling)" if polling else ""
        )
        evidence = [
            *(f"pid {p} blocked waiting for it" for p in blocked[:8]),
            *(
                f"pid {p} polling for it (retries without blocking, sleeps between tries)"
                for p in polling[:8]
            ),
        ]
        steps = [STEPS_LOCKS, f"see why pid {pid} keeps the lock while idle; ending it releases the lock"]
        if "SQLite" in lock or "(RESERVED)" in lock or "WAL" in lock:
            steps.append(_SQLITE_STEP)
        out.append(Finding("lock-holder", severity, pid, name, summary, tuple(evidence), tuple(steps),
                           "locks", (), (), starttime))  # fmt: skip
    return out


def sleeps(threads: ThreadsSnapshot | None) -> bool:
    return threads is not None and any(
        t.state == "S" and t.call is not None and t.call.name in SLEEP_CALLS for t in threads.rows
    )


LOCK_HOLDER = RuleSpec(
    "lock-holder",
    lock_holder,
    clues=frozenset({clues.LOCK_POLL, clues.LOCK_WAIT}),
    needs=frozenset({"threads", "files", "locks"}),
    cause_rank=15,
    ladder="critical: the holder is stopped or held by a tracer; warning: it is idle (at a prompt, "
    "reading a pipe, asleep) while processes are blocked on its lock; box-wide, pollers alone "
    "make it a warning once one has been polling for 30 s (info before)",
)
