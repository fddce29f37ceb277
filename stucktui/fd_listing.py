"""Pure view logic of the Files panel: filter as you type and sort, like the process list."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from stucktui.model.files import FdRow, pipe_summary

# (key, title, sort key); the first is the default
FD_SORTS: tuple[tuple[str, str, Callable[[FdRow], Any]], ...] = (
    ("fd", "fd", lambda r: r.fd),
    ("kind", "kind", lambda r: (r.kind, r.fd)),
    ("target", "target", lambda r: (r.target, r.fd)),
    ("pos", "position", lambda r: (-1 if r.pos is None else r.pos, r.fd)),
    ("state", "problems first", lambda r: (-_trouble(r), r.fd)),
)
_SORT_BY_KEY = {k: fn for k, _, fn in FD_SORTS}
SORT_TITLES = {k: t for k, t, _ in FD_SORTS}


def _trouble(r: FdRow) -> int:
    """How much an fd deserves a look: a pipe nobody drains, a CLOSE_WAIT socket, an epoll
    watching one."""
    score = 0
    if r.pipe is not None and (r.pipe.no_reader or r.pipe.no_writer):
        score += 2
    if r.socket_state == "CLOSE_WAIT":
        score += 2
    if any(w.socket_state == "CLOSE_WAIT" for w in r.epoll):
        score += 1
    return score


def fd_text(r: FdRow) -> str:
    """Everything the filter matches on, lower case."""
    parts = [str(r.fd), r.kind, r.target, r.mode or "", " ".join(r.flags)]
    parts += [r.socket_state or "", r.detail or "", r.endpoint or ""]
    if r.pipe is not None:
        parts.append(pipe_summary(r.pipe))
        parts.extend(f"{p.pid} {p.name}" for p in r.pipe.peers)
    return " ".join(parts).lower()


def filter_fds(rows: Iterable[FdRow], query: str) -> list[FdRow]:
    """Case-insensitive. A number alone selects that fd; otherwise every word must appear in
    the row's kind, target, mode, flags, socket state and ends, special-fd detail or pipe peers."""
    words = query.lower().split()
    if not words:
        return list(rows)
    if len(words) == 1 and words[0].isdigit():
        return [r for r in rows if str(r.fd) == words[0]]
    return [r for r in rows if all(w in fd_text(r) for w in words)]


def sort_fds(rows: Iterable[FdRow], key: str, reverse: bool = False) -> list[FdRow]:
    return sorted(rows, key=_SORT_BY_KEY[key], reverse=reverse)


def next_sort(key: str) -> str:
    keys = [k for k, _, _ in FD_SORTS]
    return keys[(keys.index(key) + 1) % len(keys)]
