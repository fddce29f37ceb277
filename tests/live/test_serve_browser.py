"""`stucktui serve` in a real headless chromium: the page renders the live process list, `/` and a
filter narrow it, a URL without the token is refused, and `k` in a read-only session is refused
(and audit-logged 'via browser'), while with --allow-actions the signal is delivered and logged
the same way. The served stucktui runs on this box's /proc; the process the tests look for is
their own child, ended by pid like the server (tests/live/servekit.py)."""

from __future__ import annotations

import json
import os
import re
import select
import signal

import pytest

from tests.helpers import SIGUSR1_CATCHER, wait_until
from tests.live.servekit import Served, browser_missing, press, start_chromium, wait_screen

pytest.importorskip("textual_serve", reason="textual-serve is not installed (pip install -e '.[test]')")
if (_why := browser_missing()) is not None:
    pytest.skip(_why, allow_module_level=True)

# A busy box with thousands of processes can take a minute for the first snapshot.
pytestmark = [pytest.mark.live, pytest.mark.ui, pytest.mark.timeout(400)]
LIST_WAIT = 150.0


@pytest.fixture
def browser():
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def audit(tmp_path):
    return tmp_path / "audit.log"


def _serve(audit, *args: str) -> Served:
    return Served(*args, env={"STUCKTUI_AUDIT_LOG": str(audit)})


def _process_list(driver, served: Served) -> str:
    """Open the page and leave the findings for the process list (Esc), as a viewer would."""
    driver.get(served.url)
    wait_screen(driver, lambda s: "stucktui" in s and "PID" in s, what="the TUI in the page")
    served.wait_line(r"session 1 opened by 127\.0\.0\.1:\d+ ")
    press(driver, "\ue00c")  # Esc
    return wait_screen(
        driver, lambda s: "COMMAND" in s and "first snapshot" not in s, LIST_WAIT, what="the process list"
    )


def _rows(text: str) -> int:
    return sum(1 for line in text.splitlines() if re.match(r"\s*[│ ]*\s*\d+\s", line))


def _filter(driver, word: str) -> str:
    press(driver, "/")
    wait_screen(driver, lambda s: "filter:" in s, what="the filter box")
    press(driver, word)
    return wait_screen(driver, lambda s: f"filter: '{word}'" in s, what="the filtered list")


def test_the_browser_shows_the_list_and_filters_it(children, browser, audit):
    p = children.python(SIGUSR1_CATCHER, "stucktui-serve-probe")
    children.wait_ready(p)
    served = _serve(audit)
    try:
        before = _process_list(browser, served)
        assert _rows(before) > 3, before
        after = _filter(browser, "stucktui-serve-probe")
        after = wait_screen(browser, lambda s: str(p.pid) in s and _rows(s) < _rows(before), what="the child")
        assert "READ-ONLY" in after
        if out := os.environ.get("STUCKTUI_SERVE_SCREENSHOT"):  # scripts/make_serve_screenshot.py
            browser.save_screenshot(out)
    finally:
        code = served.stop()
    assert code == 0
    served.wait_line(r"session 1 closed by 127\.0\.0\.1:\d+ after \d+ s: the server stopped \(0 of 4 open\)")


def test_a_url_without_the_token_is_refused(browser, audit):
    served = _serve(audit)
    try:
        token_url = served.url
        for url in (token_url.rsplit("/", 2)[0] + "/", token_url[:-5] + "xxxx/"):
            browser.get(url)
            body = browser.find_element("tag name", "body").text
            assert "needs the URL (with its token)" in body
        served.wait_line(r"refused 127\.0\.0\.1:\d+: no token in GET '/' \(403\)")
        assert "opened by" not in served.output()
    finally:
        served.stop()


def _audit_lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _caught(p) -> bool:
    return bool(select.select([p.stdout], [], [], 0)[0]) and b"caught SIGUSR1" in os.read(
        p.stdout.fileno(), 100
    )


@pytest.mark.parametrize("allow", [False, True], ids=["read-only", "allow-actions"])
def test_k_from_the_browser(children, browser, audit, allow):
    p = children.python(SIGUSR1_CATCHER, "stucktui-serve-target")
    children.wait_ready(p)
    served = _serve(audit, *(["--allow-actions"] if allow else []))
    try:
        _process_list(browser, served)
        _filter(browser, "stucktui-serve-target")
        wait_screen(browser, lambda s: str(p.pid) in s, what="the child in the list")
        press(browser, "\ue007")  # Enter in the filter box: opens the top match, the child
        wait_screen(browser, lambda s: f"{p.pid}" in s and "Overview" in s, what="the process view")
        press(browser, "k")
        outcome = "delivered" if allow else "refused: read-only"
        if allow:
            # the picker's own title: the child's command line on the view names SIGUSR1 too
            wait_screen(
                browser, lambda s: "Send a signal" in s and "signal name:" in s, what="the signal picker"
            )
            press(browser, "usr1", "\ue007")
            wait_screen(
                browser, lambda s: f"Send SIGUSR1 (10) to process {p.pid}?" in s, what="the confirmation"
            )
            press(browser, "y")
            wait_screen(browser, lambda s: f"signal: {outcome}" in s, what=f"'{outcome}'")
        else:  # refused at the key, in one line: no picker, no confirmation
            wait_screen(browser, lambda s: "k: refused, stucktui runs --read-only" in s, what="the refusal")
        if allow:
            wait_until(lambda: _caught(p), 30, what="the child to catch SIGUSR1")
        (line,) = [x for x in _audit_lines(audit) if x["action"] == "signal"]
        assert line["pid"] == p.pid and line["result"] == outcome
        assert re.fullmatch(r"browser from 127\.0\.0\.1:\d+", line["user"]["via"])
        assert line["user"]["uid"] == os.getuid()
    finally:
        served.stop()
    if not allow:
        assert p.poll() is None and not _caught(p)
        os.kill(p.pid, signal.SIGUSR1)  # the child could catch it all along
        wait_until(lambda: _caught(p), 30, what="the child to catch SIGUSR1")
