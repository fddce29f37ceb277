"""What History follows, one function per kind (stucktui.model.clues): the things a rule ages
('seen by stucktui for 5m'). A kind is followed only when the facts it is read from were
collected: None keeps its clock running, an empty list stops it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from stucktui.diagnose.rules.event_loop import loop_keys
from stucktui.diagnose.rules.lock_polls import poll_waits
from stucktui.diagnose.subject import Subject
from stucktui.model import clues
from stucktui.model.context import blocked_pipe_inodes, blocked_socket_sends

Keys = Iterable[Hashable] | None


def _close_wait(s: Subject) -> Keys:
    # a leaked CLOSE_WAIT socket reset later keeps its inode (and its age) in state CLOSE
    if s.sockets is None:
        return None
    return [r.inode for r in s.sockets.rows if r.state == "CLOSE_WAIT" or r.closed_tcp]


def _accept_queue(s: Subject) -> Keys:
    # a connection waiting in an accept queue is known by its listener and client endpoint
    if s.sockets is None:
        return None
    return [(q.fd, p) for q in s.sockets.accept_queues for p in q.peers]


def _dstate(s: Subject) -> Keys:
    if s.threads is not None:
        return [t.tid for t in s.threads.rows if t.state == "D"]
    if s.state:
        return [s.pid] if s.state == "D" else []
    return None


def _pipe_write(s: Subject) -> Keys:
    if s.threads is None or s.files is None:
        return None
    return list(blocked_pipe_inodes(s.threads, s.files).items())


def _socket_send(s: Subject) -> Keys:
    if s.threads is None or s.sockets is None:
        return None
    return list(blocked_socket_sends(s.threads, s.sockets).items())


def _zombies(s: Subject) -> Keys:
    if s.context.children is None:
        return None
    return [(c.pid, c.starttime) for c in s.context.children if c.state == "Z"]


def _stuck_signal(s: Subject) -> Keys:
    return None if s.signals is None else [r.number for r in s.signals.rows if r.stuck]


def _lock_wait(s: Subject) -> Keys:
    return None if s.locks is None else [r.lock_id for r in s.locks.rows if r.role == "waiting"]


def _lock_poll(s: Subject) -> Keys:
    # the locks the wait graph shows it polling for, by what they are
    if s.context.waits is None:
        return None
    return [w.what for w in poll_waits(s.context.waits)]


TRACKERS: dict[str, Callable[[Subject], Keys]] = {
    clues.CLOSE_WAIT: _close_wait,
    clues.ACCEPT_QUEUE: _accept_queue,
    clues.DSTATE: _dstate,
    clues.PIPE_WRITE: _pipe_write,
    clues.SOCKET_SEND: _socket_send,
    clues.ZOMBIES: _zombies,
    clues.STUCK_SIGNAL: _stuck_signal,
    clues.LOCK_WAIT: _lock_wait,
    clues.LOOP_BLOCKED: loop_keys,
    clues.LOCK_POLL: _lock_poll,
}


def tracked(s: Subject, kinds: Iterable[str]) -> dict[str, Iterable[Hashable]]:
    """The keys of each of `kinds` that this Subject's facts can tell."""
    out: dict[str, Iterable[Hashable]] = {}
    for kind in kinds:
        keys = TRACKERS[kind](s)
        if keys is not None:
            out[kind] = keys
    return out
