"""Lock rules: lock-self-wait (docs/incidents.md §5: a process waiting for a lock it holds itself) and
lock-wait (waiting for a lock another process holds, named).

Pollers that retry with LOCK_NB (the filelock pattern) never show as waiters in /proc/locks,
so they are recognised by having the locked file open and a thread in the lock call, either
caught in the syscall or seen in a Python stack (docs/kernel-notes.md §8.3)."""

from __future__ import annotations

from stucktui.diagnose.rules.lock_polls import poller_findings, sleeps
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject, id_list, seen_for
from stucktui.model import clues
from stucktui.model.findings import Finding, Severity
from stucktui.model.lock_polls import lock_hit as _lock_hit
from stucktui.model.locks import LockRow
from stucktui.model.python import PyFrame
from stucktui.model.sqlite_locks import database_of

_LOCK_CALLS = frozenset({"flock", "fcntl", "fcntl64"})
_LOCK_CMDS = ("LOCK_", "F_SETLK", "F_OFD_SETLK", "F_GETLK", "F_OFD_GETLK")
_STEPS_LOCKS = "press 5 for the Locks panel: holder, waiters and every process with the file open"


def _fd_words(fds: list[int]) -> str:
    return f"fd {fds[0]}" if len(fds) == 1 else f"fds {id_list(fds)}"


def _in_lock_call(s: Subject, fds: set[int] | None) -> list[str]:
    """'thread 12 in flock(7, LOCK_EX|LOCK_NB)' for threads caught in a lock call on `fds`
    (on any fd when None)."""
    out = []
    for t in s.threads.rows if s.threads is not None else ():
        c = t.call
        if c is None or c.name not in _LOCK_CALLS or (fds is not None and not fds & set(c.fds)):
            continue
        if any(x.startswith(_LOCK_CMDS) for x in c.extra):
            out.append(f"thread {t.tid} in {t.call_text}")
    return out


def _reentered(frames: tuple[PyFrame, ...]) -> list[tuple[str, int]]:
    """Functions that appear more than once on one stack, with how often, most first."""
    seen: dict[tuple[str, str], int] = {}
    for f in frames:
        seen[(f.function, f.file)] = seen.get((f.function, f.file), 0) + 1
    again = [(fn, n) for (fn, _), n in seen.items() if n > 1]
    return sorted(again, key=lambda x: -x[1])


def _times(n: int) -> str:
    return "twice" if n == 2 else f"{n} times"


def _lock_frames(s: Subject, *, reentered_only: bool = False) -> list[str]:
    """Python stacks that are inside a lock call, and functions that appear more than once on
    such a stack (a signal handler re-entered the code that took the lock)."""
    out = []
    for t in s.threads.rows if s.threads is not None else ():
        frames = t.python.frames if t.python is not None else ()
        hit = _lock_hit(frames)
        if hit is None:
            continue
        again = _reentered(frames)
        if reentered_only and not again:
            continue
        text = " <- ".join(f"{f.function} ({f.short_file}:{f.line})" for f in frames[:6])
        out.append(f"thread {t.tid}'s Python stack is in {hit.function}: {text}")
        if again:
            shown = ", ".join(f"{fn} {_times(n)}" for fn, n in again[:4])
            more = f" and {len(again) - 4} more" if len(again) > 4 else ""
            out.append(
                f"on thread {t.tid}'s stack {shown}{more} ({len(frames)} frames): re-entered, "
                "as by a signal handler that runs while the lock is held"
            )
    return out


def _where(row: LockRow) -> str:
    return row.path or f"inode {row.inode}"


def _own_fds(s: Subject, row: LockRow) -> list[int]:
    return [u.fd for u in row.holders if u.pid == s.pid]


