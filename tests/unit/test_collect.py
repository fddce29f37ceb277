"""Collectors against the fixture /proc tree and synthetic trees: rows, detail, errors."""

import errno
import os

import pytest

from stucktui.collect.detail import collect_detail
from stucktui.collect.proclist import RECHECK_EVERY, ProcessListCollector
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.model.process import NO_PERMISSION, DetailGone, ProcessDetail
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot
from tests.fixture_proc import PROC, fixture_root, frozen_clock, frozen_monotonic, pid_where


def test_list_rows_from_fixture_tree():
    snap = ProcessListCollector(fixture_root(), clock=frozen_clock()).collect()
    by = snap.by_pid()
    assert set(by) == {int(d.name) for d in PROC.iterdir() if d.is_dir()}
    k = by[2]
    assert k.is_kernel_thread and k.command == "[kthreadd]" and k.num_fds == 0
    z = by[pid_where(lambda s: s.state == "Z")]
    assert z.state == "Z" and z.cmdline == () and z.num_fds == 0
    evil = by[pid_where(lambda s: "evil" in s.comm)]
    assert "[bold]red[/] [link=http://x]click[/link]" in evil.cmdline
    assert evil.num_fds == len(os.listdir(PROC / str(evil.pid) / "fd"))
    assert all(r.cpu_percent is None for r in snap.rows)  # first sample: no rate yet


def test_cpu_percent_is_a_rate_between_samples(tmp_path):
    (tmp_path / "stat").write_text("cpu 1 1 1 1\nbtime 1000\n")
    p = tmp_path / "42"
    (p / "fd").mkdir(parents=True)
    stat = "42 (busy) R 1 42 42 0 -1 0 0 0 0 0 {u} {s} 0 0 20 0 1 0 500 0 10 0\n"
    (p / "stat").write_text(stat.format(u=100, s=0))
    (p / "cmdline").write_bytes(b"busy\0")
    t = [0.0]
    c = ProcessListCollector(ProcRoot(str(tmp_path)), clock=lambda: 2000.0, monotonic=lambda: t[0])
    c.collect()
    t[0] = 2.0
    (p / "stat").write_text(stat.format(u=250, s=50))  # 200 ticks in 2 s = 1 core
    row = c.collect().rows[0]
    ticks = os.sysconf("SC_CLK_TCK")
    assert row.cpu_percent == pytest.approx(200 / ticks / 2.0 * 100)


def test_list_skips_vanished_and_torn_entries(tmp_path):
    (tmp_path / "stat").write_text("btime 1000\n")
    (tmp_path / "7").mkdir()  # a pid whose files vanished between listdir and read
    (tmp_path / "8").mkdir()
    (tmp_path / "8" / "stat").write_text("garbage")
    snap = ProcessListCollector(ProcRoot(str(tmp_path))).collect()
    assert snap.rows == ()


def test_detail_from_fixture_tree():
    evil = pid_where(lambda s: "evil" in s.comm)
    d = collect_detail(fixture_root(), evil, clock=frozen_clock())
    assert isinstance(d, ProcessDetail)
    names = [a.name for a in d.parents]
    assert d.parents[0].pid == d.ppid and d.parents[-1].pid == 1 and names[-1] == "process_api"
    assert isinstance(d.fd_limit, tuple) and d.fd_limit[0] > 0
    assert d.num_fds == len(os.listdir(PROC / str(evil) / "fd"))
    assert d.exe == os.readlink(PROC / str(evil) / "exe")


def test_detail_of_kernel_thread_has_no_notes():
    d = collect_detail(fixture_root(), 2, clock=frozen_clock())
    assert d.is_kernel_thread and d.parents == () and d.notes == ()


def test_detail_missing_pid_is_gone():
    with pytest.raises(ProcessGone):
        collect_detail(fixture_root(), 999999)


