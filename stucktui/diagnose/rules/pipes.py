"""pipe-writers-blocked (docs/incidents.md §1): threads blocked writing to a pipe nobody drains."""

from __future__ import annotations

from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import (
    BLOCKED_STATES,
    EPOLL_WAITS,
    POLL_CALLS,
    Subject,
    call_name,
    id_list,
    plural,
)
from stucktui.model import clues
from stucktui.model.context import WRITE_CALLS, PeerProcess
from stucktui.model.files import PipeView
from stucktui.model.findings import Finding, Severity
from stucktui.model.python import PyFrame
from stucktui.model.threads import ThreadRow, ThreadsSnapshot

READ_CALLS = frozenset({"read", "readv", "pread64", "preadv", "preadv2", "splice", "recvfrom", "recvmsg"})
WAIT_CALLS = frozenset({"wait4", "waitid"})
_STD = {0: "stdin", 1: "stdout", 2: "stderr"}
_SLOW_READER = 5.0  # seconds a writer stays blocked before a live, non-reading reader is blamed


def _fill(p: PipeView) -> str:
    """The fill of a pipe writers are blocked on: full by definition. A pipe holds its data in
    page slots, and small writes that do not share a page use one each, so it can be full
    with some KiB short of its capacity."""
    f = p.fill
    if f.queued is None or f.capacity is None:
        return f"fill not measured ({f.reason})"
    text = f"{f.queued:,} of {f.capacity:,} bytes queued (full"
    if f.capacity - f.queued >= 4096:
        text += ": its page slots are all taken, so the next write waits"
    return text + ")"


def _writers(s: Subject) -> dict[int, list[ThreadRow]]:
    """Threads blocked in a write-type call, by the pipe fd they write to."""
    out: dict[int, list[ThreadRow]] = {}
    if s.threads is None or s.files is None:
        return out
    for t in s.threads.rows:
        if t.state not in BLOCKED_STATES or call_name(t) not in WRITE_CALLS:
            continue
        for a in t.fd_args:
            row = s.fd_row(a.fd)
            if row is not None and row.pipe is not None and row.mode in ("w", "rw"):
                out.setdefault(a.fd, []).append(t)
                break
    return out


# Frames of the thread machinery itself: every pool thread has them, so they prove nothing.
_MACHINERY = ("threading.py", "concurrent/futures/thread.py", "socketserver.py")
_WRITER_FRAMES = 3  # how deep in a blocked writer's stack a waiter's call site may match
_LOCK_CALLS = frozenset({"futex", "futex_waitv"})  # how a thread waits for a pthread lock


def _site(frame: PyFrame) -> tuple[str, str]:
    return (frame.file, frame.function)


def queued_behind(s: Subject, writers: list[ThreadRow]) -> list[tuple[ThreadRow, PyFrame]]:
    """Threads waiting (futex) for a lock that a blocked writer holds: the stdout/stderr
    buffer lock of the same print() or write() call site, or a logging handler's lock
    (`Handler.acquire` called from the `Handler.handle` the writer is in). Only Python stacks
    tell such a waiter from an idle pool thread, so without them none is found. Each waiter
    comes with its frame that the writer's stack has too."""
    if s.threads is None:
        return []
    sites: set[tuple[str, str]] = set()
    for w in writers:
        if w.python is not None:
            for f in w.python.frames[:_WRITER_FRAMES]:
                if not f.file.endswith(_MACHINERY) and f.module is None:
                    sites.add(_site(f))
    if not sites:
        return []
    busy = {w.tid for w in writers}
    out = []
    for t in s.threads.rows:
        if t.tid in busy or t.state not in BLOCKED_STATES or call_name(t) not in _LOCK_CALLS:
            continue
        frames = _frames(t)
        if frames and frames[0].function.rsplit(".", 1)[-1] == "acquire" and len(frames) > 1:
            frames = frames[1:]  # Handler.acquire, a lock wrapper: where it was called from counts
        if frames and _site(frames[0]) in sites:
            out.append((t, frames[0]))
    return out


