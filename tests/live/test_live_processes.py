"""Live: real children found in the list and in `stucktui report`, hostile argv escaped, exits
mid-scan survived, pid reuse detected, and what a non-root user sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stucktui.collect.detail import collect_detail
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.model.process import DetailGone, ProcessDetail, Unavailable
from stucktui.procfs.errors import ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot
from tests.helpers import wait_until

pytestmark = pytest.mark.live

SLEEPER = "ready()\nimport time\nwhile True: time.sleep(1)\n"
HOSTILE_ARGS = ["[bold]red[/] [link=http://x]x[/link]", "\x1b]0;pwned\x07\x1b[2J", "\u202eevil", "A" * 20000]


def report(pid: int, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stucktui", "report", str(pid), "--format", fmt],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_child_in_list_and_report(children):
    p = children.python(SLEEPER, "--marker-for-test")
    children.wait_ready(p)
    s = Sampler()
    row = wait_until(lambda: s.sample(SampleRequest()).processes.by_pid().get(p.pid))
    assert row.ppid == os.getpid() and "--marker-for-test" in row.cmdline and row.num_fds is not None
    r = report(p.pid, "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["pid"] == p.pid and data["ppid"] == os.getpid()
    assert data["cmdline"][-1] == "--marker-for-test"
    assert data["num_fds"] >= 3 and data["num_threads"] == 1
    assert data["parents"][0]["pid"] == os.getpid()
    assert data["exe"] == os.path.realpath(sys.executable)


def test_hostile_argv_escaped_in_every_format(children):
    p = children.python(SLEEPER, *HOSTILE_ARGS)
    children.wait_ready(p)
    for fmt in ("text", "markdown", "json"):
        out = report(p.pid, fmt).stdout
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, fmt
        if fmt != "json":  # JSON keeps the whole value for scripts; people get it cut
            assert max(len(line) for line in out.splitlines()) < 6000, fmt
    assert json.loads(report(p.pid, "json").stdout)["cmdline"][-4:] == HOSTILE_ARGS
    text = report(p.pid, "text").stdout
    assert "\\x1b]0;pwned\\x07" in text and "[bold]red[/]" in text and "\\u202eevil" in text


def test_processes_exiting_mid_scan_never_crash_or_linger(children):
    churn = children.python(
        """
        import subprocess, sys
        ready()
        while True:
            subprocess.Popen([sys.executable, "-c", "pass"]).wait()
        """
    )
    children.wait_ready(churn)
    s = Sampler()
    for _ in range(15):
        snap = s.sample(SampleRequest(selected=(churn.pid, None)))
        for row in snap.processes.rows:
            assert row.pid > 0
        assert isinstance(snap.detail, ProcessDetail)
    children.end(churn)
    snap = s.sample(SampleRequest(selected=(churn.pid, None)))
    assert churn.pid not in snap.processes.by_pid()
    assert isinstance(snap.detail, DetailGone)


def test_pinned_directory_refuses_a_dead_process(children):
    p = children.python(SLEEPER)
    children.wait_ready(p)
    d = PidDir(ProcRoot(), p.pid)
    assert collect_detail(ProcRoot(), p.pid, piddir=d).pid == p.pid
    children.end(p)  # killed and reaped: the pid may now be reused by anyone
    with pytest.raises(ProcessGone):
        collect_detail(ProcRoot(), p.pid, piddir=d)
    d.close()


NOBODY_SCRIPT = """
import json, os, sys
from stucktui.collect.detail import collect_detail
from stucktui.collect.proclist import ProcessListCollector
from stucktui.procfs import ProcRoot
# imports first: the interpreter may live under /root, which nobody cannot read
os.setgroups([]); os.setgid(65534); os.setuid(65534)
target = int(sys.argv[1])
rows = ProcessListCollector().collect().by_pid()
d = collect_detail(ProcRoot(), target)
print(json.dumps({"in_list": target in rows, "fds": rows[target].num_fds, "exe": str(d.exe),
                  "num_fds": str(d.num_fds), "notes": list(d.notes), "name": d.name}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user (nobody)")
def test_non_root_sees_others_marked_no_permission(children):
    p = children.python(SLEEPER)
    children.wait_ready(p)
    r = subprocess.run(
        [sys.executable, "-c", NOBODY_SCRIPT, str(p.pid)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(__file__)))},
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    # the fd count comes from the size of /proc/PID/fd (Linux >= 6.2), which needs no
    # permission; on older kernels it needs a listing, which is refused
    assert got["in_list"] and got["fds"] in (None, len(os.listdir(f"/proc/{p.pid}/fd")))
    assert got["exe"] == "no permission"
    assert any("no permission" in n for n in got["notes"]) and got["name"] == "python3"[: len(got["name"])]


def test_unavailable_is_not_a_crash_for_kernel_thread():
    d = collect_detail(ProcRoot(), 2)
    assert d.is_kernel_thread and isinstance(d.exe, Unavailable)


def test_findings_without_a_panel_never_use_another_process_fd_resolver(children):
    """The view's thread collector also serves the findings of a process whose panel on
    screen reads nothing: the fd resolver a Files view used must not describe its fds. The
    resolver is an argument of each collection, never state a later refresh could inherit."""
    a = children.python(SLEEPER)
    b = children.python(SLEEPER)
    children.wait_ready(a)
    children.wait_ready(b)
    s = Sampler()
    s.sample(SampleRequest(want_list=False, selected=(a.pid, None), panels=frozenset({"files"})))
    assert s.panels.threads.resolver is None
    s.sample(SampleRequest(want_list=False, selected=(b.pid, None), panels=frozenset()))
    assert s.panels.threads.resolver is None


CONNECTED = """
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept()
print(c.fileno(), c.getsockname()[1], srv.getsockname()[1])
ready()
import time
time.sleep(3600)
"""


def test_the_json_report_gives_each_socket_fd_its_ends(children):
    """fds[].endpoint: a socket's ends as the Files panel shows them (null for other fds)."""
    p = children.python(CONNECTED)
    fd, cport, sport = map(int, children.wait_ready(p))
    r = report(p.pid, "json")
    assert r.returncode == 0, r.stderr
    fds = {f["fd"]: f for f in json.loads(r.stdout)["fds"]}
    assert f"127.0.0.1:{cport}" in fds[fd]["endpoint"] and f"127.0.0.1:{sport}" in fds[fd]["endpoint"]
    assert fds[0]["endpoint"] is None  # stdin: not a socket
