"""`signal` and `close-fd` subcommands: parsing, and the refusals that need no live target."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from stucktui.actions import results as R
from stucktui.actions.audit import ENV_AUDIT_LOG
from stucktui.actions.command import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_REFUSED,
    add_subcommands,
    audit_help,
    run_command,
)

NO_PID = 4194304  # PID_MAX_LIMIT: a valid number, never a process (pids stay below pid_max)


def parser(global_read_only: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stucktui")
    if global_read_only:
        p.add_argument("--read-only", action="store_true")
    add_subcommands(p.add_subparsers(dest="command"))
    return p


@pytest.fixture
def audit(monkeypatch, tmp_path):
    path = tmp_path / "audit.log"
    monkeypatch.setenv(ENV_AUDIT_LOG, str(path))
    return path


def run(argv: list[str], p: argparse.ArgumentParser | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_command((p or parser()).parse_args(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_parsing():
    a = parser().parse_args(["signal", "12", "USR1", "--yes"])
    assert (a.action_command, a.pid, a.name, a.yes, getattr(a, "read_only", False)) == (
        "signal",
        12,
        "USR1",
        True,
        False,
    )
    b = parser().parse_args(["close-fd", "12", "30", "--method", "shutdown-both", "--read-only"])
    assert (b.action_command, b.fd, b.method, b.yes, b.read_only) == (
        "close-fd",
        30,
        "shutdown-both",
        False,
        True,
    )
    assert parser().parse_args(["close-fd", "1", "2"]).method is None
    with pytest.raises(SystemExit):
        parser().parse_args(["close-fd", "1", "2", "--method", "rm-rf"])


def test_a_global_read_only_flag_is_not_reset_by_the_subcommand():
    a = parser(global_read_only=True).parse_args(["--read-only", "signal", "1", "TERM"])
    assert a.read_only is True


def test_help_names_the_audit_log(audit):
    assert str(audit) in audit_help()
    with pytest.raises(SystemExit):
        parser().parse_args(["signal", "--help"])


def test_missing_process_is_logged_and_fails(audit):
    code, _, err = run(["signal", str(NO_PID), "TERM", "--yes"])
    assert code == EXIT_FAILED and f"no process with pid {NO_PID}" in err
    (line,) = audit.read_text().splitlines()
    rec = json.loads(line)
    assert (rec["pid"], rec["starttime"], rec["result"], rec["action"]) == (NO_PID, None, R.GONE, "signal")
    assert rec["signal"] == "TERM"
    code, _, _ = run(["close-fd", str(NO_PID), "3", "--yes"])
    assert code == EXIT_FAILED and len(audit.read_text().splitlines()) == 2


def test_fixture_proc_is_refused(audit):
    p = parser()
    p.add_argument("--proc", default="/proc")
    code, _, err = run(["--proc", "/tmp/fixture", "signal", "1", "TERM"], p)
    assert code == EXIT_INVALID and "live /proc" in err


def test_actions_do_not_import_ui_libraries():
    import subprocess
    import sys

    code = (
        "import sys, importlib\n"
        "for m in ('stucktui.actions', 'stucktui.actions.command', 'stucktui.actions.verify'):\n"
        "    importlib.import_module(m)\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""


def test_an_unsafe_audit_log_refuses_before_anything_in_one_line(monkeypatch, tmp_path):
    pub = tmp_path / "pub"
    pub.mkdir()
    pub.chmod(0o1777)
    monkeypatch.setenv(ENV_AUDIT_LOG, str(pub / "audit.log"))
    code, out, err = run(["signal", str(NO_PID), "TERM", "--yes"])
    assert (code, out) == (EXIT_REFUSED, "") and err.count("\n") == 1
    assert err.startswith(
        f"stucktui: nothing was done: audit log {pub / 'audit.log'} refused: directory {pub}"
    )
    assert not (pub / "audit.log").exists()