def test_sampler_reports_gone_and_reused_pid():
    s = Sampler(fixture_root(), clock=frozen_clock(), monotonic=frozen_monotonic())
    assert isinstance(s.sample(SampleRequest(want_list=False, selected=(999999, None))).detail, DetailGone)
    # the right pid but another start time: the pid was reused, so it is not our process
    assert isinstance(s.sample(SampleRequest(want_list=False, selected=(1, 12345678))).detail, DetailGone)
    snap = s.sample(SampleRequest(want_list=True, selected=(1, None)))
    assert snap.processes is not None and isinstance(snap.detail, ProcessDetail)


def test_errors_translate_in_one_place(tmp_path, monkeypatch):
    root = ProcRoot(str(tmp_path))
    (tmp_path / "5").mkdir()
    real_open = os.open

    def denied(path, *a, **kw):
        if str(path).endswith("/5/secret"):
            raise PermissionError(errno.EACCES, "denied")
        if str(path).endswith("/5/gone"):
            raise ProcessLookupError(errno.ESRCH, "gone")
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(AccessDenied):
        root.read_text(5, "secret", pid=5)
    with pytest.raises(ProcessGone):
        root.read_text(5, "gone", pid=5)
    with pytest.raises(FileNotFoundError):  # the process exists, the file does not
        root.read_text(5, "nothing", pid=5)
    with pytest.raises(ProcessGone):  # the whole pid directory is gone
        root.read_text(6, "stat", pid=6)


def test_unavailable_marker_renders_as_reason():
    assert str(NO_PERMISSION) == "no permission"


def test_unchanged_process_reuses_its_row_with_zero_cpu(tmp_path):
    (tmp_path / "stat").write_text("btime 1000\n")
    p = tmp_path / "42"
    (p / "fd").mkdir(parents=True)
    stat = "42 (busy) R 1 42 42 0 -1 0 0 0 0 0 {u} 0 0 0 20 0 1 0 500 0 10 0\n"
    (p / "cmdline").write_bytes(b"busy\0")
    t = [0.0]
    c = ProcessListCollector(ProcRoot(str(tmp_path)), clock=lambda: 2000.0, monotonic=lambda: t[0])
    (p / "stat").write_text(stat.format(u=100))
    c.collect()
    t[0] = 1.0
    (p / "stat").write_text(stat.format(u=150))
    busy = c.collect().rows[0]
    assert busy.cpu_percent and busy.cpu_percent > 0
    t[0] = 2.0  # nothing changed: the same row, but no CPU used in this interval
    idle = c.collect().rows[0]
    assert idle.cpu_percent == 0.0 and idle.pid == 42 and idle.cmdline == ("busy",)
    t[0] = 3.0
    (p / "stat").write_text(stat.format(u=250))
    again = c.collect().rows[0]
    assert again.cpu_percent == pytest.approx(100 / os.sysconf("SC_CLK_TCK") * 100)


