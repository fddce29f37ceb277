"""Box-wide triage: the findings of every process on the box, most severe first.

A cheap first pass (collect.boxscan) over a process-list snapshot picks the suspects; only
they get the panels their suspicion needs, and then the same rules as the process view. Built
for the UI's sampler thread and `stucktui report --all`; reads /proc, so never call it on the
UI thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from stucktui.collect.boxscan import BoxScan, owners_of, scan_box
from stucktui.collect.close_wait import CloseWaitCounter
from stucktui.collect.context import (
    WRITE_CALLS,
    Context,
    ForeignLock,
    blocked_pipe_inodes,
    blocked_socket_sends,
    children_of,
    collect_peers,
    foreign_locks,
    pipe_peer_pids,
    send_peer_pids,
    send_peers,
    stat_fields,
)
from stucktui.collect.files import PipeEnd, PipeMap, ProcessFiles, collect_files, fd_end
from stucktui.collect.locks import ProcessLocks, collect_locks
from stucktui.collect.panels import PanelData
from stucktui.collect.proclist import ProcessListCollector
from stucktui.collect.signals import SignalsSnapshot, collect_signals
from stucktui.collect.socket_rows import ProcessSockets
from stucktui.collect.sockets import SocketCollector
from stucktui.collect.threads import ThreadCollector, ThreadsSnapshot, merge_python
from stucktui.diagnose.engine import evaluate
from stucktui.diagnose.history import History, Identity
from stucktui.diagnose.model import Finding, Subject, sort_findings
from stucktui.procfs import AccessDenied, PidDir, ProcessGone, ProcRoot
from stucktui.procfs.fdtarget import bracket_inode
from stucktui.procfs.locks import parse_locks
from stucktui.snapshot import ProcessDetail, ProcessListSnapshot, ProcessRow, Unavailable
from stucktui.tools.pyspy import dump_python

# Which panels each suspicion needs (see collect.boxscan for the reasons).
_NEEDS = {
    "pipe": {"threads", "files"},
    "workers": {"threads", "files"},
    "close_wait": {"threads", "sockets"},
    "spin": {"threads", "sockets", "files"},
    "signal": {"signals", "threads"},  # a thread in wait4 explains a pending SIGCHLD
    "lock": {"threads", "files", "locks"},
    "lock_poll": {"threads", "files", "locks", "python"},  # LOCK_NB retries show only in stacks
    "fds": set(),
    "dstate": {"threads"},
    "zombies": {"threads", "signals"},
    "listen": {"threads", "sockets"},
    "send": {"threads", "sockets"},
}
_TRACKED_KINDS = (
    "close_wait",
    "accept_queued",
    "dstate",
    "zombie",
    "stuck_signal",
    "lock_wait",
    "pipe_write",
    "socket_send",
)
_PYSPY_TIMEOUT = 5.0
_MAX_TRIAGE_PEERS = 64  # readers watched in triage's one window, across every suspect


@dataclass(frozen=True, slots=True)
class TriageResult:
    findings: tuple[Finding, ...]  # most severe first
    processes: int  # processes in the snapshot
    suspects: int  # processes that got a full look
    duration: float  # seconds, the process-list snapshot included when triage took it
    taken_at: float  # time.time() when it started


@dataclass(slots=True)
class _Suspect:
    row: ProcessRow
    reasons: set[str]
    d: PidDir
    threads: ThreadsSnapshot | None = None
    sockets: ProcessSockets | None = None
    signals: SignalsSnapshot | None = None
    files: ProcessFiles | None = None
    locks: ProcessLocks | None = None

    @property
    def needs(self) -> set[str]:
        return set().union(*(_NEEDS[r] for r in self.reasons))


def _blocked_pipe_targets(threads: ThreadsSnapshot | None) -> set[str]:
    """'pipe:[N]' links the threads are blocked writing to. An fd argument resolved by the
    Files view reads 'pipe:[N], 64 KiB queued, ...': only the link is kept."""
    out: set[str] = set()
    for t in threads.rows if threads is not None else ():
        if t.state in "SD" and t.call is not None and t.call.name in WRITE_CALLS:
            out.update(a.target[: a.target.find("]") + 1] for a in t.fd_args if a.target.startswith("pipe:["))
    return out


def _pipe_map(root: ProcRoot, targets: set[str], names: dict[int, str]) -> PipeMap:  # names: filled in
    """Holders of just these pipes, box-wide: exact verdicts for the pipes blocked writers
    write to. Other pipes of a suspect are absent from this map; no rule reads them."""
    pipes: dict[int, list[PipeEnd]] = {}
    found, unreadable = owners_of(root, targets)
    for target, owners in found.items():
        inode = bracket_inode(target)
        if inode is None:
            continue
        for pid, fd in owners:
            try:
                end = fd_end(root, pid, fd)
            except (ProcessGone, AccessDenied, OSError, ValueError):
                continue
            if pid not in names:
                st = stat_fields(root, pid)
                names[pid] = st[0] if st else "?"
            pipes.setdefault(inode, []).append(PipeEnd(pid, names[pid], fd, end))
    return PipeMap({k: tuple(v) for k, v in pipes.items()}, {}, unreadable, 0.0)


def _gather(root: ProcRoot, s: _Suspect, sockets: SocketCollector, tc: ThreadCollector) -> None:
    """The panels that do not need the pipe map. Raises ProcessGone."""
    needs = s.needs
    if "threads" in needs and s.threads is None:
        try:
            s.threads = tc.collect(s.d)
        except (AccessDenied, OSError, ValueError):
            pass
    if "sockets" in needs and s.sockets is None:
        try:
            s.sockets = sockets.process_sockets(s.row.pid, piddir=s.d)
        except (AccessDenied, OSError, ValueError):
            pass
    if "signals" in needs and s.signals is None:
        try:
            s.signals = collect_signals(root, s.d)
        except (AccessDenied, OSError, ValueError):
            pass


def _prefill(s: _Suspect, p: PanelData) -> None:
    """Reuse the panels the view already collected (a str there is a reason, not data)."""
    s.threads = p.threads if isinstance(p.threads, ThreadsSnapshot) else None
    s.sockets = p.sockets if isinstance(p.sockets, ProcessSockets) else None
    s.signals = p.signals if isinstance(p.signals, SignalsSnapshot) else None
    s.files = p.files if isinstance(p.files, ProcessFiles) else None
    s.locks = p.locks if isinstance(p.locks, ProcessLocks) else None


def _may_queue_behind_writer(threads: ThreadsSnapshot, blocked: Mapping[int, int]) -> bool:
    """A thread blocked writing to a pipe (`blocked`) and another waiting on a futex: only
    Python stacks tell whether that one waits for the writer's lock (a print or logging call
    behind it) or is idle."""
    return bool(blocked) and any(
        t.state in "SD" and t.call is not None and t.call.name == "futex" for t in threads.rows
    )


def _may_poll(s: _Suspect, scan: BoxScan) -> bool:
    """A process that may poll a lock with LOCK_NB (only its stack shows it): one that holds or
    waits for a lock, or has a locked file open (its Files panel says)."""
    if s.row.pid in scan.lock_pids:
        return True
    locked = {e.inode for e in parse_locks(scan.lock_text)} if scan.lock_text else set()
    rows = s.files.rows if s.files is not None else ()
    return any(r.inode in locked for r in rows if r.target.startswith("/"))


def _finish(
    root: ProcRoot, s: _Suspect, scan: BoxScan, pipe_map: PipeMap, python: bool
) -> tuple[Context, list[int]]:
    """Files, locks and Python stacks, then the Context but its peers: (context, the pids of
    the readers to watch for it, shared by every suspect in one window). Raises ProcessGone."""
    needs = s.needs
    pid = s.row.pid
    if "files" in needs and s.files is None:
        states = {r.inode: r.state for r in s.sockets.rows if r.state} if s.sockets is not None else {}
        try:
            s.files = collect_files(root, pid, piddir=s.d, pipe_map=pipe_map, socket_states=states)
        except (AccessDenied, OSError, ValueError):
            pass
    if "locks" in needs and s.files is not None and s.locks is None:
        try:
            # /proc/locks names no pid for OFD locks: their holders are found among every process
            ofd = any(e.pid == -1 for e in parse_locks(scan.lock_text))
            pids = None if ofd else scan.lock_pids | {pid}
            s.locks = collect_locks(root, pid, piddir=s.d, fd_rows=s.files.rows, pids=pids)
        except (AccessDenied, OSError, ValueError):
            pass
    blocked = blocked_pipe_inodes(s.threads, s.files) if "pipe" in s.reasons else {}
    if (
        python
        and s.threads is not None
        and s.threads.python is None
        and (
            ("lock_poll" in s.reasons and _may_poll(s, scan)) or _may_queue_behind_writer(s.threads, blocked)
        )
    ):
        s.threads = merge_python(s.threads, dump_python(pid, nonblocking=True, timeout=_PYSPY_TIMEOUT))
    peer_pids: list[int] = []
    flocks: tuple[ForeignLock, ...] = ()
    if s.files is not None:
        if blocked:
            peer_pids = pipe_peer_pids(pid, s.files, blocked)
        if s.reasons & {"lock", "lock_poll"}:
            flocks = foreign_locks(root, pid, s.files, scan.lock_text)
    sends = blocked_socket_sends(s.threads, s.sockets) if "send" in s.reasons else {}
    ends = send_peers(root, pid, s.sockets, sends) if sends and s.sockets is not None else {}
    peer_pids += send_peer_pids(pid, ends)
    zombies = scan.zombies.get(pid)
    kids = tuple(zombies) if zombies is not None else None
    context = Context(foreign_locks=flocks, children=kids, send_peers=ends)
    return context, peer_pids


def _subject(s: _Suspect, scan: BoxScan, context: Context) -> Subject:
    r = s.row
    return Subject(
        pid=r.pid,
        name=r.name,
        state=r.state,
        starttime=r.starttime_ticks,
        ppid=r.ppid,
        cpu_percent=r.cpu_percent,
        num_fds=r.num_fds,
        fd_soft_limit=scan.fd_limits.get(r.pid),
        threads=s.threads,
        signals=s.signals,
        files=s.files,
        locks=s.locks,
        sockets=s.sockets,
        context=context,
    )


def _pin(root: ProcRoot, row: ProcessRow) -> PidDir | None:
    """The suspect's /proc directory, if it is still the process of the snapshot."""
    try:
        d = PidDir(root, row.pid)
    except (ProcessGone, AccessDenied, OSError):
        return None
    try:
        text = d.read_text("stat")
        if int(text[text.rindex(")") + 2 :].split()[19]) == row.starttime_ticks:
            return d
    except (ProcessGone, AccessDenied, OSError, ValueError, IndexError):
        pass
    d.close()
    return None


