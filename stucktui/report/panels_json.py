"""The `fds` and `locks` sections of `stucktui report`, as plain dicts from the collectors' dataclasses."""

from __future__ import annotations

from collections import Counter
from typing import Any

from stucktui.model.files import EpollWatch, FdRow, PipeView, ProcessFiles
from stucktui.model.locks import LockRow, ProcessLocks
from stucktui.model.signals import SignalsSnapshot, mask_names
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import ThreadRow, ThreadsSnapshot


def fd_target_text(row: FdRow) -> str:
    """The link text, plus what /proc adds about it: a socket's state, a special fd's state."""
    extra = row.socket_state or row.detail
    return f"{row.target} {extra}" if extra else row.target


def pipe_json(p: PipeView) -> dict[str, Any]:
    return {
        "inode": p.inode,
        "queued": p.fill.queued,
        "capacity": p.fill.capacity,
        "fill_unknown": p.fill.reason,  # why queued/capacity are null ('not permitted'), else null
        "peers": [{"pid": h.pid, "name": h.name, "fd": h.fd, "end": h.end} for h in p.peers],
        "no_reader": p.no_reader,
        "no_writer": p.no_writer,
        "partial": p.partial,  # some processes could not be read: an end there is unseen
        "watched_by": list(p.watched_by),  # epoll fds of this process reading it: a wake-up pipe
    }


def epoll_json(w: EpollWatch) -> dict[str, Any]:
    return {"fd": w.tfd, "events": list(w.event_names), "target": w.describe()}


def fd_json(row: FdRow) -> dict[str, Any]:
    return {
        "fd": row.fd,
        "kind": row.kind,
        "target": fd_target_text(row),
        "mode": row.mode,
        "flags": list(row.flags),
        "pos": row.pos,
        "pipe": pipe_json(row.pipe) if row.pipe is not None else None,
        "epoll": [epoll_json(w) for w in row.epoll],
        # a socket's ends, as the Files panel shows them ('127.0.0.1:5432 -> 127.0.0.1:41234',
        # a unix peer's path or holder), or null: not a socket, or in no table
        "endpoint": row.endpoint,
    }


def fds_json(files: ProcessFiles) -> list[dict[str, Any]]:
    return [fd_json(r) for r in files.rows]


def lock_json(row: LockRow) -> dict[str, Any]:
    return {
        "type": row.type,
        "mode": row.mode,
        "path": row.path,
        "inode": row.inode,
        "range": row.range_text,
        "holder_pid": row.holder_pid,
        "waiters": list(row.waiters),
        "role": row.role,
        "holders": [{"pid": u.pid, "name": u.name, "fd": u.fd} for u in row.holders],
        "others_open": [{"pid": u.pid, "name": u.name, "fd": u.fd} for u in row.others_open],
        "warning": row.warning,
        # what the bytes mean on a SQLite database or its -shm file ('SQLite RESERVED: ...'), or None
        "meaning": row.sqlite.text if row.sqlite is not None else None,
    }


def locks_json(locks: ProcessLocks) -> list[dict[str, Any]]:
    return [lock_json(r) for r in locks.rows]


def sockets_report(ps: ProcessSockets) -> dict[str, Any]:
    """The `sockets` section of `stucktui report` (issue 3, item 4)."""
    return {
        "states": ps.state_counts(),
        "items": [
            {
                "fd": r.fd,
                "proto": r.proto,
                "local": r.local,
                "remote": r.remote,
                "state": r.state,
                "recv_q": r.recv_q,
                "send_q": r.send_q,
                "peer_pid": r.peer_pid,
            }
            for r in ps.rows
        ],
        "by_remote": [{"remote": g.remote, "state": g.state, "count": g.count} for g in ps.by_remote],
        # connections no fd holds yet: they wait in a listener's accept queue
        "accept_queues": [
            {
                "fd": q.fd,
                "local": q.local,
                "queued": q.queued,
                "backlog": q.backlog,
                "states": dict(q.states),
                "close_wait": q.close_wait,
                "unread_bytes": q.unread_bytes,
            }
            for q in ps.accept_queues
        ],
    }


