"""`stucktui report --all --format openmetrics|jsonl [--output FILE]` as a command, on the
fixture /proc tree: what the textfile collector and a fleet's ad-hoc run read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from tests.fixture_proc import PROC


def run(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "stucktui", "--proc", str(PROC), "report", "--all", "--no-python", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_openmetrics_from_the_fixture_box_parses_both_ways():
    r = run("--format", "openmetrics")
    assert r.returncode == 0 and r.stderr == ""
    names = {f.name for f in parse_openmetrics(r.stdout)}
    assert names == {f.name for f in parse_prometheus(r.stdout)}
    assert {"stucktui_scan_complete", "stucktui_findings", "stucktui_close_wait_sockets"} <= names


def test_jsonl_from_the_fixture_box_ends_with_its_box_line():
    r = run("--format", "jsonl")
    assert r.returncode == 0
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[-1]["kind"] == "box" and lines[-1]["processes"] > 0 and lines[-1]["complete"] is True
    assert all(line["kind"] == "finding" for line in lines[:-1])
    assert {line["host"] for line in lines} == {os.uname().nodename}


def test_output_is_written_atomically_readable_and_replaces_the_old_file(tmp_path):
    target = tmp_path / "stucktui.prom"
    target.write_text("old\n")
    old_inode = target.stat().st_ino
    r = run("--format", "openmetrics", "--output", str(target))
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert target.read_text().endswith("# EOF\n")
    assert target.stat().st_ino != old_inode  # renamed over it, not rewritten in place
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # node_exporter's user reads it
    assert [p.name for p in tmp_path.iterdir()] == ["stucktui.prom"]  # no temporary file left


def test_output_left_as_it_was_when_there_is_nothing_to_say(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old\n")
    argv = [sys.executable, "-m", "stucktui", "report", "4194304", "--format", "json", "-o", str(target)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no process with pid" in r.stderr
    assert target.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