def lock_self_wait(s: Subject) -> list[Finding]:
    """A process waiting for, or polling for, a lock it holds itself: it waits forever."""
    if s.locks is None:
        return []
    out = []
    held = [r for r in s.locks.rows if r.role == "held"]
    for w in (r for r in s.locks.rows if r.role == "waiting"):
        mine = [u.fd for u in w.holders if u.pid == s.pid]
        if not mine and w.holder_pid != s.pid:
            continue
        trying = _in_lock_call(s, None) or ["a thread is in /proc/locks as a waiter"]
        summary = (
            f"{s.label} holds the {w.type} {w.mode} lock on {_where(w)}"
            + (f" (fd {id_list(mine)})" if mine else "")
            + " and waits for that same lock: it waits for itself, forever."
        )
        evidence = [f"/proc/locks: granted to pid {w.holder_pid}, and pid {s.pid} waits for it ({w.request})"]
        evidence += trying + _lock_frames(s)
        steps = [
            _STEPS_LOCKS,
            f"k sends a signal: only ending pid {s.pid} (SIGKILL) releases a lock it waits for itself",
            "fix the code: never take a lock again in code that runs while it is held "
            "(a signal handler, a logging handler called from inside the lock)",
        ]
        out.append(
            s.finding("lock-self-wait", "critical", summary, evidence, steps, panel="locks", fds=tuple(mine))
        )
    # a process that is in /proc/locks as a waiter was reported above: the poller test below
    # is only for waits /proc/locks cannot show (LOCK_NB retries)
    waited = {(r.major, r.minor, r.inode) for r in s.locks.rows if r.role == "waiting"}
    reported: set[tuple[int, int, int]] = set()
    for h in held if s.files is not None else ():
        if (h.major, h.minor, h.inode) in waited:
            continue
        own = set(_own_fds(s, h))
        others = [
            r.fd
            for r in s.files.rows  # type: ignore[union-attr]
            if r.inode == h.inode and r.fd not in own and r.target.startswith("/")
            and not (r.info is not None and r.info.locks)
        ]  # fmt: skip
        if not others:
            continue
        trying = _in_lock_call(s, set(others)) + _lock_frames(s)
        if not trying:
            continue  # the file open twice, but nothing tries to lock it: not this rule
        summary = (
            f"{s.label} holds the {h.type} {h.mode} lock on {_where(h)} through fd {id_list(sorted(own))} "
            f"and keeps trying to take it again through fd {id_list(others)}: "
            "it waits for a lock it holds itself, forever."
        )
        evidence = [
            f"fd {id_list(sorted(own))} holds {h.type} {h.mode} {h.range_text} on {_where(h)}",
            f"fd {id_list(others)} {'is' if len(others) == 1 else 'are'} the same file opened again, "
            "holding no lock"
            + ("" if _in_lock_call(s, set(others)) else " (LOCK_NB retries never show in /proc/locks)"),
            *trying,
        ]
        behind = [p for p in (h.others_waiting or h.waiters) if p != s.pid]
        if behind:
            evidence.append(f"other processes waiting for it: {id_list(behind)}")
        steps = [
            _STEPS_LOCKS,
            f"k sends a signal: ending pid {s.pid} releases the lock for everyone waiting behind it",
            "fix the code: never take the lock again while it is held (a signal handler that "
            "logs, inside code that already holds the log's lock)",
        ]
        fds = (*sorted(own), *others)
        out.append(s.finding("lock-self-wait", "critical", summary, evidence, steps, panel="locks", fds=fds))
        reported.add((h.major, h.minor, h.inode))
    # No second fd open right now: a poller such as filelock's closes its fd after every failed
    # LOCK_NB try and sleeps. Its stack still shows it: in the lock call, re-entered.
    reentry = _lock_frames(s, reentered_only=True)
    for h in held:
        key = (h.major, h.minor, h.inode)
        if not reentry or key in waited or key in reported or h.type == "POSIX":
            continue  # a POSIX lock is the process's own: taking it again never blocks
        mine = sorted(set(_own_fds(s, h)))
        summary = (
            f"{s.label} holds the {h.type} {h.mode} lock on {_where(h)}"
            + (f" through fd {id_list(mine)}" if mine else "")
            + " and its own stack is trying to take a lock again from code that re-entered itself "
            "(a signal handler that runs while the lock is held): it waits for a lock it holds "
            "itself, forever."
        )
        evidence = [
            f"fd {id_list(mine)} holds {h.type} {h.mode} {h.range_text} on {_where(h)}"
            if mine
            else f"{h.type} {h.mode} {h.range_text} on {_where(h)} is held by pid {s.pid}",
            *reentry,
            "a poller that closes its fd between tries (the filelock library) never shows as a "
            "waiter in /proc/locks, nor with the file open twice",
        ]
        behind = [p for p in (h.others_waiting or h.waiters) if p != s.pid]
        if behind:
            evidence.append(f"other processes waiting for it: {id_list(behind)}")
        steps = [
            _STEPS_LOCKS,
            "press 2 for the Threads panel: the Python stack with the re-entered frames",
            f"k sends a signal: ending pid {s.pid} releases the lock for everyone waiting behind it",
            "fix the code: never take the lock again while it is held (a signal handler that "
            "logs, inside code that already holds the log's lock)",
        ]
        tids = (
            tuple(t.tid for t in s.threads.rows if t.python and _lock_hit(t.python.frames))
            if s.threads
            else ()
        )
        out.append(s.finding("lock-self-wait", "critical", summary, evidence, steps,
                             panel="locks", fds=tuple(mine), tids=tids))  # fmt: skip
    return out


