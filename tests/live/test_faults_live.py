"""Faults from outside, on real child processes (issue 20, item 5): a py-spy that hangs or is
missing, a gdb that hangs (and leaves its target stopped), netlink sock_diag refused, and
pidfd_getfd refused (as a seccomp filter would). The panel concerned and `report` say so in one
specific line; every other panel keeps working. The faults are simulated: a fake program, or a
refusing function put in place of the real one."""

from __future__ import annotations

import errno
import json
import os
import signal
import time

import pytest
from textual.widgets import Static

from stucktui.cli import run_report
from stucktui.inspection.backtrace import take_backtrace
from stucktui.procfs import netlink, pidfd
from stucktui.tools import gdb, pyspy
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.backtrace import BacktraceScreen
from stucktui.ui.screens.process import ProcessScreen
from tests.ui.appkit import wait_for
from tests.unit.test_faults import script

pytestmark = pytest.mark.live

SLEEPER = "ready()\nimport time\nwhile True: time.sleep(1)\n"
LISTENER = """
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
ready()
time.sleep(600)
"""
PIPE_HOLDER = """
import os, time
r, w = os.pipe()
os.write(w, b"x" * 100)
ready()
time.sleep(600)
"""


@pytest.fixture(autouse=True)
def _no_hang_remembered(monkeypatch):
    monkeypatch.setattr(pyspy, "_hung", None)


@pytest.fixture
def hanging_pyspy(tmp_path, monkeypatch):
    fake = script(tmp_path / "bin", "py-spy", "exec sleep 600")
    monkeypatch.setattr(pyspy, "find_pyspy", lambda: str(fake))
    monkeypatch.setattr(pyspy, "DEFAULT_TIMEOUT", 1.0)
    return fake


def refused(request: bytes) -> list[bytes]:
    raise PermissionError(errno.EPERM, "Operation not permitted")


def refused_getfd(pidfd_: int, fd: int) -> int:
    raise PermissionError(errno.EPERM, "Operation not permitted")  # what a seccomp filter returns


async def open_on(pilot, app: StuckApp) -> ProcessScreen:
    # the first refresh also triages the whole box, which a loaded machine makes slow
    await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None, 60)
    return app.screen


def rendered(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


# -- py-spy --------------------------------------------------------------------------------------
def test_report_with_a_hanging_pyspy_says_so_and_gives_the_rest(children, hanging_pyspy, capsys):
    p = children.python(SLEEPER)
    children.wait_ready(p)
    t0 = time.monotonic()
    assert run_report(p.pid, "text") == 0
    assert time.monotonic() - t0 < 15
    out = capsys.readouterr().out
    assert "python stacks: py-spy did not answer in 1 s (stopped it)" in out
    assert "Files (" in out and "Signals:" in out and "Threads (1)" in out


def test_report_without_pyspy_says_how_to_install(children, monkeypatch, capsys):
    monkeypatch.setattr(pyspy, "find_pyspy", lambda: None)
    p = children.python(SLEEPER)
    children.wait_ready(p)
    assert run_report(p.pid, "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert (
        data["python"]
        == "py-spy is not installed: install it with `pip install py-spy` in stucktui's environment"
    )
    assert data["threads"] and data["fds"]


@pytest.mark.ui
async def test_threads_panel_with_a_hanging_pyspy_and_the_other_panels_fine(children, hanging_pyspy):
    p = children.python(SLEEPER)
    children.wait_ready(p)
    app = StuckApp(interval=0.3, start_pid=p.pid)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_on(pilot, app)
        await pilot.press("2")
        # the first refresh's triage may have met the hanging py-spy first (a suspect on the
        # box): then the panel says when, and that it is not run again by itself for a while
        await wait_for(pilot, lambda: "py-spy did not answer in " in rendered(screen, "#threads-summary"), 30)
        await pilot.press("4")
        await wait_for(pilot, lambda: " fds" in rendered(screen, "#files-summary"), 30)
        await pilot.press("1")
        assert str(p.pid) in rendered(screen, "#process-title") and not screen.gone


# -- gdb -----------------------------------------------------------------------------------------
def test_a_gdb_that_hangs_after_stopping_the_process_says_it_is_left_stopped(children, tmp_path, monkeypatch):
    p = children.python(SLEEPER)
    children.wait_ready(p)
    script(tmp_path, "gdb", 'kill -STOP "$2"; exec sleep 600')  # argv: gdb -p PID ...
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    monkeypatch.setattr(gdb, "DEFAULT_TIMEOUT", 1.0)
    try:
        out = take_backtrace(p.pid)
        assert isinstance(out, gdb.GdbError)
        assert out.reason.startswith("gdb did not answer in 1 s (stopped it)")
        assert (
            f"process {p.pid} was left stopped (state T): `stucktui signal {p.pid} CONT` resumes it"
            in out.reason
        )
    finally:
        os.kill(p.pid, signal.SIGCONT)  # our own child


@pytest.mark.ui
async def test_gdb_missing_is_said_in_the_backtrace_view(children, tmp_path, monkeypatch):
    p = children.python(SLEEPER)
    children.wait_ready(p)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    app = StuckApp(interval=0.3, start_pid=p.pid)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_on(pilot, app)
        await pilot.press("2")
        await wait_for(pilot, lambda: screen.panels is not None and screen.panels.threads is not None, 30)
        await pilot.press("G")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, BacktraceScreen), 30)
        text = rendered(app.screen, "#backtrace-text")
        assert f"gdb could not take the stacks of {p.pid}: gdb is not installed: install it" in text


