"""A process is (pid, start time), never a pid: the sampler, the triage and `report PID` never
show another process's facts under an exited one's pid (issue 20, item 1). A fixture tree
fakes the reuse by rewriting the start time in a pid's stat (a directory fd of a fixture does
not go stale as /proc's does, so the start time check is what must catch it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stucktui.collect.detail import CpuWindow
from stucktui.inspection import examine as examine_mod
from stucktui.inspection.examine import ExitedDuringReport, examine_pid
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.inspection.triage import still_there
from stucktui.model.findings import Finding
from stucktui.model.process import DetailGone, ProcessDetail, exited_line
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.stat import parse_stat
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic

PID = 7654


def copy_proc(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PROC, tmp_path / "proc", symlinks=True))


def reuse(proc: Path, pid: int, *, comm: str = "imposter", delta: int = 500) -> int:
    """Make pid look like a new process: another name and a later start time (stat field 22)."""
    path = proc / str(pid) / "stat"
    text = path.read_text()
    head, _, rest = text.rpartition(") ")
    fields = rest.split(" ")
    fields[19] = str(int(fields[19]) + delta)  # field 22 is the 20th after the comm
    new = f"{pid} ({comm}) " + " ".join(fields)
    path.write_text(new)
    return parse_stat(new).starttime


def sampler(proc: Path) -> Sampler:
    return Sampler.for_path(str(proc), clock=frozen_clock(), monotonic=frozen_monotonic())


def detail_of(s: Sampler, pid: int, starttime: int | None = None):
    return s.sample(SampleRequest(want_list=False, selected=(pid, starttime))).detail


def test_a_pid_selected_alone_stays_the_process_first_seen(tmp_path):
    """`stucktui --pid V`: no start time is given, the first refresh's is kept; once the pid
    names another process, every refresh says gone and offers it, never shows it."""
    proc = copy_proc(tmp_path)
    s = sampler(proc)
    first = detail_of(s, PID)
    assert isinstance(first, ProcessDetail)
    born = first.starttime_ticks
    new = reuse(proc, PID)
    for _ in range(3):  # and it stays gone: the pid alone never brings in the new process
        gone = detail_of(s, PID)
        assert isinstance(gone, DetailGone)
        assert (gone.pid, gone.starttime, gone.successor, gone.successor_name) == (PID, born, new, "imposter")


def test_a_process_whose_directory_vanished_is_gone_with_no_successor(tmp_path):
    proc = copy_proc(tmp_path)
    s = sampler(proc)
    born = detail_of(s, PID).starttime_ticks
    shutil.rmtree(proc / str(PID))
    gone = detail_of(s, PID)
    assert isinstance(gone, DetailGone) and gone.starttime == born and gone.successor is None


def test_selecting_the_successor_by_its_start_time_shows_it(tmp_path):
    proc = copy_proc(tmp_path)
    s = sampler(proc)
    detail_of(s, PID)
    new = reuse(proc, PID)
    assert isinstance(detail_of(s, PID), DetailGone)
    d = detail_of(s, PID, new)  # O in the view: the new process, asked for by its identity
    assert isinstance(d, ProcessDetail) and d.starttime_ticks == new and d.name == "imposter"


def test_a_new_selection_forgets_the_old_identity(tmp_path):
    proc = copy_proc(tmp_path)
    s = sampler(proc)
    detail_of(s, PID)
    new = reuse(proc, PID)
    assert isinstance(detail_of(s, PID), DetailGone)
    s.sample(SampleRequest(want_list=False, selected=None))  # back to the list
    d = detail_of(s, PID)  # opened again, by pid alone: what has the pid now
    assert isinstance(d, ProcessDetail) and d.starttime_ticks == new


def test_exited_line_names_both_times():
    line = exited_line(12, 3600.0 * 5 + 7, 3600.0 * 5 + 5)
    assert line.startswith("pid 12 exited at ") and "(last seen " in line


def finding(pid: int, starttime: int | None) -> Finding:
    return Finding("fd-exhaustion", "warning", pid, "x", "s", (), (), starttime=starttime)


def test_triage_drops_findings_of_processes_that_exited_or_were_replaced(tmp_path):
    proc = copy_proc(tmp_path)
    root = ProcRoot(str(proc))
    born = parse_stat((proc / str(PID) / "stat").read_text()).starttime
    other = parse_stat((proc / "1" / "stat").read_text()).starttime
    kept = [finding(PID, born), finding(1, other), finding(7655, None)]
    assert still_there(root, kept) == kept
    reuse(proc, PID)
    shutil.rmtree(proc / "1")
    assert still_there(root, kept) == [finding(7655, None)]


def _reused_meanwhile(proc):
    """A CPU window whose pid goes to another process once the window is waited out."""

    class Reused(CpuWindow):
        done = False

        def wait(self) -> None:  # no sleep: the window is over when the pid is reused
            if not self.done:
                reuse(proc, PID)
                self.done = True

    return Reused


def test_report_refuses_a_process_replaced_while_it_was_read(tmp_path, monkeypatch):
    proc = copy_proc(tmp_path)
    # the pid changes hands during the report's CPU window (the panels read in it)
    monkeypatch.setattr(examine_mod, "CpuWindow", _reused_meanwhile(proc))
    with pytest.raises(ExitedDuringReport) as exc:
        examine_pid(ProcRoot(str(proc)), PID, python=False, window=0)
    assert exc.value.pid == PID


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_report_command_says_so_and_exits_1(tmp_path, monkeypatch, capsys, fmt):
    from stucktui.cli import run_report

    proc = copy_proc(tmp_path)
    monkeypatch.setattr(examine_mod, "CpuWindow", _reused_meanwhile(proc))
    assert run_report(PID, fmt, str(proc), python=False) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and f"pid {PID} exited during the report" in err
    if fmt == "json":
        doc = json.loads(out)
        assert doc["exited_during_report"] is True and doc["pid"] == PID and doc["findings"] == []
    else:
        assert out == ""  # no facts that could mix two processes


def test_report_of_an_unchanged_process_still_works(tmp_path):
    proc = copy_proc(tmp_path)
    seen = examine_pid(ProcRoot(str(proc)), PID, python=False, window=0)
    assert seen.detail.pid == PID


def test_report_reads_its_panels_inside_the_cpu_window_and_the_threads_after_it(tmp_path, monkeypatch):
    """`report PID` does not sleep through its CPU window and then read: the panels other than
    the threads are read inside the window, the window is waited out right before the threads
    (their CPU is over the window), and the process's CPU is taken once everything is read."""
    proc = copy_proc(tmp_path)
    order: list[str] = []

    class Told:
        def reading(self, what: str) -> None:
            order.append(what.split(" ")[1])  # "the sockets of pid ..." -> "sockets"

        def got(self, name: str, value: object) -> None:
            pass

    class Watched(CpuWindow):
        def wait(self) -> None:
            order.append("wait")
            super().wait()

        def percent(self) -> float | None:
            order.append("percent")
            return super().percent()

    monkeypatch.setattr(examine_mod, "CpuWindow", Watched)
    seen = examine_pid(ProcRoot(str(proc)), PID, python=False, window=0, progress=Told())
    reads = [w for w in order if w in ("sockets", "open", "file", "threads", "signal", "wait", "percent")]
    assert reads.index("wait") > reads.index("sockets") and reads.index("wait") > reads.index("open")
    assert reads.index("wait") < reads.index("threads") < reads.index("percent")
    assert seen.detail.pid == PID


def test_cpu_window_is_none_for_a_reused_pid_and_waits_nothing_once_passed(tmp_path):
    proc = copy_proc(tmp_path)
    win = CpuWindow(ProcRoot(str(proc)), PID, 0.0)
    reuse(proc, PID)
    assert win.percent() is None  # another process now: no CPU of two processes mixed
    gone = CpuWindow(ProcRoot(str(proc)), 999_999, 0.0)
    assert gone.first is None and gone.percent() is None