def _may_poll(s: Subject, path: str, holder: int, name: str, fds: list[int]) -> list[Finding]:
    """Without Python stacks nor SQLite's code calling its sleep, a sleeping process that has a
    file open for writing while another holds a lock on it may be polling: said, not warned.
    A reader (the file open read-only, `tail -f` of a locked log) is not even that."""
    if s.threads is None or s.threads.python is not None or not sleeps(s.threads):
        return []
    writable = [fd for fd in fds if (r := s.fd_row(fd)) is not None and r.mode in ("w", "rw")]
    if not writable or holder == s.pid:
        return []
    who = f"pid {holder} ({name})" if holder > 0 else "another process (an OFD lock)"
    summary = f"{s.label} may be polling for the lock on {path} ({_fd_words(writable)}), held by {who}."
    evidence = [
        f"{_fd_words(writable)} {'has' if len(writable) == 1 else 'have'} {path} open for writing and "
        "holds no lock on it, and a thread sleeps; nothing shows it retries the lock (no Python "
        "stack, no SQLite code calling its sleep)"
    ]
    steps = [
        _STEPS_LOCKS,
        "y on the Threads panel takes the Python stacks: a lock call there proves a poller",
    ]
    return [s.finding("lock-wait", "info", summary, evidence, steps, panel="locks", fds=tuple(writable))]


def _wait_severity(age: float | None) -> Severity:
    return "critical" if (age or 0) >= 300 else "warning"


