"""Collects the panels of one process (threads, signals, and later sockets, files, locks) into
one immutable PanelData; shared by the sampler (stateful: CPU% per thread) and by reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from stucktui.collect.files import ProcessFiles, collect_files, pipe_summary, scan_pipes
from stucktui.collect.locks import ProcessLocks, collect_locks
from stucktui.collect.signals import SignalsSnapshot, collect_signals
from stucktui.collect.socket_rows import ProcessSockets
from stucktui.collect.sockets import SocketCollector
from stucktui.collect.threads import ThreadCollector, ThreadsSnapshot, collect_with_python, merge_python
from stucktui.procfs import AccessDenied, PidDir, ProcRoot
from stucktui.procfs.errors import NOT_OWNER
from stucktui.snapshot import NO_PERMISSION, ProcessDetail, Unavailable
from stucktui.tools.pyspy import PyDump, PySpyError

ALL_PANELS = frozenset({"sockets", "files", "locks", "threads", "signals"})
# panels that need the fd table (and so the box-wide pipe map): threads resolve fd arguments
# through it ("write(2 -> pipe:[5210641], no reader)")
_NEEDS_FILES = frozenset({"files", "locks", "threads"})


@dataclass(frozen=True, slots=True)
class PanelData:
    """Each field is the panel's snapshot, a one-line reason it could not be read, or None when
    it was not asked for."""

    threads: ThreadsSnapshot | str | None = None
    signals: SignalsSnapshot | str | None = None
    files: ProcessFiles | str | None = None
    locks: ProcessLocks | str | None = None
    sockets: ProcessSockets | str | None = None


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
    ) -> PanelData:
        """python=True runs py-spy now; otherwise the last dump of this pid is merged again, so
        stacks persist between the slow py-spy refreshes. Raises ProcessGone."""
        threads: ThreadsSnapshot | str | None = None
        signals: SignalsSnapshot | str | None = None
        files: ProcessFiles | str | None = None
        locks: ProcessLocks | str | None = None
        sockets: ProcessSockets | str | None = None
        fd_links: dict[int, str] | None = None
        self.threads.resolver = None
        socket_states: dict[int, str] = {}
        if want & (_NEEDS_FILES | {"sockets"}):
            try:
                # one collector per refresh: it dumps each network namespace's table once
                sockets = SocketCollector(self.root).process_sockets(d.pid, piddir=d)
                socket_states = {r.inode: r.state for r in sockets.rows if r.state}
            except (AccessDenied, OSError, ValueError) as exc:
                sockets = _reason(exc)
        if want & _NEEDS_FILES:
            try:
                files = collect_files(
                    self.root, d.pid, piddir=d, pipe_map=scan_pipes(self.root), socket_states=socket_states
                )
                fd_links = {r.fd: r.target for r in files.rows}
                self.threads.resolver = _resolver(files)
            except (AccessDenied, OSError, ValueError) as exc:
                files = _reason(exc)
        if "locks" in want:
            try:
                rows = files.rows if isinstance(files, ProcessFiles) else None
                locks = collect_locks(self.root, d.pid, piddir=d, fd_rows=rows)
            except (AccessDenied, OSError, ValueError) as exc:
                locks = _reason(exc)
        if "threads" in want:
            try:
                if python:
                    snap = collect_with_python(
                        self.threads, d, kernel_stacks=kernel_stacks, nonblocking=nonblocking, native=native
                    )
                    self._last_python, self._last_python_pid = snap.python, d.pid
                    threads = snap
                else:
                    snap = self.threads.collect(d, kernel_stacks=kernel_stacks)
                    if self._last_python_pid == d.pid and self._last_python is not None:
                        snap = merge_python(snap, self._last_python)
                    threads = snap
            except (AccessDenied, OSError, ValueError) as exc:
                threads = _reason(exc)
        if "signals" in want:
            try:
                signals = collect_signals(self.root, d, fd_links=fd_links)
            except (AccessDenied, OSError, ValueError) as exc:
                signals = _reason(exc)
        return PanelData(
            threads=threads,
            signals=signals,
            files=files if "files" in want else None,
            locks=locks,
            sockets=sockets if "sockets" in want else None,
        )


def unreadable(panels: PanelData | None, detail: ProcessDetail | None = None) -> list[str]:
    """What could not be read, for a 'no findings' line: a rule cannot fire on facts it never
    saw. Panels refused, an fd table that could not be listed, syscalls refused; and when the
    detail shows the process's ptrace-guarded exe refused, its fds, sockets and syscalls,
    whether or not their panels were collected (the process view collects only the panel on
    screen)."""
    names = ("sockets", "files", "locks", "threads", "signals")
    out = [name for name in names if panels is not None and isinstance(getattr(panels, name), str)]
    if panels is not None and isinstance(panels.files, ProcessFiles) and panels.files.unlisted:
        out.append("files")
    t = panels.threads if panels is not None else None
    if isinstance(t, ThreadsSnapshot) and any(r.call_text == "syscall: no permission" for r in t.rows):
        out.append("syscalls")
    guarded = (
        detail is not None
        and not detail.is_kernel_thread
        and isinstance(detail.exe, Unavailable)
        and detail.exe.reason == NO_PERMISSION.reason
    )
    if guarded:
        out += ["sockets", "files", "syscalls"]
    return list(dict.fromkeys(out))


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


def _reason(exc: Exception) -> str:
    if isinstance(exc, AccessDenied):
        return f"no permission ({NOT_OWNER})"
    return f"not available ({type(exc).__name__}: {exc})"


def collect_panels_once(root: ProcRoot, pid: int, *, python: bool = True) -> PanelData:
    """Every panel of one process, for `stucktui report`. Raises ProcessGone."""
    with root.pid_dir(pid) as d:
        return PanelCollector(root).collect(d, ALL_PANELS, python=python)