def _behind_text(queued: list[tuple[ThreadRow, PyFrame]], writers: list[ThreadRow]) -> str:
    """'3 threads (11-13) in futex(...) at Handler.acquire (logging/__init__.py:927), called
    from Handler.handle, where the blocked writer is too'."""
    t, shared = queued[0]
    where = f"at {_lock_site(t)}"
    if _frames(t)[0] != shared:
        where += f", called from {shared.function}, where the blocked writer is too"
    elif _frames(writers[0])[:1] == [shared]:
        where += ": the very line the blocked writer is on (its stream's lock)"
    else:
        where += f": in {shared.function}, where the blocked writer is too"
    tids = [q.tid for q, _ in queued]
    return f"{plural(len(tids), 'thread')} ({id_list(tids)}) in {t.call_text} {where}"


def _reads(
    threads: ThreadsSnapshot | None,
    fds: set[int],
    inode: int,
    epoll_inodes: set[int],
    *,
    running_reads: bool = True,
) -> tuple[bool, str] | None:
    """Whether a process may be draining the pipe: (certain, how), or None when none of its
    threads can be. Not certain: a poll()/select() whose fd set cannot be seen from outside."""
    if threads is None:
        return False, "its threads could not be read"
    maybe = None
    for t in threads.rows:
        name = call_name(t)
        if t.state == "R":
            if running_reads:
                return True, f"thread {t.tid} is running"
            maybe = maybe or (False, f"running thread {t.tid} reads it")
            continue
        if name in READ_CALLS and any(a.fd in fds for a in t.fd_args):
            return True, f"thread {t.tid} is in {t.call_text}"
        if name in EPOLL_WAITS and inode in epoll_inodes:
            return True, f"thread {t.tid} waits in epoll on it"
        if name in POLL_CALLS and maybe is None:
            maybe = (False, f"thread {t.tid}'s {name}() is waiting on it")
    return maybe


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _waits_for(t: ThreadRow, pid: int, *, parent: bool) -> bool:
    """Thread blocked in wait4/waitid for `pid` (or for any child, when it is pid's parent)."""
    name = call_name(t)
    if name not in WAIT_CALLS or t.syscall is None or len(t.syscall.args) < 2:
        return False
    a = t.syscall.args
    if name == "wait4":  # wait4(pid, ...): -1 any child, 0 or < -1 a process group (wait(2))
        target = _int32(a[0])
        return target == pid or (parent and target <= 0)
    # waitid(idtype, id, ...): P_ALL 0, P_PID 1, P_PGID 2 (include/uapi/linux/wait.h); a pidfd
    # (P_PIDFD) names a process only through its fdinfo, so it is not taken as waiting for us
    return (a[0] == 1 and _int32(a[1]) == pid) or (parent and a[0] in (0, 2))


def _peer_verdict(s: Subject, p: PipeView, peer: PeerProcess) -> tuple[Severity, str] | None:
    """Why another process holding the read end does not drain it; None if it may be."""
    fds = {h.fd for h in p.holders if h.pid == peer.pid and h.end in ("r", "rw")}
    where = f"pid {peer.pid} ({peer.name}) holds its read end (fd {id_list(sorted(fds))})"
    if peer.state == "T":
        return "critical", f"{where} but is stopped"
    if peer.state == "t":
        return "critical", f"{where} but is held in a tracing stop by a tracer (a debugger)"
    if peer.state in ("Z", "X"):
        return "critical", f"{where} but is a zombie"
    if peer.threads is None:
        return None  # cannot be seen: it may be reading
    how = _reads(peer.threads, fds, p.inode, set())
    measured_quiet = peer.read_during == 0 and peer.window > 0
    if how is not None and (how[0] or not measured_quiet):
        return None  # it may be reading: a slow consumer is not this rule
    for t in peer.threads.rows:
        if _waits_for(t, s.pid, parent=s.ppid == peer.pid):
            return "critical", f"{where} but waits for this process to exit ({t.call_text}): a deadlock"
    if peer.read_during:
        return None  # it read during the window: a slow consumer that sleeps between reads
    calls = "; ".join(g.summary for g in peer.threads.groups[:2])
    quiet = f"; it read nothing in {peer.window:.1f}s" if measured_quiet else ""
    if how is not None:
        # in poll()/select(), whose fd set is not visible from outside (sshd in ppoll on its
        # socket only, once the ssh channel's window is used up): nothing read while writers
        # wait on a full pipe says the pipe is not in that set
        return "warning", (
            f"{where}; it waits in poll ({calls}), but read nothing in {peer.window:.1f}s while "
            "writers are blocked on the pipe: it is not polling the pipe, or not for reading"
        )
    return "warning", f"{where} but none of its threads reads it ({calls}){quiet}"


