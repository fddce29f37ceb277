"""Live: the first look at a box names a spinner. The TUI's first refresh and `report --all`
have no earlier sample to take CPU% from: the triage measures it over a short window at once,
so a loop spinning on epoll_wait is `epoll-spin` on the first screen, and a process that is
merely busy computing (holding the same hung registration, but never polling it) is not."""

from __future__ import annotations

import json

import pytest

from stucktui.cli import run_report_all
from stucktui.collect.proclist import measure_cpu
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.inspection.triage import triage_box
from stucktui.procfs.root import ProcRoot
from tests.helpers import ready_lines, wait_until
from tests.live.test_findings_live import COMPUTE_BESIDE_LOOP, SPIN

# A whole box's triage: seconds on a quiet box, minutes beside other sick boxes (each triage
# reads every fd link of the box to find pipe and socket owners): more than the suite's 120 s.
pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

# Both children hold an epoll set watching a socket the peer closed (CLOSE_WAIT, readable
# forever, level-triggered): the spinner polls it (test_findings_live.SPIN), the other computes
# in a thread beside it and never polls (COMPUTE_BESIDE_LOOP); they run one at a time. On a
# loaded box each asks for a little more of the CPU than its neighbours (as root), so the
# window sees it run: the test is about the triage, not how the scheduler shares two pegged cores.
NICER = """
import os
try:
    os.setpriority(os.PRIO_PROCESS, 0, -5)
except OSError:
    pass
"""
SPINNER, COMPUTING = NICER + SPIN, NICER + COMPUTE_BESIDE_LOOP


def busy(pid: int) -> bool:
    """Busy over a window like the first look's (a box whose cores other work holds may give a
    child little CPU for a while: the test waits until it runs, then looks)."""
    cpu, _ = measure_cpu(ProcRoot(), [pid], 0.4)
    return any(v >= 30.0 for v in cpu.values())  # the rules look at a loop from 20% of a core


def test_the_first_refresh_and_report_all_name_the_spinner(children, capsys):
    spinner = children.python(SPINNER)
    epfd, sock = map(int, ready_lines(spinner))
    wait_until(lambda: busy(spinner.pid), 120, interval=0.1, what="the spinner spinning")
    sampler = Sampler()
    try:
        snap = sampler.sample(SampleRequest(want_list=True, triage=True))  # the TUI's first refresh
    finally:
        sampler.close()
    tri = snap.triage
    assert tri is not None and tri.cpu_window is not None and 0.3 <= tri.cpu_window < 5.0
    mine = {f.id: f for f in tri.findings if f.pid == spinner.pid}
    assert "epoll-spin" in mine, f"first triage: {sorted(mine)}"
    assert mine["epoll-spin"].fds == (sock, epfd) and "a socket in CLOSE_WAIT" in mine["epoll-spin"].summary
    # the list of that first refresh has its CPU% over the same first window (the fd index's
    # first pass and the socket dumps were made in it), so the triage measured nothing again
    assert snap.processes is not None and snap.processes.cpu_window == tri.cpu_window
    row = next(r for r in snap.processes.rows if r.pid == spinner.pid)
    assert row.cpu_percent is not None and row.cpu_percent > 0

    assert run_report_all("json", python=False, window=0.4, timeout=300.0) == 0
    data = json.loads(capsys.readouterr().out)
    assert 0.3 <= data["cpu_window_s"] < 5.0
    assert "epoll-spin" in {f["id"] for f in data["findings"] if f["pid"] == spinner.pid}


def test_the_first_triage_does_not_call_a_busy_computer_a_spinner(children):
    computing = children.python(COMPUTING)
    ready_lines(computing)
    wait_until(lambda: busy(computing.pid), 120, interval=0.1, what="the computing child busy")
    tri = triage_box(ProcRoot(), python=False)  # the first look: no earlier sample, no History
    assert tri.cpu_window is not None
    mine = {f.id for f in tri.findings if f.pid == computing.pid}
    assert "close-wait-leak" in mine  # looked at: its CLOSE_WAIT socket is reported as such
    assert "epoll-spin" not in mine  # busy in user space, nobody in epoll_wait: no spin
