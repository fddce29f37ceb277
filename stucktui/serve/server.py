"""textual-serve's server with what a production box needs around it: every route under
/TOKEN/ (anything else: 403), at most N sessions, each one stucktui process of its own (read-only
unless --allow-actions, its audit records saying 'browser from ADDR'), every connection,
disconnection and refusal printed, and every session ended with the server.

textual-serve runs one app process per websocket (AppService) and speaks to the page its own
protocol; this module only chooses the routes, the command's environment, and the bookkeeping
(docs/serve-notes.md: the facts of textual-serve this relies on)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from stucktui.actions.audit import ENV_VIA
from stucktui.serve.options import ServeError, ServePlan, Sessions, now, path_token_ok
from stucktui.textsafe import printable

_END_WAIT = 5.0  # seconds a session's stucktui has to quit when asked, before it is killed
_SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it to another site
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


class BrowserSession(AppService):
    """One browser's stucktui: textual-serve's AppService with this session's environment, and
    an end that is bounded (asked to quit, then killed)."""

    def __init__(self, command: str, env: dict[str, str], **kw: Any) -> None:
        super().__init__(command, **kw)
        self.extra_env = env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env = super()._build_environment(width=width, height=height)
        env.update(self.extra_env)
        return env

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def end(self) -> None:
        try:
            await asyncio.wait_for(self.stop(), _END_WAIT)
        except (TimeoutError, OSError):
            pass
        proc = self._process
        if proc is None:
            return
        try:  # reaped by asyncio's watcher: a kill() first would reap it under the watcher's feet
            await asyncio.wait_for(proc.wait(), _END_WAIT)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def viewer_of(request: web.Request) -> str:
    """'ADDR:PORT' of the peer (behind an SSH tunnel that is the tunnel's end on this box)."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = str(peer[0]), peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return printable(request.remote or "unknown")


class StuckServer(Server):
    def __init__(self, plan: ServePlan) -> None:
        super().__init__(
            plan.command,
            host=plan.host,
            port=plan.port,
            title=f"stucktui on {socket.gethostname()}",
            public_url=plan.public_url or f"http://{plan.host}:{plan.port}",
        )
        self.plan = plan
        self.sessions = Sessions(plan.max_sessions)
        self.live: dict[int, tuple[web.WebSocketResponse, BrowserSession]] = {}
        self.stopping = asyncio.Event()

    def say(self, line: str) -> None:
        print(f"{now()} {line}", flush=True)

    def _count(self) -> str:
        return f"{len(self.sessions.open)} of {self.sessions.limit} open"

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        t = f"/{self.plan.token}"
        app.add_routes(
            [
                web.get(f"{t}/", self.handle_index, name="index"),
                web.get(f"{t}/ws", self.handle_websocket, name="websocket"),
                web.static(f"{t}/static", self.statics_path, name="static"),
            ]
        )
        app.on_shutdown.append(self.on_shutdown)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        token = self.plan.token
        if not path_token_ok(request.path, token):
            if path_token_ok(request.path + "/", token):
                raise web.HTTPFound(request.path + "/")
            if request.path != "/favicon.ico":  # every browser asks for it: not worth a line
                self.say(
                    f"refused {viewer_of(request)}: no token in {request.method} "
                    f"{printable(request.path, 80)!r} (403)"
                )
            return web.Response(
                status=403, text="stucktui serve: this address needs the URL (with its token) it printed\n"
            )
        response: web.StreamResponse = await handler(request)
        if not response.prepared:
            response.headers.update(_SECURITY_HEADERS)
        return response

    def _full(self, viewer: str, what: str) -> web.Response:
        n = self.sessions.limit
        self.say(f"refused {viewer}: {what}, {n} of {n} sessions open (--max-sessions)")
        return web.Response(
            status=503, text=f"stucktui serve: {n} of {n} sessions are open; try again when one ends\n"
        )

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if self.sessions.full():
            return self._full(viewer_of(request), "page")
        t = self.plan.token
        # The websocket goes back to the address the browser used (any tunnel port works).
        base = self.plan.public_url or f"{'https' if request.secure else 'http'}://{request.host}"
        scheme, rest = base.split(":", 1)
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{'wss' if scheme == 'https' else 'ws'}:{rest}/{t}/ws",
            "config": {"static": {"url": f"/{t}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        viewer = viewer_of(request)
        session = self.sessions.start(viewer, time.monotonic())
        if session is None:
            return self._full(viewer, "websocket")
        mode = "read-only" if self.plan.read_only else "actions allowed"
        self.say(f"session {session.number} opened by {viewer} ({mode}; {self._count()})")
        websocket = web.WebSocketResponse(heartbeat=15)
        service = BrowserSession(
            self.command,
            {ENV_VIA: f"browser from {viewer}", "STUCKTUI_FORCE_TUI": "1"},
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
        )
        self.live[session.number] = (websocket, service)
        why = "the browser left"
        try:
            await websocket.prepare(request)
            await service.start(
                to_int(request.query.get("width", "80"), 80), to_int(request.query.get("height", "24"), 24)
            )
            self.say(f"session {session.number}: stucktui pid {service.pid}")
            await self._process_messages(websocket, service)
        except (ValueError, AssertionError, KeyError, TypeError) as exc:  # a message not of the protocol
            why = f"bad message from the browser ({type(exc).__name__})"
        except OSError as exc:
            why = f"cannot start stucktui: {printable(exc)}"
        finally:
            await service.end()
            await websocket.close()
            del self.live[session.number]
            self.sessions.end(session)
            took = time.monotonic() - session.opened
            if self.stopping.is_set():
                why = "the server stopped"
            self.say(
                f"session {session.number} closed by {viewer} after {took:.0f} s: {why} ({self._count()})"
            )
        return websocket

    async def on_shutdown(self, app: web.Application) -> None:
        self.stopping.set()
        live = list(self.live.values())
        await asyncio.gather(*(s.end() for _, s in live), return_exceptions=True)
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped") for ws, _ in live),
            return_exceptions=True,
        )

    def banner(self) -> None:
        plan, lines = self.plan, []
        lines.append(f"stucktui serve: open {plan.url}")
        if plan.read_only:
            lines.append(
                "  read-only: signals and fd closing are refused and logged (--allow-actions allows them)"
            )
        else:
            lines.append("  actions allowed: each is audit-logged with 'via': 'browser from ADDR'")
        lines.append(
            f"  at most {plan.max_sessions} browsers at once, each with its own stucktui; "
            "Ctrl+C ends the server and every session"
        )
        if plan.public_url is None and plan.host in ("127.0.0.1", "::1"):
            host = socket.gethostname()
            lines.append(
                f"  from your machine: ssh -L {plan.port}:localhost:{plan.port} {host}, then open "
                f"http://localhost:{plan.port}/{plan.token}/"
            )
        elif plan.public_url is None:
            lines.append(
                f"  listening on {plan.host} port {plan.port}: not loopback; the token is the only lock"
            )
        for line in lines:
            print(line, flush=True)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stopping.set)
        runner = web.AppRunner(
            await self._make_app(), access_log=None, handle_signals=False, shutdown_timeout=2
        )
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, self.plan.host, self.plan.port).start()
            except OSError as exc:
                where = f"{self.plan.host} port {self.plan.port}"
                raise ServeError(f"cannot listen on {where}: {exc.strerror or exc}") from None
            self.banner()
            await self.stopping.wait()
            self.say("stopping: ending every session")
        finally:
            await runner.cleanup()


def serve_forever(plan: ServePlan) -> int:
    """Serve until SIGINT, SIGTERM or SIGHUP; raises ServeError when it cannot listen."""
    os.environ.pop(ENV_VIA, None)  # only the sessions' environments carry it
    asyncio.run(StuckServer(plan).run())
    return 0
