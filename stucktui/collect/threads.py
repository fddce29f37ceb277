"""Per-thread rows of one process: state, CPU%, the syscall with its fds resolved, wchan, and
Python frames merged in from py-spy; threads doing the same thing are grouped.

Everything is read through the PidDir pinned at selection, so a reused pid raises ProcessGone
instead of mixing two processes. A thread that exits mid-scan is simply left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from stucktui.model.python import PyDump, PySpyError
from stucktui.model.syscall import CallKind, DecodedCall, SyscallLine
from stucktui.model.threads import FdArg, FdResolver, ThreadRow, ThreadsSnapshot, group_threads, merge_python
from stucktui.procfs.elf import auxv_abi, kernel_abi
from stucktui.procfs.errors import AccessDenied, ProcError, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.stat import cpu_percent, parse_schedstat, parse_stat
from stucktui.procfs.status import parse_status
from stucktui.procfs.syscall import decode_call, parse_syscall
from stucktui.procfs.wchan import parse_stack, parse_wchan
from stucktui.tools.pyspy import start_dump


def _epoll_watch_count(d: PidDir, fd: int) -> int | None:
    try:
        text = d.read_text(f"fdinfo/{fd}")
    except (AccessDenied, OSError):
        return None
    return sum(1 for line in text.splitlines() if line.startswith("tfd:"))


def describe_fd(d: PidDir, fd: int) -> str:
    """What readlink of fd/N says, with an epoll fd's watch count from its fdinfo."""
    try:
        target = d.readlink(f"fd/{fd}")
    except AccessDenied:
        return "no permission"
    except FileNotFoundError:
        return "closed"  # closed between the syscall read and now, or never open
    if target == "anon_inode:[eventpoll]":
        n = _epoll_watch_count(d, fd)
        if n is not None:
            return f"epoll watching {n} fd" + ("" if n == 1 else "s")
    return target


# Thread files of /proc are a line each; one pread of this size takes them whole (a stat line
# is under 400 bytes) and saves the EOF read of a read-until-empty loop, 1,000 times a sample.
_SMALL_READ = 4096


def task_stat(text: str) -> tuple[str, str, int, int, int]:
    """(comm, state, utime, stime, starttime) of a task's stat line: the subset of
    procfs.stat.parse_stat the 1,000-thread sample needs, at a fifth of its cost (measured:
    0.8 us against 4.2 us). Same rule: split after the *last* ')' (docs/kernel-notes.md §1.4)."""
    r = text.rindex(")")
    f = text[r + 2 :].split(None, 20)  # proc(5) field n is f[n - 3]
    return text[text.index("(") + 1 : r], f[0], int(f[11]), int(f[12]), int(f[19])


class _Ticks(NamedTuple):
    """What one sample keeps of a thread for the next: CPU and run-queue time."""

    starttime: int
    total: int  # utime + stime
    stime: int
    sched: tuple[int, int] | None  # schedstat, read only while the thread runs (R)


def _small(d: PidDir, name: str) -> str:
    return d.read_head(name, _SMALL_READ).decode("utf-8", "backslashreplace")


def _sample_ticks(d: PidDir, base: str, state: str, utime: int, stime: int, starttime: int) -> _Ticks:
    sched = None
    if state == "R":  # one more read only for running threads: the rest wait, not spin
        try:
            sched = parse_schedstat(_small(d, base + "schedstat"))
        except (OSError, ProcessGone, AccessDenied, ValueError, IndexError):
            sched = None  # no CONFIG_SCHED_INFO, or the thread exited
    return _Ticks(starttime, utime + stime, stime, sched)


@dataclass(slots=True)
class _Memo:
    """What one sample has already worked out: decoded calls, resolved fds, cleaned wchans."""

    calls: dict[str, tuple[SyscallLine, DecodedCall | None, str, tuple[FdArg, ...]]] = field(
        default_factory=dict
    )
    fds: dict[int, str] = field(default_factory=dict)
    wchans: dict[str, str | None] = field(default_factory=dict)
    resolver: FdResolver | None = None  # this sample's: never kept for the next one


def _call_text(
    state: str, line: SyscallLine | None, call: DecodedCall | None, targets: dict[int, str]
) -> str:
    if state == "Z":
        return "zombie"
    if line is None:
        return "syscall: no permission"
    if call is not None:
        return call.text(targets)
    if line.kind is CallKind.RUNNING:
        return "running"
    if line.kind is CallKind.NOT_IN_SYSCALL:
        return "not in a syscall"
    return "exiting"


def read_kernel_stack(d: PidDir, tid: int) -> tuple[str, ...] | None:
    """The kernel stack of one thread; root only, even the owner gets EACCES (docs/kernel-notes.md §1.1)."""
    try:
        return parse_stack(d.read_text(f"task/{tid}/stack"))
    except (AccessDenied, FileNotFoundError):
        return None


