"""The real TUI in a pseudo-terminal, as a user runs it: keys in, the screen's text out.

The program runs as a child in its own session with the pty's slave as its stdio (a 40x140
terminal). Its output is drained all the time (a full pty would block it) and kept with the
escape sequences taken out, so a test can wait for a word to appear on screen.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

from tests.helpers import Children

_ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Z]|\x1b[=>78]"
)


class Tui:
    """One TUI process on a pty; ended with the test's Children (by pid)."""

    def __init__(self, children: Children, argv: list[str], env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
        env = dict(os.environ if env is None else env, TERM="xterm-256color", COLUMNS="140", LINES="40")
        self.proc = children.spawn(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.raw = b""

    def pump(self, wait: float = 0.05) -> None:
        """Read what the program wrote, waiting up to `wait` for the first bytes."""
        while True:
            ready, _, _ = select.select([self.master], [], [], wait)
            if not ready:
                return
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:  # the program closed its side: EIO
                return
            if not chunk:
                return
            self.raw += chunk
            wait = 0

    @property
    def text(self) -> str:
        return _ESCAPES.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        """Until `needle` has been on screen; the screen's text so far is kept for the next
        wait (each wait looks only at what came after the last one)."""
        start = len(self.raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if needle in _ESCAPES.sub(b"", self.raw[start:]).decode("utf-8", "replace"):
                return
            if self.proc.poll() is not None:
                break
        tail = _ESCAPES.sub(b"", self.raw[-3000:]).decode("utf-8", "replace")
        raise AssertionError(f"{needle!r} never shown in {timeout}s (rc={self.proc.poll()}): {tail!r}")

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def exit_time(self, key: str, timeout: float = 10.0) -> float:
        """Press `key` and measure how long the program takes to end (its exit status is
        collected, so it leaves no zombie); raises if it does not end within `timeout`."""
        t0 = time.monotonic()
        self.press(key)
        while self.proc.poll() is None:
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"the TUI did not exit {timeout}s after {key!r}: {self.text[-2000:]!r}")
            self.pump(0.01)
        return time.monotonic() - t0

    def close(self) -> None:
        os.close(self.master)


def run_bounded(
    children: Children, argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str, str, float]:
    """argv as a child, waited for `timeout` seconds at most: (status, stdout, stderr, seconds).
    A child still running then fails the test; it is killed, and reaped with the others once
    the hung mount is gone (a child in D waits for it)."""
    p = children.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        p.kill()
        raise AssertionError(f"{argv[:4]} still running after {timeout}s: it hangs") from exc
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - t0
