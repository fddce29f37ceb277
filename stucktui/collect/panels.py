"""Collects the panels of one process (threads, signals, and later sockets, files, locks) into
one immutable PanelData; shared by the sampler (stateful: CPU% per thread) and by reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Protocol

from stucktui.collect.files import collect_files, scan_pipes
from stucktui.collect.locks import collect_locks
from stucktui.collect.signals import collect_signals
from stucktui.collect.sockets import SocketCollector
from stucktui.collect.threads import ThreadCollector, collect_with_python
from stucktui.model.files import ProcessFiles, pipe_summary
from stucktui.model.locks import ProcessLocks
from stucktui.model.panels import ALL_PANELS, PanelData
from stucktui.model.process import Unavailable
from stucktui.model.python import PyDump, PySpyError
from stucktui.model.signals import SignalsSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import FdResolver, ThreadsSnapshot, merge_python
from stucktui.procfs.errors import AccessDenied
from stucktui.procfs.privilege import refusal
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.tools.pyspy import start_dump

# panels that need the fd table (and so the box-wide pipe map): threads resolve fd arguments
# through it ("write(2 -> pipe:[5210641], no reader)")
_NEEDS_FILES = frozenset({"files", "locks", "threads"})


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
    ) -> None:
        self.root = root
        self.threads = ThreadCollector(root, clock=monotonic, wall=clock)
        self._last_python: PyDump | PySpyError | None = None
        self._last_python_pid: int | None = None

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
    ) -> PanelData:
        """python=True runs py-spy now; otherwise the last dump of this pid is merged again, so
        stacks persist between the slow py-spy refreshes. `asked`: someone asked for these
        stacks (y); a dump nobody asked for is skipped for a while after py-spy did not
        answer (stucktui.tools.pyspy.HUNG_PAUSE). Raises ProcessGone."""
        pid = d.pid
        threads: ThreadsSnapshot | Unavailable | None = None
        signals: SignalsSnapshot | Unavailable | None = None
        files: ProcessFiles | Unavailable | None = None
        locks: ProcessLocks | Unavailable | None = None
        sockets: ProcessSockets | Unavailable | None = None
        fd_links: dict[int, str] | None = None
        resolver: FdResolver | None = None  # fd arguments described by this refresh's Files view
        socket_states: dict[int, str] = {}
        if want & (_NEEDS_FILES | {"sockets"}):
            progress.reading(f"the sockets of pid {pid} (/proc/{pid}/fd, /proc/{pid}/net, sock_diag)")
            try:
                # one collector per refresh: it dumps each network namespace's table once
                sockets = SocketCollector(self.root).process_sockets(d.pid, piddir=d)
                socket_states = {r.inode: r.state for r in sockets.rows if r.state}
            except (AccessDenied, OSError, ValueError) as exc:
                sockets = _reason(exc)
            progress.got("sockets", sockets)
        if want & _NEEDS_FILES:
            progress.reading(f"the open files of pid {pid} (/proc/{pid}/fd, /proc/{pid}/fdinfo)")
            try:
                files = collect_files(
                    self.root, d.pid, piddir=d, pipe_map=scan_pipes(self.root), socket_states=socket_states
                )
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
            py = " and py-spy" if python else ""
            progress.reading(f"the threads of pid {pid} (/proc/{pid}/task{py})")
            try:
                if python:
                    snap = collect_with_python(
                        self.threads,
                        d,
                        kernel_stacks=kernel_stacks,
                        nonblocking=nonblocking,
                        native=native,
                        resolver=resolver,
                        start=start_dump if asked else partial(start_dump, auto=True),
                    )
                    self._last_python, self._last_python_pid = snap.python, d.pid
                    threads = snap
                else:
                    snap = self.threads.collect(d, kernel_stacks=kernel_stacks, resolver=resolver)
                    if self._last_python_pid == d.pid and self._last_python is not None:
                        snap = merge_python(snap, self._last_python)
                    threads = snap
            except (AccessDenied, OSError, ValueError) as exc:
                threads = _reason(exc)
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
            sockets=sockets if "sockets" in want else None,
        )


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