class ThreadCollector:
    """Collects the threads of the selected process, remembering each thread's CPU ticks
    between calls so CPU% can be a difference of two samples."""

    def __init__(
        self,
        root: ProcRoot,
        *,
        resolver: FdResolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.resolver = resolver
        self.clock = clock
        self.wall = wall
        self._prev_key: tuple[int, int] | None = None  # (pid, starttime): the process sampled
        self._prev_time = 0.0
        self._prev_ticks: dict[int, _Ticks] = {}
        self._abi: dict[tuple[int, int], str] = {}

    def target_abi(self, d: PidDir, starttime: int, notes: list[str]) -> str:
        """The target's ABI from its auxiliary vector (never its binary, which may sit on a
        hung mount); the kernel's when that is unreadable."""
        key = (d.pid, starttime)
        if key not in self._abi:
            try:
                self._abi[key] = auxv_abi(d.read_bytes("auxv"))
            except AccessDenied:
                notes.append("auxv unreadable (no permission): syscalls named for the kernel's ABI")
                return kernel_abi()
            except (OSError, ValueError):
                return kernel_abi()  # kernel thread, zombie, deleted or odd binary
        return self._abi[key]

    def prime(self, d: PidDir) -> None:
        """Take only the CPU figures of every thread, so that the next collect() has a
        window: for one-shot reports, which otherwise see no per-thread CPU at all. Raises
        ProcessGone; anything it cannot read only leaves the window out."""
        try:
            pst = parse_stat(d.read_text("stat"))
            names = d.listdir("task")
        except (AccessDenied, OSError, ValueError):
            return
        ticks: dict[int, _Ticks] = {}
        for name in names:
            base = f"task/{name}/"
            try:
                _, state, utime, stime, starttime = task_stat(_small(d, base + "stat"))
                ticks[int(name)] = _sample_ticks(d, base, state, utime, stime, starttime)
            except (ProcError, OSError, ValueError, IndexError):
                continue  # exited meanwhile, or unreadable: no window for that thread
        self._prev_key, self._prev_time, self._prev_ticks = (d.pid, pst.starttime), self.clock(), ticks

    def collect(
        self, d: PidDir, *, kernel_stacks: bool = False, resolver: FdResolver | None = None
    ) -> ThreadsSnapshot:
        """`resolver` (this process's Files view, this refresh) says more about fd arguments than
        readlink; it is used for this call only. Raises ProcessGone when the process is gone;
        everything else degrades per field."""
        taken_at = self.wall()
        notes: list[str] = []
        pst = parse_stat(d.read_text("stat"))
        kthread = pst.is_kernel_thread
        abi = kernel_abi() if kthread else self.target_abi(d, pst.starttime, notes)
        namespaced = False
        if not kthread:
            namespaced = len(parse_status(d.read_text("status")).nspid) > 1
        now = self.clock()
        key = (d.pid, pst.starttime)
        prev = self._prev_ticks if key == self._prev_key else {}
        dt = now - self._prev_time
        ticks: dict[int, _Ticks] = {}
        memo = _Memo(resolver=resolver or self.resolver)
        rows: list[ThreadRow] = []
        denied_syscall = False
        for name in d.listdir("task"):
            tid = int(name)
            try:
                row = self._row(d, tid, abi, kthread, namespaced, kernel_stacks, memo, ticks, prev, dt)
            except FileNotFoundError:
                continue  # the thread exited between listdir and read
            except ProcessGone:
                if not d.alive():
                    raise
                continue
            denied_syscall |= row.syscall is None and row.state != "Z" and not kthread
            rows.append(row)
        rows.sort(key=lambda r: r.tid)
        self._prev_key, self._prev_time, self._prev_ticks = key, now, ticks
        if denied_syscall:
            notes.append("syscalls: no permission (run as root or as the owner of a dumpable process)")
        if kthread:
            notes.append("kernel thread: no syscalls or user stacks")
        t = tuple(rows)
        return ThreadsSnapshot(d.pid, abi, t, group_threads(t), taken_at, None, tuple(notes))

    def _row(
        self,
        d: PidDir,
        tid: int,
        abi: str,
        kthread: bool,
        namespaced: bool,
        kernel_stacks: bool,
        memo: _Memo,
        ticks: dict[int, _Ticks],
        prev: dict[int, _Ticks],
        dt: float,
    ) -> ThreadRow:
        base = f"task/{tid}/"
        comm, state, utime, stime, starttime = task_stat(_small(d, base + "stat"))
        now = ticks[tid] = _sample_ticks(d, base, state, utime, stime, starttime)
        cpu = kernel = runnable = None
        before = prev.get(tid)
        if before is not None and before.starttime == starttime and dt > 0:
            cpu = cpu_percent(now.total - before.total, dt)
            kernel = min(cpu, cpu_percent(stime - before.stime, dt))
            if now.sched is not None and before.sched is not None:
                ns = now.sched[0] + now.sched[1] - before.sched[0] - before.sched[1]
                runnable = max(0.0, min(100.0, ns / 1e9 / dt * 100.0))
        line: SyscallLine | None = None
        call: DecodedCall | None = None
        fd_args: tuple[FdArg, ...] = ()
        if kthread:
            text = "kernel thread"
        elif state == "Z":
            text = "zombie"
        else:
            try:
                line, call, text, fd_args = self._call(d, _small(d, base + "syscall"), abi, memo)
            except AccessDenied:
                text = "syscall: no permission"
        try:
            raw = _small(d, base + "wchan")
            wchan = memo.wchans[raw] if raw in memo.wchans else memo.wchans.setdefault(raw, parse_wchan(raw))
        except AccessDenied:
            wchan = None
        nspid: tuple[int, ...] = ()
        if namespaced:
            nspid = parse_status(d.read_text(base + "status")).nspid
        return ThreadRow(
            tid=tid,
            name=comm,
            state=state,
            cpu_percent=cpu,
            syscall=line,
            call=call,
            call_text=text,
            fd_args=fd_args,
            wchan=wchan,
            nspid=nspid,
            kernel_stack=read_kernel_stack(d, tid) if kernel_stacks else None,
            utime=utime,
            stime=stime,
            sys_percent=kernel,
            runnable_percent=runnable,
        )

    def _call(
        self, d: PidDir, text: str, abi: str, memo: _Memo
    ) -> tuple[SyscallLine, DecodedCall | None, str, tuple[FdArg, ...]]:
        """Threads blocked in the same call share NR and arguments and differ only in sp/pc:
        decode and resolve each distinct call once per sample (the 1,000-thread budget)."""
        key, _, tail = text.rstrip().rpartition(" ")
        key = key.rpartition(" ")[0]
        hit = memo.calls.get(key) if key else None
        if hit is not None:
            shared, call, call_text, fd_args = hit
            sp = int(text.split()[-2], 16)
            return (
                SyscallLine(shared.kind, shared.nr, shared.args, sp, int(tail, 16)),
                call,
                call_text,
                fd_args,
            )
        line = parse_syscall(text)
        call = decode_call(line, abi)
        targets: dict[int, str] = {}
        if call is not None:
            for fd in call.fds:
                if fd not in memo.fds:
                    memo.fds[fd] = _resolve(d, fd, memo.resolver)
                targets[fd] = memo.fds[fd]
        call_text = _call_text("S", line, call, targets)
        fd_args = tuple(FdArg(fd, targets[fd]) for fd in (call.fds if call else ()))
        if key and line.kind is CallKind.IN_SYSCALL:
            memo.calls[key] = (line, call, call_text, fd_args)
        return line, call, call_text, fd_args


def _resolve(d: PidDir, fd: int, resolver: FdResolver | None) -> str:
    if resolver is not None:
        try:
            said = resolver(fd)
        except Exception:  # someone else's code: a failing resolver costs detail, not the view
            said = None
        if said:
            return said
    return describe_fd(d, fd)


def collect_with_python(
    collector: ThreadCollector,
    d: PidDir,
    *,
    kernel_stacks: bool = False,
    nonblocking: bool = True,
    native: bool = False,
    timeout: float | None = None,
    resolver: FdResolver | None = None,
    start: Callable[..., Callable[[], PyDump | PySpyError]] = start_dump,
) -> ThreadsSnapshot:
    """Threads with Python frames. In nonblocking mode py-spy is started first and /proc is
    read while it samples (no thread needed: it is another process), so the view costs little
    more than py-spy alone. A pausing dump ptrace-stops every thread (state 't', restarted
    syscalls: docs/kernel-notes.md §1.3, §9.5), so then /proc is read first, undisturbed. `start` starts a
    dump and returns its waiter. Blocks up to `timeout` (py-spy's own default when None): call it
    from a worker thread."""
    if not nonblocking:
        snap = collector.collect(d, kernel_stacks=kernel_stacks, resolver=resolver)
        return merge_python(snap, start(d.pid, nonblocking=False, native=native, timeout=timeout)())
    waiter = start(d.pid, nonblocking=True, native=native, timeout=timeout)
    snap = collector.collect(d, kernel_stacks=kernel_stacks, resolver=resolver)
    return merge_python(snap, waiter())


def collect_threads(root: ProcRoot, pid: int, *, kernel_stacks: bool = False) -> ThreadsSnapshot:
    """One-shot collection (CPU% stays None): for `stucktui report` and tests."""
    with root.pid_dir(pid) as d:
        return ThreadCollector(root).collect(d, kernel_stacks=kernel_stacks)
