"""The rule list and diagnose(): one process's snapshot in, its findings out, most severe first."""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable
from dataclasses import replace

from stucktui.diagnose.history import History
from stucktui.diagnose.rules_locks import lock_self_wait, lock_wait
from stucktui.diagnose.rules_pipes import pipe_writers_blocked, workers_all_blocked
from stucktui.diagnose.rules_process import (
    fd_exhaustion,
    signal_blocked_pending,
    uninterruptible,
    zombie_children,
)
from stucktui.diagnose.rules_sockets import (
    accept_queue_abandoned,
    close_wait_leak,
    close_wait_unanswered,
    close_wait_unread,
    epoll_spin,
    listen_backlog_full,
    socket_send_blocked,
)
from stucktui.diagnose.subject import Rule, Subject
from stucktui.model.context import Context, blocked_pipe_inodes, blocked_socket_sends
from stucktui.model.files import ProcessFiles
from stucktui.model.findings import Finding, sort_findings
from stucktui.model.locks import ProcessLocks
from stucktui.model.panels import PanelData
from stucktui.model.process import ProcessDetail, Unavailable
from stucktui.model.signals import SignalsSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import ThreadsSnapshot

RULES: tuple[tuple[str, Rule], ...] = (
    ("pipe-writers-blocked", pipe_writers_blocked),
    ("socket-send-blocked", socket_send_blocked),
    ("workers-all-blocked", workers_all_blocked),
    ("close-wait-unread", close_wait_unread),
    ("close-wait-unanswered", close_wait_unanswered),
    ("close-wait-leak", close_wait_leak),
    ("epoll-spin", epoll_spin),
    ("signal-blocked-pending", signal_blocked_pending),
    ("lock-self-wait", lock_self_wait),
    ("lock-wait", lock_wait),
    ("fd-exhaustion", fd_exhaustion),
    ("listen-backlog-full", listen_backlog_full),
    ("accept-queue-abandoned", accept_queue_abandoned),
    ("uninterruptible", uninterruptible),
    ("zombie-children", zombie_children),
)
RULE_IDS = tuple(name for name, _ in RULES)


def subject_of(detail: ProcessDetail, panels: PanelData | None, context: Context | None = None) -> Subject:
    """The Subject of one process from the detail view's data."""
    p = panels or PanelData()
    limit = None if isinstance(detail.fd_limit, Unavailable) else detail.fd_limit[0]
    return Subject(
        pid=detail.pid,
        name=detail.name,
        state=detail.state,
        starttime=detail.starttime_ticks,
        ppid=detail.ppid,
        cpu_percent=detail.cpu_percent,
        num_fds=None if isinstance(detail.num_fds, Unavailable) else detail.num_fds,
        fd_soft_limit=limit,
        threads=p.threads if isinstance(p.threads, ThreadsSnapshot) else None,
        signals=p.signals if isinstance(p.signals, SignalsSnapshot) else None,
        files=p.files if isinstance(p.files, ProcessFiles) else None,
        locks=p.locks if isinstance(p.locks, ProcessLocks) else None,
        sockets=p.sockets if isinstance(p.sockets, ProcessSockets) else None,
        context=context or Context(),
    )


def tracked(s: Subject) -> dict[str, Iterable[Hashable]]:
    """What History follows for this process, only for the facts that were collected (a kind
    left out keeps its clock running; a kind given empty stops it)."""
    kinds: dict[str, Iterable[Hashable]] = {}
    if s.sockets is not None:
        # a leaked CLOSE_WAIT socket reset later keeps its inode (and its age) in state CLOSE
        kinds["close_wait"] = [r.inode for r in s.sockets.rows if r.state == "CLOSE_WAIT" or r.closed_tcp]
        # a connection waiting in an accept queue is known by its listener and client endpoint
        kinds["accept_queued"] = [(q.fd, p) for q in s.sockets.accept_queues for p in q.peers]
    if s.threads is not None:
        kinds["dstate"] = [t.tid for t in s.threads.rows if t.state == "D"]
        if s.files is not None:
            kinds["pipe_write"] = list(blocked_pipe_inodes(s.threads, s.files).items())
        if s.sockets is not None:
            kinds["socket_send"] = list(blocked_socket_sends(s.threads, s.sockets).items())
    elif s.state:
        kinds["dstate"] = [s.pid] if s.state == "D" else []
    if s.context.children is not None:
        kinds["zombie"] = [(c.pid, c.starttime) for c in s.context.children if c.state == "Z"]
    if s.signals is not None:
        kinds["stuck_signal"] = [r.number for r in s.signals.rows if r.stuck]
    if s.locks is not None:
        kinds["lock_wait"] = [r.lock_id for r in s.locks.rows if r.role == "waiting"]
    return kinds


def evaluate(
    s: Subject, history: History | None = None, *, now: float | None = None, strict: bool = False
) -> list[Finding]:
    """Run every rule on one Subject. A rule that fails (a bug, or data in a shape never seen)
    costs its own findings, never the others' nor the caller's; strict=True re-raises (tests)."""
    if history is not None:
        ages = history.observe((s.pid, s.starttime), tracked(s), time.monotonic() if now is None else now)
        s = replace(s, ages=ages)
    out: list[Finding] = []
    for _, rule in RULES:
        try:
            out.extend(rule(s))
        except Exception:
            if strict:
                raise
    return sort_findings(out)


def diagnose(
    detail: ProcessDetail,
    panels: PanelData | None,
    history: History | None = None,
    *,
    context: Context | None = None,
    now: float | None = None,
    strict: bool = False,
) -> list[Finding]:
    """Pure: the findings of one process, most severe first. `history` (kept by the caller
    across refreshes) lets findings grow with time; `context` (gathered by stucktui.inspection) adds the other
    processes involved: pipe readers, lock holders, children."""
    return evaluate(subject_of(detail, panels, context), history, now=now, strict=strict)
