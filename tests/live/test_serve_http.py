"""A real `stucktui serve` (on the fixture /proc tree, so each session is cheap) spoken to over
HTTP and websockets by aiohttp's client: every route needs the token, --max-sessions holds,
each session is its own stucktui process, and sessions end when the browser leaves or the
server stops. No browser needed: tests/live/test_serve_browser.py does the rest in chromium."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.live.servekit import Served, session_alive

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is not installed (pip install -e '.[test]')")
pytest.importorskip("textual_serve", reason="textual-serve is not installed (pip install -e '.[test]')")

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]

FIXTURE_PROC = str(Path(__file__).parent.parent / "fixtures" / "proc")


def _served(*args: str) -> Served:
    return Served(*args, proc=FIXTURE_PROC)


async def _status(session, url: str) -> int:
    async with session.get(url, allow_redirects=False) as r:
        return r.status


async def _first_frame(ws) -> bytes:
    """The TUI's first bytes: the session's stucktui is up and drawing."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), 60)
        if msg.type == aiohttp.WSMsgType.BINARY and len(msg.data) > 10:
            return msg.data
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg


async def test_every_route_needs_the_token():
    served = _served()
    try:
        url = served.url
        base, token = url.rsplit("/", 2)[0], url.rsplit("/", 2)[1]
        async with aiohttp.ClientSession() as s:
            assert await _status(s, url) == 200
            assert await _status(s, f"{url}static/js/textual.js") == 200
            assert await _status(s, f"{base}/{token}") == 302  # to /TOKEN/
            for path in ("/", "/ws", "/static/js/textual.js", "/download/x", f"/{token}x/", f"/x/{token}/"):
                assert await _status(s, base + path) == 403, path
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.ws_connect(f"{base}/ws")
            assert refused.value.status == 403
            async with s.get(url) as r:
                page = await r.text()
                assert r.headers["Referrer-Policy"] == "no-referrer"
            assert f'data-session-websocket-url="ws://{base.split("//")[1]}/{token}/ws"' in page
        served.wait_line(r"refused 127\.0\.0\.1:\d+: no token in GET '/ws' \(403\)")
        assert "opened by" not in served.output()
    finally:
        assert served.stop() == 0


async def test_sessions_are_limited_each_its_own_stucktui_and_end_with_the_browser():
    served = _served("--max-sessions", "1")
    try:
        url = served.url
        ws_url = url.replace("http:", "ws:") + "ws?width=100&height=30"
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(ws_url)
            await _first_frame(ws)
            served.wait_line(r"session 1 opened by 127\.0\.0\.1:\d+ \(read-only; 1 of 1 open\)")
            (pid,) = served.session_pids()
            assert session_alive(pid)
            with pytest.raises(aiohttp.WSServerHandshakeError) as full:
                await s.ws_connect(ws_url)
            assert full.value.status == 503
            assert await _status(s, url) == 503
            served.wait_line(r"refused 127\.0\.0\.1:\d+: websocket, 1 of 1 sessions open \(--max-sessions\)")
            await ws.close()  # the browser leaves: its stucktui ends
            served.wait_line(
                r"session 1 closed by 127\.0\.0\.1:\d+ after \d+ s: the browser left \(0 of 1 open\)"
            )
            await asyncio.to_thread(
                wait_until, lambda: not session_alive(pid), 30, what=f"session pid {pid} gone"
            )
            ws2 = await s.ws_connect(ws_url)  # room again
            await _first_frame(ws2)
            served.wait_line(r"session 2 opened by")
            assert len(served.session_pids()) == 2
            await ws2.close()
    finally:
        assert served.stop() == 0


async def test_sessions_end_with_the_server():
    served = _served("--max-sessions", "2")
    try:
        ws_url = served.url.replace("http:", "ws:") + "ws"
        async with aiohttp.ClientSession() as s:
            a, b = await s.ws_connect(ws_url), await s.ws_connect(ws_url)
            await _first_frame(a)
            await _first_frame(b)
            await asyncio.to_thread(
                wait_until, lambda: len(served.session_pids()) == 2, 30, what="two sessions"
            )
            pids = served.session_pids()
            served.proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(served.proc.wait, 30) == 0
            assert not any(session_alive(p) for p in pids)  # ended and reaped by the server
            for ws in (a, b):
                msg = await asyncio.wait_for(ws.receive(), 30)
                while msg.type == aiohttp.WSMsgType.BINARY:  # the last frames, then the close
                    msg = await asyncio.wait_for(ws.receive(), 30)
                assert msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                )
        for n in (1, 2):
            served.wait_line(rf"session {n} closed by .*: the server stopped")
    finally:
        served.stop()
