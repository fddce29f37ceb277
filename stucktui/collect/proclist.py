"""Builds the process list snapshot: one pass over /proc/*/stat, and /proc/PID/{cmdline,fd}
and the owner only of a process that is new, whose stat changed, or whose turn it is.

This is the hot path (thousands of processes every refresh), so it reads the files directly
rather than through psutil (measured 2.2x slower than ps; see bench/README.md). An unchanged
process costs one open and one read: its previous row is kept.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from stucktui.collect.close_wait import CloseWaitCounter
from stucktui.collect.fdindex import FdIndex
from stucktui.collect.pausing import pause_point
from stucktui.collect.users import UserNames
from stucktui.model.process import ProcessListSnapshot, ProcessRow
from stucktui.procfs.cmdline import parse_cmdline
from stucktui.procfs.errors import DENIED_ERRNOS, AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.stat import CLOCK_TICKS, cpu_percent, parse_stat
from stucktui.procfs.system import parse_boot_time, parse_loadavg_tasks

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# A first look has no earlier sample to take CPU% from: it measures CPU over a window this
# long at once (/proc/PID/stat read twice). A clock tick is 2.5% of a core over 0.4 s, so a
# loop at 20% of a core is 8 ticks: far from one tick of a blip.
FIRST_CPU_WINDOW = 0.4

# A process whose stat is unchanged is read whole (owner, command line, fds) one refresh in
# this many, by pid: at --interval 1.5 a change it made in a run too brief to show in its stat
# (its CPU ticks, faults, last CPU) is on the list within 24 s.
RECHECK_EVERY = 16

Key = tuple[int, int]  # (pid, starttime ticks): a reused pid is another process


def _ident(pid: int, starttime: int) -> int:
    """A Key as one int, as the collector keeps it across refreshes (an int of 32 bytes, not a
    tuple of two: 5,000 processes)."""
    return starttime << 32 | pid


def read_ticks(root: ProcRoot, pids: Iterable[int]) -> dict[Key, tuple[int, int]]:
    """(pid, starttime) -> (utime + stime ticks, threads) of each process, from its stat alone
    (one read; nothing else parsed). A process gone, unreadable or torn is left out."""
    out: dict[Key, tuple[int, int]] = {}
    for pid in pids:
        try:
            b = root.read_small(pid, "stat", pid=pid)
            f = b[b.rindex(b")") + 2 :].split()  # comm may hold ') ' (docs/kernel-notes.md §1.4)
            out[(pid, int(f[19]))] = (int(f[11]) + int(f[12]), int(f[17]))
        except (ProcessGone, AccessDenied, OSError, ValueError, IndexError):
            continue
    return out


def window_cpu(
    before: Mapping[Key, tuple[int, int]], after: Mapping[Key, tuple[int, int]], seconds: float
) -> dict[Key, float]:
    """CPU% (100 = one core) over a window of `seconds` of each process read at both ends; one
    born, gone or whose pid was reused meanwhile has none."""
    if seconds <= 0:
        return {}
    return {k: cpu_percent(t - before[k][0], seconds, n) for k, (t, n) in after.items() if k in before}


def measure_cpu(
    root: ProcRoot,
    pids: Iterable[int],
    seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[dict[Key, float], float]:
    """(CPU% by process, the window it was measured over): the stat of every pid read, then
    again once `seconds` have passed since the first read began (no wait when reading took
    that long). The window is the time between the middles of the two passes: a process read
    late in the first pass is read late in the second too."""
    pids = list(pids)
    a0 = monotonic()
    before = read_ticks(root, pids)
    a1 = monotonic()
    if a0 + seconds > a1:
        sleep(a0 + seconds - a1)
    b0 = monotonic()
    after = read_ticks(root, pids)
    window = (b0 + monotonic() - a0 - a1) / 2
    return window_cpu(before, after, window), window


def with_cpu(
    root: ProcRoot,
    snapshot: ProcessListSnapshot,
    seconds: float = FIRST_CPU_WINDOW,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ProcessListSnapshot:
    """A first snapshot (no row has CPU%) with the CPU% of each row measured now over a window
    of `seconds` (measure_cpu), and that window in cpu_window. `sleep` waits out the window
    (a caller may do other work in it)."""
    cpu, window = measure_cpu(root, (r.pid for r in snapshot.rows), seconds, sleep=sleep)
    rows = tuple(
        r if r.cpu_percent is not None else replace(r, cpu_percent=cpu.get((r.pid, r.starttime_ticks)))
        for r in snapshot.rows
    )
    return replace(snapshot, rows=rows, cpu_window=window)


# what collect() keeps of each pid for the next refresh: its signature (the hash of its stat
# bytes, its owner, the hash of its command line, its fd count), the row built from it and its
# CPU ticks. The raw bytes are not kept (~450 bytes a process, 2 MB on a box of 5,000): a
# change that leaves a 64-bit SipHash (hash(), keyed at random per run) unchanged is a chance
# of 2**-64.
_Sig = tuple[int, int, int | None, int | None]
_Raw = tuple[_Sig, ProcessRow, int]


def _shared(
    argv: tuple[str, ...],
    now: dict[tuple[str, ...], tuple[str, ...]],
    before: Mapping[tuple[str, ...], tuple[str, ...]],
) -> tuple[str, ...]:
    """The one copy of an equal command line among this refresh's rows so far (`now`) or the
    last refresh's (`before`), else `argv` itself, kept in `now` for the rows after it."""
    return now.setdefault(argv, before.get(argv, argv))


