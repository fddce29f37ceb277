"""Honest answers without root (issue 20, item 3): the list, the triage, `report --all` and the
Locks panel say how many processes could not be read and what that hides. A fixture root where
some pids refuse their fds and exe (AccessDenied), as another user's processes do."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from stucktui.collect.locks import BLIND_NOTE, collect_locks
from stucktui.collect.proclist import ProcessListCollector
from stucktui.inspection.triage import triage_box
from stucktui.model.process import Visibility
from stucktui.procfs.errors import AccessDenied
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.system import parse_loadavg_tasks
from stucktui.report import BoxReport, render_box
from tests.fixture_proc import PROC

GUARDED = ("exe", "cwd", "fd", "fdinfo", "syscall", "stack", "environ")


class DenyingRoot(ProcRoot):
    """The fixture tree, but the processes in `denied` refuse what the kernel's ptrace read
    check guards, as another user's do to an ordinary user."""

    def __init__(self, path: str, denied: set[int]) -> None:
        super().__init__(path)
        self.denied = denied

    def _check(self, parts: tuple[object, ...]) -> None:
        pid = str(parts[0]) if parts else ""
        if len(parts) > 1 and pid.isdigit() and int(pid) in self.denied and str(parts[1]) in GUARDED:
            raise AccessDenied(int(pid), str(parts[1]))

    def readlink(self, *parts: object, pid: int | None = None) -> str:
        self._check(parts)
        return super().readlink(*parts, pid=pid)

    def listdir(self, *parts: object, pid: int | None = None) -> list[str]:
        self._check(parts)
        return super().listdir(*parts, pid=pid)

    def read_bytes(self, *parts: object, pid: int | None = None) -> bytes:
        self._check(parts)
        return super().read_bytes(*parts, pid=pid)

    def pid_dir(self, pid: int) -> PidDir:
        return DenyingPidDir(self, pid) if pid in self.denied else PidDir(self, pid)


class DenyingPidDir(PidDir):
    def _deny(self, name: str) -> None:
        if name.split("/")[0] in GUARDED:
            raise AccessDenied(self.pid, name)

    def listdir(self, name: str) -> list[str]:
        self._deny(name)
        return super().listdir(name)

    def readlink(self, name: str) -> str:
        self._deny(name)
        return super().readlink(name)

    def fd_links(self) -> list[tuple[int, str]]:
        raise AccessDenied(self.pid, "fd")

    def read_text(self, name: str) -> str:
        self._deny(name)
        return super().read_text(name)


DENIED = {7654, 7655, 1}


def test_the_list_counts_the_processes_it_could_not_read():
    snap = ProcessListCollector(DenyingRoot(str(PROC), DENIED)).collect()
    refused = {r.pid for r in snap.rows if not r.readable}
    assert refused == DENIED
    assert snap.visibility.unreadable == 3


def test_visibility_says_what_is_hidden_and_why():
    ordinary = Visibility(5167, 5150, 0, None, 9000, as_root=False)
    assert ordinary.lines() == [
        "5,150 processes of other users: fds, sockets, threads not readable; run as root"
    ]
    root = Visibility(10, 2, 0, None, 40, as_root=True)
    assert "not readable even as root" in root.lines()[0] and "CAP_SYS_PTRACE" in root.lines()[0]
    assert Visibility(10, 0, 0, None, 40, as_root=True).lines() == []
    # /proc/loadavg counts every task on the box, which hidepid does not hide
    hidepid = Visibility(12, 0, 0, 5000, 60, as_root=False)
    assert hidepid.lines() == [
        "5,000 tasks (threads) on this box, 60 visible: /proc hides the rest (hidepid) or they run "
        "in other pid namespaces"
    ]
    churn = Visibility(12, 0, 0, 5000, 4900, as_root=False)  # threads came and went meanwhile
    assert churn.lines() == []
    noaccess = Visibility(12, 0, 7, None, 60, as_root=False)
    assert "7 processes listed but hidden by /proc (hidepid)" in noaccess.lines()[0]


