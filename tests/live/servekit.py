"""A real `stucktui serve` run as a child of the test (its output read by a thread, ended by its
pid, then any session it left ended by pid), and a real headless Debian chromium driven by
selenium through /usr/bin/chromedriver (no browser download), reading the terminal's text from
the page's own xterm.js. Used by tests/live/test_serve_*.py and scripts/make_serve_screenshot.py."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import wait_until

CHROMIUM_FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
]

# textual-serve's page keeps its xterm.js Terminal to itself; each xterm addon is handed the
# terminal in activate() (`this._terminal = terminal`), so a setter on Object.prototype, installed
# before the page's script runs, sees it. The test then reads the screen as the viewer sees it.
_TERMINAL_HOOK = """
Object.defineProperty(Object.prototype, '_terminal', {configurable: true, set(v) {
  if (v && v.buffer && !window.__stucktuiTerminal) window.__stucktuiTerminal = v;
  Object.defineProperty(this, '_terminal', {value: v, writable: true, configurable: true, enumerable: true});
}});
"""
_READ_SCREEN = """
const t = window.__stucktuiTerminal;
if (!t) return null;
const b = t.buffer.active, out = [];
for (let i = 0; i < t.rows; i++) {
  const l = b.getLine(b.viewportY + i);
  out.push(l ? l.translateToString(true) : '');
}
return out.join('\\n');
"""


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for tool, pkg in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {pkg}; .ci/run tries to)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """`python -m stucktui serve --port P ARGS...`, its stdout and stderr gathered line by line."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, interval: str = "1", proc: str = "/proc"
    ) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "stucktui", "--interval", interval, "--proc", proc]
        argv += ["serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*argv, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        def found() -> re.Match[str] | bool | None:
            m = next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)
            return m or (self.proc.poll() is not None and not self._reader.is_alive())

        try:
            m = wait_until(found, timeout, interval=0.05, what=f"a line matching {pattern!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nserve printed:\n{self.output()}") from None
        if not isinstance(m, re.Match):
            raise AssertionError(f"no line matching {pattern!r}; serve exited:\n{self.output()}")
        return m

    @property
    def url(self) -> str:
        return self.wait_line(r"open (http://\S+)").group(1).replace(f"{socket.gethostname()}:", "127.0.0.1:")

    def session_pids(self) -> list[int]:
        return [int(m.group(1)) for line in list(self.lines) if (m := re.search(r"stucktui pid (\d+)", line))]

    def stop(self) -> int | None:
        """SIGTERM and a bounded wait; SIGKILL if it does not go; then any session process it
        left behind ended by pid. Returns its exit status (None when it had to be killed)."""
        code: int | None = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        for pid in self.session_pids():
            if session_alive(pid):
                os.kill(pid, signal.SIGKILL)
        return code


def session_alive(pid: int) -> bool:
    """Is this pid still a stucktui session (not a zombie, not a reused pid)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"stucktui" in cmdline and state != "Z"


def start_chromium(width: int = 1280, height: int = 800) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--window-size={width},{height}")
    opts.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="stucktui-chromium-"))
    driver = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _TERMINAL_HOOK})
    return driver


def screen(driver: Any) -> str:
    """The terminal's text as the page shows it ('' before the terminal exists)."""
    return str(driver.execute_script(_READ_SCREEN) or "")


def wait_screen(driver: Any, check: Callable[[str], object], timeout: float = 40.0, what: str = "") -> str:
    last = [""]

    def ok() -> str | None:
        last[0] = screen(driver)
        return last[0] if check(last[0]) else None

    try:
        return wait_until(ok, timeout, interval=0.1, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the browser shows:\n{last[0]}") from None


def press(driver: Any, *keys: str) -> None:
    """Type into the terminal, as a viewer does (xterm.js's hidden textarea has the focus)."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    for k in keys:
        box.send_keys(k)