def _verdict(s: Subject, fd: int, p: PipeView) -> tuple[Severity, str] | None:
    readers = [h for h in p.holders if h.end in ("r", "rw")]
    others = [h for h in readers if h.pid != s.pid]
    own = sorted({h.fd for h in readers if h.pid == s.pid})
    if not readers:
        if p.partial:
            return "warning", "no process stucktui can read holds its read end (some could not be read)"
        return "critical", "no process holds its read end"
    if others:
        verdicts = []
        for pid in dict.fromkeys(h.pid for h in others):
            peer = s.context.peers.get(pid)
            v = _peer_verdict(s, p, peer) if peer is not None else None
            if v is None:
                return None  # some reader may be draining it: a slow consumer, not this rule
            verdicts.append(v)
        sev: Severity = "critical" if all(v[0] == "critical" for v in verdicts) else "warning"
        return sev, "; ".join(v[1] for v in verdicts)
    epoll_inodes = {w.ino for r in (s.files.rows if s.files else ()) for w in r.epoll}
    where = f"its only read end is fd {id_list(own)} of this same process"
    how = _reads(s.threads, set(own), p.inode, epoll_inodes, running_reads=False)
    if how is None:
        return "critical", f"{where}, and no thread reads it"
    certain, text = how
    return None if certain else ("warning", f"{where}, unless {text}")


def _count(threads: list[ThreadRow]) -> str:
    return f"thread {threads[0].tid} is" if len(threads) == 1 else f"{len(threads)} are"


def _frames(t: ThreadRow) -> list[PyFrame]:
    """The Python frames of a thread, innermost first, without native ones."""
    return [f for f in (t.python.frames if t.python is not None else ()) if f.module is None]


def _lock_site(t: ThreadRow) -> str:
    """Where a queued thread waits: 'Handler.acquire (logging/__init__.py:927)'."""
    frames = _frames(t)
    return f"{frames[0].function} ({frames[0].short_file}:{frames[0].line})" if frames else "?"


def _fix_steps(s: Subject, p: PipeView) -> list[str]:
    """The lasting fix depends on who holds the read end: the writer itself (a leaked fd), or
    another process that does not drain it (stopped, waiting for the writer, busy elsewhere)."""
    readers = {h.pid: h.name for h in p.holders if h.end in ("r", "rw") and h.pid != s.pid}
    if not readers:
        return [
            "fix the start-up: send this output to a file or the journal, and start the process "
            "with inherited fds closed (close_fds, O_CLOEXEC)"
        ]
    steps = []
    for pid, name in readers.items():
        peer = s.context.peers.get(pid)
        if peer is not None and peer.state == "T":
            steps.append(f"resume the reader: `stucktui signal {pid} CONT` (pid {pid} ({name}) is stopped)")
        elif peer is not None and peer.state == "t":
            steps.append(
                f"pid {pid} ({name}) is held by its tracer: continue or detach it there, or end the tracer "
                "(the wait-chain finding names it); SIGCONT will not resume it"
            )
    pid, name = next(iter(readers.items()))
    steps.append(
        f"fix the reader, pid {pid} ({name}): it holds the read end, so it must read it; a parent "
        "that starts this process with stderr=PIPE reads it with communicate() or a thread, not "
        "wait(); or send the output to a file or the journal instead of a pipe"
    )
    return steps


