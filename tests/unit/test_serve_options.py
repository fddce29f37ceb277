"""`stucktui serve`'s checks before it listens: the address, the token in the path, the session
limit, the command each browser runs, and every bad input as one line with an exit status (real
`python -m stucktui serve` runs, side by side)."""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from stucktui.actions.audit import ENV_VIA, caller_identity
from stucktui.serve.options import (
    ServeError,
    Sessions,
    check_host,
    listen_url,
    new_token,
    path_token_ok,
    plan,
    served_command,
)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost"])
def test_loopback_needs_no_flag(host):
    assert check_host(host, expose=False) in ("127.0.0.1", "127.3.4.5", "::1")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.0.2.7", "fe80::1"])
def test_any_other_address_needs_expose(host):
    with pytest.raises(ServeError, match="not a loopback address.*--expose"):
        check_host(host, expose=False)
    assert check_host(host, expose=True)


@pytest.mark.parametrize("host", ["example.com", "", "127.0.0.1:80", "1.2.3", "[::1]"])
def test_a_host_is_an_ip_address(host):
    with pytest.raises(ServeError, match="must be an IP address"):
        check_host(host, expose=True)


def test_the_token_is_the_first_path_segment():
    t = new_token()
    assert len(t) >= 32 and t != new_token()
    for ok in (f"/{t}/", f"/{t}/ws", f"/{t}/static/js/textual.js"):
        assert path_token_ok(ok, t), ok
    for bad in (
        "/",
        "",
        "/ws",
        f"/{t}",
        f"/{t}x/",
        f"/{t[:-1]}/",
        f"//{t}/",
        f"/static/{t}/",
        f"x/{t}/",
        "/é/",
    ):
        assert not path_token_ok(bad, t), bad


def test_sessions_are_limited_and_freed():
    s = Sessions(2)
    a, b = s.start("127.0.0.1:1", 0.0), s.start("127.0.0.1:2", 0.0)
    assert a is not None and b is not None and a.number != b.number
    assert s.full() and s.start("127.0.0.1:3", 0.0) is None
    s.end(a)
    c = s.start("127.0.0.1:3", 0.0)
    assert c is not None and c.number not in (a.number, b.number)  # numbers are never reused
    s.end(a)  # twice: harmless
    assert len(s.open) == 2


def test_the_served_command_is_this_stucktui():
    argv = shlex.split(served_command(read_only=True, interval=1.5, proc="/proc"))
    assert argv == ["exec", sys.executable, "-m", "stucktui", "--interval", "1.5", "--read-only"]
    argv = shlex.split(served_command(read_only=False, interval=2, proc="/tmp/a dir"))
    assert argv[-4:] == ["--interval", "2", "--proc", "/tmp/a dir"] and "--read-only" not in argv


def _args(**kw) -> argparse.Namespace:
    base = dict(
        host="127.0.0.1", port=8765, expose=False, allow_actions=False, max_sessions=4, public_url=None
    )
    return argparse.Namespace(**{**base, "read_only": False, "interval": 2.0, "proc": "/proc", **kw})


def test_read_only_unless_allowed_and_read_only_wins():
    assert plan(_args()).read_only
    assert not plan(_args(allow_actions=True)).read_only
    assert plan(_args(allow_actions=True, read_only=True)).read_only
    assert "--read-only" in plan(_args(allow_actions=True, read_only=True)).command


def test_the_printed_url():
    assert listen_url("127.0.0.1", 8765, "T") == "http://127.0.0.1:8765/T/"
    assert listen_url("::1", 9, "T") == "http://[::1]:9/T/"
    assert listen_url("0.0.0.0", 9, "T") == f"http://{socket.gethostname()}:9/T/"
    p = plan(_args(public_url="https://box.example/stuck"))
    assert p.url == f"https://box.example/stuck/{p.token}/"


def test_audit_records_say_via_browser(monkeypatch):
    monkeypatch.delenv(ENV_VIA, raising=False)
    assert "via" not in caller_identity()
    monkeypatch.setenv(ENV_VIA, "browser from 127.0.0.1:40000")
    who = caller_identity()
    assert who["via"] == "browser from 127.0.0.1:40000" and who["uid"] == os.getuid()


# -- bad input: one line on stderr, nothing on stdout, an exit status, no traceback ----------------
def _taken_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


_HELD = _taken_port()
_NO_TEXTUAL_SERVE = (
    "import sys; sys.modules['textual_serve'] = None; from stucktui.cli import main; "
    "sys.exit(main(['serve', '--port', '1']))"
)
CASES: list[tuple[str, list[str], int, str]] = [
    ("port-0", ["serve", "--port", "0"], 2, "port must be a number from 1 to 65535"),
    ("port-word", ["serve", "--port", "http"], 2, "port must be a number"),
    ("port-huge", ["serve", "--port", "65536"], 2, "port must be a number"),
    ("host-name", ["serve", "--host", "example.com"], 2, "--host must be an IP address"),
    ("host-exposed", ["serve", "--host", "0.0.0.0"], 2, "not a loopback address"),
    ("sessions-0", ["serve", "--max-sessions", "0"], 2, "max-sessions must be a number from 1 to 64"),
    ("sessions-word", ["serve", "--max-sessions", "x"], 2, "max-sessions must be a number"),
    ("public-url", ["serve", "--public-url", "box:8765"], 2, "public-url must be an http:// or https:// URL"),
    ("port-taken", ["serve", "--port", str(_HELD.getsockname()[1])], 1, "cannot listen on 127.0.0.1 port"),
    (
        "no-textual-serve",
        ["-c", _NO_TEXTUAL_SERVE],
        1,
        "needs textual-serve (textual_serve is not installed)",
    ),
]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, *argv] if argv[0] == "-c" else [sys.executable, "-m", "stucktui", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def results() -> dict[str, subprocess.CompletedProcess[str]]:
    try:
        with ThreadPoolExecutor(4) as pool:
            return dict(zip([c[0] for c in CASES], pool.map(_run, [c[1] for c in CASES]), strict=True))
    finally:
        _HELD.close()


@pytest.mark.parametrize(("name", "argv", "status", "says"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(results, name, argv, status, says):
    r = results[name]
    assert (r.returncode, r.stdout) == (status, ""), r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert says in r.stderr and r.stderr.startswith("stucktui"), r.stderr