def lock_wait(s: Subject) -> list[Finding]:
    """A process waiting for (or polling for) a lock that another process holds."""
    out = []
    for w in s.locks.rows if s.locks is not None else ():
        if w.role != "waiting" or w.holder_pid == s.pid or any(u.pid == s.pid for u in w.holders):
            continue
        holder = w.holder_pid
        name = next((u.name for u in w.holders if u.pid == holder), None)
        who = (
            f"pid {holder}" + (f" ({name})" if name else "")
            if holder and holder > 0
            else "an unknown process"
        )
        age = s.ages.age(clues.LOCK_WAIT, w.lock_id)
        if age is not None and age < 1.0:
            continue  # first sighting: a brief wait is ordinary contention
        summary = f"{s.label} waits for the {w.type} {w.mode} lock on {_where(w)}, held by {who}."
        evidence = [f"/proc/locks: pid {s.pid} waits for lock {w.lock_id} ({w.request}), granted to {who}"]
        evidence += _in_lock_call(s, None)
        if w.warning:
            evidence.append(w.warning)
        if (seen := seen_for(age)) is not None:
            evidence.append(f"waiting, {seen}")
        steps = [
            _STEPS_LOCKS,
            f"open pid {holder} to see why it keeps the lock" if holder and holder > 0 else _STEPS_LOCKS,
        ]
        out.append(
            s.finding(
                "lock-wait",
                _wait_severity(age),
                summary,
                evidence,
                list(dict.fromkeys(steps)),
                panel="locks",
                age=age,
            )
        )
    polls, told = poller_findings(s)  # pollers the wait graph proved (docs/kernel-notes.md §A.7)
    out += polls
    told_paths = {r.target for r in s.files.rows if r.fd in told} if s.files is not None else set()
    waited_paths = {w.path for w in s.locks.rows if w.role == "waiting"} if s.locks is not None else set()
    waited_paths |= told_paths
    maybe: set[str] = set()  # files said 'may be polling' once, whatever the locks on them
    # one finding per locked file and holder, however many fds have it open (a poller may
    # open the file anew for each try, and leak the fds)
    groups: dict[tuple[str, int, str, str], list[int]] = {}
    names: dict[int, str] = {}
    for lk in s.context.foreign_locks:
        if lk.path in waited_paths or database_of(lk.path) in told_paths:
            continue  # a listed waiter, reported above; this is for LOCK_NB pollers
        groups.setdefault((lk.path, lk.holder_pid, lk.type, lk.mode), []).append(lk.fd)
        names[lk.holder_pid] = lk.holder_name
    for (path, holder, typ, mode), fds in groups.items():
        calls = _in_lock_call(s, set(fds))
        trying = calls + _lock_frames(s)
        if not trying:
            if path not in maybe:
                maybe.add(path)
                out += _may_poll(s, path, holder, names[holder], fds)
            continue
        # the fds a thread is caught locking through, or every fd that has the file open
        named = (
            sorted({fd for t in s.threads.rows if t.call for fd in t.call.fds if fd in fds})
            if calls and s.threads is not None
            else []
        )
        shown = named or sorted(fds)
        who = f"pid {holder} ({names[holder]})" if holder > 0 else "another process (an OFD lock)"
        summary = (
            f"{s.label} keeps trying to lock {path} ({_fd_words(shown)}), whose {typ} {mode} lock "
            f"is held by {who}."
        )
        evidence = [
            f"{_fd_words(sorted(fds))} {'has' if len(fds) == 1 else 'have'} {path} open and "
            f"{'holds' if len(fds) == 1 else 'hold'} no lock on it; "
            f"/proc/locks lists {typ} {mode} for pid {holder} (LOCK_NB retries never show as waiters)",
            *trying,
        ]
        steps = [
            _STEPS_LOCKS,
            f"open pid {holder} to see why it keeps the lock" if holder > 0 else _STEPS_LOCKS,
        ]
        out.append(
            s.finding(
                "lock-wait",
                "warning",
                summary,
                evidence,
                list(dict.fromkeys(steps)),
                panel="locks",
                fds=tuple(shown),
            )
        )
    return out


LOCK_SELF_WAIT = RuleSpec(
    "lock-self-wait",
    lock_self_wait,
    clues=frozenset({clues.LOCK_POLL}),
    needs=frozenset({"threads", "files", "locks", "python"}),
    cause_rank=20,
    ladder=("always critical: a process waiting for a lock it holds itself never gets it"),
    tracks=frozenset(),
)


LOCK_WAIT = RuleSpec(
    "lock-wait",
    lock_wait,
    clues=frozenset({clues.LOCK_WAIT, clues.LOCK_POLL}),
    needs=frozenset({"threads", "files", "locks", "python"}),
    cause_rank=50,
    ladder=(
        "blocked: warning, critical once the wait has lasted 5 minutes; polling (retrying without "
        "blocking): info until seen for 30 s, then warning, critical after 5 minutes; a sleeping "
        "process with the file open for writing and no proof it retries: info (may be polling)"
    ),
    tracks=frozenset({clues.LOCK_WAIT, clues.LOCK_POLL}),
)