def _row_dict(r: ThreadRow) -> dict[str, object]:
    return {
        "tid": r.tid,
        "name": r.name,
        "state": r.state,
        "syscall": r.call.name if r.call and r.call.name else r.call_text,
        "args": [hex(a) for a in r.syscall.args] if r.syscall and r.call else [],
        "fd_args": [{"fd": a.fd, "target": a.target} for a in r.fd_args],
        "wchan": r.wchan,
        "cpu_percent": _rounded(r.cpu_percent),
        "sys_percent": _rounded(r.sys_percent),
        "runnable_percent": _rounded(r.runnable_percent),
        "python_stack": [
            {"function": f.function, "file": f.file, "line": f.line}
            for f in (r.python.frames if r.python else ())
        ],
    }


def _rounded(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def threads_report(snap: ThreadsSnapshot) -> list[dict[str, object]]:
    """`threads` of `stucktui report`."""
    return [_row_dict(r) for r in snap.rows]


def thread_groups_report(snap: ThreadsSnapshot) -> list[dict[str, object]]:
    """`thread_groups` of `stucktui report`: each group's tids, summary, state and its members'
    most common wait channel (None when none is readable)."""
    wchan = {r.tid: r.wchan for r in snap.rows}
    out: list[dict[str, object]] = []
    for g in snap.groups:
        seen = Counter(w for w in (wchan.get(t) for t in g.tids) if w)
        common = seen.most_common(1)[0][0] if seen else None
        out.append({"tids": list(g.tids), "summary": g.summary, "state": g.state, "wchan": common})
    return out


def signals_report(snap: SignalsSnapshot) -> dict[str, object]:
    """`signals` of `stucktui report`."""
    p = snap.parent
    diff: dict[str, object] = {}
    if p is not None:
        diff = {
            "parent_pid": p.parent_pid,
            "parent_name": p.parent_name,
            "blocked_here_only": list(mask_names(p.blocked_here_only)),
            "blocked_parent_only": list(mask_names(p.blocked_parent_only)),
            "ignored_here_only": list(mask_names(p.ignored_here_only)),
            "ignored_parent_only": list(mask_names(p.ignored_parent_only)),
            "same_mask_parent_tid": p.same_mask_parent_tid,
            "same_mask_parent_tids": list(p.same_mask_parent_tids),
        }
    return {
        "pending": list(mask_names(snap.pending)),
        "shared_pending": list(mask_names(snap.shared_pending)),
        "blocked": list(mask_names(snap.blocked)),
        "ignored": list(mask_names(snap.ignored)),
        "caught": list(mask_names(snap.caught)),
        "threads": {
            str(t.tid): {"blocked": list(mask_names(t.blocked)), "pending": list(mask_names(t.pending))}
            for t in snap.differing_threads()
        },
        "parent_diff": diff,
    }


def sockets_keys(p: ProcessSockets) -> dict[str, Any]:
    out = sockets_report(p)
    out["close_wait_unread_fds"] = [r.fd for r in p.rows if r.close_wait_unread]
    out["notes"] = list(p.notes)  # where the tables came from when not netlink, and what that lacks
    return {"sockets": out}


def files_keys(p: ProcessFiles) -> dict[str, Any]:
    out: dict[str, Any] = {"fds": fds_json(p), "fd_counts": dict(p.counts)}
    if p.notes:
        out["fd_notes"] = list(p.notes)
    return out


def locks_keys(p: ProcessLocks) -> dict[str, Any]:
    out: dict[str, Any] = {"locks": locks_json(p)}
    if p.notes:  # what could not be seen (its fds, other processes' fds)
        out["lock_notes"] = list(p.notes)
    return out


def threads_keys(p: ThreadsSnapshot) -> dict[str, Any]:
    py = p.python
    return {
        "threads": threads_report(p),
        "thread_groups": thread_groups_report(p),
        "python": None if py is None else getattr(py, "line", "ok"),
    }


def signals_keys(p: SignalsSnapshot) -> dict[str, Any]:
    out = signals_report(p)
    out["stuck"] = list(p.stuck)
    return {"signals": out}
