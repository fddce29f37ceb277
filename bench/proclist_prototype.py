"""Prototype, for measurement only: ProcessListCollector.collect reusing unchanged rows.

Not used by stucktui. bench_proclist.py --prototype measures it next to the real collector, to
size the change proposed in bench/README.md: when a process's raw stat bytes, owner, cmdline
bytes and fd count are identical to the previous sample's, its previous ProcessRow is still
exact (identical stat means identical CPU ticks, so CPU% is 0.0 again), so it is reused
without parsing or building a row. Idle processes, most of a big box, cost only their reads.
"""

from __future__ import annotations

import os

from stucktui.collect.proclist import CLOCK_TICKS, PAGE_SIZE, ProcessListCollector
from stucktui.procfs import AccessDenied, ProcessGone
from stucktui.procfs.cmdline import parse_cmdline
from stucktui.procfs.stat import parse_stat
from stucktui.snapshot import ProcessListSnapshot, ProcessRow

_O = os.O_RDONLY | os.O_CLOEXEC
_RawKey = tuple[bytes, int, bytes | None, int | None]


class ReusingCollector(ProcessListCollector):
    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self._raw: dict[int, tuple[_RawKey, ProcessRow, tuple[int, int], int]] = {}

    def collect(self) -> ProcessListSnapshot:
        root = self.root
        taken_at = self._clock()
        t0 = self._monotonic()
        btime = self.boot_time()
        elapsed = None if self._prev_at is None else t0 - self._prev_at
        prev, cur, old_raw, raw = self._prev, {}, self._raw, {}
        rows: list[ProcessRow] = []
        hidden = 0
        for pid in root.pids():
            base = f"{root.path}/{pid}"
            try:
                try:
                    fd = os.open(base + "/stat", _O)
                    try:
                        sb = os.read(fd, 4096)  # one read returns the whole stat line
                    finally:
                        os.close(fd)
                    uid = os.stat(base).st_uid
                except OSError as exc:
                    raise root._translate(exc, pid, "stat") from exc
                try:
                    cb: bytes | None = root.read_bytes(pid, "cmdline", pid=pid)
                except AccessDenied:
                    cb = None
                try:
                    nfds: int | None = root.count_fds(pid)
                except AccessDenied:
                    nfds = None
                except FileNotFoundError:
                    nfds = -1
            except AccessDenied:
                hidden += 1
                continue
            except (ProcessGone, OSError):
                continue  # exited mid-scan, or a torn read: no row, as in the real collector
            sig = (sb, uid, cb, nfds)
            old = old_raw.get(pid)
            if old is not None and old[0] == sig and elapsed:
                cur[old[2]] = old[3]
                rows.append(old[1])
                raw[pid] = old
                continue
            try:
                st = parse_stat(sb.decode("utf-8", "backslashreplace"))
            except (ValueError, IndexError):
                continue
            if nfds == -1:
                nfds = 0 if st.state == "Z" else None
            ticks = st.utime + st.stime
            key = (pid, st.starttime)
            cur[key] = ticks
            cpu = None
            if elapsed and key in prev:
                cpu = max(0.0, (ticks - prev[key]) / CLOCK_TICKS / elapsed * 100.0)
            row = ProcessRow(
                pid=pid,
                ppid=st.ppid,
                uid=uid,
                user=self._users(uid),
                state=st.state,
                name=st.comm,
                cmdline=() if cb is None else parse_cmdline(cb),
                cpu_percent=cpu,
                rss_bytes=st.rss_pages * PAGE_SIZE,
                num_threads=st.num_threads,
                num_fds=nfds,
                start_time=btime + st.starttime / CLOCK_TICKS,
                starttime_ticks=st.starttime,
                is_kernel_thread=st.is_kernel_thread,
            )
            rows.append(row)
            if cpu is not None:  # a row may be reused only once its CPU% is a rate
                raw[pid] = (sig, row, key, ticks)
        self._prev, self._prev_at, self._raw = cur, t0, raw
        return ProcessListSnapshot(
            taken_at=taken_at,
            duration=self._monotonic() - t0,
            rows=tuple(rows),
            hidden=hidden,
            my_uid=self._my_uid,
        )
