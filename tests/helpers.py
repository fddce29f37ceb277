"""Shared test helpers: bounded polling and child processes ended by pid."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import TypeVar

from stucktui import incidents

T = TypeVar("T")

# a child: a pool whose connections the server reset (Go's keepalive probes get a reset once the far
# end is gone): every socket left CLOSE_WAIT for no table at all, still held by its fd.
RESET_POOL = """
import socket, struct, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
pool = []
for _ in range(25):
    pool.append(socket.create_connection(srv.getsockname()))
    a = srv.accept()[0]
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()                    # a reset
srv.close()
ready()
while True:
    time.sleep(1000)
"""


# a child (children.python) that says "caught SIGUSR1" once it got one, then idles
SIGUSR1_CATCHER = """
import signal, sys, time
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
ready()
while not got:
    time.sleep(0.05)
sys.stdout.write("caught SIGUSR1\\n"); sys.stdout.flush()
time.sleep(600)
"""


def wait_until(
    predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll until predicate() is truthy; never a fixed sleep. Generous timeout for a loaded
    2-core machine; returns the truthy value."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            v = predicate()
            if v:
                return v
        except Exception as exc:  # the condition may not be readable yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}") from last_exc


def ready_lines(p: subprocess.Popen[bytes], timeout: float = 30.0) -> list[str]:
    """Wait until the child prints 'ready' and return the words it printed before that.
    Reads the raw fd: a buffered readline could swallow the 'ready' line."""
    assert p.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline and b"ready\n" not in buf:
        r, _, _ = select.select([p.stdout], [], [], 0.1)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
        elif p.poll() is not None:
            break
    if b"ready\n" not in buf:
        raise AssertionError(f"child {p.pid} never became ready (rc={p.poll()}, out={buf[-300:]!r})")
    return buf.split(b"ready\n", 1)[0].decode().split()


class Children:
    """Starts child processes and ends exactly those, each by its own pid."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def python(self, code: str, *args: str, **kw) -> subprocess.Popen[bytes]:
        """Run dedented Python code in a child. The child prints 'ready' on stdout when the
        code calls ready(); use .wait_ready()."""
        prelude = "import sys\ndef ready():\n    sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
        return self.spawn([sys.executable, "-c", prelude + textwrap.dedent(code), *args], **kw)

    def incident(self, program: incidents.Program, *args: str, **kw) -> subprocess.Popen[bytes]:
        """Run one of `stucktui demo`'s programs (stucktui/incidents/PROGRAM.py) as the demo runs
        it; it names itself and prints 'ready' too: use .wait_ready()."""
        kw.setdefault("env", incidents.environ())
        return self.spawn(incidents.argv(program, *args), **kw)

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen[bytes]:
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def wait_ready(p: subprocess.Popen[bytes], timeout: float = 20.0) -> list[str]:
        return ready_lines(p, timeout)

    def end(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (p.stdout, p.stderr, p.stdin):
            if f:
                f.close()

    def end_all(self) -> None:
        for p in reversed(self.procs):
            self.end(p)
        self.procs.clear()
