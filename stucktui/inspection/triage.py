"""Box-wide triage: the findings of every process on the box, most severe first.

A cheap first pass (collect.boxscan) over a process-list snapshot picks the suspects; only
they get the panels their suspicion needs, and then the same rules as the process view. Built
for the UI's sampler thread and `stucktui report --all`; reads /proc, so never call it on the
UI thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.boxscan import scan_box
from stucktui.collect.close_wait import CloseWaitCounter
from stucktui.collect.pausing import inheriting
from stucktui.collect.proclist import FIRST_CPU_WINDOW, ProcessListCollector, with_cpu
from stucktui.diagnose.chains import by_root, follow
from stucktui.diagnose.engine import TRACKED_KINDS, sort_findings
from stucktui.diagnose.history import History
from stucktui.diagnose.rules.chains import root_findings
from stucktui.diagnose.rules.lock_polls import holder_findings
from stucktui.inspection.suspects import examine_suspects
from stucktui.model.context import Context
from stucktui.model.findings import Finding, TriageResult
from stucktui.model.process import ProcessListSnapshot
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.stat import parse_stat

# threads a first look's window left running, per box facts: whoever next reads what they
# make waits for them (settle)
_AHEAD: WeakKeyDictionary[BoxFacts, list[threading.Thread]] = WeakKeyDictionary()
_AHEAD_LOCK = threading.Lock()


def _quietly(work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - whoever needs it next reads it again and says why not
            pass

    return run


def cpu_window_wait(facts: BoxFacts, window: float = FIRST_CPU_WINDOW) -> Callable[[float], None]:
    """A wait for the first look's CPU window that starts the fd index's pass and, in a second
    thread, the socket dumps the suspects will read, sleeps out the window and returns with
    both still running: the process list is then read beside them. All three wait in the
    kernel much of the time (readlink(), recv(), read() release the interpreter lock), so on
    pegged cores three threads get more of the machine than one, and the list no longer waits
    for a pass that takes seconds on a big box. Whoever needs what they make next waits for
    it: the index behind its lock (the CLOSE_WAIT column, the triage), the dumps in settle().
    `window`: the one asked for. CPU% is measured from the middle of the first pass over every
    stat (ProcessListCollector.prime), which asks for what is left of the window after that
    pass (`seconds`); half the pass is added, so the window measured is the one asked for
    (before, the index's pass made it longer anyway)."""

    def wait(seconds: float) -> None:
        t0 = time.monotonic()
        seconds += (window - seconds) / 2 if seconds > 0 else window / 2
        threads = [
            # the pass pauses where the box lane would: a key's refresh runs alone (collect/pausing.py)
            threading.Thread(target=_quietly(inheriting(facts.warm_index)), name="fd_index", daemon=True),
            threading.Thread(target=_quietly(facts.prefetch_sockets), name="sock_diag", daemon=True),
        ]
        with _AHEAD_LOCK:
            _AHEAD.setdefault(facts, []).extend(threads)
        for t in threads:
            t.start()
        left = seconds - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)

    return wait


def settle(facts: BoxFacts) -> None:
    """Wait for the work a first look's window left running for these facts (cpu_window_wait)."""
    with _AHEAD_LOCK:
        threads = _AHEAD.pop(facts, [])
    for t in threads:
        t.join()


def triage_box(
    root: ProcRoot | None = None,
    *,
    processes: ProcessListSnapshot | None = None,
    history: History | None = None,
    python: bool = True,
    now: float | None = None,
    strict: bool = False,
    cpu_window: float = FIRST_CPU_WINDOW,
    facts: BoxFacts | None = None,
) -> TriageResult:
    """Findings for every process. `processes` is the caller's latest process-list snapshot
    (its CPU% feeds epoll-spin). A first look (no snapshot, or one without CPU%) measures CPU
    over `cpu_window` seconds at once (0: CPU unknown), so a spinner is one from the first
    look. `history` is kept by the caller across calls, as for diagnose(). `python` lets
    py-spy (nonblocking) look at the few processes suspected of polling for a lock, or with
    threads waiting behind a blocked pipe writer: only their stacks prove it. `facts`: the
    box-wide facts the caller keeps across refreshes (one is made for this run without it),
    shared by every suspect's look and wait graph."""
    t0 = time.perf_counter()
    taken_at = time.time()
    root = root or ProcRoot()
    facts = facts or BoxFacts(root)
    if processes is None:
        # its CLOSE_WAIT column reads socket fds through the facts' index: one readlink pass
        collector = ProcessListCollector(root, fd_index=facts.index)
        if cpu_window > 0:
            collector.prime(cpu_window, sleep=cpu_window_wait(facts, cpu_window))
        processes = collector.collect()
    elif cpu_window > 0 and processes.rows and all(r.cpu_percent is None for r in processes.rows):
        processes = with_cpu(root, processes, cpu_window, sleep=cpu_window_wait(facts, cpu_window))
    settle(facts)  # the window's socket dumps and index pass, if still under way
    counts = None
    if processes.rows and all(r.close_wait is None for r in processes.rows):
        try:  # a collector made with close_wait=False: count them here, one cheap pass
            counts = CloseWaitCounter(root).counts({r.pid: r.starttime_ticks for r in processes.rows})
        except OSError:
            counts = None
    scan = scan_box(root, processes.rows, close_wait=counts, facts=facts)
    contexts: dict[int, Context] = {}
    by_pid = processes.by_pid()
    findings, evaluated, looked = examine_suspects(
        root, scan, by_pid, python, history, now, strict, processes=processes, contexts=contexts, facts=facts
    )
    # the roots of the stuck chains hear it too, with every process that waits on them
    chains = tuple(
        c for ctx in contexts.values() if ctx.waits is not None for c in follow(ctx.waits) if c.stuck
    )
    roots = {r.pid: (r.name, r.starttime_ticks) for r in processes.rows}
    findings += root_findings(chains, roots)
    # the holders of locks that processes wait or poll for, while they idle
    findings = holder_findings((c.waits for c in contexts.values() if c.waits is not None), findings, roots)
    findings = still_there(root, findings)
    if history is not None:
        history.retain((r.pid, r.starttime_ticks) for r in processes.rows)
        history.sweep(TRACKED_KINDS, evaluated)
    return TriageResult(
        tuple(sort_findings(findings)), len(processes.rows), looked, time.perf_counter() - t0, taken_at,
        by_root(chains), processes.visibility, processes.cpu_window,
    )  # fmt: skip


def still_there(root: ProcRoot, findings: list[Finding]) -> list[Finding]:
    """The findings whose process is still the one they were made of: a process that exited
    during the triage, or whose pid another process now has, drops its findings (one read of
    stat each), so none is ever shown under the new process."""
    same: dict[tuple[int, int], bool] = {}
    for f in findings:
        if f.starttime is None or (f.pid, f.starttime) in same:
            continue
        try:
            now = parse_stat(root.read_text(f.pid, "stat", pid=f.pid)).starttime
        except (ProcessGone, AccessDenied, OSError, ValueError):
            now = None
        same[(f.pid, f.starttime)] = now == f.starttime
    return [f for f in findings if f.starttime is None or same[(f.pid, f.starttime)]]


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
