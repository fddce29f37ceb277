"""Live, through the real app: a signal chosen by name in the picker, a CLOSE_WAIT socket
closed from the Sockets panel (shutdown: the method that works without gdb), read-only
refusals, and the audit lines each leaves."""

from __future__ import annotations

import json
import os
import select
import signal

import pytest

from stucktui.actions.audit import ENV_AUDIT_LOG
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.actions import CloseFdScreen, ResultScreen, SignalPickerScreen
from stucktui.ui.screens.confirm import ConfirmScreen
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.widgets.keyed_table import KeyedTable
from tests.helpers import SIGUSR1_CATCHER, wait_until
from tests.ui.appkit import wait_for

pytestmark = [pytest.mark.live, pytest.mark.ui]


CLOSE_WAIT = """
import socket, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4)
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept(); a.sendall(b"x" * 300); a.close()
print(c.fileno(), flush=True)
ready()
time.sleep(600)
"""


@pytest.fixture
def audit(tmp_path, monkeypatch):
    path = tmp_path / "audit.log"
    monkeypatch.setenv(ENV_AUDIT_LOG, str(path))
    return path


def _caught(p) -> None:
    """Wait (bounded) until the child says it caught SIGUSR1; never a blocking read."""
    buf = b""

    def seen() -> bool:
        nonlocal buf
        if select.select([p.stdout], [], [], 0.05)[0]:
            buf += os.read(p.stdout.fileno(), 100)
        return b"caught SIGUSR1" in buf

    wait_until(seen, 30, what="the child to catch SIGUSR1")


def _lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def _open(pilot, app, pid):
    await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None, 30)
    assert app.screen.pid == pid


async def _send_usr1(pilot, app):
    await pilot.press("k")
    await wait_for(pilot, lambda: isinstance(app.screen, SignalPickerScreen), 30)
    await pilot.press(*"usr1", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    body = str(app.screen.query_one("#confirm-body").render())
    return body


async def test_signal_by_name_from_the_picker(children, audit):
    from tests.helpers import ready_lines

    p = children.python(SIGUSR1_CATCHER)
    ready_lines(p)
    app = StuckApp(interval=0.3, start_pid=p.pid)
    async with app.run_test(size=(160, 45)) as pilot:
        await _open(pilot, app, p.pid)
        body = await _send_usr1(pilot, app)
        assert f"process {p.pid}" in body and "started" in body  # names the exact target
        assert "SIGUSR1" in app.screen.title_text
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen), 30)
        assert "delivered" in app.screen.title_text
        _caught(p)
    (line,) = [x for x in _lines(audit) if x["action"] == "signal"]
    assert (line["pid"], line["result"], line["signal"]) == (p.pid, "delivered", "SIGUSR1")


async def test_a_declined_confirmation_is_logged(children, audit):
    from tests.helpers import ready_lines

    p = children.python(SIGUSR1_CATCHER)
    ready_lines(p)
    app = StuckApp(interval=0.3, start_pid=p.pid)
    async with app.run_test(size=(160, 45)) as pilot:
        await _open(pilot, app, p.pid)
        await _send_usr1(pilot, app)
        await pilot.press("n")  # declined
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen))
    assert [x["result"] for x in _lines(audit)] == ["declined"]
    assert p.poll() is None  # and the process got nothing: it would print and keep running
    os.kill(p.pid, signal.SIGUSR1)  # (proof the child was able to catch it all along)
    _caught(p)


def _notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_read_only_refuses_at_the_first_key_with_one_line(children, audit):
    """k and c under --read-only: no chooser, no confirmation; one line says why and where
    the refusal was logged."""
    from tests.helpers import ready_lines

    p = children.python(CLOSE_WAIT)
    (fd,) = ready_lines(p)
    app = StuckApp(interval=0.3, start_pid=p.pid, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, app, p.pid)
        assert "READ-ONLY" in app.sub_title
        await pilot.press("k")
        await wait_for(pilot, lambda: any("k: refused" in n for n in _notes(app)), 30)
        (note,) = [n for n in _notes(app) if "k: refused" in n]
        assert "--read-only" in note and f"logged in {audit}" in note
        assert isinstance(app.screen, ProcessScreen)  # no picker, no dialog
        await pilot.press("3")
        table = app.screen.query_one("#sockets-table", KeyedTable)
        await wait_for(pilot, lambda: table.select_key(fd), 30)
        await pilot.press("c")
        await wait_for(pilot, lambda: any("c: refused" in n for n in _notes(app)), 30)
        assert isinstance(app.screen, ProcessScreen)
    lines = _lines(audit)
    assert [(x["action"], x["result"]) for x in lines] == [
        ("signal", "refused: read-only"), ("close-fd", "refused: read-only")
    ]  # fmt: skip
    assert lines[1]["fd"] == int(fd) and lines[0]["pid"] == p.pid
    assert p.poll() is None


async def test_close_a_close_wait_socket_from_the_sockets_panel(children, audit):
    from tests.helpers import ready_lines

    p = children.python(CLOSE_WAIT)
    (fd,) = ready_lines(p)
    app = StuckApp(interval=0.3, start_pid=p.pid)
    async with app.run_test(size=(160, 45)) as pilot:
        await _open(pilot, app, p.pid)
        # the kept socket dumps would be reused for an hour: only the action makes them again
        app.sampler.facts.socket_cadence = 3600.0
        await pilot.press("3")
        table = app.screen.query_one("#sockets-table", KeyedTable)
        await wait_for(pilot, lambda: table.select_key(fd), 30)
        await pilot.press("c")
        # pushed, then composed: a refresh may come between
        await wait_for(
            pilot, lambda: isinstance(app.screen, CloseFdScreen) and app.screen.query("#picker-list"), 30
        )
        methods = {m.id: m for m in app.screen.options.methods}
        assert methods["shutdown-both"].available and methods["shutdown-read"].available
        for m in methods.values():  # unavailable ones say why
            assert m.available or m.reason
        ol = app.screen.query_one("#picker-list")
        ol.highlighted = list(methods).index("shutdown-both")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#confirm-body").render())
        assert f"fd {fd}" in body and "CLOSE_WAIT" in body and "shutdown" in body
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen), 30)
        assert app.screen.ok, app.screen.lines
        assert f"logged: one line in {audit} and in syslog (authpriv)" in app.screen.lines
        # back on the panel, it is read with fresh socket dumps: the socket is no longer shown
        # CLOSE_WAIT (shut down both ways, it is in no table)
        await pilot.press("escape")
        screen = next(s for s in app.screen_stack if isinstance(s, ProcessScreen))
        shown = lambda: [r for r in (screen.panels.sockets.rows if screen.panels else ()) if r.fd == int(fd)]  # noqa: E731
        await wait_for(pilot, lambda: shown() and shown()[0].state != "CLOSE_WAIT", 30)
    (line,) = [x for x in _lines(audit) if x["action"] == "close-fd"]
    assert (line["pid"], line["method"], line["fd"]) == (p.pid, "shutdown-both", int(fd))
