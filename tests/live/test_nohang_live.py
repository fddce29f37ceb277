"""Nothing can hang stucktui: a real hung FUSE mount (tests/live/hangfs.py, its daemon stopped
so that every request to it waits for ever) and a process that holds a lock on its file, has it
open twice and sleeps in D reading it.

Before, a stat() of that file through /proc/PID/fd (the Locks panel, the triage's lock pass)
hung stucktui in a FUSE request that not even SIGKILL ends: `report` never returned, the TUI
never exited. Now `report`, the TUI, the process list and the triage read it without entering
the mount; and where a read does block (one is made to, below: a real read of the hung file in
the middle of the work), `report` prints what it has at its deadline and the TUI still quits
at once. Every stucktui runs as a child, waited for with a hard timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Children, wait_until
from tests.live.fusekit import reader, state
from tests.live.ptykit import Tui, run_bounded

pytestmark = pytest.mark.live

STUCKTUI = [sys.executable, "-m", "stucktui"]
# holds an exclusive flock on the file through fd 3, has it open again as fd 4 (as a LOCK_NB
# poller of its own lock does) and sleeps in D reading it through fd 4
LOCKED_READER = """
import fcntl, os
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(a, fcntl.LOCK_EX)
ready()
os.read(b, 4096)
"""
# runs stucktui with one step made to block for real: a read of the hung file (a thread in D)
HUNG_STEP = """
import os, sys
{target}
path = sys.argv[1]
real = target.{name}
calls = []

def hung(*args, **kw):
    calls.append(1)
    if len(calls) > {after}:
        os.read(os.open(path, os.O_RDONLY), 4096)
    return real(*args, **kw)

target.{name} = hung
from stucktui.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def scene(hangfs, children: Children) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], Path]:
    """(daemon stopped, locked reader in D, mount): every new request to the mount now waits."""
    daemon, mnt = hangfs
    victim = reader(children, mnt / "slow", LOCKED_READER)
    os.kill(daemon.pid, signal.SIGSTOP)
    wait_until(lambda: state(daemon.pid) == "T", timeout=10, what="the daemon stopped")
    return daemon, victim, mnt


def _hung_step(target: str, name: str, after: int = 0) -> list[str]:
    """Python running stucktui's main with `name` of `target` (an import binding `target`)
    reading the hung file (its path the first argument) from its call number `after` + 1."""
    return [sys.executable, "-c", HUNG_STEP.format(target=target, name=name, after=after)]


def test_report_of_a_lock_holder_on_a_hung_mount_returns_at_once(scene, children: Children):
    _, victim, mnt = scene
    argv = [*STUCKTUI, "report", str(victim.pid), "--format", "json", "--no-python"]
    rc, out, err, took = run_bounded(children, argv, timeout=60)
    assert rc == 0, err
    assert took < 20  # its own deadline was never reached
    doc = json.loads(out)
    assert doc["incomplete"] == []
    files = {f["fd"]: f for f in doc["fds"]}
    assert files[3]["target"] == files[4]["target"] == f"{mnt}/slow" and files[4]["kind"] == "file"
    (lock,) = doc["locks"]
    assert (lock["role"], lock["type"], lock["mode"], lock["path"]) == (
        "held",
        "FLOCK",
        "WRITE",
        f"{mnt}/slow",
    )
    assert lock["holder_pid"] == victim.pid


def test_report_past_its_deadline_prints_what_it_has_and_exits(scene, children: Children):
    """The Locks panel is made to block in a read of the hung file: at the 2 s deadline the
    report prints the facts and the panels read before it, says what it could not read, and
    the process exits (status 4) although that thread still sleeps in D."""
    _, victim, mnt = scene
    argv = _hung_step("from stucktui.collect import panels as target", "collect_locks")
    argv += [f"{mnt}/slow", "report", str(victim.pid), "--no-python", "--timeout", "2"]
    rc, out, err, took = run_bounded(children, argv, timeout=60)
    assert rc == 4, err
    assert took < 15
    line = f"could not read the file locks of pid {victim.pid} "
    out = " ".join(out.split()) + " "  # the text report's lines are wrapped at 100 columns
    assert f"INCOMPLETE: {line}" in out and "timed out after 2 s (a hung filesystem?)" in out
    assert line in err
    assert f"{mnt}/slow" in out  # the Files panel, read before the deadline
    assert "not available: timed out (after 2 s: a hung filesystem?)" in out  # the Locks panel
    assert "not available: not read (the report's deadline passed before it)" in out  # Threads


def test_the_tui_on_that_process_answers_keys_and_quits_at_once(scene, children: Children):
    _, victim, mnt = scene
    tui = Tui(children, [*STUCKTUI, "--pid", str(victim.pid)])
    try:
        tui.wait_for("Overview")
        tui.press("4")  # the Files panel: the file on the hung mount is listed
        # its own header first: the path is in the findings line too, shown before the switch
        tui.wait_for("order: fd (o)")
        tui.wait_for(f"{mnt}/slow")
        tui.press("5")  # the Locks panel: its flock, held
        tui.wait_for("FLOCK")
        tui.press("\x7f")  # Backspace, as Esc: back to the list (q would quit: the view it started on)
        tui.wait_for("Tree")  # the list's footer (its status line waits for the first scan)
        took = tui.exit_time("q")
    finally:
        tui.close()
    assert tui.proc.returncode == 0
    assert took < 2.0, f"q took {took:.2f}s"


def test_the_tui_quits_at_once_while_a_refresh_is_stuck_in_d(scene, children: Children):
    """Its sampler thread is made to block reading the hung file in the process list from the
    second refresh on: the status line says what it waits for, keys still work, and q ends the
    process (os._exit) without waiting for that thread."""
    _, victim, mnt = scene
    argv = _hung_step(
        "from stucktui.collect.proclist import ProcessListCollector as target", "collect", after=1
    )
    tui = Tui(children, [*argv, f"{mnt}/slow", "--interval", "0.5", "--no-triage"])
    try:
        tui.wait_for("refreshed")
        tui.wait_for("for /proc: the process list", timeout=30)  # the status line names the read
        tui.press("p")
        tui.wait_for("PAUSED", timeout=10)
        took = tui.exit_time("q")
    finally:
        tui.close()
    assert tui.proc.returncode == 0
    assert took < 2.0, f"q took {took:.2f}s"


TRIAGE = """
import json, sys
from dataclasses import replace
from stucktui.collect.proclist import ProcessListCollector
from stucktui.inspection.triage import triage_box
from stucktui.procfs.root import ProcRoot

ours = {int(p) for p in sys.argv[1:]}
snap = ProcessListCollector(ProcRoot()).collect()  # the whole box's list, the reader among them
rows = [r for r in snap.rows if r.pid in ours]
result = triage_box(ProcRoot(), processes=replace(snap, rows=tuple(rows)), python=False)
found = [[f.id, f.pid] for f in result.findings]
print(json.dumps({"listed": sorted(r.pid for r in rows), "findings": found}))
"""


def test_the_process_list_and_the_triage_do_not_hang(scene, children: Children):
    daemon, victim, _ = scene
    argv = [sys.executable, "-c", TRIAGE, str(victim.pid), str(daemon.pid)]
    rc, out, err, _ = run_bounded(children, argv, timeout=60)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["listed"] == sorted([victim.pid, daemon.pid])
    assert ["wait-chain", daemon.pid] in doc["findings"]  # the stopped daemon is the root
