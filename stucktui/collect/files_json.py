"""The `fds` and `locks` sections of `stucktui report`, as plain dicts from the collectors' dataclasses."""

from __future__ import annotations

from typing import Any

from stucktui.collect.files import EpollWatch, FdRow, PipeView, ProcessFiles
from stucktui.collect.locks import LockRow, ProcessLocks


def fd_target_text(row: FdRow) -> str:
    """The link text, plus what /proc adds about it: a socket's state, a special fd's state."""
    extra = row.socket_state or row.detail
    return f"{row.target} {extra}" if extra else row.target


def pipe_json(p: PipeView) -> dict[str, Any]:
    return {
        "inode": p.inode,
        "queued": p.fill.queued,
        "capacity": p.fill.capacity,
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
    }


def locks_json(locks: ProcessLocks) -> list[dict[str, Any]]:
    return [lock_json(r) for r in locks.rows]
