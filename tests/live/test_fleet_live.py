"""`stucktui report --all --format openmetrics|jsonl` on real processes: the whole box as it
is (complete or cut short by --timeout, both parse), and a parent of 10 zombies with a hostile
name in a pid and network namespace of its own (so the scan sees only it, whatever else the
box runs), named in both formats."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from stucktui.textsafe import printable

pytestmark = pytest.mark.live

HOSTILE = 'z"\\\x1b[31m'  # a comm of 9 bytes: quote, backslash, ESC


def _families(text: str) -> dict[str, list]:
    om = {f.name: f.samples for f in parse_openmetrics(text)}
    prom = {f.name: f.samples for f in parse_prometheus(text)}
    assert om.keys() == prom.keys()
    return om


@pytest.mark.slow
def test_the_real_box_in_both_formats():
    base = [sys.executable, "-m", "stucktui", "report", "--all", "--no-python", "--timeout", "20"]
    om = subprocess.run([*base, "--format", "openmetrics"], capture_output=True, text=True, timeout=120)
    assert om.returncode in (0, 4), om.stderr
    fams = _families(om.stdout)
    complete = om.returncode == 0
    assert fams["stucktui_scan_complete"][0].value == int(complete)
    if complete:
        assert fams["stucktui_processes"][0].value >= 2
    else:
        assert "timed out" in om.stderr
    js = subprocess.run([*base, "--format", "jsonl"], capture_output=True, text=True, timeout=120)
    assert js.returncode in (0, 4), js.stderr
    *findings, box = [json.loads(line) for line in js.stdout.splitlines()]
    assert box["kind"] == "box" and box["complete"] is (js.returncode == 0)
    assert all(f["kind"] == "finding" and f["rank"] <= box["rank"] for f in findings)


ZOMBIES = textwrap.dedent(
    """
    import os, sys, time
    with open("/proc/self/comm", "w") as f:
        f.write(sys.argv[1])
    for _ in range(10):
        if os.fork() == 0:
            os._exit(0)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    time.sleep(600)
    """
)

# Runs as pid 1 of a new pid namespace: starts the zombies' parent, waits for its 10 zombies,
# runs both reports, prints them as one JSON document, ends the parent by pid.
DRIVER = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    parent = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE)
    assert parent.stdout.readline() == b"ready\\n"
    def zombies():
        out = 0
        for name in os.listdir("/proc"):
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            out += fields[0] == "Z" and fields[1] == str(parent.pid)
        return out
    deadline = time.monotonic() + 30
    while zombies() < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    base = [sys.executable, "-m", "stucktui", "report", "--all", "--no-python", "--timeout", "60"]
    out = {"pid": parent.pid}
    for fmt in ("openmetrics", "jsonl"):
        r = subprocess.run([*base, "--format", fmt], capture_output=True, text=True)
        out[fmt] = {"code": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
    parent.kill()
    parent.wait()
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def namespaced():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a pid namespace of its own")
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "--net", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare refused here: {probe.stderr[-200:]!r}")
    argv = [
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "--net",
        sys.executable,
        "-c",
        DRIVER,
        ZOMBIES,
        HOSTILE,
    ]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_zombies_parent_in_openmetrics(namespaced):
    run = namespaced["openmetrics"]
    assert run["code"] == 0, run["stderr"]
    fams = _families(run["stdout"])
    assert fams["stucktui_scan_complete"][0].value == 1
    total = [s for s in fams["stucktui_findings"] if s.labels["rule"] == "zombie-children"]
    assert sum(s.value for s in total) == 1
    (mine,) = [s for s in fams["stucktui_process_findings"] if s.labels["rule"] == "zombie-children"]
    assert mine.labels["pid"] == str(namespaced["pid"])
    assert mine.labels["name"] == printable(HOSTILE) == 'z"\\\\x1b[31m'
    assert "\x1b" not in run["stdout"]


def test_zombies_parent_in_jsonl(namespaced):
    run = namespaced["jsonl"]
    assert run["code"] == 0, run["stderr"]
    *findings, box = [json.loads(line) for line in run["stdout"].splitlines()]
    (mine,) = [f for f in findings if f["id"] == "zombie-children"]
    assert (mine["pid"], mine["name"]) == (namespaced["pid"], printable(HOSTILE))
    assert box["kind"] == "box" and box["complete"] is True and box["counts"][mine["severity"]] >= 1
