"""`stucktui serve`'s options, checked before anything listens (one line when wrong), the token,
the command each browser session runs, and the count of open sessions. Standard library only:
`stucktui --help` does not pay for aiohttp."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_PORT = 8765
DEFAULT_MAX_SESSIONS = 4
_MAX_SESSIONS_LIMIT = 64  # each session is one stucktui process with its own sampler


class ServeError(Exception):
    """A reason `stucktui serve` cannot start, in one line."""


def _port(s: str) -> int:
    if not s.isdigit() or not 1 <= int(s) <= 65535:
        raise argparse.ArgumentTypeError(f"port must be a number from 1 to 65535, not {s!r}")
    return int(s)


def _sessions(s: str) -> int:
    if not s.isdigit() or not 1 <= int(s) <= _MAX_SESSIONS_LIMIT:
        raise argparse.ArgumentTypeError(
            f"max-sessions must be a number from 1 to {_MAX_SESSIONS_LIMIT}, not {s!r}"
        )
    return int(s)


def _public_url(s: str) -> str:
    if not s.startswith(("http://", "https://")) or any(c.isspace() or c in "\"'<>" for c in s):
        raise argparse.ArgumentTypeError(f"public-url must be an http:// or https:// URL, not {s!r}")
    return s.rstrip("/")


def add_serve_parser(sub: Any) -> None:
    """`serve` and its options, on the subparsers `sub` of stucktui's parser."""
    p = sub.add_parser(
        "serve",
        help="serve the TUI to web browsers (textual-serve) for pairing: 127.0.0.1 only, a token "
        "in the URL, read-only unless --allow-actions; each browser gets its own session",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1; reach it with `ssh -L "
        f"{DEFAULT_PORT}:localhost:{DEFAULT_PORT} BOX`); any other needs --expose",
    )
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument(
        "--expose",
        action="store_true",
        help="allow a --host that is not loopback: anyone who can reach it and has the URL "
        "(with its token) sees the box",
    )
    p.add_argument(
        "--allow-actions",
        action="store_true",
        help="let browsers send signals and close fds (each is audit-logged 'via browser from "
        "ADDR'); without it every session runs --read-only",
    )
    p.add_argument(
        "--max-sessions",
        type=_sessions,
        default=DEFAULT_MAX_SESSIONS,
        help=f"browsers at once, each with its own stucktui (default {DEFAULT_MAX_SESSIONS})",
    )
    p.add_argument(
        "--public-url",
        type=_public_url,
        help="the URL browsers use when it is not the one they typed (behind a reverse proxy)",
    )


def check_host(host: str, expose: bool) -> str:
    """The address to listen on: an IP address or 'localhost'; one that is not loopback only
    with `expose`. Raises ServeError saying why not."""
    import ipaddress  # here, as the other imports of serve's work: `stucktui` itself needs none

    if host == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ServeError(f"--host must be an IP address (or localhost), not {host!r}") from None
    if not ip.is_loopback and not expose:
        raise ServeError(
            f"--host {host} is not a loopback address: anyone who can reach it could open the TUI; "
            f"add --expose to serve there, or keep 127.0.0.1 and use `ssh -L {DEFAULT_PORT}:localhost:"
            f"{DEFAULT_PORT} BOX`"
        )
    return str(ip)


def new_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def path_token_ok(path: str, token: str) -> bool:
    """True when `path` is under /TOKEN/ (compared in constant time)."""
    import hmac

    parts = path.split("/", 2)
    return (
        len(parts) == 3
        and parts[0] == ""
        and hmac.compare_digest(parts[1].encode("utf-8", "replace"), token.encode())
    )


def served_command(*, read_only: bool, interval: float, proc: str) -> str:
    """The shell command textual-serve runs once per browser: this stucktui (the same Python),
    `exec`ed so the process it waits for and ends is stucktui itself."""
    import shlex

    argv = [sys.executable, "-m", "stucktui", "--interval", f"{interval:g}"]
    if read_only:
        argv.append("--read-only")
    if proc != "/proc":
        argv += ["--proc", proc]
    return "exec " + shlex.join(argv)


def listen_url(host: str, port: int, token: str) -> str:
    """The URL to print. A wildcard address is named by the box's host name."""
    import ipaddress
    import socket

    ip = ipaddress.ip_address(host)
    name = socket.gethostname() if ip.is_unspecified else host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}/{token}/"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Session:
    number: int
    viewer: str
    opened: float


class Sessions:
    """The open browser sessions, at most `limit` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[int, Session] = {}
        self._next = 1

    def full(self) -> bool:
        return len(self.open) >= self.limit

    def start(self, viewer: str, opened: float) -> Session | None:
        """A new session for `viewer`, or None when `limit` are open."""
        if self.full():
            return None
        s = Session(self._next, viewer, opened)
        self._next += 1
        self.open[s.number] = s
        return s

    def end(self, session: Session) -> None:
        self.open.pop(session.number, None)


@dataclass(frozen=True)
class ServePlan:
    host: str
    port: int
    token: str
    command: str
    read_only: bool
    max_sessions: int
    public_url: str | None = None

    @property
    def url(self) -> str:
        if self.public_url:
            return f"{self.public_url}/{self.token}/"
        return listen_url(self.host, self.port, self.token)


def plan(args: argparse.Namespace) -> ServePlan:
    """The plan from `stucktui [--interval S] serve ...`; raises ServeError on a bad host.
    `--read-only` before `serve` wins over --allow-actions."""
    read_only = bool(args.read_only) or not args.allow_actions
    return ServePlan(
        host=check_host(args.host, args.expose),
        port=args.port,
        token=new_token(),
        command=served_command(read_only=read_only, interval=args.interval, proc=args.proc),
        read_only=read_only,
        max_sessions=args.max_sessions,
        public_url=args.public_url,
    )
