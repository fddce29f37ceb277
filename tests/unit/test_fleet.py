"""The fleet formats of `report --all`: OpenMetrics for node_exporter's textfile collector,
checked by prometheus_client's two parsers (the Prometheus text format's and OpenMetrics'),
and JSON lines for Ansible / pssh; hostile process names, bounded cardinality, a scan cut
short."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from stucktui.model.findings import Finding, sort_findings
from stucktui.model.process import ProcessRow, Visibility
from stucktui.report import BoxReport
from stucktui.report.fleet import FleetBox, close_wait
from stucktui.report.jsonl import render_jsonl
from stucktui.report.openmetrics import MAX_PROCESSES, NAME_MAX, render_openmetrics
from stucktui.textsafe import printable

EVIL = '\x1b]0;pwned\x07 "q"\\ \n[bold]\u202e-\udcff'  # escapes, quotes, backslash, newline, bidi, bad UTF-8
TAKEN = 1_796_644_000.25
RULES = ("pipe-writers-blocked", "close-wait-unread", "epoll-spin")


def _finding(
    pid: int, severity: str = "critical", rule: str = "pipe-writers-blocked", name: str = EVIL
) -> Finding:
    return Finding(
        rule,
        severity,  # type: ignore[arg-type]
        pid,
        name,
        f"4 threads of pid {pid} ({name}) are blocked writing to fd 2",
        (f"holders: pid {pid} ({name}) fd 3 (r)",),
        (f"cat /proc/{pid}/fd/2 {name}",),
        fds=(2,),
    )


def _row(pid: int, close_wait: int | None, name: str = "srv") -> ProcessRow:
    return ProcessRow(
        pid, 1, 0, "root", "S", name, (name,), 0.0, 1 << 20, 1, 5, TAKEN - 60, pid * 10, False, close_wait
    )


def _box(findings=(), rows=(), *, cut=False) -> FleetBox:
    seen = Visibility(120, 3, 1, None, 400, as_root=True)
    rep = BoxReport(tuple(sort_findings(list(findings))), 120, 4, TAKEN, 0.75, visibility=seen)
    if cut:
        return FleetBox("web-1", TAKEN, None, None, ("timed out after 20 s (a hung filesystem?)",), 20.0)
    return FleetBox("web-1", TAKEN, rep, close_wait(list(rows)))


def _samples(text: str, parse=parse_openmetrics) -> dict[str, list]:
    return {f.name: f.samples for f in parse(text)}


def _value(samples, **labels) -> float:
    (hit,) = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return hit


def test_openmetrics_parses_in_both_formats_with_the_same_samples():
    findings = [
        _finding(7),
        _finding(7, "warning", "close-wait-unread"),
        _finding(9, "info", "epoll-spin", "ok"),
    ]
    text = render_openmetrics(_box(findings, [_row(7, 40), _row(8, None), _row(9, 2)]), RULES)
    assert text.endswith("\n# EOF\n")
    om, prom = _samples(text), _samples(text, parse_prometheus)
    assert om.keys() == prom.keys()
    for name, samples in om.items():
        assert [(s.name, s.labels, s.value) for s in samples] == [
            (s.name, s.labels, s.value) for s in prom[name]
        ]
    assert _value(om["stucktui_scan_complete"]) == 1
    assert _value(om["stucktui_scan_timestamp_seconds"]) == pytest.approx(TAKEN)
    assert _value(om["stucktui_scan_duration_seconds"]) == pytest.approx(0.75)
    assert (_value(om["stucktui_processes"]), _value(om["stucktui_examined_processes"])) == (120, 4)
    assert (_value(om["stucktui_unreadable_processes"]), _value(om["stucktui_hidden_processes"])) == (3, 1)
    fam = om["stucktui_findings"]
    assert _value(fam, rule="pipe-writers-blocked", severity="critical") == 1
    assert _value(fam, rule="close-wait-unread", severity="warning") == 1
    assert _value(fam, rule="epoll-spin", severity="critical") == 0  # a known rule without finding: 0
    assert len(fam) == 3 * len(RULES)
    per = om["stucktui_process_findings"]
    assert _value(per, pid="7", rule="close-wait-unread") == 1
    assert {s.labels["pid"] for s in per} == {"7", "9"}
    assert _value(om["stucktui_processes_with_findings"]) == 2
    assert _value(om["stucktui_close_wait_sockets"]) == 42
    assert _value(om["stucktui_process_close_wait_sockets"], pid="7") == 40
    assert _value(om["stucktui_close_wait_unknown_processes"]) == 1


def test_openmetrics_is_what_node_exporters_text_parser_takes():
    """prometheus/common's TextParser (node_exporter's textfile collector, legacy names):
    no sample timestamps, legacy metric and label names, HELP without a backslash or a quote
    (the one escape the two formats do not share), each family's samples together; `# EOF`
    and `# UNIT` are comments to it."""
    text = render_openmetrics(_box([_finding(7), _finding(8, "warning")], [_row(7, 3)]), RULES)
    name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    sample = re.compile(rf'^({name})(\{{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\}})? (\S+)$')
    families: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert "\\" not in line and '"' not in line, line
        elif line.startswith("# TYPE "):
            assert line.endswith(" gauge")
            families.append(line.split()[2])
        elif line.startswith("#"):
            assert line == "# EOF" or line.startswith("# UNIT "), line
        else:
            m = sample.match(line)
            assert m, line  # name{labels} value: no timestamp
            assert m.group(1) == families[-1]
            float(m.group(3))
    assert len(families) == len(set(families))


def test_hostile_names_are_escaped_and_round_trip():
    bad = "x\udcff\x9b\x1b[2J"
    text = render_openmetrics(_box([_finding(7), _finding(8, name=bad)], [_row(7, 5, EVIL)]), RULES)
    text.encode("utf-8")  # invalid UTF-8 arrives as an escape, never as a lone surrogate
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\x9b" not in text
    for parse in (parse_openmetrics, parse_prometheus):
        om = _samples(text, parse)
        names = {s.labels["pid"]: s.labels["name"] for s in om["stucktui_process_findings"]}
        assert names == {"7": printable(EVIL, NAME_MAX), "8": printable(bad, NAME_MAX)}
        assert names["8"] == "x\\xff\\x9b\\x1b[2J"
        assert om["stucktui_process_close_wait_sockets"][0].labels["name"] == printable(EVIL, NAME_MAX)


def test_per_process_series_are_capped_and_the_rest_counted():
    findings = [_finding(pid, "info", name="w") for pid in range(100, 400)]
    findings += [_finding(5, "critical", name="db"), _finding(6, "warning", name="api")]
    rows = [_row(pid, pid) for pid in range(1000, 1030)]
    om = _samples(render_openmetrics(_box(findings, rows), RULES))
    per = om["stucktui_process_findings"]
    assert len({s.labels["pid"] for s in per}) == MAX_PROCESSES
    assert {"5", "6"} <= {s.labels["pid"] for s in per}  # the most severe are kept
    assert _value(om["stucktui_process_findings_left_out_processes"]) == 302 - MAX_PROCESSES
    assert _value(om["stucktui_processes_with_findings"]) == 302
    assert _value(om["stucktui_findings"], rule="pipe-writers-blocked", severity="info") == 300
    holders = om["stucktui_process_close_wait_sockets"]
    assert [s.labels["pid"] for s in holders][:2] == ["1029", "1028"] and len(holders) == 10
    assert _value(om["stucktui_close_wait_left_out_processes"]) == 20
    assert _value(om["stucktui_close_wait_sockets"]) == sum(range(1000, 1030))


def test_openmetrics_of_a_scan_cut_short():
    text = render_openmetrics(_box(cut=True), RULES)
    om, prom = _samples(text), _samples(text, parse_prometheus)
    assert om.keys() == prom.keys()
    assert _value(om["stucktui_scan_complete"]) == 0
    assert _value(om["stucktui_scan_duration_seconds"]) == 20
    assert "stucktui_findings" not in om  # no finding metric: nothing is claimed healthy


def _lines(text: str) -> list[dict]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_one_object_per_finding_then_the_box():
    findings = [
        _finding(9, "info", "epoll-spin", "ok"),
        _finding(7),
        _finding(7, "warning", "close-wait-unread"),
    ]
    lines = _lines(render_jsonl(_box(findings, [_row(7, 40)])))
    *found, box = lines
    assert [f["kind"] for f in found] == ["finding"] * 3 and box["kind"] == "box"
    assert [(f["severity"], f["rank"]) for f in found] == [("critical", 0), ("warning", 1), ("info", 2)]
    first = found[0]
    keys = {
        "pid",
        "name",
        "id",
        "severity",
        "summary",
        "evidence",
        "next_steps",
        "since",
    }  # report --all json's
    assert keys | {"host", "time", "epoch", "kind", "rank"} == set(first)
    assert (first["pid"], first["id"], first["host"]) == (7, "pipe-writers-blocked", "web-1")
    assert first["time"] == "2026-12-07T11:46:40+00:00" and first["epoch"] == pytest.approx(TAKEN)
    assert box["rank"] == 3 and box["severity"] == "critical" and box["complete"] is True
    assert box["counts"] == {"critical": 1, "warning": 1, "info": 1}
    assert (box["processes"], box["examined"], box["unreadable_processes"]) == (120, 4, 3)
    assert box["close_wait_sockets"] == 40 and box["duration_ms"] == 750.0 and box["incomplete"] == []


def test_jsonl_escapes_hostile_text_even_for_jq_raw_output():
    text = render_jsonl(_box([_finding(7)]))
    text.encode("ascii")  # ensure_ascii, and no lone surrogate can fail an encoder downstream
    first = _lines(text)[0]
    for value in (first["name"], first["summary"], *first["evidence"], *first["next_steps"]):
        assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\ud800-\udfff]", value), value
    assert first["name"] == printable(EVIL)


def test_jsonl_healthy_box_and_box_cut_short_differ():
    (healthy,) = _lines(render_jsonl(_box()))
    assert (healthy["kind"], healthy["severity"], healthy["complete"]) == ("box", None, True)
    assert healthy["counts"] == {"critical": 0, "warning": 0, "info": 0}
    (cut,) = _lines(render_jsonl(_box(cut=True)))
    assert (cut["complete"], cut["processes"], cut["duration_ms"]) == (False, None, 20000.0)
    assert cut["incomplete"] == ["timed out after 20 s (a hung filesystem?)"]


def test_close_wait_sums_the_readable_column():
    cw = close_wait([_row(1, 0), _row(2, 7), _row(3, None), _row(4, 9), _row(5, 7)], cap=2)
    assert (cw.total, cw.holders, cw.left_out, cw.unknown) == (23, ((4, "srv", 9), (2, "srv", 7)), 1, 1)
