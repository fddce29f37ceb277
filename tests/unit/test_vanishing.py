"""A process that exits while it is read simply disappears (issue 19, item 5): no "sampling
failed" toast, no lost refresh, and never another process shown as gone. /proc is a fixture
tree whose reads of one process start failing at step N, for every N, the way the kernel fails
them: ESRCH (ProcessLookupError) through a directory or file opened before the exit, ENOENT
once the directory is gone (it is renamed away at that step)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

import stucktui.collect.proclist as proclist
import stucktui.inspection.triage as triage_mod
import stucktui.procfs.root as procroot
from stucktui.collect.sockets import SocketCollector
from stucktui.inspection.request import ALL_PANELS, SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.model.process import DetailGone, ProcessDetail
from stucktui.procfs.errors import ProcessGone
from stucktui.procfs.root import ProcRoot
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic

NET = Path(__file__).parent.parent / "fixtures" / "net"
OTHER_NS = 4026532177  # a namespace not ours: its tables are read from /proc/PID/net
SURVIVOR, VICTIM = 1022, 7739


def _tree(tmp: Path) -> Path:
    """The fixture /proc with SURVIVOR and VICTIM in one other network namespace, each holding
    a CLOSE_WAIT socket of the captured tables."""
    root = tmp / "proc"
    shutil.copytree(PROC, root, symlinks=True)
    meta = json.loads((NET / "meta.json").read_text())
    (root / "self" / "ns").mkdir(parents=True)
    os.symlink("net:[4026531833]", root / "self" / "ns" / "net")
    for pid in (SURVIVOR, VICTIM):
        d = root / str(pid)
        (d / "ns").mkdir(exist_ok=True)
        os.symlink(f"net:[{OTHER_NS}]", d / "ns" / "net")
        shutil.copytree(NET, d / "net", ignore=shutil.ignore_patterns("*.bin", "*.json"))
        os.symlink(f"socket:[{meta['close_wait']['inode']}]", d / "fd" / "50")
    return root


class _Vanishing:
    """The os module as stucktui.procfs.root sees it: from the `step`-th read of the victim
    on, the victim has exited. Its directory is renamed away then (so paths to it give ENOENT
    and the root no longer lists it), and every read through a file or directory opened
    before gives `code` (ESRCH or ENOENT)."""

    def __init__(self, root: Path, victim: int, step: int, code: int) -> None:
        self.real, self.victim_dir = os, f"{root}/{victim}"
        self.step, self.code, self.seen, self.gone = step, code, 0, False
        self.fds: set[int] = set()
        self.path = os.path

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def _touch(self, path: object = "", fd: int | None = None) -> None:
        mine = (fd is not None and fd in self.fds) or str(path).startswith(self.victim_dir)
        if not mine:
            return
        if not self.gone and self.seen == self.step:
            self.gone = True
            os.rename(self.victim_dir, self.victim_dir + ".exited")
        self.seen += 1
        if self.gone:
            exc = ProcessLookupError if self.code == errno.ESRCH else FileNotFoundError
            raise exc(self.code, os.strerror(self.code))

    def open(self, path, flags, mode=0o777, *, dir_fd=None):
        self._touch(path, dir_fd)
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
        if str(path).startswith(self.victim_dir) or dir_fd in self.fds:
            self.fds.add(fd)
        return fd

    def close(self, fd):
        self.fds.discard(fd)
        os.close(fd)

    def read(self, fd, n):
        self._touch(fd=fd)
        return os.read(fd, n)

    def pread(self, fd, n, offset):
        self._touch(fd=fd)
        return os.pread(fd, n, offset)

    def readlink(self, path, *, dir_fd=None):
        self._touch(path, dir_fd)
        return os.readlink(path, dir_fd=dir_fd)

    def listdir(self, path="."):
        self._touch(path, path if isinstance(path, int) else None)
        return os.listdir(path)

    def stat(self, path, *, dir_fd=None, follow_symlinks=True):
        self._touch(path, dir_fd)
        return os.stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


def test_a_namespace_read_through_a_process_that_exited_is_read_through_another(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    c = SocketCollector(ProcRoot(str(root)), use_netlink=False)
    assert [r.fd for r in c.process_sockets(VICTIM).rows] == [50]  # the namespace's first member
    os.rename(root / str(VICTIM), root / f"{VICTIM}.exited")
    c.expire_filtered()
    c.table(OTHER_NS, VICTIM)._text.clear()  # a table kept across refreshes reads its files again
    rows = c.process_sockets(SURVIVOR).rows
    assert [(r.fd, r.state) for r in rows] == [(50, "CLOSE_WAIT")]
    with pytest.raises(ProcessGone) as gone:  # the one asking exited: that is what it hears
        SocketCollector(ProcRoot(str(root)), use_netlink=False).process_sockets(VICTIM)
    assert gone.value.pid == VICTIM
    assert c.summary().states  # the box's view counts the namespace still


@pytest.mark.parametrize(
    ("selected", "code"), [(SURVIVOR, errno.ESRCH), (SURVIVOR, errno.ENOENT), (VICTIM, errno.ESRCH)]
)
def test_a_process_exiting_at_any_step_of_a_refresh_is_a_normal_event(tmp_path, monkeypatch, code, selected):
    """A full refresh (process list, triage, the box's sockets, every panel of the open
    process) with the victim exiting at its 1st, 2nd, ... read: it never raises, the open
    process is shown unless it is the one that exited."""
    # the first look's CPU window (0.4 s asleep) is not what is tested: measured over none
    monkeypatch.setattr(
        triage_mod, "with_cpu", lambda root, snap, seconds=0.0, **kw: proclist.with_cpu(root, snap, 0.0)
    )
    root, step = _tree(tmp_path), 0
    while True:
        fake = _Vanishing(root, VICTIM, step, code)
        monkeypatch.setattr(procroot, "os", fake)
        s = Sampler(ProcRoot(str(root)), clock=frozen_clock(), monotonic=frozen_monotonic())
        s.first_cpu_window = 0.0
        req = SampleRequest(
            want_list=True, selected=(selected, None), panels=ALL_PANELS, triage=True, box_sockets=True
        )
        snap = s.sample(req)  # raises nothing
        monkeypatch.setattr(procroot, "os", os)
        if selected == SURVIVOR or not fake.gone:
            assert isinstance(snap.detail, ProcessDetail), (step, snap.detail)
        else:
            assert isinstance(snap.detail, (ProcessDetail, DetailGone)), step
        assert snap.processes is not None and snap.triage is not None  # no part of it lost
        if not fake.gone:  # the refresh ended before its step: every step was tried
            break
        os.rename(root / f"{VICTIM}.exited", root / str(VICTIM))  # the next run's victim
        step += 1
    assert step > 20, step  # the refresh read the victim at many steps
