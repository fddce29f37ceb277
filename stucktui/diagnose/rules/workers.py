"""workers-all-blocked: every worker thread of a pool stuck in the same wait."""

from __future__ import annotations

from stucktui.diagnose.rules.pipes import _behind_text, _count, _writers, queued_behind
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import BLOCKED_STATES, Subject, call_name, id_list
from stucktui.model import clues
from stucktui.model.context import WRITE_CALLS
from stucktui.model.findings import Finding
from stucktui.model.python import PyFrame
from stucktui.model.threads import ThreadRow

# Calls that mean a worker cannot go on until someone else acts; reads, accepts and polls are
# how an idle pool waits for work, so they never count.
_LOCK_WAITS = ("F_SETLKW", "F_OFD_SETLKW")


def _stuck_call(t: ThreadRow) -> tuple[str, int] | None:
    name = call_name(t)
    if t.state not in BLOCKED_STATES or name is None or t.call is None:
        return None
    fd = t.call.fds[0] if t.call.fds else -1
    if name in WRITE_CALLS or name in ("sendto", "sendmsg", "sendmmsg", "connect"):
        return name, fd
    if name == "flock" and not any("LOCK_NB" in x or "LOCK_UN" in x for x in t.call.extra):
        return name, fd
    if name in ("fcntl", "fcntl64") and any(x in _LOCK_WAITS for x in t.call.extra):
        return name, fd
    return None


def workers_all_blocked(s: Subject) -> list[Finding]:
    """Every thread of a pool (all threads but the main one, at least two) in the same
    blocking write, send, connect or lock call on the same fd: no worker is left to serve."""
    if s.threads is None or len(s.threads.rows) < 3:
        return []
    workers = [t for t in s.threads.rows if t.tid != s.pid]
    calls = {t.tid: _stuck_call(t) for t in s.threads.rows}
    # threads queued for the lock a blocked pipe writer holds are as stuck as the writer
    behind: list[tuple[list[tuple[ThreadRow, PyFrame]], list[ThreadRow]]] = []
    for writers in _writers(s).values():
        key = _stuck_call(writers[0])
        queued = [(t, f) for t, f in queued_behind(s, writers) if calls.get(t.tid) is None]
        for t, _ in queued:
            calls[t.tid] = key
        if queued:
            behind.append((queued, writers))
    keys = {calls[t.tid] for t in workers}
    if len(keys) != 1:
        return []
    key = keys.pop()
    if key is None:
        return []
    name, fd = key
    main = s.threads.row(s.pid)
    # a main thread stuck the same way (an event loop behind the logging lock) is counted too
    stuck = workers + ([main] if main is not None and calls.get(main.tid) == key else [])
    callers = [t for t in stuck if _stuck_call(t) == key]
    first = callers[0] if callers else stuck[0]
    waiting = [t for t in stuck if _stuck_call(t) != key]
    target = next((a.target for a in first.fd_args if a.fd == fd), "?")
    tids = tuple(t.tid for t in stuck)
    who = (
        f"All {len(stuck)} threads of {s.label}, the main thread too,"
        if len(stuck) > len(workers)
        else f"All {len(workers)} worker threads of {s.label}"
    )
    if waiting:
        summary = (
            f"{who} are stuck on fd {fd} ({target}): {_count(callers)} blocked in {name}, "
            f"{_count(waiting)} waiting for a lock held across that call; "
            "the process can do no work until it returns."
        )
    else:
        summary = (
            f"{who} are blocked in {name} on fd {fd} ({target}): "
            "the process can do no work until that call returns."
        )
    evidence = [
        f"{'thread' if len(callers) == 1 else 'threads'} {id_list([t.tid for t in callers])}: "
        + first.call_text
        + (f", wchan {first.wchan}" if first.wchan else "")
    ]
    for queued, writers in behind:
        shown = [(t, f) for t, f in queued if t in stuck]
        if shown:
            evidence.append(_behind_text(shown, writers))
    if main is not None and main not in stuck:
        evidence.append(f"main thread {main.tid}: {main.call_text}")
    if first.python is not None and first.python.frames:
        f = first.python.frames[0]
        evidence.append(f"Python: {f.function} ({f.short_file}:{f.line})")
    row = s.fd_row(fd)
    if name in ("flock", "fcntl", "fcntl64"):
        steps = ["press 5 for the Locks panel: it names the process holding the lock"]
    elif row is not None and row.kind == "socket":
        steps = [
            f"press c on fd {fd} in the Sockets panel (3) to close it (gdb or shutdown): the calls return"
        ]
    else:
        steps = [f"press 4 for the Files panel: fd {fd} shows who holds the other end and how full it is"]
    steps.append("press 2 for the Threads panel and y for Python stacks: every worker's frame")
    panel = "locks" if name in ("flock", "fcntl", "fcntl64") else "threads"
    return [
        s.finding(
            "workers-all-blocked", "critical", summary, evidence, steps, panel=panel, fds=(fd,), tids=tids
        )
    ]


WORKERS_ALL_BLOCKED = RuleSpec(
    "workers-all-blocked",
    workers_all_blocked,
    clues=frozenset({clues.POOL_WAIT}),
    needs=frozenset({"threads", "files"}),
    cause_rank=70,
    ladder=("always critical: no worker is left to serve"),
    tracks=frozenset(),
)