def triage_box(
    root: ProcRoot | None = None,
    *,
    processes: ProcessListSnapshot | None = None,
    history: History | None = None,
    python: bool = True,
    now: float | None = None,
    strict: bool = False,
) -> TriageResult:
    """Findings for every process. `processes` is the caller's latest process-list snapshot
    (its CPU% feeds epoll-spin; without one a snapshot is taken here, CPU unknown). `history`
    is kept by the caller across calls, as for diagnose(). `python` lets py-spy (nonblocking)
    look at the few processes suspected of polling for a lock, or with threads waiting behind a
    blocked pipe writer: only their stacks prove it."""
    t0 = time.perf_counter()
    taken_at = time.time()
    root = root or ProcRoot()
    if processes is None:
        processes = ProcessListCollector(root).collect()
    counts = None
    if processes.rows and all(r.close_wait is None for r in processes.rows):
        try:  # a collector made with close_wait=False: count them here, one cheap pass
            counts = CloseWaitCounter(root).counts({r.pid: r.starttime_ticks for r in processes.rows})
        except OSError:
            counts = None
    scan = scan_box(root, processes.rows, close_wait=counts)
    findings, evaluated, looked = _examine(root, scan, processes.by_pid(), python, history, now, strict)
    if history is not None:
        history.retain((r.pid, r.starttime_ticks) for r in processes.rows)
        history.sweep(_TRACKED_KINDS, evaluated)
    return TriageResult(
        tuple(sort_findings(findings)), len(processes.rows), looked, time.perf_counter() - t0, taken_at
    )


