"""Builds the detail of one process: identity, ancestry, paths, limits, cgroup.

Reads go through a PidDir pinned when the process was selected, so a pid reused mid-read shows
up as ProcessGone rather than as a blend of two processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from stucktui.collect.users import UserNames
from stucktui.model.process import (
    NO_PERMISSION,
    NOT_AVAILABLE,
    STATE_NAMES,
    Ancestor,
    ProcessDetail,
    Unavailable,
)
from stucktui.procfs.cgroup import cgroup_hint, parse_cgroup
from stucktui.procfs.cmdline import parse_cmdline
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.limits import parse_limits
from stucktui.procfs.privilege import refusal
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.stat import CLOCK_TICKS, PidStat, cpu_percent, parse_stat
from stucktui.procfs.status import parse_status
from stucktui.procfs.system import parse_boot_time

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_MAX_ANCESTORS = 64  # a loop can't happen in a real tree; a fixture or a race could fake one

_users = UserNames()


def denied_reason() -> str:
    if os.geteuid() == 0:
        return f"no permission: {refusal()}"
    return "no permission: another user's or a non-dumpable process (run stucktui as root to see it)"


def _ancestors(root: ProcRoot, ppid: int) -> tuple[Ancestor, ...]:
    chain: list[Ancestor] = []
    seen: set[int] = set()
    pid = ppid
    while pid > 0 and pid not in seen and len(chain) < _MAX_ANCESTORS:
        seen.add(pid)
        try:
            st = parse_stat(root.read_text(pid, "stat", pid=pid))
        except (ProcessGone, AccessDenied, OSError, ValueError):
            chain.append(Ancestor(pid, "?"))
            break
        chain.append(Ancestor(pid, st.comm))
        pid = st.ppid
    return tuple(chain)


def collect_detail(
    root: ProcRoot,
    pid: int,
    *,
    piddir: PidDir | None = None,
    cpu_percent: float | None = None,
    clock: Callable[[], float] = time.time,
) -> ProcessDetail:
    """Raises ProcessGone if the process is gone (or was replaced); every other unreadable
    field becomes an Unavailable marker with a reason and a note."""
    own = piddir is None
    d = piddir or root.pid_dir(pid)
    try:
        return _collect(root, d, cpu_percent, clock)
    finally:
        if own:
            d.close()


def _collect(
    root: ProcRoot, d: PidDir, cpu_percent: float | None, clock: Callable[[], float]
) -> ProcessDetail:
    pid = d.pid
    taken_at = clock()
    notes: list[str] = []
    st = parse_stat(d.read_text("stat"))
    status = parse_status(d.read_text("status"))
    try:
        cmdline = parse_cmdline(d.read_bytes("cmdline"))
    except AccessDenied:
        cmdline = ()
    kthread = st.is_kernel_thread

    def link(name: str, label: str) -> str | Unavailable:
        try:
            return d.readlink(name)
        except AccessDenied:
            notes.append(f"{label}: {denied_reason()}")
            return NO_PERMISSION
        except FileNotFoundError:
            if not (kthread or st.state == "Z"):
                notes.append(f"{label}: not available")
            return NOT_AVAILABLE

    exe = link("exe", "executable")
    cwd = link("cwd", "working directory")

    num_fds: int | Unavailable
    try:
        num_fds = d.count_fds()
    except AccessDenied:
        num_fds = NO_PERMISSION
        notes.append(f"open files: {denied_reason()}")
    except FileNotFoundError:
        num_fds = NOT_AVAILABLE

    fd_limit: tuple[int | None, int | None] | Unavailable
    try:
        lim = parse_limits(d.read_text("limits")).get("Max open files")
        fd_limit = (lim.soft, lim.hard) if lim else NOT_AVAILABLE
    except AccessDenied:
        fd_limit = NO_PERMISSION

    cgroup: str | Unavailable
    hint = None
    try:
        entries = parse_cgroup(d.read_text("cgroup"))
        unified = [e.path for e in entries if e.hierarchy == 0]
        cgroup = unified[0] if unified else (entries[0].path if entries else NOT_AVAILABLE)
        hint = cgroup_hint(entries)
    except AccessDenied:
        cgroup = NO_PERMISSION
    except FileNotFoundError:
        cgroup = NOT_AVAILABLE

    btime = parse_boot_time(root.read_text("stat"))
    uid = status.uid
    if len(status.nspid) > 1:
        hint = (hint + ", " if hint else "") + f"pid {status.nspid[-1]} inside its pid namespace"
    return ProcessDetail(
        pid=pid,
        ppid=st.ppid,
        name=st.comm,
        cmdline=cmdline,
        exe=exe,
        cwd=cwd,
        uid=uid,
        user=_users(uid),
        state=st.state,
        state_name=STATE_NAMES.get(st.state, "unknown"),
        start_time=btime + st.starttime / CLOCK_TICKS,
        starttime_ticks=st.starttime,
        cpu_percent=cpu_percent,
        rss_bytes=st.rss_pages * PAGE_SIZE,
        num_threads=st.num_threads,
        num_fds=num_fds,
        fd_limit=fd_limit,
        parents=_ancestors(root, st.ppid),
        cgroup=cgroup,
        container_hint=hint,
        nspid=status.nspid,
        tracer_pid=status.tracer_pid,
        is_kernel_thread=kthread,
        taken_at=taken_at,
        notes=tuple(notes),
    )


class CpuWindow:
    """A process's CPU use over a window that other reads can fill: opened (its stat read), then
    closed no sooner than `window` seconds after. `report PID` reads its panels inside the
    window instead of sleeping through it, then waits out what is left before the threads."""

    def __init__(self, root: ProcRoot, pid: int, window: float = 0.5) -> None:
        self.root, self.pid, self.window = root, pid, window
        self.t0 = time.monotonic()
        try:
            self.first: PidStat | None = parse_stat(root.read_text(pid, "stat", pid=pid))
        except (ProcessGone, AccessDenied, OSError, ValueError):
            self.first = None

    def wait(self) -> None:
        """Sleep out what is left of the window (nothing once it has passed)."""
        left = self.t0 + self.window - time.monotonic()
        if left > 0:
            time.sleep(left)

    def percent(self) -> float | None:
        """CPU use over the window (100 = one full core), after waiting out what is left of it;
        None when the process could not be read or is another one now."""
        self.wait()
        a = self.first
        try:
            b = parse_stat(self.root.read_text(self.pid, "stat", pid=self.pid))
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return None
        dt = time.monotonic() - self.t0
        if a is None or a.starttime != b.starttime or dt <= 0:
            return None
        return cpu_percent(b.utime + b.stime - a.utime - a.stime, dt, b.num_threads)


def sample_cpu_percent(root: ProcRoot, pid: int, window: float = 0.5) -> float | None:
    """CPU use over a short window, for one-shot reports (100 = one full core)."""
    return CpuWindow(root, pid, window).percent()