# -- netlink sock_diag refused ---------------------------------------------------------------------
def test_report_reads_proc_net_when_sock_diag_is_refused(children, monkeypatch, capsys):
    p = children.python(LISTENER)
    port = children.wait_ready(p)[0]
    monkeypatch.setattr(netlink, "dump", refused)
    assert run_report(p.pid, "json", python=False) == 0
    socks = json.loads(capsys.readouterr().out)["sockets"]
    assert any(
        "read from /proc/net (sock_diag refused: Operation not permitted)" in n for n in socks["notes"]
    )
    assert any(it["local"].endswith(f":{port}") and it["state"] == "LISTEN" for it in socks["items"])


@pytest.mark.ui
async def test_sockets_panel_says_where_it_read_from(children, monkeypatch):
    p = children.python(LISTENER)
    children.wait_ready(p)
    monkeypatch.setattr(netlink, "dump", refused)
    app = StuckApp(interval=0.3, start_pid=p.pid)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_on(pilot, app)
        await pilot.press("3")
        await wait_for(pilot, lambda: "sock_diag refused" in rendered(screen, "#sockets-summary"), 30)
        assert "read from /proc/net" in rendered(screen, "#sockets-summary")


# -- pidfd_getfd refused ---------------------------------------------------------------------------
def test_report_says_pipe_fill_not_permitted(children, monkeypatch, capsys):
    p = children.python(PIPE_HOLDER)
    children.wait_ready(p)
    monkeypatch.setattr(pidfd, "pidfd_getfd", refused_getfd)
    assert run_report(p.pid, "text", python=False) == 0
    out = " ".join(capsys.readouterr().out.split())  # lines are wrapped at 100 columns
    assert "fill unknown (not permitted)" in out
    assert "note: pipe fill not measured: pidfd_getfd was refused" in out


@pytest.mark.ui
async def test_files_panel_says_pipe_fill_not_permitted(children, monkeypatch):
    p = children.python(PIPE_HOLDER)
    children.wait_ready(p)
    monkeypatch.setattr(pidfd, "pidfd_getfd", refused_getfd)
    app = StuckApp(interval=0.3, start_pid=p.pid)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_on(pilot, app)
        await pilot.press("4")
        await wait_for(pilot, lambda: "pidfd_getfd was refused" in rendered(screen, "#files-summary"), 30)
        table = screen.query_one("#files-table")

        def said() -> bool:  # the table's rows as plain text, as drawn now
            return any("fill unknown (not permitted)" in " ".join(r) for r in table._plain.values())

        await wait_for(pilot, said, 30)
