"""One sampler: builds immutable Snapshots (called from workers, never the UI).

It has two lanes, each with its own lock, that the TUI runs in two threads: the process lane
(sample_process: the selected process) and the box lane (sample_box: the process list, the
triage, the box's sockets). The process lane never waits for the box lane, and the box lane
lets a process refresh go first before each of its steps; sample() runs both, one after the
other. The UI asks for what it shows (stucktui.inspection.request).
The selected process is pinned with a /proc/PID directory fd when it is first selected, and its
identity (pid, start time) is kept: each refresh checks the start time through the pinned
directory before reading anything else, and that the pinned process still exists after reading
everything else (while it exists its pid cannot name another process), so a pid reused before or
during a refresh reads as gone (DetailGone) instead of as the new process. Once gone it stays
gone: a selection without a start time (`stucktui --pid V`) takes the one learned at the pin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from stucktui.diagnose.history import History
from stucktui.inspection.deadline import Progress
from stucktui.inspection.marks import RowMarks
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.turns import Turns
from stucktui.model.findings import TriageResult
from stucktui.model.process import DetailGone, ProcessDetail, ProcessListSnapshot, Unavailable
from stucktui.model.snapshot import Snapshot
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.stat import cpu_percent, parse_stat

if TYPE_CHECKING:  # the collectors and the rules load in the first sample (a worker thread)
    from stucktui.collect.boxfacts import BoxFacts
    from stucktui.collect.meters import MeterCollector
    from stucktui.collect.panels import PanelCollector
    from stucktui.collect.proclist import ProcessListCollector
    from stucktui.model.files import ProcessFiles
    from stucktui.model.sockets import SocketSummary

_MIN_CPU_WINDOW = 0.5  # seconds: a shorter window makes CPU% jitter by whole ticks


class Sampler:
    first_cpu_window = 0.4  # seconds of the first look's CPU window (collect/proclist.py)

    def __init__(
        self,
        root: ProcRoot | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root or ProcRoot()
        self.clock = clock
        self.monotonic = monotonic
        self._processes: ProcessListCollector | None = None  # built by the first sample
        self._panels: PanelCollector | None = None  # ... that needs it
        self._facts: BoxFacts | None = None
        self._meters: MeterCollector | None = None
        self._building = threading.Lock()  # the lanes' threads build each collector once
        self._lock = threading.Lock()  # the process lane: one process refresh at a time
        self._box_lock = threading.Lock()  # the box lane: one box refresh at a time
        # the box lane lets process refreshes and the UI's input go first (inspection/turns.py)
        self.turns = Turns()  # real time: a fixture clock may stand still
        self._hurry = threading.Event()  # a process refresh is asked for: a read-ahead stops
        self._pinned: PidDir | None = None
        # (pid, start time) of the process pinned last, kept after it exits: the pid alone
        # never brings back whatever process gets it next
        self._identity: tuple[int, int] | None = None
        self._cpu_prev: tuple[int, int, float] | None = None  # pid, ticks, monotonic
        self._cpu_last: float | None = None
        self.history = History()  # the selected process's findings grow with time
        self.box_history = History()  # the triage's, across triage runs
        self._marks = RowMarks()  # the last triage's worst severity per process: FIND
        # what each lane's refresh reads now: the status line names it when a read blocks
        self.progress = Progress(monotonic)
        self.box_progress = Progress(monotonic)

    @property
    def facts(self) -> BoxFacts:
        """Box-wide facts shared by both lanes (the triage, examine, the panels), kept across
        refreshes; each lane's refresh ticks it (BoxFacts locks its own state). Built, with
        the collectors below, by the first sample in its worker thread, not while the TUI starts."""
        with self._building:
            if self._facts is None:
                from stucktui.collect.boxfacts import BoxFacts

                self._facts = BoxFacts(self.root)
            return self._facts

    def after_action(self) -> None:
        """An action changed a process: the next refreshes read the box's sockets afresh."""
        if self._facts is not None:
            self._facts.expire()

    @property
    def processes(self) -> ProcessListCollector:
        """The process list's collector (its CLOSE_WAIT column reads socket fds through the box
        facts' index: one box-wide readlink pass serves the column and the triage)."""
        facts = self.facts
        with self._building:
            if self._processes is None:
                from stucktui.collect.proclist import ProcessListCollector

                self._processes = ProcessListCollector(
                    self.root, clock=self.clock, monotonic=self.monotonic, fd_index=facts.index
                )
            return self._processes

    @property
    def meters(self) -> MeterCollector:
        """The box's meters over the process list (CPU per core, memory, load, tasks)."""
        with self._building:
            if self._meters is None:
                from stucktui.collect.meters import MeterCollector

                self._meters = MeterCollector(self.root)
            return self._meters

    @property
    def panels(self) -> PanelCollector:
        """The selected process's panels' collector (the TUI's Files panel reads fdinfo for the
        rows on screen only: show_fds, fd_details)."""
        facts = self.facts
        with self._building:
            if self._panels is None:
                from stucktui.collect.panels import PanelCollector

                self._panels = PanelCollector(
                    self.root, clock=self.clock, monotonic=self.monotonic, lazy_files=True
                )
                self._panels.facts = facts
            return self._panels

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
        """Unpin the selected process and forget its identity (the selection ended)."""
        self._unpin()
        self._identity = None

    def _unpin(self) -> None:
        if self._pinned is not None:
            self._pinned.close()
            self._pinned = None
            if self._panels is not None:
                self._panels.forget()

    def fd_details(self, pid: int, starttime: int | None, fds: Iterable[int] | None) -> ProcessFiles | None:
        """The selected process's Files rows of these fds read in full (None: every fd), for
        the table as it scrolls (PanelCollector.fd_details); later refreshes read them too."""
        return self.panels.fd_details(pid, starttime, fds)

    def _pin(self, pid: int, starttime: int | None) -> PidDir:
        """The pinned directory of (pid, starttime), its start time checked now; raises
        ProcessGone when that process no longer exists. Without a start time the identity
        learned at the last pin of this pid stands, so an exited process is never replaced by
        the next one to get its pid."""
        known = self._identity
        if starttime is None and known is not None and known[0] == pid:
            starttime = known[1]
        d = self._pinned
        if d is not None and (d.pid != pid or (starttime is not None and known != (pid, starttime))):
            self._unpin()
            d = None
        if d is None:
            self._cpu_prev = None
            if known is not None and known[0] != pid:
                self._identity = None
            d = self.root.pid_dir(pid)
            self._pinned = d
        try:
            start = parse_stat(d.read_text("stat")).starttime
        except ValueError as exc:  # a torn or foreign stat: not provably the same process
            self._unpin()
            raise ProcessGone(pid, "stat") from exc
        except ProcessGone:
            self._unpin()
            raise
        if starttime is not None and start != starttime:
            self._unpin()
            raise ProcessGone(pid, "identity (start time changed: the pid was reused)")
        self._identity = (pid, start)
        return d

    def _gone(self, pid: int, starttime: int | None) -> DetailGone:
        """The selected process is gone: what now has its pid, if anything, to offer it."""
        self._unpin()
        known = self._identity
        born = starttime if starttime is not None else (known[1] if known and known[0] == pid else None)
        successor, name = None, ""
        try:
            st = parse_stat(self.root.read_text(pid, "stat", pid=pid))
            if born is not None and st.starttime != born:
                successor, name = st.starttime, st.comm
        except (ProcessGone, AccessDenied, OSError, ValueError):
            pass
        return DetailGone(pid, self.clock(), born, successor, name)

    def _still_pinned(self, d: PidDir, detail: ProcessDetail) -> None:
        """After a refresh read everything: the process it pinned still exists, so every read
        by pid on the way was of it (a pid is not reused while its process exists)."""
        if detail.starttime_ticks != (self._identity or (0, -1))[1] or not d.alive():
            raise ProcessGone(d.pid, "identity (it exited while being read)")

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
        """One refresh of both lanes, the box's first (`report`, benches, tests: the TUI runs
        each lane in its own thread); the list's FIND column keeps the last triage's verdicts."""
        box = self.sample_box(request, yielding=False)
        proc = self.sample_process(request, processes=box.processes)
        return replace(proc, processes=box.processes, box_sockets=box.box_sockets, triage=box.triage)

    def sample_box(self, request: SampleRequest, *, yielding: bool = True) -> Snapshot:
        """The box lane: the process list, the triage, the box-wide Sockets view, as asked.
        Before each step it lets a process refresh that is under way or asked for go first
        (yielding), so the open process is never behind the box's slow scans."""
        from stucktui.collect.pausing import pausing
        from stucktui.collect.sockets import SocketCollector
        from stucktui.inspection.triage import triage_box

        want_list, triage, box_sockets = request.want_list, request.triage, request.box_sockets
        step: Callable[[], None] = self.turns.wait if yielding else (lambda: None)
        progress = self.box_progress

        # inside the long loops too (the fd index's pass, the list's scan): every 32 processes
        with self._box_lock, pausing(step):
            self.facts.tick()
            plist: ProcessListSnapshot | None = None
            if want_list:
                step()
                if triage:  # the first look: its CPU window, unless first_look() made it
                    self._first_window()
                progress.reading("the process list (/proc/*/stat, cmdline, fd)")
                plist = self.processes.collect()
                plist = replace(plist, meters=self.meters.read(plist.rows))
            tri: TriageResult | None = None
            if triage and plist is not None:
                step()
                progress.reading(f"the box's suspect processes (the triage of {len(plist.rows):,})")
                # py-spy (nonblocking) runs only for the rare process suspected of polling its lock
                tri = triage_box(
                    self.root, processes=plist, history=self.box_history, python=True, facts=self.facts
                )
                self._marks.set((f.pid, f.starttime or 0, f.severity) for f in tri.findings)
            if plist is not None:
                plist = self._marks.apply(plist)
            if not self.facts.index.warm:
                step()  # the fd owner index's first pass, a second on a big box: here, where no
                progress.reading("who holds which pipe and socket (/proc/*/fd)")  # view waits
                self.facts.warm_index()
            box: SocketSummary | Unavailable | None = None
            if box_sockets:
                step()
                progress.reading("the box's sockets (/proc/net/tcp*, sock_diag, every fd)")
                try:
                    box = SocketCollector(self.root).summary()
                except OSError as exc:
                    box = Unavailable("socket tables unreadable", exc.strerror or str(exc))
            progress.done()
            return Snapshot(plist, None, None, box_sockets=box, triage=tri)

    def first_look(self) -> None:
        """The first look's CPU window made ahead, in a thread the TUI starts while Textual
        starts (mostly waits in the kernel: readlink, recv); the first sample_box finds it done."""
        with self._box_lock:
            self._first_window()

    def _first_window(self) -> None:
        from stucktui.inspection.triage import cpu_window_wait

        if self.processes.fresh:
            # the first look: CPU% over a window, in which the fd index's first pass and the
            # socket dumps the triage reads are made (the list then has its CPU%)
            self.box_progress.reading("CPU over a first window, and who holds which fd (/proc/*/fd)")
            self.processes.prime(self.first_cpu_window, sleep=cpu_window_wait(self.facts))

    def sample_process(
        self,
        request: SampleRequest,
        post: Callable[[Snapshot], None] | None = None,
        *,
        processes: ProcessListSnapshot | None = None,
    ) -> Snapshot:
        """The process lane: the selected process (pin, identity check, detail, the panels
        asked for, its findings), or, with none selected, unpin. post(partial) gets the detail
        as soon as it is read, then with the panels: each only once the pinned process is
        known to be still alive, so no partial holds another process's facts."""
        ahead = request.prefetch  # a read-ahead does not hold the box lane back
        self.turns.painting(0 if ahead else +1)
        painted = [ahead]

        def paint(snap: Snapshot, final: bool = False) -> None:
            if post is not None:
                post(snap)
            if final and not painted[0]:  # the panels are on screen: the findings need not
                painted[0] = True  # hold the box lane back
                self.turns.painting(-1)

        try:
            with self._lock:
                self.facts.tick()
                return self._sample_process(request, paint, processes)
        finally:
            if not painted[0]:
                self.turns.painting(-1)
            self._hurry.clear()
            self.progress.done()

    def hurry(self) -> None:
        """A key asked for a process refresh while one runs: a read-ahead reads no more."""
        self._hurry.set()

    def _sample_process(
        self,
        request: SampleRequest,
        post: Callable[[Snapshot, bool], None],
        plist: ProcessListSnapshot | None,
    ) -> Snapshot:
        from stucktui.collect.detail import collect_detail
        from stucktui.inspection.examine import examine

        selected, panels = request.selected, request.panels
        if selected is None:
            self.close()
            return Snapshot(None, None, None)
        pid, starttime = selected
        self.progress.reading(f"pid {pid} itself (/proc/{pid}/stat, status, cmdline)")
        try:
            d = self._pin(pid, starttime)
            detail = collect_detail(
                self.root, pid, piddir=d, cpu_percent=self._detail_cpu(d), clock=self.clock
            )
            self._still_pinned(d, detail)
            if request.prefetch:  # the panels of tabs not shown yet, no findings: a key stops it
                ahead = self.panels.read_ahead(
                    d, panels, kernel_stacks=request.kernel_stacks, stop=self._hurry.is_set
                )
                self._still_pinned(d, detail)
                return Snapshot(None, detail, pid, ahead)
            post(Snapshot(None, detail, pid), not panels)
            data = None
            if panels:
                data = self.panels.collect(
                    d,
                    panels,
                    python=request.python,
                    nonblocking=request.nonblocking,
                    native=request.native,
                    kernel_stacks=request.kernel_stacks,
                    asked=request.python_asked,
                    progress=self.progress,
                )
                self._still_pinned(d, detail)
                post(Snapshot(None, detail, pid, data), True)
            self.progress.reading(f"what the threads of pid {pid} wait on in other processes")
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
                facts=self.facts,
            )
            self._still_pinned(d, detail)
            self.panels.remember(pid, seen.files)  # the next Threads panel's fd words
        except ProcessGone:
            return Snapshot(None, self._gone(pid, starttime), pid)
        return Snapshot(None, detail, pid, data, findings=seen.findings, chains=seen.chains)
