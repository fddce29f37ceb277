"""The Threads panel: one row per thread (state, CPU, the syscall with its fds resolved, wait
channel, Python stack) and the groups of threads doing the same thing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from stucktui.model.process import STATE_NAMES
from stucktui.model.python import PyDump, PySpyError, PyThread
from stucktui.model.syscall import DecodedCall, SyscallLine

# Given a target fd, another module (files) may say more than readlink: 'pipe:[123], no reader'.
FdResolver = Callable[[int], str | None]


@dataclass(frozen=True, slots=True)
class FdArg:
    fd: int
    target: str  # 'pipe:[123]', '/var/log/.app.lock', 'epoll watching 3 fds', 'closed'


class ThreadRow(NamedTuple):
    """One thread of the Threads panel. Immutable; a NamedTuple because one is built per
    thread per refresh (and again when py-spy's stacks are merged): 4x cheaper than a frozen
    dataclass, which counts against the 20%-over-py-spy target at 1,000 threads."""

    tid: int
    name: str
    state: str  # stat field 3 (proc(5))
    cpu_percent: float | None  # None on the first sample; 100 = one full core
    syscall: SyscallLine | None  # None: not readable (another user's or a non-dumpable process)
    call: DecodedCall | None
    call_text: str  # 'write(4 -> pipe:[10786], 1 bytes)', 'running', 'syscall: no permission'
    fd_args: tuple[FdArg, ...]
    wchan: str | None  # None: running, or not permitted (the kernel says '0' for both)
    nspid: tuple[int, ...] = ()  # read only for targets in another pid namespace
    kernel_stack: tuple[str, ...] | None = None
    python: PyThread | None = None
    utime: int = 0  # clock ticks since the thread started, in user space
    stime: int = 0  # ... and in the kernel
    sys_percent: float | None = None  # kernel part of cpu_percent over the same window
    # share of the window the thread was runnable (on a CPU or waiting in the run queue), from
    # schedstat; read only for threads running (R) in both samples. A loop that never sleeps
    # is runnable all the time even when it gets 10% of a CPU shared with busier processes.
    runnable_percent: float | None = None

    @property
    def kernel_share(self) -> float | None:
        """The kernel's share of the thread's CPU time: over the window when it was sampled and
        busy enough for the split to mean something (time is split by whole clock ticks),
        otherwise over its whole life. None when it has used no measurable CPU."""
        if self.sys_percent is not None and self.cpu_percent is not None and self.cpu_percent >= 20.0:
            return min(1.0, self.sys_percent / self.cpu_percent)
        return self.lifetime_kernel_share

    @property
    def lifetime_kernel_share(self) -> float | None:
        """The kernel's share over the thread's whole life: many more clock ticks than a
        half-second window, so a steady split is not lost to tick sampling. None below 20
        ticks (0.2 s of CPU), where it says nothing."""
        total = self.utime + self.stime
        return self.stime / total if total >= 20 else None

    @property
    def python_marker(self) -> str | None:
        """'GIL', 'active' or 'idle'. py-spy's own idle flag is wrong across pid namespaces
        (docs/kernel-notes.md §9.5), so /proc's state decides when it is available."""
        if self.python is None:
            return None
        if self.python.owns_gil:
            return "GIL"
        return "active" if self.state == "R" else "idle"


@dataclass(frozen=True, slots=True)
class ThreadGroup:
    tids: tuple[int, ...]
    state: str
    summary: str  # '3 threads: write(4 -> pipe:[10786], 1 bytes)'


@dataclass(frozen=True, slots=True)
class ThreadsSnapshot:
    pid: int
    abi: str
    rows: tuple[ThreadRow, ...]  # sorted by tid
    groups: tuple[ThreadGroup, ...]  # biggest first
    taken_at: float
    python: PyDump | PySpyError | None = None
    notes: tuple[str, ...] = ()

    def row(self, tid: int) -> ThreadRow | None:
        return next((r for r in self.rows if r.tid == tid), None)


# calls whose argument past the fds is a byte count: how much, not what they wait on
_SIZED = frozenset({"read", "write", "pread64", "pwrite64", "recvfrom", "sendto"})


def _sized(call: DecodedCall | None) -> bool:
    return (
        call is not None
        and call.name in _SIZED
        and bool(call.extra)
        and call.extra[-1].endswith(("byte", "bytes"))
    )


def _pooled_futex(r: ThreadRow) -> bool:
    """A futex wait in a known Python frame: CPython gives each waiter of a Condition (a
    queue.get, an Event.wait) a lock of its own, so eight idle workers of one pool wait on
    eight addresses in one frame: one group, not eight."""
    c = r.call
    return c is not None and c.name == "futex" and len(c.extra) == 2 and _top_frame(r) is not None


def _call_key(r: ThreadRow) -> object:
    """What the thread waits on: the call and its fd targets and other arguments, but not a
    read's or write's byte count (four writers blocked on one full pipe are one group whatever
    each writes), nor a futex's address in a known Python frame (_pooled_futex)."""
    c = r.call
    if c is not None and _pooled_futex(r):
        return ("futex", c.extra[1])
    if c is None or not _sized(c):
        return r.call_text
    return (c.name, c.fds, tuple((a.fd, a.target) for a in r.fd_args), c.extra[:-1])


def _top_frame(r: ThreadRow) -> tuple[str, str, int] | None:
    if r.python is None or not r.python.frames:
        return None
    f = r.python.frames[0]
    return (f.function, f.file, f.line)


def _group_text(members: list[ThreadRow]) -> str:
    """The call of a group: the first thread's, with the range of byte counts when they differ
    ('write(2 -> pipe:[5], 4096 to 6100 bytes)')."""
    first = members[0]
    c = first.call
    if c is not None and _pooled_futex(first) and len({m.call_text for m in members}) > 1:
        n = len({m.call.extra[0] for m in members if m.call is not None})
        return f"futex({n} addresses, {c.extra[1]})"
    if c is None or not _sized(c) or all(m.call_text == first.call_text for m in members):
        return first.call_text
    counts = sorted(
        {int(m.call.extra[-1].split()[0]) for m in members if m.call is not None and _sized(m.call)}
    )
    if len(counts) < 2:
        return first.call_text
    ranged = replace(c, extra=(*c.extra[:-1], f"{counts[0]} to {counts[-1]} bytes"))
    return ranged.text({a.fd: a.target for a in first.fd_args})


def group_threads(rows: tuple[ThreadRow, ...]) -> tuple[ThreadGroup, ...]:
    """Threads that wait on the same thing form one group: the same state, call with the same
    fd targets (not the same byte counts), and the same innermost Python frame."""
    buckets: dict[tuple[object, ...], list[ThreadRow]] = {}
    for r in rows:
        key = (r.state, _call_key(r), r.wchan if r.syscall is None else None, _top_frame(r))
        buckets.setdefault(key, []).append(r)
    groups = []
    for members in buckets.values():
        first = members[0]
        text = _group_text(members)
        if first.syscall is None and first.wchan:
            text += f", sleeping in {first.wchan}"
        if first.python and first.python.frames:
            f = first.python.frames[0]
            text += f" in {f.function} ({f.short_file}:{f.line})"
        n = len(members)
        label = f"{n} thread{'s' if n != 1 else ''}"
        if first.state not in "RS":
            label += f" ({STATE_NAMES.get(first.state, first.state)})"
        summary = f"{label}: {text}"
        groups.append(ThreadGroup(tuple(r.tid for r in members), first.state, summary))
    groups.sort(key=lambda g: (-len(g.tids), g.tids[0]))
    return tuple(groups)


def _with_python(r: ThreadRow, py: PyThread | None) -> ThreadRow:
    # the constructor, not dataclasses.replace: 1.2 us against 2.7 us a row (measured)
    return ThreadRow(
        r.tid,
        r.name,
        r.state,
        r.cpu_percent,
        r.syscall,
        r.call,
        r.call_text,
        r.fd_args,
        r.wchan,
        r.nspid,
        r.kernel_stack,
        py,
        r.utime,
        r.stime,
        r.sys_percent,
        r.runnable_percent,
    )


def merge_python(snap: ThreadsSnapshot, dump: PyDump | PySpyError | None) -> ThreadsSnapshot:
    """Hang py-spy's threads on the rows by OS thread id. For a target in another pid namespace
    py-spy reports the innermost id (docs/kernel-notes.md §9.5): match on the last NSpid entry then."""
    if not isinstance(dump, PyDump):
        return replace(snap, python=dump)
    by_id = {t.os_thread_id: t for t in dump.threads}
    rows = tuple(_with_python(r, by_id.get(r.nspid[-1] if r.nspid else r.tid)) for r in snap.rows)
    return replace(snap, rows=rows, groups=group_threads(rows), python=dump)
