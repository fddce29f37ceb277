"""One process examined: every rule's full look at it, collecting only what the rules read and
the caller has not. The ONE path from a process to its findings, for the process view, `stucktui
report PID` and the live tests alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.boxscan import BoxScan
from stucktui.collect.detail import CpuWindow, collect_detail
from stucktui.collect.panels import QUIET, PanelCollector, PanelProgress
from stucktui.collect.peers import children_of
from stucktui.collect.threads import ThreadCollector
from stucktui.diagnose.chains import follow
from stucktui.diagnose.engine import evaluate, sort_findings, subject_of
from stucktui.diagnose.history import History
from stucktui.inspection.suspects import examine_suspects
from stucktui.model import clues
from stucktui.model.context import Context
from stucktui.model.files import ProcessFiles
from stucktui.model.findings import Finding
from stucktui.model.panels import ALL_PANELS, PanelData
from stucktui.model.process import ProcessDetail, ProcessListSnapshot, ProcessRow, Unavailable
from stucktui.model.waits import WaitChain
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.locks import parse_locks
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.stat import parse_stat


@dataclass(frozen=True, slots=True)
class Examination:
    """What one look at a process concluded: its findings, most severe first, and the chains
    of waits from its blocked threads (stucktui.diagnose.chains)."""

    findings: tuple[Finding, ...] = ()
    chains: tuple[WaitChain, ...] = ()
    files: ProcessFiles | None = None  # what the rules read of its fds (pipe verdicts, states)


def examine(
    root: ProcRoot,
    detail: ProcessDetail,
    *,
    history: History | None = None,
    processes: ProcessListSnapshot | None = None,
    panels: PanelData | None = None,
    python: bool = False,
    now: float | None = None,
    threads: ThreadCollector | None = None,
    facts: BoxFacts | None = None,
) -> Examination:
    """Every rule's full look at one process, collecting only what the rules read and the
    view has not (no box-wide pipe map unless a thread is blocked writing to a pipe): for the
    process view, whatever panels it shows. `detail` is this refresh's collect_detail (its
    CPU% feeds epoll-spin); `panels`, the panels it already collected, are reused as they are
    (Python stacks included); `processes`, when at hand, spares a scan for its children;
    `threads`, the view's own collector kept across refreshes, gives each thread's CPU over the
    last refresh whatever panel is on screen (a new one sees a single instant); `facts`, the
    box-wide facts its owner keeps across refreshes (socket tables, the fd owner index,
    /proc/locks: one is made for this call without it), so one refresh of one process does not
    pay for the whole box. Reads /proc: call it from a worker thread. Never raises for a
    process that vanished."""
    row = ProcessRow(
        detail.pid, detail.ppid, detail.uid, detail.user, detail.state, detail.name, detail.cmdline,
        detail.cpu_percent, detail.rss_bytes, detail.num_threads,
        None if isinstance(detail.num_fds, Unavailable) else detail.num_fds,
        detail.start_time, detail.starttime_ticks, detail.is_kernel_thread,
    )  # fmt: skip
    scan = BoxScan()
    if row.is_kernel_thread:
        return Examination()
    facts = facts or BoxFacts(root)
    if not isinstance(detail.fd_limit, Unavailable) and detail.fd_limit[0]:
        scan.fd_limits[row.pid] = detail.fd_limit[0]
    try:
        kids = children_of(root, row.pid, processes)
        scan.lock_text = facts.lock_text()
    except OSError:
        kids = ()
    scan.zombies[row.pid] = [c for c in kids if c.state == "Z"]
    entries = parse_locks(scan.lock_text)
    scan.lock_pids = {e.pid for e in entries if e.pid > 0}
    # py-spy only for a process that may poll a lock with LOCK_NB (only its stack shows it):
    # one that holds a lock, or has a locked file open (decided in _finish, once the Files
    # panel is read whatever panel is on screen); or one with threads in futex beside a blocked
    # pipe writer
    scan.suspects[row.pid] = set(clues.CLUES) - (set() if python and entries else {clues.LOCK_POLL})
    contexts: dict[int, Context] = {}
    read: dict[int, ProcessFiles] = {}
    try:
        findings, _, _ = examine_suspects(
            root, scan, {row.pid: row}, python, history, now, False, panels, threads,
            processes=processes, contexts=contexts, files=read, facts=facts,
        )  # fmt: skip
    except (ProcessGone, AccessDenied, OSError):
        # it exited, or the others involved could not be read: the rules on its own facts
        return Examination(tuple(evaluate(subject_of(detail, panels), history, now=now)))
    graph = contexts[row.pid].waits if row.pid in contexts else None
    chains = follow(graph) if graph is not None else ()
    return Examination(tuple(sort_findings(findings)), chains, read.get(row.pid))


@dataclass(frozen=True, slots=True)
class Examined:
    """One process examined once: its facts, every panel, its findings and wait chains."""

    detail: ProcessDetail
    panels: PanelData
    findings: tuple[Finding, ...]
    chains: tuple[WaitChain, ...] = ()


class ExitedDuringReport(ProcessGone):
    """The process examined exited, or its pid went to another process, after the report
    began: what was read may mix two processes, so none of it is given."""

    def __init__(self, pid: int, starttime: int) -> None:
        super().__init__(pid, "identity (it exited while being read)")
        self.starttime = starttime


def examine_pid(
    root: ProcRoot,
    pid: int,
    *,
    python: bool = True,
    window: float = 0.5,
    progress: PanelProgress = QUIET,
    facts: BoxFacts | None = None,
) -> Examined:
    """Everything about one process, for `stucktui report PID`: CPU over `window` seconds (the
    process's and each thread's), every panel (py-spy's stacks when `python`), then
    examine(). Its identity (pid, start time) is pinned first, and checked once everything
    is read: the pinned process must still exist then (while it does its pid cannot name
    another), else ExitedDuringReport. Raises ProcessGone, AccessDenied or OSError when the
    process itself cannot be read; takes at least `window`: call it from a worker or a
    command. `progress` is told each step and result (the report's deadline, inspection.bounded);
    `facts`, the box-wide facts to share (one per call without it: `report PID` makes one per run)."""
    facts = facts or BoxFacts(root)
    with root.pid_dir(pid) as d:
        born = parse_stat(d.read_text("stat")).starttime
        try:
            progress.reading(f"pid {pid} itself (/proc/{pid}/stat, status, cmdline)")
            collector = PanelCollector(root, facts=facts)
            # CPU over `window`, the process's and each thread's: the panels before the threads
            # are read inside it, and the threads once it has passed (not a sleep, then the reads)
            cpu = CpuWindow(root, pid, window)
            collector.threads.prime(d)
            detail = collect_detail(root, pid, piddir=d)
            progress.got("detail", detail)
            panels = collector.collect(
                d, ALL_PANELS, python=python, progress=progress, before_threads=cpu.wait
            )
            detail = replace(detail, cpu_percent=cpu.percent())
            progress.reading(f"what the threads of pid {pid} wait on in other processes (wait chains)")
            seen = examine(root, detail, panels=panels, python=python, facts=facts)
        except ProcessGone as exc:
            raise ExitedDuringReport(pid, born) from exc
        if detail.starttime_ticks != born or _born_now(d) != born or not d.alive():
            raise ExitedDuringReport(pid, born)
    return Examined(detail, panels, seen.findings, seen.chains)


def _born_now(d: PidDir) -> int | None:
    """The start time the pinned directory gives now (None: it cannot be read, it is gone)."""
    try:
        return parse_stat(d.read_text("stat")).starttime
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None
