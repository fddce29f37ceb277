"""`stucktui report` rendering: the JSON contract, and escaping in every format."""

import json

from stucktui.collect.detail import collect_detail
from stucktui.report import Report, render
from tests.fixture_proc import fixture_root, frozen_clock, pid_where

CONTRACT = {
    "pid",
    "ppid",
    "name",
    "cmdline",
    "exe",
    "cwd",
    "user",
    "uid",
    "state",
    "start_time",
    "cpu_percent",
    "rss_bytes",
    "num_threads",
    "num_fds",
    "fd_limit",
}


def _evil_report():
    pid = pid_where(lambda s: "evil" in s.comm)
    return Report(collect_detail(fixture_root(), pid, cpu_percent=1.25, clock=frozen_clock()))


def test_json_contract_keys_and_types():
    data = json.loads(render(_evil_report(), "json"))
    assert set(data) >= CONTRACT
    assert isinstance(data["cmdline"], list) and data["cpu_percent"] == 1.2
    assert data["start_time"][4] == "-" and "T" in data["start_time"]  # ISO 8601
    assert isinstance(data["fd_limit"], int) and isinstance(data["num_fds"], int)
    assert data["parents"][-1]["pid"] == 1


def test_json_is_ascii_and_faithful():
    text = render(_evil_report(), "json")
    assert "\x1b" not in text and "\x07" not in text
    text.encode("ascii")
    data = json.loads(text)
    assert "\x1b]0;pwned\x07" in data["cmdline"]  # the value itself survives, escaped in transit
    assert "[bold]red[/] [link=http://x]click[/link]" in data["cmdline"]


def test_text_escapes_controls():
    text = render(_evil_report(), "text")
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text
    assert "[bold]red[/]" in text  # shown literally
    assert "bad-\\xff-utf8" in text
    assert all(len(line) < 5000 for line in text.splitlines())


def test_markdown_escapes_markup():
    md = render(_evil_report(), "markdown")
    assert "\x1b" not in md
    assert "\\[bold\\]red\\[/\\]" in md and "[link=" not in md.replace("\\[link=", "")
    # a table row per fact, no cell broken by a raw pipe
    for line in md.splitlines():
        if line.startswith("| command"):
            assert line.count("|") - line.count("\\|") == 3


def test_text_report_never_prints_none_for_a_socket_in_no_table():
    from stucktui.report_panels import text_lines

    item = {
        "fd": 21,
        "proto": "tcp",
        "local": "",
        "remote": "",
        "state": "UNCONN",
        "recv_q": None,
        "send_q": None,
    }
    data = {"sockets": {"states": {"UNCONN": 1}, "items": [item], "by_remote": [], "accept_queues": []}}
    text = "\n".join(text_lines(data))
    assert "None" not in text and "fd    21 tcp   - UNCONN (in no socket table: reset or shut down)" in text
