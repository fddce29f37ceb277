"""A pid really reused (issue 20, item 1): a child is killed and its pid handed to a new child
through /proc/sys/kernel/ns_last_pid (root only), while the TUI shows it and while `report`
reads it. Neither ever shows the new process's facts under the old one."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from stucktui.cli import run_report
from stucktui.collect.detail import CpuWindow
from stucktui.inspection import examine as examine_mod
from stucktui.model.process import ProcessDetail
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.process import ProcessScreen
from tests.helpers import Children
from tests.ui.appkit import wait_for

pytestmark = pytest.mark.live

NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"
SLEEPER = "ready()\nimport time\nwhile True: time.sleep(1)\n"


@pytest.fixture(autouse=True)
def _needs_ns_last_pid():
    if os.geteuid() != 0 or not os.access(NS_LAST_PID, os.W_OK):
        pytest.skip("forcing pid reuse needs root and a writable /proc/sys/kernel/ns_last_pid")


def start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:  # bytes: another process's name need not be UTF-8
        return int(f.read().rpartition(b")")[2].split()[19])


def kill_and_reuse(children: Children, victim: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """End the victim (by its pid) and start `sleep 600` on the same pid; another process on
    the box may take the pid first, so a few tries, then skip."""
    pid = victim.pid
    children.end(victim)
    for _ in range(50):
        with open(NS_LAST_PID, "w") as f:
            f.write(str(pid - 1))
        q = children.spawn(["sleep", "600"])
        if q.pid == pid:
            return q
        children.end(q)
    pytest.skip(f"pid {pid} was taken by another process on every try")


@pytest.mark.ui
async def test_the_view_of_a_reused_pid_says_exited_and_offers_the_new_process(children):
    victim = children.python(SLEEPER)
    children.wait_ready(victim)
    pid = victim.pid
    app = StuckApp(interval=0.3, start_pid=pid)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None, 60
        )
        screen = app.screen
        old = screen.detail
        imposter = kill_and_reuse(children, victim)
        # the new process is first a fork of the test's Python, then it execs sleep: a refresh
        # may see it in between, and the next one names it again
        await wait_for(
            pilot, lambda: screen.successor is not None and screen.successor.successor_name == "sleep", 30
        )
        title = str(screen.query_one("#process-title").render())
        assert f"pid {pid} exited at " in title and "sleeping" not in title
        assert screen.detail.starttime_ticks == old.starttime_ticks  # the victim's last facts, frozen
        assert screen.successor.successor == start_time(pid) and screen.successor.successor_name == "sleep"
        await pilot.press("O")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen is not screen, 30)
        fresh = app.screen
        await wait_for(pilot, lambda: isinstance(fresh.detail, ProcessDetail), timeout=30)
        assert fresh.detail.name == "sleep" and fresh.detail.starttime_ticks == start_time(imposter.pid)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_report_of_a_pid_reused_mid_report_prints_no_facts(children, monkeypatch, capsys, fmt):
    victim = children.python(SLEEPER)
    children.wait_ready(victim)
    pid = victim.pid

    class ReusedMeanwhile(CpuWindow):
        done = False

        def wait(self) -> None:
            super().wait()
            if not self.done:  # during the report: once its CPU window has passed
                kill_and_reuse(children, victim)
                self.done = True

    monkeypatch.setattr(examine_mod, "CpuWindow", ReusedMeanwhile)
    assert run_report(pid, fmt, python=False) == 1
    out, err = capsys.readouterr()
    assert f"stucktui: pid {pid} exited during the report" in err
    if fmt == "json":
        assert json.loads(out)["exited_during_report"] is True
    else:
        assert out == ""