def pipe_writers_blocked(s: Subject) -> list[Finding]:
    """Threads blocked writing to a pipe that nobody drains (docs/incidents.md §1). A write to a pipe
    without any read end fails with EPIPE at once: it blocks only while the read end is held
    by someone who does not read: the writer itself (an fd leaked through exec), or a process
    that is stopped, stuck, or waiting for the writer."""
    out = []
    for fd, writers in sorted(_writers(s).items()):
        row = s.fd_row(fd)
        assert row is not None and row.pipe is not None
        p = row.pipe
        v = _verdict(s, fd, p)
        if v is None:
            continue
        severity, why = v
        if severity == "warning" and s.ages.brief(clues.PIPE_WRITE, [(fd, p.inode)], _SLOW_READER):
            continue  # a live reader that is busy elsewhere may be a slow consumer: wait a while
        std = f", its {_STD[fd]}" if fd in _STD else ""
        tids = tuple(t.tid for t in writers)
        queued = queued_behind(s, writers)
        who = f"Thread {tids[0]}" if len(tids) == 1 else f"{len(tids)} threads"
        summary = (
            f"{who} of {s.label} {'is' if len(tids) == 1 else 'are'} blocked writing to fd {fd}"
            f"{std} ({row.target}), which nobody drains: {why}."
        )
        if queued:
            summary += (
                f" {plural(len(queued), 'more thread')} {'waits' if len(queued) == 1 else 'wait'} "
                f"behind {'it' if len(tids) == 1 else 'them'} in {_lock_site(queued[0][0])}, for a lock "
                "held across the blocked write."
            )
        first = writers[0]
        evidence = [
            f"{plural(len(tids), 'thread')} ({id_list(list(tids))}) in {first.call_text}, state {first.state}"
            + (f", wchan {first.wchan}" if first.wchan else ""),
            f"{row.target}: {_fill(p)}",
            "holders: "
            + (", ".join(f"pid {h.pid} ({h.name}) fd {h.fd} ({h.end})" for h in p.holders) or "none seen"),
        ]
        if first.python is not None and first.python.frames:
            frames = " <- ".join(f"{f.function} ({f.short_file}:{f.line})" for f in first.python.frames[:4])
            evidence.append(f"Python stack of thread {first.tid}: {frames}")
        if queued:
            evidence.append(_behind_text(queued, writers))
        steps = [
            f"drain it now: `cat /proc/{s.pid}/fd/{fd} > /var/tmp/{s.pid}-fd{fd}.log` opens the pipe "
            "for reading and unblocks the writers (as root: the pipe may belong to another user, "
            "as when a root parent made it)",
            f"press c on fd {fd} in the Files panel (4) to point it at /dev/null (gdb replace): "
            "writes then succeed and are discarded",
            *_fix_steps(s, p),
        ]
        tids += tuple(t.tid for t, _ in queued)
        age = s.ages.oldest(clues.PIPE_WRITE, [(fd, p.inode)])
        out.append(s.finding("pipe-writers-blocked", severity, summary, evidence, steps,
                             panel="files", fds=(fd,), tids=tids, age=age))  # fmt: skip
    return out


PIPE_WRITERS_BLOCKED = RuleSpec(
    "pipe-writers-blocked",
    pipe_writers_blocked,
    clues=frozenset({clues.PIPE_WRITE}),
    needs=frozenset({"threads", "files", "python"}),
    cause_rank=0,
    ladder=(
        "critical when nobody can drain the pipe (no read end, only inside the writers, or a reader "
        "stopped, a zombie or waiting for this process); warning when a reader lives but does not read "
        "(in the live view once a writer has waited 5 s)"
    ),
    tracks=frozenset({clues.PIPE_WRITE}),
)
