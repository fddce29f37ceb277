"""The full look at a set of suspect processes: the panels their suspicion needs, the other
processes involved (the Context), then the rules. Shared by the box-wide triage and by the
examination of one process; reads /proc, so never call it on the UI thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.boxscan import BoxScan
from stucktui.collect.files import PipeMap, collect_files, fd_end, with_details
from stucktui.collect.locks import collect_locks
from stucktui.collect.peers import collect_peers, foreign_locks, send_peers, stat_fields
from stucktui.collect.signals import collect_signals
from stucktui.collect.threads import ThreadCollector
from stucktui.diagnose.engine import evaluate, needs_for
from stucktui.diagnose.history import History, Identity
from stucktui.diagnose.subject import Subject
from stucktui.inspection.confirm import confirm_spins
from stucktui.inspection.lock_waits import may_poll
from stucktui.inspection.waits import has_followed_wait, wait_graph
from stucktui.model import clues
from stucktui.model import waits as W
from stucktui.model.context import (
    WRITE_CALLS,
    Context,
    ForeignLock,
    blocked_pipe_inodes,
    blocked_socket_sends,
    pipe_peer_pids,
    send_peer_pids,
)
from stucktui.model.files import PipeEnd, ProcessFiles
from stucktui.model.findings import Finding
from stucktui.model.locks import ProcessLocks
from stucktui.model.panels import PanelData
from stucktui.model.process import ProcessListSnapshot, ProcessRow
from stucktui.model.python import PyDump, PySpyError
from stucktui.model.signals import SignalsSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import ThreadsSnapshot, merge_python
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdtarget import bracket_inode
from stucktui.procfs.locks import parse_locks
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.tools.pyspy import dump_python

_PYSPY_TIMEOUT = 5.0


# wait graphs gathered in one look at the suspects (each reaches at most waits.MAX_PROCESSES)
MAX_GRAPHS = 16
_MAX_TRIAGE_PEERS = 64  # readers watched in triage's one window, across every suspect


class _Dump:
    """py-spy's dump of one suspect, taken in a thread while the other suspects are looked at
    and the pipe readers are watched (a window that sleeps): its wall time is not added to
    theirs. A dump that fails unexpectedly reads as none taken."""

    def __init__(self, pid: int) -> None:
        self.result: PyDump | PySpyError | None = None
        self._thread = threading.Thread(target=self._run, args=(pid,), name="py-spy", daemon=True)
        self._thread.start()

    def _run(self, pid: int) -> None:
        try:
            self.result = dump_python(pid, nonblocking=True, timeout=_PYSPY_TIMEOUT, auto=True)
        except Exception:  # noqa: BLE001 - the rules then see no Python stacks, as without py-spy
            self.result = None

    def wait(self) -> PyDump | PySpyError | None:
        self._thread.join()
        return self.result


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
    read_at: float = field(default_factory=time.monotonic)  # when its fds were last read
    dump: _Dump | None = None  # its Python stacks, being taken

    @property
    def needs(self) -> set[str]:
        return set(needs_for(self.reasons))


PIPE_CALLS = WRITE_CALLS | W.READ_CALLS  # calls a thread blocks in on a pipe


def _blocked_pipe_targets(threads: ThreadsSnapshot | None) -> set[str]:
    """'pipe:[N]' links the threads are blocked writing to or reading from. An fd argument
    resolved by the Files view reads 'pipe:[N], 64 KiB queued, ...': only the link is kept."""
    out: set[str] = set()
    for t in threads.rows if threads is not None else ():
        if t.state in "SD" and t.call is not None and t.call.name in PIPE_CALLS:
            out.update(a.target[: a.target.find("]") + 1] for a in t.fd_args if a.target.startswith("pipe:["))
    return out


def _pipe_map(root: ProcRoot, facts: BoxFacts, targets: set[str], names: dict[int, str]) -> PipeMap:
    """Holders of just these pipes, box-wide (the kept fd index, each holder verified; names
    is filled in): exact verdicts for the pipes blocked writers write to. The map says it
    covers only these: a suspect's other pipes show its own ends, and their verdicts come from
    what the kernel says of each measured end (a hang-up)."""
    pipes: dict[int, list[PipeEnd]] = {}
    found, unreadable = facts.owners(targets)
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
    only = frozenset(i for i in map(bracket_inode, targets) if i is not None)
    return PipeMap({k: tuple(v) for k, v in pipes.items()}, {}, unreadable, 0.0, only=only)


def _gather(root: ProcRoot, s: _Suspect, facts: BoxFacts, tc: ThreadCollector) -> None:
    """The panels that do not need the pipe map. Raises ProcessGone."""
    needs = s.needs
    if "threads" in needs and s.threads is None:
        try:
            s.threads = tc.collect(s.d)
        except (AccessDenied, OSError, ValueError):
            pass
    if "sockets" in needs and s.sockets is None:
        try:
            s.sockets = facts.process_sockets(s.row.pid, piddir=s.d, kept=True)
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
    root: ProcRoot, s: _Suspect, scan: BoxScan, pipe_map: PipeMap, python: bool, facts: BoxFacts
) -> tuple[Context, list[int]]:
    """Files, locks and Python stacks, then the Context but its peers: (context, the pids of
    the readers to watch for it, shared by every suspect in one window). Raises ProcessGone."""
    needs = s.needs
    pid = s.row.pid
    read_files = ("files" in needs and s.files is None) or (s.files is not None and s.files.lazy)
    # the Files rows' socket states, when they are read (a leaking pool's 20,000 rows are not
    # gone through for a look that reads no fds)
    rows = s.sockets.rows if s.sockets is not None and read_files else None
    states = {r.inode: r.state for r in rows if r.state} if rows is not None else None
    # fdinfo only where a rule reads it: the fds the threads' calls name, special fds, locked files
    named = {a.fd for t in s.threads.rows for a in t.fd_args} if s.threads is not None else set()
    try:
        if "files" in needs and s.files is None:
            s.files = collect_files(
                root, pid, piddir=s.d, pipe_map=pipe_map, socket_states=states, lazy=True, detail=named
            )
            s.read_at = time.monotonic()
        elif s.files is not None and s.files.lazy:  # the view's lazy Files panel, read further
            s.files = with_details(root, s.d, s.files, named, pipe_map=pipe_map, socket_states=states)
            s.read_at = time.monotonic()
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
    blocked = blocked_pipe_inodes(s.threads, s.files) if clues.PIPE_WRITE in s.reasons else {}
    if (
        python
        and "python" in needs
        and s.threads is not None
        and s.threads.python is None
        and (
            (clues.LOCK_POLL in s.reasons and _may_poll(s, scan))
            or _may_queue_behind_writer(s.threads, blocked)
        )
    ):
        s.dump = _Dump(pid)  # merged once the others are looked at and the readers watched
    peer_pids: list[int] = []
    flocks: tuple[ForeignLock, ...] = ()
    if s.files is not None:
        if blocked:
            peer_pids = pipe_peer_pids(pid, s.files, blocked)
        if s.reasons & {clues.LOCK_WAIT, clues.LOCK_POLL}:
            flocks = foreign_locks(root, pid, s.files, scan.lock_text)
    sends = blocked_socket_sends(s.threads, s.sockets) if clues.SOCKET_SEND in s.reasons else {}
    ends = send_peers(root, pid, s.sockets, sends, facts.sockets()) if sends and s.sockets is not None else {}
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


def examine_suspects(
    root: ProcRoot,
    scan: BoxScan,
    by_pid: Mapping[int, ProcessRow],
    python: bool,
    history: History | None,
    now: float | None,
    strict: bool,
    given: PanelData | None = None,
    tc: ThreadCollector | None = None,
    *,
    processes: ProcessListSnapshot | None = None,
    contexts: dict[int, Context] | None = None,
    files: dict[int, ProcessFiles] | None = None,
    facts: BoxFacts | None = None,
) -> tuple[list[Finding], list[Identity], int]:
    """Full look at the suspects of a first pass: (findings, identities evaluated, how many).
    `processes` (the snapshot the first pass read) names children for the wait chains;
    `contexts`, when given, receives each suspect's Context (its wait graph included), and
    `files` what the rules read of its fds. `facts`, the box-wide facts kept by the caller
    across refreshes (one is made for this call without it)."""
    names = {pid: r.name for pid, r in by_pid.items()}
    facts = facts or BoxFacts(root)
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
                _gather(root, s, facts, tc)
            except ProcessGone:
                s.reasons = set()
        # the holders of every pipe a suspect's thread is caught on, whatever made it suspect: a
        # busy pipeline's writer, seen running by the first pass, may be in write() by now, and
        # a Files view or a wait chain read from a partial map would see no reader
        targets = set().union(*(_blocked_pipe_targets(s.threads) for s in suspects))
        pipe_map = PipeMap({}, {}, 0, 0.0, only=frozenset())
        if targets:
            pipe_map = _pipe_map(root, facts, targets, names)
        when = time.monotonic() if now is None else now
        finished: list[tuple[_Suspect, Context, list[int]]] = []
        for s in suspects:
            if not s.reasons:
                continue
            try:
                finished.append((s, *_finish(root, s, scan, pipe_map, python, facts)))
            except ProcessGone:
                continue
        # The readers of every suspect's blocked pipes are watched in one shared window, so
        # ten stuck writers cost one PEER_READ_WINDOW, not ten.
        wanted = [p for _, _, pids in finished for p in pids]
        peers = collect_peers(root, wanted, limit=_MAX_TRIAGE_PEERS) if wanted else {}
        for s, _, _ in finished:
            if s.dump is not None and s.threads is not None:
                s.threads = merge_python(s.threads, s.dump.wait())
        graphs = 0
        for s, context, pids in finished:
            if pids:
                context = replace(context, peers={p: peers[p] for p in dict.fromkeys(pids) if p in peers})
            if graphs < MAX_GRAPHS and (has_followed_wait(s.threads) or may_poll(s.threads, s.locks)):
                r = s.row
                graph = wait_graph(
                    root, r.pid, r.name, r.state, s.threads, files=s.files, locks=s.locks,
                    context=context, process_sockets=s.sockets, processes=processes,
                    lock_text=scan.lock_text, facts=facts,
                )  # fmt: skip
                context = replace(context, waits=graph)
                graphs += 1
            if contexts is not None:
                contexts[s.row.pid] = context
            if files is not None and s.files is not None:
                files[s.row.pid] = s.files
            found = evaluate(_subject(s, scan, context), history, now=when, strict=strict)
            findings.extend(confirm_spins(root, s.d, found, s.files, s.read_at))
            evaluated.append((s.row.pid, s.row.starttime_ticks))
    finally:
        for s in suspects:
            s.d.close()
    return findings, evaluated, len(suspects)