def _examine(
    root: ProcRoot,
    scan: BoxScan,
    by_pid: Mapping[int, ProcessRow],
    python: bool,
    history: History | None,
    now: float | None,
    strict: bool,
    given: PanelData | None = None,
    tc: ThreadCollector | None = None,
) -> tuple[list[Finding], list[Identity], int]:
    """Full look at the suspects of a first pass: (findings, identities evaluated, how many)."""
    names = {pid: r.name for pid, r in by_pid.items()}
    sockets = SocketCollector(root)
    tc = tc or ThreadCollector(root)
    suspects: list[_Suspect] = []
    findings: list[Finding] = []
    evaluated: list[Identity] = []
    try:
        for pid, reasons in sorted(scan.suspects.items()):
            row = by_pid.get(pid)
            d = _pin(root, row) if row is not None else None
            if row is None or d is None:
                continue
            s = _Suspect(row, reasons, d)
            if given is not None:
                _prefill(s, given)
            suspects.append(s)
            try:
                _gather(root, s, sockets, tc)
            except ProcessGone:
                s.reasons = set()
        targets = set().union(*(_blocked_pipe_targets(s.threads) for s in suspects if "pipe" in s.reasons))
        pipe_map = _pipe_map(root, targets, names) if targets else PipeMap({}, {}, 0, 0.0)
        when = time.monotonic() if now is None else now
        finished: list[tuple[_Suspect, Context, list[int]]] = []
        for s in suspects:
            if not s.reasons:
                continue
            try:
                finished.append((s, *_finish(root, s, scan, pipe_map, python)))
            except ProcessGone:
                continue
        # The readers of every suspect's blocked pipes are watched in one shared window, so
        # ten stuck writers cost one PEER_READ_WINDOW, not ten.
        wanted = [p for _, _, pids in finished for p in pids]
        peers = collect_peers(root, wanted, limit=_MAX_TRIAGE_PEERS) if wanted else {}
        for s, context, pids in finished:
            if pids:
                context = replace(context, peers={p: peers[p] for p in dict.fromkeys(pids) if p in peers})
            findings.extend(evaluate(_subject(s, scan, context), history, now=when, strict=strict))
            evaluated.append((s.row.pid, s.row.starttime_ticks))
    finally:
        for s in suspects:
            s.d.close()
    return findings, evaluated, len(suspects)


