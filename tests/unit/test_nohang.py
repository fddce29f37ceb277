"""Nothing can hang: files told from fdinfo and mountinfo instead of a stat, the deadline runner,
the report cut short at its deadline, and programs killed on exit (the live proof on a real
hung FUSE mount is tests/live/test_nohang_live.py)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

import stucktui.collect.fileid as fileid_mod
from stucktui import cli
from stucktui.collect import panels as panels_mod
from stucktui.collect.boxscan import _opened_twice
from stucktui.collect.detail import collect_detail
from stucktui.collect.fileid import AT_FDCWD, MountTable, MountTables, fd_key
from stucktui.collect.locks import collect_locks
from stucktui.inspection import deadline
from stucktui.inspection.bounded import examine_pid_bounded, partial
from stucktui.inspection.deadline import Overdue, Progress, run_bounded
from stucktui.model.fdinfo import FdInfo
from stucktui.model.mounts import stat_safe
from stucktui.model.process import Unavailable
from stucktui.procfs.mountinfo import parse_mount_devices
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.statx import statx_cached
from stucktui.report import Report, render
from stucktui.tools import runner
from tests.fixture_proc import fixture_root, frozen_clock, pid_where

MOUNTINFO = (
    "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n"
    "45 22 0:40 / /mnt/hung rw,nosuid,nodev - fuse.hangfs hangfs rw\n"
    "52 22 0:53 / /mnt/nfs rw - nfs4 server:/export rw\n"
    r"61 22 0:60 / /mnt/a\040b rw - fuse sshfs\040host: rw"
    "\n"
    "62 22 0:61 / /mnt/odd rw - weirdfs none rw\n"
)


def test_mount_devices_and_where_a_type_may_be_asked():
    devs = parse_mount_devices(MOUNTINFO + "garbage\n")
    assert devs == {
        22: (254, 1, "ext4"),
        45: (0, 40, "fuse.hangfs"),
        52: (0, 53, "nfs4"),
        61: (0, 60, "fuse"),
        62: (0, 61, "weirdfs"),
    }
    assert stat_safe("ext4") and stat_safe("tmpfs") and stat_safe("overlay")
    assert not any(stat_safe(t) for t in ("fuse.hangfs", "fuse", "fuseblk", "nfs4", "cifs", "weirdfs", None))


def _pid_tree(tmp_path: Path, pid: int, ns: str | None = "mnt:[4026531841]") -> Path:
    d = tmp_path / "proc" / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "fdinfo").mkdir()
    (d / "ns").mkdir()
    (d / "mountinfo").write_text(MOUNTINFO)
    (d / "comm").write_text(f"p{pid}\n")
    (d / "stat").write_text(f"{pid} (p{pid}) S 1\n")
    if ns:
        os.symlink(ns, d / "ns" / "mnt")
    return d


def _no_statx(monkeypatch) -> list[str]:
    asked: list[str] = []

    def refuse(dirfd: int, path: str):
        asked.append(path)
        raise AssertionError(f"statx of {path}: a file is never asked for what fdinfo tells")

    monkeypatch.setattr(fileid_mod, "statx_cached", refuse)
    return asked


def test_a_file_is_named_by_its_mount_device_and_fdinfo_inode(tmp_path, monkeypatch):
    _no_statx(monkeypatch)
    _pid_tree(tmp_path, 10)
    root = ProcRoot(str(tmp_path / "proc"))
    table = MountTable(root, 10)
    assert table.key(FdInfo(0, 0, 45, 77)) == (0, 40, 77)  # on the hung mount: no stat at all
    assert table.key(FdInfo(0, 0, 22, 5)) == (254, 1, 5)
    assert table.key(FdInfo(0, 0, 99, 5)) is None  # a mount of another namespace
    assert table.key(FdInfo(0, 0, 22, None)) is None and table.key(None) is None
    assert fd_key(AT_FDCWD, "/nonexistent", FdInfo(0, 0, 45, None), table) is None  # old kernel, FUSE
    assert table.fstype(61) == "fuse" and not table.stat_safe(61) and table.stat_safe(22)


def test_a_kernel_without_fdinfo_ino_asks_statx_on_local_mounts_only(tmp_path):
    _pid_tree(tmp_path, 10)
    table = MountTable(ProcRoot(str(tmp_path / "proc")), 10)
    f = tmp_path / "local"
    f.write_text("x")
    assert fd_key(AT_FDCWD, str(f), FdInfo(0, 0, 22, None), table) == (254, 1, os.stat(f).st_ino)
    assert fd_key(AT_FDCWD, str(f), FdInfo(0, 0, 52, None), table) is None  # nfs4: never asked


def test_mount_tables_are_read_once_per_namespace(tmp_path):
    _pid_tree(tmp_path, 10)
    _pid_tree(tmp_path, 11)
    _pid_tree(tmp_path, 12, ns="mnt:[4026532000]")
    tables = MountTables(ProcRoot(str(tmp_path / "proc")))
    assert tables.of(10) is tables.of(11) and tables.of(12) is not tables.of(10)


def test_statx_gives_the_type_from_the_cache(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    st = statx_cached(AT_FDCWD, str(tmp_path / "fifo"))  # a FIFO: never opened, never blocks
    assert st.st_mode & 0o170000 == 0o010000 and st.st_ino == os.stat(tmp_path / "fifo").st_ino
    with pytest.raises(OSError):
        statx_cached(AT_FDCWD, str(tmp_path / "missing"))
    with open(os.devnull, "rb") as f:
        assert statx_cached(f.fileno(), "").st_ino == os.fstat(f.fileno()).st_ino  # the fd itself


def test_locks_on_a_hung_mount_are_matched_without_touching_the_file(tmp_path, monkeypatch):
    """A flock on a FUSE file: its holder, a second fd of it and a waiter are all found from
    /proc/locks, fdinfo and mountinfo; statx is never called (it raises here)."""
    asked = _no_statx(monkeypatch)
    proc = tmp_path / "proc"
    for pid in (10, 11):
        d = _pid_tree(tmp_path, pid)
        for fd in (3, 4):
            os.symlink("/mnt/hung/slow", d / "fd" / str(fd))
            lock = "lock:\t1: FLOCK  ADVISORY  WRITE 10 00:28:77 0 EOF\n" if (pid, fd) == (10, 3) else ""
            (d / "fdinfo" / str(fd)).write_text(f"pos:\t0\nflags:\t0100000\nmnt_id:\t45\nino:\t77\n{lock}")
    (proc / "locks").write_text(
        "1: FLOCK  ADVISORY  WRITE 10 00:28:77 0 EOF\n1: -> FLOCK  ADVISORY  WRITE 11 00:28:77 0 EOF\n"
    )
    root = ProcRoot(str(proc))
    (held,) = collect_locks(root, 10, pids=[10, 11]).rows
    assert (held.role, held.path, held.holder_pid, held.waiters) == ("held", "/mnt/hung/slow", 10, (11,))
    assert [(u.pid, u.fd) for u in held.holders] == [(10, 3)]
    assert _opened_twice(root, 10, {(0, 40, 77)}) == {"/mnt/hung/slow"}
    assert _opened_twice(root, 10, {(0, 41, 77)}) == set()  # same inode on another device
    assert asked == []


def _blocker() -> tuple[threading.Event, object]:
    release = threading.Event()

    def block(*_a: object, **_k: object) -> None:
        release.wait(30)
        raise OSError("released")

    return release, block


def test_run_bounded_returns_raises_and_gives_up_at_the_deadline():
    assert run_bounded(lambda: 42, 5, "x") == 42
    with pytest.raises(ValueError):
        run_bounded(lambda: int("nope"), 5, "x")
    release, block = _blocker()
    progress = Progress()

    def work() -> int:
        progress.reading("the slow part")
        block()
        return 1

    t0 = time.monotonic()
    try:
        out = run_bounded(work, 0.2, lambda: progress.now, name="test")
        assert isinstance(out, Overdue) and time.monotonic() - t0 < 5
        assert str(out) == "could not read the slow part: timed out after 0.2 s (a hung filesystem?)"
        stuck = deadline.abandoned()
        assert stuck and stuck[-1].name == "stucktui-test" and stuck[-1].daemon
        assert stuck[-1] in deadline.busy_workers()
    finally:
        release.set()
    stuck[-1].join(5)
    assert stuck[-1] not in deadline.busy_workers()


def _detail():
    pid = pid_where(lambda s: "evil" in s.comm)
    return collect_detail(fixture_root(), pid, cpu_percent=1.0, clock=frozen_clock())


def test_a_report_cut_short_shows_what_it_read_and_says_what_it_could_not():
    detail = _detail()
    late = Overdue(f"the file locks of pid {detail.pid} (/proc/locks)", 2.0)
    seen = partial(
        {"detail": detail, "sockets": Unavailable("no permission"), "files": Unavailable("x")}, late
    )
    assert seen.detail is detail and seen.incomplete == (str(late),)
    assert seen.panels is not None and seen.panels.locks == Unavailable(
        "timed out", "after 2 s: a hung filesystem?"
    )
    assert (
        seen.panels.threads
        == seen.panels.signals
        == Unavailable("not read", "the report's deadline passed before it")
    )
    assert partial({}, late).detail is None
    rep = Report(detail, seen.panels, seen.findings, incomplete=seen.incomplete)
    text = render(rep, "text")
    assert f"INCOMPLETE: could not read the file locks of pid {detail.pid}" in text
    assert "not available: timed out (after 2 s: a hung filesystem?)" in text
    assert "*Incomplete:* could not read" in render(rep, "markdown")
    doc = json.loads(render(rep, "json"))
    assert doc["incomplete"] == [str(late)] and "locks" in doc["unreadable"]
    assert json.loads(render(Report(detail), "json"))["incomplete"] == []


def test_examine_pid_bounded_stops_waiting_at_the_deadline(monkeypatch):
    release, block = _blocker()
    monkeypatch.setattr(panels_mod, "collect_locks", block)
    pid = pid_where(lambda s: "evil" in s.comm)
    try:
        seen = examine_pid_bounded(fixture_root(), pid, python=False, timeout=1, window=0)
    finally:
        release.set()
    assert seen.detail is not None and seen.detail.pid == pid
    assert seen.incomplete == (
        f"could not read the file locks of pid {pid} (/proc/locks, the fds of their holders): "
        "timed out after 1 s (a hung filesystem?)",
    )
    assert seen.panels is not None and seen.panels.files is not None
    assert isinstance(seen.panels.locks, Unavailable) and seen.panels.locks.reason == "timed out"


def test_report_exits_4_past_its_deadline(monkeypatch, capsys):
    release, block = _blocker()
    monkeypatch.setattr(panels_mod, "collect_locks", block)
    pid = pid_where(lambda s: "evil" in s.comm)
    try:
        assert (
            cli.run_report(pid, "text", str(fixture_root().path), python=False, timeout=1) == cli.INCOMPLETE
        )
    finally:
        release.set()
    out, err = capsys.readouterr()
    assert "INCOMPLETE: could not read the file locks" in out and "timed out after 1 s" in err


def test_report_with_nothing_read_in_time_says_so_in_json(monkeypatch, capsys):
    release, block = _blocker()
    monkeypatch.setattr("stucktui.inspection.examine.collect_detail", block)
    pid = pid_where(lambda s: "evil" in s.comm)
    try:
        assert (
            cli.run_report(pid, "json", str(fixture_root().path), python=False, timeout=1) == cli.INCOMPLETE
        )
    finally:
        release.set()
    doc = json.loads(capsys.readouterr().out)
    assert doc["pid"] == pid and doc["incomplete"][0].startswith(f"could not read pid {pid} itself")


def test_the_report_timeout_is_an_option(capsys):
    args = cli.build_parser().parse_args(["report", "1", "--timeout", "5"])
    assert args.report_timeout == 5.0
    assert cli.build_parser().parse_args(["report", "1"]).report_timeout == 20.0
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["report", "1", "--timeout", "0"])
    assert exc.value.code == 2 and "timeout must be a number of seconds" in capsys.readouterr().err


def test_programs_still_running_are_killed_on_exit():
    started = runner.start([sys.executable, "-c", "import time; time.sleep(60)"], timeout=60)
    t0 = time.monotonic()
    assert runner.kill_all() >= 1
    result = started.result()
    assert time.monotonic() - t0 < 10 and result.rc is not None and result.rc < 0
    assert started._proc not in runner._RUNNING  # reaped: not killed again at exit


def test_the_socket_protocol_of_a_file_is_never_asked_of_its_file_system(monkeypatch):
    """The fd may be reused for a file between the listing and the read: a getxattr there
    would ask a FUSE daemon. Only a socket (checked from the cached attributes) is asked."""
    asked: list[str] = []
    real = os.getxattr

    def spy(path: str, name: str, *a: object, **k: object) -> bytes:
        asked.append(path)
        return real(path, name)

    monkeypatch.setattr(os, "getxattr", spy)
    with open(os.devnull, "rb") as f, socket.socket() as s, ProcRoot().pid_dir(os.getpid()) as d:
        assert d.socket_protocol(f.fileno()) is None and asked == []
        assert d.socket_protocol(s.fileno()) == "TCP" and len(asked) == 1


def test_report_all_past_its_deadline_says_so(monkeypatch, capsys):
    release, block = _blocker()
    monkeypatch.setattr("stucktui.inspection.triage.triage_box", block)
    try:
        code = cli.run_report_all("json", fixture_root().path, python=False, window=0, timeout=1)
    finally:
        release.set()
    assert code == cli.INCOMPLETE
    out, err = capsys.readouterr()
    (line,) = json.loads(out)["incomplete"]
    assert line == (
        "could not read the suspect processes of the box (the triage): "
        "timed out after 1 s (a hung filesystem?)"
    )
    assert line in err