def test_loadavg_gives_the_box_s_task_count(tmp_path):
    assert parse_loadavg_tasks("3.24 5.19 6.39 9/141 17710\n") == 141
    with pytest.raises(ValueError):
        parse_loadavg_tasks("garbage")
    proc = Path(shutil.copytree(PROC, tmp_path / "proc", symlinks=True))
    (proc / "loadavg").write_text("0.00 0.01 0.05 1/4000 99999\n")
    snap = ProcessListCollector(ProcRoot(str(proc))).collect()
    assert snap.box_tasks == 4000
    assert "4,000 tasks (threads) on this box" in snap.visibility.lines()[0]


def test_triage_and_report_all_say_how_many_processes_were_not_read():
    root = DenyingRoot(str(PROC), DENIED)
    result = triage_box(root, processes=ProcessListCollector(root).collect(), python=False)
    assert result.visibility is not None and result.visibility.unreadable == 3
    rep = BoxReport(
        result.findings, result.processes, result.suspects, result.taken_at, result.duration,
        visibility=result.visibility,
    )  # fmt: skip
    data = json.loads(render_box(rep, "json"))
    assert data["unreadable_processes"] == 3 and data["hidden_processes"] == 0
    assert data["visibility_notes"] == result.visibility.lines()
    text = render_box(rep, "text")
    line = "not seen: 3 processes not readable even as root" if result.visibility.as_root else "not seen: 3"
    assert line in text.splitlines()[1]
    if not result.findings:
        assert "no findings: no known stuck pattern in what stucktui could read" in text


def test_report_all_of_a_fully_readable_box_says_nothing_more():
    root = ProcRoot(str(PROC))
    result = triage_box(root, processes=ProcessListCollector(root).collect(), python=False)
    rep = BoxReport(
        result.findings, result.processes, result.suspects, 0.0, 0.0, visibility=result.visibility
    )
    data = json.loads(render_box(rep, "json"))
    assert data["unreadable_processes"] == 0 and data["visibility_notes"] == []
    assert "not seen" not in render_box(rep, "text")


def test_locks_panel_says_when_it_cannot_see_the_process_s_fds():
    root = DenyingRoot(str(PROC), DENIED)
    with root.pid_dir(7654) as d:
        locks = collect_locks(root, 7654, piddir=d, pids=[])
    assert locks.fds_unreadable and locks.notes[-1].startswith(BLIND_NOTE) and locks.rows == ()
    with ProcRoot(str(PROC)).pid_dir(7654) as d:
        seen = collect_locks(ProcRoot(str(PROC)), 7654, piddir=d, pids=[])
    assert not seen.fds_unreadable and not any(n.startswith(BLIND_NOTE) for n in seen.notes)


def test_report_locks_section_carries_its_notes():
    from stucktui.model.locks import ProcessLocks
    from stucktui.model.panels import PanelData
    from stucktui.report.sections import json_sections, text_lines

    locks = ProcessLocks(7654, (), (BLIND_NOTE,), 0.0, fds_unreadable=True)
    data = json_sections(PanelData(locks=locks))
    assert data["locks"] == [] and data["lock_notes"] == [BLIND_NOTE]
    text = "\n".join(text_lines(data))
    assert "Locks (0):" in text and "note: this process's fds could not be read" in text


def test_hidepid_noaccess_processes_are_counted_not_dropped_silently():
    """hidepid=noaccess: the pid is listed but even its stat is refused."""

    class NoAccess(ProcRoot):
        def stat_reader(self):  # the list's one read of each process
            inner = super().stat_reader()

            def read(pid: int) -> bytes:
                if pid == 7655:
                    raise PermissionError(errno.EACCES, "hidepid")
                return inner(pid)

            return read

    snap = ProcessListCollector(NoAccess(str(PROC))).collect()
    assert snap.hidden == 1 and 7655 not in snap.by_pid()
    assert "1 process listed but hidden by /proc (hidepid): nothing of them read" in snap.visibility.lines()
