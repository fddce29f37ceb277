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
    r = run("report", "4194304")  # PID_MAX_LIMIT: valid, never a process
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


def test_report_json_has_findings_first():
    r = run("--proc", str(PROC), "report", "1", "--format", "json", "--no-python")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert list(data)[0] == "findings" and isinstance(data["findings"], list)


def test_report_all_from_fixture_root_in_every_format():
    r = run("--proc", str(PROC), "report", "--all", "--format", "json", "--no-python")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["processes"] == sum(1 for d in PROC.iterdir() if d.name.isdigit())
    assert isinstance(data["findings"], list)
    assert {"taken_at", "processes", "examined", "findings"} <= set(data)
    text = run("--proc", str(PROC), "report", "--all", "--no-python")
    assert text.returncode == 0 and text.stdout.startswith("stucktui report --all: ")
    md = run("--proc", str(PROC), "report", "--all", "--format", "markdown", "--no-python")
    assert md.returncode == 0 and md.stdout.startswith("*stucktui report --all: ")


def test_report_needs_a_pid_or_all_not_both():
    for args in (("report",), ("report", "1", "--all")):
        r = run(*args)
        assert r.returncode == 2 and "PID or --all" in r.stderr


def test_demo_help_and_refusal_without_terminal():
    h = run("demo", "--help")
    assert h.returncode == 0 and "--no-tui" in h.stdout
    r = run("demo")  # no terminal here: refused before anything is started
    assert r.returncode == 2 and "--no-tui" in r.stderr


def test_the_tui_starts_its_first_look_before_the_app_only_on_the_triage(monkeypatch, tmp_path):
    """`stucktui` (the triage first) starts the first look's window before Textual is
    imported, on the sampler the app then uses; `stucktui --pid` opens one process and has
    no box-wide first look to start."""
    import stucktui.inspection.first_look as first_look
    from stucktui.cli import build_app, build_parser

    started: list[object] = []
    monkeypatch.setattr(first_look, "start_first_look", started.append)
    app = build_app(build_parser().parse_args(["--proc", str(tmp_path)]))
    assert started == [app.sampler] and app.triage_at_start
    started.clear()
    app = build_app(build_parser().parse_args(["--proc", str(tmp_path), "--pid", "1"]))
    assert started == [] and not app.triage_at_start and app.start_pid == 1
