"""Reports that paste into a chat channel (issue 19, item 11): Markdown rendered by a CommonMark
parser shows hostile text literally and commands as code spans, with no backslash escapes;
`--brief` stays within 25 lines for one process; `--severity`, `--limit`; text lines wrapped at
100 columns; a Python stack shared by 8 threads printed once; `report --all` grouped by process."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from markdown_it import MarkdownIt

from stucktui.collect.detail import collect_detail
from stucktui.model.findings import Finding
from stucktui.model.waits import ChainEnd, Hop, WaitChain
from stucktui.report import BoxReport, Report, render, render_box
from stucktui.report.brief import select
from stucktui.report.pasting import code, prose, wrap
from stucktui.report.sections import markdown_lines, text_lines
from tests.fixture_proc import PROC, fixture_root, frozen_clock, pid_where

EVIL = "[bold]red[/] [x](http://evil.example/) <script>alert(1)</script> *y* `z` a|b @channel :fire:"


def _finding(n: int, severity: str = "critical", pid: int = 7, tids: tuple[int, ...] = ()) -> Finding:
    return Finding(
        f"rule-{n}",
        severity,  # type: ignore[arg-type]
        pid,
        f"evil {EVIL}",
        f"finding {n}: {'4 threads of pid 7 are blocked writing to fd 2 (pipe:[5]) ' * 3}{EVIL}",
        (f"holders: pid {pid} fd 3 (pipe:[5]) {EVIL}",) * 3,
        (
            "press c on fd 2 in the Files panel (4)",
            f"from a script: `stucktui close-fd {pid} 2 --method shutdown-both`",
            "look at the reader " * 10,
        ),
        tids=tids,
    )


def _chain(tid: int) -> WaitChain:
    hop = Hop(7, "api", (tid,), "pipe-write", "write to fd 1 (pipe:[5])", "nobody reads")
    return WaitChain((hop,), ChainEnd("stopped", 12, "sleep", "pid 12 (sleep) stopped (state T)"))


def _report(findings=(), chains=()) -> Report:
    pid = pid_where(lambda s: "evil" in s.comm)
    detail = collect_detail(fixture_root(), pid, cpu_percent=1.0, clock=frozen_clock())
    return Report(detail, None, tuple(findings), tuple(chains))


def _tokens(md: str):
    """Every inline and block token of `md` as GitHub's CommonMark (with GFM tables) reads it."""
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for tok in parser.parse(md):
        yield tok
        yield from tok.children or ()


def test_markdown_renders_hostile_text_literally_and_commands_as_code_spans():
    md = render(_report([_finding(1), _finding(2, "warning")]), "markdown")
    tokens = list(_tokens(md))
    kinds = {t.type for t in tokens}
    assert not kinds & {"link_open", "html_inline", "html_block", "s_open", "strong_open", "table_open"}
    # emphasis is stucktui's own (headings, severities): no word of the findings becomes markup
    emphasised = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "em_open"]
    assert all(
        e.startswith(("stucktui report", "Findings", "CRITICAL", "WARNING", "Process", "taken at"))
        for e in emphasised
    )
    codes = [t.content for t in tokens if t.type == "code_inline"]
    assert "stucktui close-fd 7 2 --method shutdown-both" in codes  # a command to copy, whole
    assert "pipe:[5]" in codes and "[bold]red[/]" in codes and "`z`" not in codes and "z" in codes
    shown = "".join(t.content for t in tokens if t.type in ("text", "code_inline", "fence"))
    assert "\\[" not in md and "\\_" not in md  # no backslash escapes to read around
    for word in ("[x](http://evil.example/)", "<script>alert(1)</script>", "@channel", "a|b", "*y*"):
        assert word in shown
    (fence,) = [t for t in tokens if t.type == "fence"]  # the facts: a block, read as it is
    assert "[link=http://x]click[/link]" in fence.content and "pid:        " in fence.content


def test_a_code_span_holds_any_backticks_and_prose_quotes_only_what_is_markup():
    parser = MarkdownIt("commonmark")
    for value in ("a`b", "`x", "x``", "``", "plain"):
        (para,) = [t for t in parser.parse(code(value)) if t.type == "inline"]
        assert [c.content for c in para.children if c.type == "code_inline"] == [value]
    assert (
        prose("fd 6 to 10.0.0.5:5432: CLOSE_WAIT, Recv-Q 1")
        == "fd 6 to 10.0.0.5:5432: `CLOSE_WAIT`, Recv-Q 1"
    )
    assert prose("run `ss -tnp` now (pipe:[5])") == "run `ss -tnp` now (`pipe:[5]`)"


