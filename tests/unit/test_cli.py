"""The command line: --version, --help, report errors as one line with exit status 1."""

import json
import subprocess
import sys

from stucktui import __version__
from tests.fixture_proc import PROC


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "stucktui", *args], capture_output=True, text=True, timeout=60
    )


def test_version_and_help():
    assert run("--version").stdout.strip() == f"stucktui {__version__}"
    h = run("--help")
    assert h.returncode == 0 and "report" in h.stdout and "--interval" in h.stdout and "--pid" in h.stdout


def test_report_missing_pid_one_line_exit_1():
    r = run("report", "999999999")
    assert r.returncode == 1
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_report_bad_format_rejected():
    assert run("report", "1", "--format", "xml").returncode == 2


def test_report_from_fixture_root():
    r = run("--proc", str(PROC), "report", "1", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "process_api"


def test_tui_refuses_without_terminal():
    r = run()
    assert r.returncode == 2 and "terminal" in r.stderr
