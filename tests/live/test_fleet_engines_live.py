"""The fleet output read by the real engines, where they are installed (Debian:
`apt-get install prometheus prometheus-node-exporter`; skipped, saying so, where they are not):
node_exporter's textfile collector takes the file (`node_textfile_scrape_error 0`) and serves
its samples, hostile names included; promtool finds the README's alerting rules valid and they
fire as described on made-up series."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stucktui.diagnose.rules import all_specs
from stucktui.report.openmetrics import render_openmetrics
from tests.unit.test_fleet import _box, _finding, _row

pytestmark = pytest.mark.live

README = Path(__file__).parent.parent.parent / "README.md"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(NODE_EXPORTER is None, reason="node_exporter is not installed")
def test_node_exporter_textfile_collector_takes_the_file(tmp_path):
    ids = [s.id for s in all_specs()]
    findings = [_finding(7), _finding(8, "warning", name="x\udcff\x9b\x1b[2J")]
    (tmp_path / "stucktui.prom").write_text(render_openmetrics(_box(findings, [_row(7, 40, 'q"\\\n')]), ids))
    cut = render_openmetrics(_box(cut=True), ids).replace("stucktui_", "cut_stucktui_")
    (tmp_path / "cut.prom").write_text(cut)
    port = _free_port()
    argv = [str(NODE_EXPORTER), "--collector.disable-defaults", "--collector.textfile"]
    argv += [f"--collector.textfile.directory={tmp_path}", f"--web.listen-address=127.0.0.1:{port}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, body = time.monotonic() + 30, ""
        while not body and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    assert body, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    assert "node_textfile_scrape_error 0" in body
    assert re.search(r'^node_textfile_mtime_seconds\{file=".*/stucktui.prom"\}', body, re.M)
    assert re.search(r'^node_textfile_mtime_seconds\{file=".*/cut.prom"\}', body, re.M)
    assert 'stucktui_findings{rule="pipe-writers-blocked",severity="critical"} 1' in body
    assert 'name="x\\\\xff\\\\x9b\\\\x1b[2J"' in body and "\x1b" not in body
    assert "cut_stucktui_scan_complete 0" in body


RULES_TEST = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'stucktui_findings{{instance="web-1",rule="pipe-writers-blocked",severity="critical"}}'
        values: '0 0 1 1 1 1 1'
      - series: 'stucktui_findings{{instance="web-1",rule="epoll-spin",severity="critical"}}'
        values: '0 0 0 0 1 1 1'
      - series: 'stucktui_findings{{instance="db-1",rule="epoll-spin",severity="warning"}}'
        values: '1x60'
      - series: 'stucktui_close_wait_sockets{{instance="web-1"}}'
        values: '0+10x60'
      - series: 'stucktui_close_wait_sockets{{instance="db-1"}}'
        values: '500x60'
      - series: 'stucktui_scan_complete{{instance="web-1"}}'
        values: '1x60'
      - series: 'stucktui_scan_complete{{instance="db-1"}}'
        values: '1x10 0x50'
      - series: 'stucktui_scan_timestamp_seconds{{instance="web-1"}}'
        values: '0+60x60'
      - series: 'stucktui_scan_timestamp_seconds{{instance="db-1"}}'
        values: '0+60x10 600x50'
    alert_rule_test:
      - eval_time: 6m
        alertname: StuckProcessCritical
        exp_alerts:
          - exp_labels: {{instance: web-1, severity: page}}
            exp_annotations:
              summary: "web-1: 2 critical stuck-process findings"
              description: "Run `stucktui report --all` (or `stucktui`) on the box."
      - eval_time: 50m
        alertname: CloseWaitGrowing
        exp_alerts:
          - exp_labels: {{instance: web-1, severity: ticket}}
            exp_annotations:
              summary: "web-1: CLOSE_WAIT connections grew by 300 in 30 minutes"
              description: "Sort stucktui's process list by CLOSE_WAIT (W) to see who holds them."
      - eval_time: 30m
        alertname: StucktuiNotReporting
        exp_alerts:
          - exp_labels: {{instance: db-1, severity: ticket}}
            exp_annotations:
              summary: "db-1: stucktui's scan is cut short or older than 5 minutes (a hung file system?)"
"""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) is not installed")
def test_readme_alerting_rules_are_valid_and_fire(tmp_path):
    (rules_yaml,) = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    rules = tmp_path / "stucktui-rules.yml"
    rules.write_text(rules_yaml)
    check = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = tmp_path / "test.yml"
    test.write_text(RULES_TEST.format(rules=rules))
    run = subprocess.run(["promtool", "test", "rules", str(test)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_readme_rules_use_metrics_stucktui_writes():
    (rules_yaml,) = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    text = render_openmetrics(_box([_finding(7)], [_row(7, 3)]), ["pipe-writers-blocked"])
    written = set(re.findall(r"^# TYPE (\w+) ", text, re.M))
    used = set(re.findall(r"\b(stucktui_\w+)", rules_yaml))
    assert used and used <= written


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_readme_systemd_units_are_valid(tmp_path):
    (units,) = re.findall(r"```ini\n(.*?)```", README.read_text(), re.S)
    service, timer = units.split("# /etc/systemd/system/stucktui-textfile.timer\n")
    stucktui = shutil.which("stucktui", path=str(Path(sys.executable).parent)) or "/bin/true"
    (tmp_path / "stucktui-textfile.service").write_text(service.replace("/usr/local/bin/stucktui", stucktui))
    (tmp_path / "stucktui-textfile.timer").write_text(timer)
    argv = ["systemd-analyze", "verify", "--man=no", *(str(p) for p in sorted(tmp_path.iterdir()))]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "stucktui" not in r.stderr, r.stderr
