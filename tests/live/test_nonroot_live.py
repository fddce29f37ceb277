"""Run as an ordinary user (nobody), stucktui says what it could not read (issue 20, item 3):
`report --all` counts the processes whose fds, sockets and threads it could not see, the list
too, and the Locks section of a root process says it cannot see that process's fds. The tests
run as root here, so the commands drop to nobody with setpriv (or su)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.live

NOBODY = 65534
LOCK_HOLDER = """
import fcntl, os, sys, time
f = open(sys.argv[1], "w")
fcntl.flock(f, fcntl.LOCK_EX)
ready()
time.sleep(600)
"""


def as_nobody(argv: list[str]) -> list[str]:
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    import shlex

    return ["su", "nobody", "-s", "/bin/sh", "-c", shlex.join(argv)]


@pytest.fixture(scope="module")
def nobody():
    """Runs argv as nobody; skips when that is not possible here."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a command as another user (nobody)")
    if not shutil.which("setpriv") and not shutil.which("su"):
        pytest.skip("neither setpriv nor su is installed")
    probe = subprocess.run(as_nobody([sys.executable, "-c", "import stucktui"]), capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this Python and stucktui: {probe.stderr[-200:]!r}")

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = as_nobody([sys.executable, "-m", "stucktui", *args])
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    return run


def test_report_all_counts_what_nobody_could_not_read(nobody, children):
    p = children.python("ready()\nimport time\ntime.sleep(600)\n")  # at least one root process
    children.wait_ready(p)
    data = json.loads(nobody("report", "--all", "--no-python", "--format", "json").stdout)
    assert data["unreadable_processes"] >= 1
    assert data["unreadable_processes"] <= data["processes"]
    text = nobody("report", "--all", "--no-python").stdout
    n = data["unreadable_processes"]
    seen = [x for x in text.splitlines() if x.startswith("not seen:") and "of other users" in x]
    assert seen and "fds, sockets, threads not readable; run as root" in seen[0]
    counted = int(seen[0].split()[2].replace(",", ""))
    assert abs(counted - n) <= 10  # the same count, give or take processes that came and went


def test_list_as_nobody_counts_other_users_processes(nobody, children):
    p = children.python("ready()\nimport time\ntime.sleep(600)\n")
    children.wait_ready(p)
    script = (
        "import json\nfrom stucktui.collect.proclist import ProcessListCollector\n"
        "s = ProcessListCollector().collect()\n"
        "print(json.dumps({'lines': s.visibility.lines(), 'readable': {r.pid: r.readable for r in s.rows}}))"
    )
    r = subprocess.run(as_nobody([sys.executable, "-c", script]), capture_output=True, text=True, timeout=60)
    out = json.loads(r.stdout)
    assert out["readable"][str(p.pid)] is False
    assert any("of other users: fds, sockets, threads not readable" in x for x in out["lines"])


def test_locks_of_a_root_process_say_nobody_cannot_see_its_fds(nobody, children, tmp_path):
    lock = tmp_path / "held.lock"
    p = children.python(LOCK_HOLDER, str(lock))
    children.wait_ready(p)
    data = json.loads(nobody("report", str(p.pid), "--no-python", "--format", "json").stdout)
    assert any(lk["role"] == "held" for lk in data["locks"])  # /proc/locks names it, by pid
    assert any("this process's fds could not be read" in n for n in data["lock_notes"])
    text = nobody("report", str(p.pid), "--no-python").stdout
    assert "note: this process's fds could not be read" in text