class CountingRoot(ProcRoot):
    """Counts the reads beyond stat: what a refresh reads of each process."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.extra: list[int] = []

    def stat(self, *parts: object, pid: int | None = None) -> os.stat_result:
        if len(parts) == 1:  # the owner, the first of the reads of a whole process
            self.extra.append(int(str(parts[0])))
        return super().stat(*parts, pid=pid)


def _one_process(tmp_path, pid: int, start: int, argv: bytes, ticks: int = 100):
    p = tmp_path / str(pid)
    (p / "fd").mkdir(parents=True, exist_ok=True)
    stat = f"{pid} (w) S 1 {pid} {pid} 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 {start} 0 10 0\n"
    (p / "stat").write_text(stat)
    (p / "cmdline").write_bytes(argv)


def test_equal_command_lines_are_one_object_shared_by_their_rows(tmp_path):
    (tmp_path / "stat").write_text("btime 1000\n")
    argv = b"/usr/bin/python3\0-m\0worker\0--pool\0"
    for pid in (10, 11, 12):
        _one_process(tmp_path, pid, 500 + pid, argv)
    _one_process(tmp_path, 13, 513, b"/usr/sbin/nginx\0")
    t = [0.0]
    c = ProcessListCollector(ProcRoot(str(tmp_path)), clock=lambda: 2000.0, monotonic=lambda: t[0])
    first = {r.pid: r for r in c.collect().rows}
    assert first[10].cmdline == ("/usr/bin/python3", "-m", "worker", "--pool")
    assert first[10].cmdline is first[11].cmdline is first[12].cmdline  # one copy for the pool
    assert first[13].cmdline == ("/usr/sbin/nginx",)
    t[0] = 1.0
    _one_process(tmp_path, 14, 514, argv)  # a worker forked later shares the kept copy too
    _one_process(tmp_path, 12, 512, argv, ticks=300)  # one that ran: a new row, the same copy
    rows = {r.pid: r for r in c.collect().rows}
    assert rows[14].cmdline is rows[12].cmdline is first[10].cmdline
    t[0] = 2.0
    _one_process(tmp_path, 15, 515, b"/usr/bin/python3\0-m\0other\0")
    assert {r.pid: r for r in c.collect().rows}[15].cmdline == ("/usr/bin/python3", "-m", "other")


def test_unchanged_process_costs_one_read_until_its_turn(tmp_path):
    (tmp_path / "stat").write_text("btime 1000\n")
    _one_process(tmp_path, 40, 500, b"old\0")
    t = [0.0]
    root = CountingRoot(str(tmp_path))
    c = ProcessListCollector(root, clock=lambda: 2000.0, monotonic=lambda: t[0])
    c.collect()
    t[0] = 1.0
    first = c.collect().rows[0]  # now it has a CPU% rate: kept from here on
    (tmp_path / "40" / "cmdline").write_bytes(b"renamed\0")  # setproctitle in a run too brief
    seen, whole = [], 0
    for n in range(RECHECK_EVERY):
        t[0] = 2.0 + n
        root.extra.clear()
        row = c.collect().rows[0]
        seen.append(row.cmdline)
        whole += len(root.extra)
        if row.cmdline == ("old",):
            assert row is first  # the same row object: the table's caches hold
    assert whole == 1  # read whole once in RECHECK_EVERY refreshes: on its turn, by pid
    assert seen[-1] == ("renamed",) and ("old",) in seen


def test_changed_stat_reads_the_process_whole_at_once(tmp_path):
    (tmp_path / "stat").write_text("btime 1000\n")
    _one_process(tmp_path, 40, 500, b"old\0")
    t = [0.0]
    c = ProcessListCollector(ProcRoot(str(tmp_path)), clock=lambda: 2000.0, monotonic=lambda: t[0])
    for t[0] in (0.0, 1.0):
        c.collect()
    _one_process(tmp_path, 40, 500, b"exec'd\0", ticks=130)  # it ran: its stat moved
    t[0] = 2.0
    row = c.collect().rows[0]
    assert row.cmdline == ("exec'd",) and row.cpu_percent and row.cpu_percent > 0


def test_reused_pid_never_keeps_the_old_process_facts(tmp_path):
    """Same pid, same ticks, same everything in stat but the start time: another process."""
    (tmp_path / "stat").write_text("btime 1000\n")
    _one_process(tmp_path, 40, 500, b"old\0")
    t = [0.0]
    c = ProcessListCollector(ProcRoot(str(tmp_path)), clock=lambda: 2000.0, monotonic=lambda: t[0])
    for t[0] in (0.0, 1.0, 2.0):
        old = c.collect().rows[0]
    assert old.cmdline == ("old",) and old.cpu_percent == 0.0
    for turn in range(RECHECK_EVERY):  # whichever refresh it happens on
        _one_process(tmp_path, 40, 900 + turn, f"new{turn}".encode() + b"\0")
        t[0] = 3.0 + turn
        row = c.collect().rows[0]
        assert row.cmdline == (f"new{turn}",) and row.starttime_ticks == 900 + turn
        assert row.cpu_percent is None  # no CPU% carried over from the old process's ticks