def test_brief_is_at_most_25_lines_for_one_process_with_chains_and_next_steps():
    findings = [_finding(i, tids=(100 + i,)) for i in range(9)]
    rep = _report(findings, [_chain(100), _chain(101)])
    for fmt in ("text", "markdown"):
        out = render(rep, fmt, brief=True).splitlines()
        assert len(out) <= 25, (fmt, len(out))
        body = "\n".join(out)
        assert "9 findings (critical 9)" in out[0]
        assert "chain: STUCK pid 7 (api) threads 100: write to fd 1" in body  # its own chain
        assert "next: in stucktui, press c on fd 2" in body and "evidence" not in body
        assert "more findings" in out[-1] and "stucktui report " in out[-1]  # where to see the rest
    one = render(_report([_finding(1)]), "text", brief=True).splitlines()
    assert len(one) < 12 and "more findings" not in "\n".join(one)
    none = render(_report([], [_chain(5)]), "text", brief=True).splitlines()
    assert "no findings" in none[0] and none[1].startswith("chain: STUCK pid 7 (api)")


def test_severity_and_limit_choose_the_most_severe_findings():
    found = (_finding(1), _finding(2, "warning"), _finding(3, "info"), _finding(4, "info"))
    assert [f.id for f in select(found, "warning")] == ["rule-1", "rule-2"]
    assert [f.id for f in select(found, "critical")] == ["rule-1"]
    assert [f.id for f in select(found, None, 3)] == ["rule-1", "rule-2", "rule-3"]
    assert [f.id for f in select(found, "info", 1)] == ["rule-1"]
    assert select(found) == found


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stucktui", "--proc", str(PROC), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_options_are_checked_and_described():
    bad = _cli("report", "--all", "--brief", "--format", "json")
    assert bad.returncode == 2 and "--brief is for --format text or markdown" in bad.stderr
    assert _cli("report", "--all", "--limit", "0").returncode == 2
    assert _cli("report", "--all", "--format", "jsonl", "--severity", "warning").returncode == 2
    ok = _cli("report", "--all", "--no-python", "--severity", "warning", "--limit", "3", "--brief")
    assert ok.returncode == 0 and ok.stdout.startswith("stucktui report --all: ")
    helped = _cli("report", "--help").stdout
    assert "exit status:" in helped and "  4  --timeout passed first" in helped and "--brief" in helped


def test_text_lines_are_wrapped_at_100_columns():
    text = render(_report([_finding(1)], [_chain(5)]), "text")
    long_words = [w for line in text.splitlines() for w in line.split() if len(w) > 96]
    assert all(len(line) <= 100 or any(w in line for w in long_words) for line in text.splitlines())
    assert "\n    " in text  # a continuation is indented under its line
    wrapped = wrap(["  " + "word " * 40, "short", "  " + "x" * 150 + " y"])
    assert all(len(x) <= 100 for x in wrapped[:-3]) and wrapped[-3] == "short"
    assert wrapped[1].startswith("    word") and " ".join(wrapped[:-3]).split() == ["word"] * 40
    assert wrapped[-2:] == ["  " + "x" * 150, "    y"]  # a word is never broken


def test_a_python_stack_shared_by_8_threads_is_printed_once():
    stack = [
        {"function": "wait", "file": "threading.py", "line": 327},
        {"function": "work", "file": "w.py", "line": 4},
    ]
    threads = [{"tid": 10 + i, "name": "w", "python_stack": stack} for i in range(8)]
    threads.append(
        {"tid": 1, "name": "main", "python_stack": [{"function": "<module>", "file": "m.py", "line": 9}]}
    )
    data = {"thread_groups": [], "threads": threads}
    lines = text_lines(data)
    assert sum("wait (threading.py:327)" in x for x in lines) == 1
    assert "  8 threads (10, 11, 12, 13, 14, 15, 16, 17) Python stack, innermost first:" in lines
    assert "  thread 1 (main) Python stack, innermost first:" in lines
    assert sum("wait (threading.py:327)" in x for x in markdown_lines(data)) == 1


def test_report_all_is_grouped_by_process_most_severe_first():
    found = (_finding(1, pid=7), _finding(2, "warning", pid=9), _finding(3, "warning", pid=7))
    rep = BoxReport(found, 120, 4, 1_700_000_000.0, 0.05, chains=(_chain(5),))
    text = render_box(rep, "text")
    assert text.index("\npid 7 (evil") < text.index("[CRITICAL rule-1]") < text.index("[WARNING rule-3]")
    assert text.index("[WARNING rule-3]") < text.index("\npid 9 (evil") < text.index("[WARNING rule-2]")
    assert "pid 7 (evil [bold]red[/]" in text and ": 2 findings" in text and ": 1 finding\n" in text
    brief = render_box(rep, "text", brief=True)
    assert "evidence" not in brief and "chain: STUCK pid 7 (api)" in brief
    md = render_box(rep, "markdown")
    assert not {t.type for t in _tokens(md)} & {"link_open", "html_inline", "html_block"}
    assert md.index("*pid 7*") < md.index("*pid 9*")
    assert replace(rep, findings=()).findings == ()
