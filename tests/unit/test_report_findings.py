"""The `findings` section of `stucktui report` and the box report of `report --all`: the JSON
keys are a contract, findings come first, and hostile text is escaped in every format."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from stucktui.collect.detail import collect_detail
from stucktui.model.findings import Finding
from stucktui.report import BoxReport, Report, render, render_box
from tests.fixture_proc import fixture_root, frozen_clock, pid_where

EVIL = "\x1b]0;pwned\x07 [bold]red[/] bad-\udcff-utf8 *x* `y`"


def _finding(severity: str = "critical", pid: int = 7) -> Finding:
    return Finding(
        "pipe-writers-blocked",
        severity,  # type: ignore[arg-type]
        pid,
        EVIL,
        f"4 threads of pid {pid} ({EVIL}) are blocked writing to fd 2",
        (f"holders: pid {pid} ({EVIL}) fd 3 (r)",),
        ("press c on fd 2 in the Files panel (4)", f"cat /proc/{pid}/fd/2 {EVIL}"),
    )


def _report(findings=()) -> Report:
    pid = pid_where(lambda s: "evil" in s.comm)
    detail = collect_detail(fixture_root(), pid, cpu_percent=1.0, clock=frozen_clock())
    return Report(detail, None, findings)


def test_json_findings_contract():
    data = json.loads(render(_report((_finding(), _finding("info"))), "json"))
    assert list(data)[0] == "findings"
    keys = {"id", "severity", "summary", "evidence", "next_steps", "since"}  # keys are added, never dropped
    assert [set(f) for f in data["findings"]] == [keys] * 2
    assert data["findings"][0]["since"] is None  # not a finding that depends on time
    first = data["findings"][0]
    assert (first["id"], first["severity"]) == ("pipe-writers-blocked", "critical")
    assert EVIL in first["summary"]  # the value survives, escaped in transit (ensure_ascii)
    assert isinstance(first["evidence"], list) and isinstance(first["next_steps"], list)


def test_no_findings_read_as_none():
    """The report renders the findings it is given (inspection computes them), none as none."""
    data = json.loads(render(_report(), "json"))
    assert data["findings"] == []  # the fixture process shows no stuck pattern
    assert "Findings: none" in render(_report(), "text")


def test_text_puts_findings_first_and_escapes_them():
    text = render(_report((_finding(),)), "text")
    assert "\x1b" not in text and "\x07" not in text
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if "Findings (1" in line)
    facts = next(i for i, line in enumerate(lines) if line.strip().startswith("pid:"))
    assert head < facts
    assert "[CRITICAL pipe-writers-blocked]" in text and "\\x1b]0;pwned\\x07" in text
    assert "    evidence: holders" in text and "    next: in stucktui, press c on fd 2" in text


def test_markdown_findings_escape_markup():
    md = render(_report((_finding(),)), "markdown")
    assert "\x1b" not in md
    assert "*Findings (1, most severe first)*" in md
    assert "`[bold]red[/]`" in md and "`*x*`" in md and "`y`" in md and "\\[" not in md
    assert md.index("*Findings") < md.index("pid:        ")


def test_box_report_all_formats():
    rep = BoxReport((_finding(pid=7), _finding("warning", pid=9)), 120, 4, 1_700_000_000.0, 0.05)
    data = json.loads(render_box(rep, "json"))
    assert (data["processes"], data["examined"]) == (120, 4)
    assert [(f["pid"], f["severity"]) for f in data["findings"]] == [(7, "critical"), (9, "warning")]
    assert set(data["findings"][0]) == {
        "pid", "name", "id", "severity", "summary", "evidence", "next_steps", "since"
    }  # fmt: skip
    assert data["cpu_window_s"] is None  # CPU% not measured for this report
    text = render_box(rep, "text")
    assert text.startswith("stucktui report --all: 2 findings in 2 of 120 processes")
    assert "\x1b" not in text and "\npid 7 (\\x1b]0;pwned\\x07" in text  # grouped by process
    assert "\n    [CRITICAL pipe-writers-blocked] 4 threads of pid 7" in text
    md = render_box(rep, "markdown")
    assert "\x1b" not in md and "- *CRITICAL* `pipe-writers-blocked`: 4 threads" in md
    assert "*pid 7* (`\\x1b]0;pwned\\x07`" in md and "`[bold]red[/]`" in md
    empty = BoxReport((), 120, 0, 1_700_000_000.0, 0.05)
    assert (
        "no findings" in render_box(empty, "text") and json.loads(render_box(empty, "json"))["findings"] == []
    )


def test_box_report_says_as_of_when_with_its_cpu_window_and_since_when():
    """report --all's header: the time of day it was taken and the window CPU% is from; a
    finding that depends on time says since when stucktui saw it (JSON: ISO 8601)."""
    taken = 1_700_000_000.0
    aged = replace(_finding(pid=7), since=taken - 300)
    rep = BoxReport((aged, _finding("warning", pid=9)), 120, 4, taken, 0.05, cpu_window=0.412)
    as_of = f"as of {time.strftime('%H:%M:%S', time.localtime(taken))} (CPU% over 0.41 s)"
    text = render_box(rep, "text")
    assert text.splitlines()[1] == as_of
    since = time.strftime("%H:%M:%S", time.localtime(taken - 300))
    assert f"    since: {time.strftime('%Y-%m-%dT', time.localtime(taken - 300))}" in text and since in text
    assert text.count("    since: ") == 1  # only the finding that depends on time
    md = render_box(rep, "markdown")
    assert f"_{as_of}_" in md and md.count("  - since: ") == 1
    data = json.loads(render_box(rep, "json"))
    assert data["cpu_window_s"] == 0.412
    assert data["findings"][0]["since"].startswith(time.strftime("%Y-%m-%dT", time.localtime(taken - 300)))
    assert since in data["findings"][0]["since"] and data["findings"][1]["since"] is None
    unknown = render_box(replace(rep, cpu_window=None), "text")
    assert "(CPU unknown)" in unknown.splitlines()[1]
