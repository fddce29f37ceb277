"""Collects the panels of one process into one immutable PanelData; shared by the sampler
(stateful: CPU% per thread, the pipe map and the Files rows on screen across refreshes) and by
reports (every panel, every fd read in full).

Each panel costs what it shows. The Threads panel reads its threads and a readlink of each fd
their calls name: never the box's sockets or pipes; what it says of those fds beyond the link
(a pipe nobody drains, a socket's state) comes from what the rules read of the process at the
refresh before (`remember`). The Files panel of the TUI is lazy (collect/files.py): fdinfo for
the rows on screen (`show_fds`), and the box-wide pipe map is kept for PIPE_MAP_EVERY refreshes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from functools import partial
from typing import Protocol

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.files import collect_files, scan_pipes, with_details
from stucktui.collect.locks import collect_locks
from stucktui.collect.pipemap import PipeMap
from stucktui.collect.signals import collect_signals
from stucktui.collect.sockets import SocketCollector
from stucktui.collect.threads import ThreadCollector, collect_with_python
from stucktui.model.files import ProcessFiles, pipe_summary, with_endpoints
from stucktui.model.locks import ProcessLocks
from stucktui.model.panels import ALL_PANELS, PanelData
from stucktui.model.process import Unavailable
from stucktui.model.python import PyDump, PySpyError
from stucktui.model.signals import SignalsSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import FdResolver, ThreadsSnapshot, merge_python
from stucktui.procfs.errors import AccessDenied, ProcError, ProcessGone
from stucktui.procfs.privilege import refusal
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.stat import parse_stat
from stucktui.tools.pyspy import start_dump

PIPE_MAP_EVERY = 5  # refreshes a lazy Files panel keeps the box-wide pipe map
# fds read in full while the Files table has not said which rows it shows (its first screens in
# fd order: a tall terminal's table shows ~50 rows and asks for a screenful either side): the
# tab then comes on screen with them read, and its refresh reads them itself, no second reader
FIRST_WINDOW = 100
# a read-ahead's order: py-spy, the slowest and the one that cannot be cut short, last
_AHEAD_ORDER = ("files", "sockets", "locks", "signals", "threads")
_NEEDS_FILES = frozenset({"files", "locks"})


class PanelProgress(Protocol):
    """Told what collect() reads now and each panel once read: `stucktui report` shows what it
    has when its deadline passes (stucktui.inspection.deadline.Progress)."""

    def reading(self, what: str) -> None: ...

    def got(self, name: str, value: object) -> None: ...


class _Quiet:
    def reading(self, what: str) -> None:
        pass

    def got(self, name: str, value: object) -> None:
        pass


QUIET: PanelProgress = _Quiet()


class PanelCollector:
    def __init__(
        self,
        root: ProcRoot,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        lazy_files: bool = False,
        facts: BoxFacts | None = None,
    ) -> None:
        """lazy_files: the TUI's Files panel (fdinfo for the rows on screen, the pipe map kept
        a few refreshes); without it every fd is read in full each time, as a report needs.
        `facts`: the box-wide facts its owner keeps (the pipe holders from their fd index, the
        socket tables): without them each refresh scans the box's pipes and dumps sockets."""
        self.root = root
        self.facts = facts
        self.lazy_files = lazy_files
        self.threads = ThreadCollector(root, clock=monotonic, wall=clock)
        self._last_python: PyDump | PySpyError | None = None
        self._last_python_pid: int | None = None
        self._window: tuple[int, frozenset[int] | None] | None = None  # (pid, fds; None: all)
        self._pipes: PipeMap | None = None
        self._pipes_age = 0
        self._remembered: tuple[int, ProcessFiles] | None = None  # what the rules read last refresh
        self._files: tuple[int, ProcessFiles] | None = None  # the last Files panel collected

    # -- state kept across refreshes ----------------------------------------------------------
    def show_fds(self, pid: int, fds: Iterable[int] | None) -> None:
        """The fds whose rows the Files table shows (None: every fd, for a filter or an order
        that reads them all): each refresh reads their fdinfo."""
        self._window = (pid, None if fds is None else frozenset(fds))

    def remember(self, pid: int, files: ProcessFiles | None) -> None:
        """What the rules read of the selected process's fds this refresh (pipe verdicts, socket
        states): the next refresh's Threads panel describes its fd arguments with it."""
        self._remembered = None if files is None else (pid, files)

    def forget(self) -> None:
        """Another process was selected: nothing kept describes it."""
        self._remembered = self._files = self._window = None

    def _detail_fds(self, pid: int) -> frozenset[int] | None:
        """The fds the Files table shows (None: every fd); empty before it said (then the
        first FIRST_WINDOW are read)."""
        w = self._window
        return w[1] if w is not None and w[0] == pid else frozenset()

    def _told(self, pid: int) -> bool:
        return self._window is not None and self._window[0] == pid

    def _pipe_map(self) -> PipeMap:
        """The box-wide pipe map, scanned again every PIPE_MAP_EVERY refreshes of a lazy view;
        a pipe opened since the scan is not in it, so its own ends are all it shows. With the
        box facts: their fd index's holders, each pipe looked up when a row asks for it."""
        if self.facts is not None:
            self._pipes = self.facts.pipe_map()
            return self._pipes
        if not self.lazy_files:
            return scan_pipes(self.root)
        if self._pipes is None or self._pipes_age >= PIPE_MAP_EVERY:
            m = scan_pipes(self.root)
            self._pipes = PipeMap(m.pipes, m.fifos, m.unreadable, m.duration, m.root, frozenset(m.pipes))
            self._pipes_age = 0
        self._pipes_age += 1
        return self._pipes

    def fd_details(self, pid: int, starttime: int | None, fds: Iterable[int] | None) -> ProcessFiles | None:
        """The last Files panel of (pid, starttime) with these fds read in full (None: every
        fd, read by the next refresh), or None. Runs beside a refresh, through a directory of
        its own: None when the process is not the one whose Files panel was read last."""
        if fds is None:
            self.show_fds(pid, None)
            return None
        try:
            with PidDir(self.root, pid) as d:
                if starttime is not None and parse_stat(d.read_text("stat")).starttime != starttime:
                    return None
                return self.details(d, fds)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return None

    def details(self, d: PidDir, fds: Iterable[int]) -> ProcessFiles | None:
        """The last Files panel of this process with these fds read in full (the rows the table
        scrolled to), or None when there is none. Reads only those fds; they replace the
        window later refreshes read."""
        fds = frozenset(fds)
        self.show_fds(d.pid, fds)
        last = self._files
        if last is None or last[0] != d.pid:
            return None
        # a view painting: the box facts' index answers at once or not at all
        with self.facts.painting() if self.facts is not None else nullcontext():
            files = self._endpoints(d, with_details(self.root, d, last[1], fds, pipe_map=self._pipes), None)
        self._files = (d.pid, files)
        return files

    # -- one refresh ----------------------------------------------------------------------------
    def collect(
        self,
        d: PidDir,
        want: frozenset[str] = ALL_PANELS,
        *,
        python: bool = False,
        nonblocking: bool = True,
        native: bool = False,
        kernel_stacks: bool = False,
        asked: bool = True,
        progress: PanelProgress = QUIET,
        before_threads: Callable[[], None] | None = None,
    ) -> PanelData:
        """`before_threads`, when given, runs right before the threads are read (`report PID`
        waits out its CPU window there: the other panels are read inside it). python=True runs
        py-spy now; otherwise the last dump of this pid is merged again, so
        stacks persist between the slow py-spy refreshes. `asked`: someone asked for these
        stacks (y); a dump nobody asked for is skipped for a while after py-spy did not
        answer (stucktui.tools.pyspy.HUNG_PAUSE). Raises ProcessGone. A lazy view (the TUI's)
        paints: the box facts' index answers it without waiting (BoxFacts.painting)."""
        if self.facts is not None and self.lazy_files:
            with self.facts.painting():
                return self._collect(
                    d, want, python, nonblocking, native, kernel_stacks, asked, progress, before_threads
                )
        return self._collect(
            d, want, python, nonblocking, native, kernel_stacks, asked, progress, before_threads
        )

    def read_ahead(
        self, d: PidDir, want: frozenset[str], *, kernel_stacks: bool, stop: Callable[[], bool]
    ) -> PanelData:
        """The panels of tabs not on screen, read ahead (PanelData.read_ahead): one at a time,
        py-spy last, nonblocking and skipped a while after it hung; none after `stop()` turns
        true (a key asked for its own refresh, which must not wait for this one)."""
        got = PanelData(read_ahead=True)
        for name in _AHEAD_ORDER:
            if name in want and not stop():
                one = self.collect(
                    d, frozenset({name}), python=name == "threads", kernel_stacks=kernel_stacks, asked=False
                )
                got = replace(got, **{name: getattr(one, name)})
        return got

    def _collect(
        self,
        d: PidDir,
        want: frozenset[str],
        python: bool,
        nonblocking: bool,
        native: bool,
        kernel_stacks: bool,
        asked: bool,
        progress: PanelProgress,
        before_threads: Callable[[], None] | None = None,
    ) -> PanelData:
        pid = d.pid
        threads: ThreadsSnapshot | Unavailable | None = None
        signals: SignalsSnapshot | Unavailable | None = None
        files: ProcessFiles | Unavailable | None = None
        locks: ProcessLocks | Unavailable | None = None
        sockets: ProcessSockets | Unavailable | None = None
        fd_links: dict[int, str] | None = None
        resolver: FdResolver | None = None  # fd arguments described by this refresh's Files view
        if "sockets" in want:
            progress.reading(f"the sockets of pid {pid} (/proc/{pid}/fd, /proc/{pid}/net, sock_diag)")
            try:
                # one collector per refresh (each namespace's table dumped once), or the kept one
                sockets = self._sockets().process_sockets(d.pid, piddir=d)
            except (AccessDenied, OSError, ValueError) as exc:
                sockets = _reason(exc)
            progress.got("sockets", sockets)
        if want & _NEEDS_FILES:
            progress.reading(f"the open files of pid {pid} (/proc/{pid}/fd, /proc/{pid}/fdinfo)")
            try:
                files = self._collect_files(d, sockets)
                fd_links = {r.fd: r.target for r in files.rows}
                resolver = _resolver(files)
            except (AccessDenied, OSError, ValueError) as exc:
                files = _reason(exc)
            progress.got("files", files)
        if "locks" in want:
            progress.reading(f"the file locks of pid {pid} (/proc/locks, the fds of their holders)")
            try:
                # an fd table that was refused is no table: the locks collector says so itself
                rows = files.rows if isinstance(files, ProcessFiles) and not files.unlisted else None
                locks = collect_locks(self.root, d.pid, piddir=d, fd_rows=rows)
            except (AccessDenied, OSError, ValueError) as exc:
                locks = _reason(exc)
            progress.got("locks", locks)
        if "threads" in want:
            if before_threads is not None:
                before_threads()
            py = " and py-spy" if python else ""
            progress.reading(f"the threads of pid {pid} (/proc/{pid}/task{py})")
            threads = self._collect_threads(d, resolver or self._remembered_resolver(d), python,
                                            nonblocking, native, kernel_stacks, asked)  # fmt: skip
            progress.got("threads", threads)
        if "signals" in want:
            progress.reading(f"the signal masks of pid {pid} (/proc/{pid}/task/*/status)")
            try:
                signals = collect_signals(self.root, d, fd_links=fd_links)
            except (AccessDenied, OSError, ValueError) as exc:
                signals = _reason(exc)
            progress.got("signals", signals)
        return PanelData(
            threads=threads,
            signals=signals,
            files=files if "files" in want else None,
            locks=locks,
            sockets=sockets,
        )

    def _collect_files(self, d: PidDir, sockets: ProcessSockets | Unavailable | None) -> ProcessFiles:
        if isinstance(sockets, ProcessSockets):
            states: Mapping[int, str] | Callable[[], Mapping[int, str]] = {
                r.inode: r.state for r in sockets.rows if r.state
            }
        elif self.lazy_files:  # the Files panel alone: only the states a kernel filter gives cheaply
            states = self._close_wait_states(d)
        else:
            states = self._all_states(d)
        lazy = self.lazy_files
        window = self._detail_fds(d.pid) if lazy else frozenset()
        files = collect_files(
            self.root, d.pid, piddir=d, pipe_map=self._pipe_map(), socket_states=states,
            lazy=lazy and window is not None, detail=window or (),
            first=0 if self._told(d.pid) else FIRST_WINDOW,
        )  # fmt: skip
        files = self._endpoints(d, files, sockets)
        self._files = (d.pid, files)
        return files

    def _endpoints(
        self, d: PidDir, files: ProcessFiles, sockets: ProcessSockets | Unavailable | None
    ) -> ProcessFiles:
        """Each socket fd's ends (the Sockets panel's facts): from this refresh's Sockets rows,
        or for the fds read in full, from the box facts' kept dumps."""
        if isinstance(sockets, ProcessSockets):
            return with_endpoints(files, sockets.rows)
        socks = [
            (r.fd, r.inode) for r in files.rows if r.inode is not None and r.kind == "socket" and not r.unread
        ]
        if not socks or self.facts is None:
            return files
        try:
            rows = self.facts.socket_rows(d, socks)
        except (ProcError, OSError, ValueError):  # gone, or refused: the rows say no more
            return files
        return with_endpoints(files, rows)

    def _sockets(self) -> SocketCollector | BoxFacts:
        return self.facts if self.facts is not None else SocketCollector(self.root)

    def _close_wait_states(self, d: PidDir) -> Callable[[], Mapping[int, str]]:
        """The CLOSE_WAIT sockets of the process's namespace, a state-filtered dump: not every
        socket of the box (the Sockets panel, or the rules' look, name the other states)."""

        def states() -> Mapping[int, str]:
            sc = self.facts.sockets() if self.facts is not None else SocketCollector(self.root)
            try:
                return dict.fromkeys(sc.table(sc.netns_of(d.pid, d), d.pid).close_wait_inodes(), "CLOSE_WAIT")
            except OSError:
                return {}

        return states

    def _all_states(self, d: PidDir) -> Callable[[], Mapping[int, str]]:
        def states() -> Mapping[int, str]:
            try:
                found = self._sockets().process_sockets(d.pid, piddir=d, peers=False)
            except (AccessDenied, OSError, ValueError):
                return {}
            return {r.inode: r.state for r in found.rows if r.state}

        return states

    def _remembered_resolver(self, d: PidDir) -> FdResolver | None:
        """fd -> what the rules' look at the refresh before said of it, while the fd still
        names the same file; else None (a readlink then describes it)."""
        kept = self._remembered
        if kept is None or kept[0] != d.pid:
            return None
        said, targets = _resolver(kept[1]), {r.fd: r.target for r in kept[1].rows}

        def resolve(fd: int) -> str | None:
            text = said(fd)
            if text is None:
                return None
            try:
                return text if d.readlink(f"fd/{fd}") == targets[fd] else None
            except (AccessDenied, ProcessGone, OSError):
                return None

        return resolve

    def _collect_threads(
        self,
        d: PidDir,
        resolver: FdResolver | None,
        python: bool,
        nonblocking: bool,
        native: bool,
        kernel_stacks: bool,
        asked: bool = True,
    ) -> ThreadsSnapshot | Unavailable:
        try:
            if python:
                snap = collect_with_python(
                    self.threads, d, kernel_stacks=kernel_stacks, nonblocking=nonblocking,
                    native=native, resolver=resolver,
                    start=start_dump if asked else partial(start_dump, auto=True),
                )  # fmt: skip
                self._last_python, self._last_python_pid = snap.python, d.pid
                return snap
            snap = self.threads.collect(d, kernel_stacks=kernel_stacks, resolver=resolver)
            if self._last_python_pid == d.pid and self._last_python is not None:
                snap = merge_python(snap, self._last_python)
            return snap
        except (AccessDenied, OSError, ValueError) as exc:
            return _reason(exc)


def _resolver(files: ProcessFiles) -> Callable[[int], str | None]:
    """fd -> what the Files view knows beyond the link: pipe verdicts and fill, socket state,
    decoded special fds."""
    by_fd = {}
    for r in files.rows:
        if r.pipe is not None:
            by_fd[r.fd] = f"{r.target}, {pipe_summary(r.pipe)}"
        elif r.socket_state:
            by_fd[r.fd] = f"{r.target} {r.socket_state}"
        elif r.detail:
            by_fd[r.fd] = f"{r.target} ({r.detail})"
    return by_fd.get


def _reason(exc: Exception) -> Unavailable:
    if isinstance(exc, AccessDenied):
        return Unavailable("no permission", refusal())
    return Unavailable("not available", f"{type(exc).__name__}: {exc}")


def collect_panels_once(root: ProcRoot, pid: int, *, python: bool = True) -> PanelData:
    """Every panel of one process, for `stucktui report`. Raises ProcessGone."""
    with root.pid_dir(pid) as d:
        return PanelCollector(root).collect(d, ALL_PANELS, python=python)
