"""What each panel of the process view costs: the Threads panel reads no box-wide table and
describes its fd arguments with what the rules read at the refresh before."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stucktui.collect import panels as P
from stucktui.collect.panels import PanelCollector
from stucktui.model.files import FdRow, PipeEnd, PipeFill, ProcessFiles, pipe_view
from stucktui.model.threads import ThreadsSnapshot
from stucktui.procfs.root import ProcRoot

ZOO = Path(__file__).parent.parent / "fixtures" / "threads" / "proc"
PID, WRITER = 6527, 6574  # writer0 is blocked in write(4 -> pipe:[10786], 1 byte)


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    shutil.copytree(ZOO, tmp_path / "proc", symlinks=True)
    return tmp_path / "proc"


@pytest.fixture
def nothing_box_wide(monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("the Threads panel read a box-wide table or a Files view")

    monkeypatch.setattr(P, "scan_pipes", boom)
    monkeypatch.setattr(P, "collect_files", boom)
    monkeypatch.setattr(P.SocketCollector, "process_sockets", boom)


def _call(pc: PanelCollector, root: ProcRoot) -> str:
    with root.pid_dir(PID) as d:
        snap = pc.collect(d, frozenset({"threads"})).threads
    assert isinstance(snap, ThreadsSnapshot)
    row = snap.row(WRITER)
    assert row is not None
    return row.call_text


def _files(fd: int, target: str) -> ProcessFiles:
    """What the rules read of fd 4 at the refresh before: a full pipe with no reader."""
    view = pipe_view(PID, fd, "w", 10786, (PipeEnd(PID, "zoo", fd, "w"),), PipeFill(65536, 65536))
    row = FdRow(fd, "pipe", target, "w", (), 0, 10786, pipe=view)
    return ProcessFiles(PID, (row,), (("pipe", 1),), None, None, (), 0.0)


def test_the_threads_panel_reads_its_fd_arguments_one_by_one(zoo, nothing_box_wide):
    root = ProcRoot(str(zoo))
    pc = PanelCollector(root, lazy_files=True)
    assert _call(pc, root) == "write(4 -> pipe:[10786], 1 byte)"
    pc.remember(PID, _files(4, "pipe:[10786]"))
    assert _call(pc, root) == "write(4 -> pipe:[10786], 64 KiB queued, 64 KiB pipe; no reader, 1 byte)"


def test_what_the_rules_read_before_is_not_said_of_an_fd_that_changed(zoo, nothing_box_wide):
    root = ProcRoot(str(zoo))
    pc = PanelCollector(root, lazy_files=True)
    pc.remember(PID, _files(4, "pipe:[10786]"))
    link = zoo / str(PID) / "fd" / "4"
    link.unlink()
    os.symlink("pipe:[99999]", link)  # closed, and the number reused by another pipe
    assert _call(pc, root) == "write(4 -> pipe:[99999], 1 byte)"
    pc.remember(PID + 1, _files(4, "pipe:[99999]"))  # another process's: never used
    assert _call(pc, root) == "write(4 -> pipe:[99999], 1 byte)"
    pc.remember(PID, _files(4, "pipe:[99999]"))
    pc.forget()  # another process selected
    assert _call(pc, root) == "write(4 -> pipe:[99999], 1 byte)"