def _readable(root: ProcRoot, pid: int, old: _Raw | None, stat: int) -> bool:
    """Whether the kernel lets us read the process's fds, exe and syscalls (its ptrace read
    check: another user's process without root, a non-dumpable one, or no CAP_SYS_PTRACE
    say no): one readlink of exe, skipped while its stat (`stat`: the hash of its bytes) is
    unchanged since the last refresh. A kernel thread or a zombie has no exe: not refused."""
    if old is not None and old[0][0] == stat:
        return old[1].readable
    try:
        root.readlink(pid, "exe", pid=pid)
    except AccessDenied:
        return False
    except OSError:
        pass  # gone (the row is dropped on the next refresh), or no exe at all
    return True


class ProcessListCollector:
    """Keeps the previous sample's CPU times so CPU% is a rate over the refresh interval."""

    def __init__(
        self,
        root: ProcRoot | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        close_wait: bool = True,
        fd_index: FdIndex | None = None,
    ) -> None:
        """close_wait: fill the CLOSE_WAIT column (one readlink of ns/net per process, and an
        fd scan only in namespaces that hold a CLOSE_WAIT socket). `fd_index`: the box facts'
        fd owner index, whose pass that scan reuses (CloseWaitCounter)."""
        self.root = root or ProcRoot()
        self._close_wait = close_wait
        # the CLOSE_WAIT column's owners and each pid's network namespace, kept across refreshes
        self._cw = CloseWaitCounter(self.root, index=fd_index)
        self._clock = clock
        self._monotonic = monotonic
        self._users = UserNames()
        self._prev: dict[int, int] = {}  # _ident(pid, starttime) -> utime + stime
        self._prev_at: float | None = None
        self._boot_time: int | None = None
        self._my_uid = os.geteuid()
        # pid -> ((hashed stat, uid, hashed cmdline, fd count), the row built from them, ticks)
        self._raw: dict[int, _Raw] = {}
        self._refreshes = 0  # collect() calls: whose turn it is to be read whole (RECHECK_EVERY)
        # each distinct command line of the last refresh's rows, shared by the rows that have it:
        # a pool of 5,000 forked workers holds one copy, not 5,000 (~400 bytes each)
        self._argvs: dict[tuple[str, ...], tuple[str, ...]] = {}

    def boot_time(self) -> int:
        if self._boot_time is None:
            self._boot_time = parse_boot_time(self.root.read_text("stat"))
        return self._boot_time

    @property
    def fresh(self) -> bool:
        """Nothing read yet: a collect() now would have no CPU% (prime first)."""
        return self._prev_at is None

    def prime(self, window: float = FIRST_CPU_WINDOW, sleep: Callable[[float], None] = time.sleep) -> None:
        """Before a first collect(): read every process's CPU ticks, then wait until `window`
        seconds have passed since that began, so the first collect() has CPU% (over the time
        since the middle of this pass). `sleep` is called even when the pass took longer than
        the window (with 0), so work it does in the window is never skipped."""
        a0 = self._monotonic()
        ticks = read_ticks(self.root, self.root.pids())
        a1 = self._monotonic()
        self._prev = {_ident(*k): t for k, (t, _) in ticks.items()}
        self._prev_at = (a0 + a1) / 2
        sleep(max(0.0, a0 + window - a1))

    def collect(self) -> ProcessListSnapshot:
        root = self.root
        taken_at = self._clock()
        t0 = self._monotonic()
        btime = self.boot_time()
        elapsed = None if self._prev_at is None else t0 - self._prev_at
        prev = self._prev
        cur: dict[int, int] = {}
        old_raw, raw = self._raw, {}
        old_argvs: dict[tuple[str, ...], tuple[str, ...]] = self._argvs
        argvs: dict[tuple[str, ...], tuple[str, ...]] = {}
        rows: list[ProcessRow] = []
        hidden = 0
        reused: set[int] = set()  # pids whose row is the previous one, unchanged
        users = self._users
        # a process whose stat did not change since the last refresh did not run (its CPU
        # ticks, memory and state are the same): its row is kept after that one read, and its
        # owner, command line and fds are read again only on its turn, every RECHECK_EVERY
        # refreshes (a brief run can leave stat unchanged). The stat holds the start time, so a
        # reused pid never matches the old process's bytes.
        turn = self._refreshes % RECHECK_EVERY
        self._refreshes += 1
        read_stat = root.stat_reader()
        for i, pid in enumerate(root.pids()):
            pause_point(i)
            try:
                sb = read_stat(pid)
            except OSError as exc:
                if exc.errno in DENIED_ERRNOS:
                    hidden += 1
                continue  # exited mid-scan: no stale row
            sh = hash(sb)
            old = old_raw.get(pid)
            if elapsed and old is not None and old[0][0] == sh and pid % RECHECK_EVERY != turn:
                sig = old[0]  # kept below as it is
            else:
                try:
                    uid = root.stat(pid, pid=pid).st_uid
                    try:
                        cb: bytes | None = root.read_bytes(pid, "cmdline", pid=pid)
                    except AccessDenied:
                        cb = None
                    try:
                        nfds: int | None = root.count_fds(pid)
                    except AccessDenied:
                        nfds = None
                    except FileNotFoundError:
                        nfds = -1  # no fd directory: a zombie, or a kernel race; decided below
                    readable = nfds is not None and _readable(root, pid, old, sh)
                except ProcessGone:
                    continue  # exited mid-scan: no stale row
                except AccessDenied:
                    hidden += 1
                    continue
                except OSError:
                    continue
                sig = (sh, uid, None if cb is None else hash(cb), nfds)
            # Unchanged stat bytes mean unchanged CPU ticks, memory and state: the previous
            # row is still exact (with CPU 0.0), so most of an idle box costs only its reads.
            if old is not None and old[0] == sig and elapsed:
                row, ticks = old[1], old[2]
                if row.cpu_percent != 0.0:
                    row = replace(row, cpu_percent=0.0)
                cur[_ident(pid, row.starttime_ticks)] = ticks
                argvs.setdefault(row.cmdline, row.cmdline)
                rows.append(row)
                raw[pid] = (sig, row, ticks)
                reused.add(pid)
                continue
            _, uid, _, nfds = sig
            try:
                st = parse_stat(sb.decode("utf-8", "backslashreplace"))
            except (ValueError, IndexError):
                continue  # a torn or foreign file; never crash the list
            if nfds == -1:
                nfds = 0 if st.state == "Z" else None
            ticks = st.utime + st.stime
            key = _ident(pid, st.starttime)
            cur[key] = ticks
            cpu = None
            if elapsed and key in prev:
                cpu = cpu_percent(ticks - prev[key], elapsed, st.num_threads)
            row = ProcessRow(
                readable=readable,
                pid=pid,
                ppid=st.ppid,
                uid=uid,
                user=users(uid),
                state=st.state,
                name=st.comm,
                cmdline=() if cb is None else _shared(parse_cmdline(cb), argvs, old_argvs),
                cpu_percent=cpu,
                rss_bytes=st.rss_pages * PAGE_SIZE,
                num_threads=st.num_threads,
                num_fds=nfds,
                start_time=btime + st.starttime / CLOCK_TICKS,
                starttime_ticks=st.starttime,
                is_kernel_thread=st.is_kernel_thread,
            )
            rows.append(row)
            if cpu is not None:  # reuse only rows whose CPU% is already a rate
                raw[pid] = (sig, row, ticks)
        if self._close_wait:
            # a pid's namespace is kept while its row is reused unchanged: a process that moves
            # to another namespace (unshare, setns, then exec) changes its row too
            self._cw.netns = {pid: ns for pid, ns in self._cw.netns.items() if pid in reused}
            self._add_close_wait(rows, raw)
        self._prev = cur
        self._prev_at = t0
        self._raw = raw
        self._argvs = argvs
        return ProcessListSnapshot(
            taken_at=taken_at,
            duration=self._monotonic() - t0,
            rows=tuple(rows),
            hidden=hidden,
            my_uid=self._my_uid,
            box_tasks=self._box_tasks(),
            cpu_window=elapsed or None,
        )

    def _box_tasks(self) -> int | None:
        try:
            return parse_loadavg_tasks(self.root.read_text("loadavg"))
        except (OSError, ValueError):
            return None  # a fixture tree without one

    def _add_close_wait(self, rows: list[ProcessRow], raw: dict[int, _Raw]) -> None:
        """Sets each row's CLOSE_WAIT count; a row is copied only when its count changed, so
        reused rows stay reused."""
        try:
            # the fd counts tell which processes may hold a socket opened since they were read
            counts = self._cw.counts(
                {row.pid: row.starttime_ticks for row in rows}, {row.pid: row.num_fds for row in rows}
            )
        except OSError:
            return  # no socket table at all this refresh: the column stays unknown
        for i, row in enumerate(rows):
            n = counts.get(row.pid)
            if n != row.close_wait:
                rows[i] = row = replace(row, close_wait=n)
                if row.pid in raw:
                    raw[row.pid] = (raw[row.pid][0], row, raw[row.pid][2])