def examine_process(
    root: ProcRoot,
    detail: ProcessDetail,
    *,
    history: History | None = None,
    processes: ProcessListSnapshot | None = None,
    panels: PanelData | None = None,
    python: bool = False,
    now: float | None = None,
    threads: ThreadCollector | None = None,
) -> list[Finding]:
    """Every rule's full look at one process, collecting only what the rules read and the
    view has not (no box-wide pipe map unless a thread is blocked writing to a pipe): for the
    process view, whatever panels it shows. `detail` is this refresh's collect_detail (its
    CPU% feeds epoll-spin); `panels`, the panels it already collected, are reused as they are
    (Python stacks included); `processes`, when at hand, spares a scan for its children;
    `threads`, the view's own collector kept across refreshes, gives each thread's CPU over the
    last refresh whatever panel is on screen (a new one sees a single instant). Reads /proc:
    call it from the sampler's thread."""
    row = ProcessRow(
        detail.pid, detail.ppid, detail.uid, detail.user, detail.state, detail.name, detail.cmdline,
        detail.cpu_percent, detail.rss_bytes, detail.num_threads,
        None if isinstance(detail.num_fds, Unavailable) else detail.num_fds,
        detail.start_time, detail.starttime_ticks, detail.is_kernel_thread,
    )  # fmt: skip
    scan = BoxScan()
    if row.is_kernel_thread:
        return []
    if not isinstance(detail.fd_limit, Unavailable) and detail.fd_limit[0]:
        scan.fd_limits[row.pid] = detail.fd_limit[0]
    try:
        kids = children_of(root, row.pid, processes)
        scan.lock_text = root.read_text("locks")
    except OSError:
        kids = ()
    scan.zombies[row.pid] = [c for c in kids if c.state == "Z"]
    entries = parse_locks(scan.lock_text)
    scan.lock_pids = {e.pid for e in entries if e.pid > 0}
    # py-spy only for a process that may poll a lock with LOCK_NB (only its stack shows it):
    # one that holds a lock, or has a locked file open (decided in _finish, once the Files
    # panel is read whatever panel is on screen); or one with threads in futex beside a blocked
    # pipe writer
    scan.suspects[row.pid] = set(_NEEDS) - (set() if python and entries else {"lock_poll"})
    findings, _, _ = _examine(root, scan, {row.pid: row}, python, history, now, False, panels, threads)
    return sort_findings(findings)


def triage(
    root: ProcRoot | None = None,
    *,
    processes: ProcessListSnapshot | None = None,
    history: History | None = None,
    python: bool = True,
    now: float | None = None,
) -> list[Finding]:
    """The box's findings, most severe first (see triage_box)."""
    return list(triage_box(root, processes=processes, history=history, python=python, now=now).findings)
