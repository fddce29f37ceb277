"""One sampler: builds one immutable Snapshot per refresh (called from a worker, never the UI).

The UI asks for what it shows: the process list, the detail of the selected process, or both.
The selected process is pinned with a /proc/PID directory fd when it is first selected, so a
pid that is reused later reads as gone instead of as the new process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from stucktui.collect.detail import collect_detail
from stucktui.collect.panels import PanelCollector
from stucktui.collect.proclist import ProcessListCollector
from stucktui.collect.sockets import SocketCollector
from stucktui.diagnose.history import History
from stucktui.inspection.examine import examine
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.triage import triage_box
from stucktui.model.files import ProcessFiles
from stucktui.model.findings import TriageResult
from stucktui.model.process import DetailGone, ProcessListSnapshot, Unavailable
from stucktui.model.snapshot import Snapshot
from stucktui.model.sockets import SocketSummary
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.stat import cpu_percent, parse_stat

_MIN_CPU_WINDOW = 0.5  # seconds: a shorter window makes CPU% jitter by whole ticks


class Sampler:
    def __init__(
        self,
        root: ProcRoot | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root or ProcRoot()
        self.clock = clock
        self.monotonic = monotonic
        self.processes = ProcessListCollector(self.root, clock=clock, monotonic=monotonic)
        self._lock = threading.Lock()  # one sample at a time, whatever calls us
        self._pinned: PidDir | None = None
        self._cpu_prev: tuple[int, int, float] | None = None  # pid, ticks, monotonic
        self._cpu_last: float | None = None
        # the TUI's Files panel reads fdinfo for the rows on screen only (show_fds, fd_details)
        self.panels = PanelCollector(self.root, clock=clock, monotonic=monotonic, lazy_files=True)
        self.history = History()  # the selected process's findings grow with time
        self.box_history = History()  # the triage's, across triage runs
        self._worst: dict[tuple[int, int], str] = {}  # (pid, starttime) -> worst severity

    @classmethod
    def for_path(
        cls,
        proc: str = "/proc",
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Sampler:
        """A sampler of the /proc mounted at proc (the UI passes a path, never a ProcRoot)."""
        return cls(ProcRoot(proc), clock=clock, monotonic=monotonic)

    def close(self) -> None:
        if self._pinned is not None:
            self._pinned.close()
            self._pinned = None
            self.panels.forget()

    def fd_details(self, pid: int, starttime: int | None, fds: Iterable[int] | None) -> ProcessFiles | None:
        """The selected process's Files rows of these fds read in full (None: every fd), for
        the table as it scrolls; later refreshes read them too. Runs beside a sample, through a
        directory of its own: None when the process is not the one selected any more."""
        if fds is None:
            self.panels.show_fds(pid, None)
            return None  # every fd: the next refresh reads them all
        try:
            with PidDir(self.root, pid) as d:
                if starttime is not None and parse_stat(d.read_text("stat")).starttime != starttime:
                    return None
                return self.panels.details(d, fds)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return None

    def _pin(self, pid: int, starttime: int | None) -> PidDir:
        if self._pinned is not None and self._pinned.pid == pid:
            return self._pinned
        self.close()
        self._cpu_prev = None
        d = PidDir(self.root, pid)
        start = parse_stat(d.read_text("stat")).starttime
        if starttime is not None and start != starttime:
            d.close()
            raise ProcessGone(pid, "identity (start time changed: the pid was reused)")
        self._pinned = d
        return d

    def _detail_cpu(self, d: PidDir) -> float | None:
        try:
            st = parse_stat(d.read_text("stat"))
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return None
        now = self.monotonic()
        ticks = st.utime + st.stime
        prev = self._cpu_prev
        if prev is not None and prev[0] == d.pid and now - prev[2] < _MIN_CPU_WINDOW:
            # a key press refreshed early: at 100 ticks a second, a short window rounds to
            # 108% for one busy thread; keep the last rate and measure over a longer window
            return self._cpu_last
        self._cpu_prev = (d.pid, ticks, now)
        if prev is None or prev[0] != d.pid or now <= prev[2]:
            self._cpu_last = None
            return None
        self._cpu_last = cpu_percent(ticks - prev[1], now - prev[2], st.num_threads)
        return self._cpu_last

    def sample(self, request: SampleRequest) -> Snapshot:
        """One refresh, as the request says (stucktui.inspection.request: the UI builds it with
        plan_sample); the list's FIND column keeps the last triage's verdicts."""
        want_list, selected, panels = request.want_list, request.selected, request.panels
        triage, box_sockets = request.triage, request.box_sockets
        with self._lock:
            plist: ProcessListSnapshot | None = self.processes.collect() if want_list else None
            tri: TriageResult | None = None
            if triage and plist is not None:
                # py-spy (nonblocking) runs only for the rare process suspected of polling its lock
                tri = triage_box(self.root, processes=plist, history=self.box_history, python=True)
                self._worst = {}
                for f in tri.findings:  # most severe first
                    self._worst.setdefault((f.pid, f.starttime or 0), f.severity)
            if plist is not None and self._worst:
                plist = self._mark(plist)
            box: SocketSummary | Unavailable | None = None
            if box_sockets:
                try:
                    box = SocketCollector(self.root).summary()
                except OSError as exc:
                    box = Unavailable("socket tables unreadable", exc.strerror or str(exc))
            if selected is None:
                self.close()
                return Snapshot(plist, None, None, box_sockets=box, triage=tri)
            pid, starttime = selected
            try:
                d = self._pin(pid, starttime)
                detail = collect_detail(
                    self.root, pid, piddir=d, cpu_percent=self._detail_cpu(d), clock=self.clock
                )
                data = None
                if panels:
                    data = self.panels.collect(
                        d,
                        panels,
                        python=request.python,
                        nonblocking=request.nonblocking,
                        native=request.native,
                        kernel_stacks=request.kernel_stacks,
                    )
                # the rules read what the collected panels do not hold; py-spy (nonblocking) runs
                # only for a process that may poll a lock or have threads queued behind a blocked
                # pipe writer, whatever panel is on screen
                self.history.seed_from(self.box_history, (pid, detail.starttime_ticks))
                seen = examine(
                    self.root,
                    detail,
                    panels=data,
                    history=self.history,
                    processes=plist,
                    python=True,
                    threads=self.panels.threads,
                )
                self.panels.remember(pid, seen.files)  # the next Threads panel's fd words
            except ProcessGone:
                self.close()
                return Snapshot(plist, DetailGone(pid, self.clock()), pid, box_sockets=box, triage=tri)
            return Snapshot(
                plist,
                detail,
                pid,
                data,
                box_sockets=box,
                findings=seen.findings,
                triage=tri,
                chains=seen.chains,
            )

    def _mark(self, plist: ProcessListSnapshot) -> ProcessListSnapshot:
        """Each row with the last triage's worst severity; only rows that change are copied."""
        worst = self._worst
        rows = list(plist.rows)
        for i, r in enumerate(rows):
            sev = worst.get((r.pid, r.starttime_ticks))
            if sev != r.finding:
                rows[i] = replace(r, finding=sev)
        return replace(plist, rows=tuple(rows))
