"""Audit log: the default path logic, the line format, atomic appends, refusals when read-only."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from stucktui.actions import results as R
from stucktui.actions.audit import (
    ENV_AUDIT_LOG,
    ROOT_AUDIT_LOG,
    AuditLog,
    Policy,
    build_record,
    caller_identity,
    default_audit_path,
    format_record,
)
from stucktui.actions.results import ActionResult

FIELDS = [
    "time",
    "user",
    "pid",
    "starttime",
    "command",
    "action",
    "method",
    "command_run",
    "result",
    "detail",
]


class FakeTarget:
    """Only the three attributes an audit record reads from a Target."""

    def __init__(self, pid: int, starttime: int, command: str) -> None:
        self.pid = pid
        self.starttime = starttime
        self.command_text = command


def test_default_path_env_override(tmp_path):
    env = {ENV_AUDIT_LOG: str(tmp_path / "x.log"), "XDG_STATE_HOME": "/elsewhere"}
    assert default_audit_path(1000, env) == tmp_path / "x.log"
    assert default_audit_path(0, env) == tmp_path / "x.log"  # root too: checked when opened
    assert default_audit_path(1000, {ENV_AUDIT_LOG: "rel/x.log"}) == Path.cwd() / "rel" / "x.log"


def test_default_path_xdg_state_home():
    env = {"XDG_STATE_HOME": "/var/state-x", "HOME": "/home/u"}
    assert default_audit_path(1000, env) == Path("/var/state-x/stucktui/audit.log")


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_default_path_falls_back_to_local_state(tmp_path, xdg):
    env = {"HOME": str(tmp_path)} | ({} if xdg is None else {"XDG_STATE_HOME": xdg})
    assert default_audit_path(1000, env) == tmp_path / ".local" / "state" / "stucktui" / "audit.log"


def test_root_log_ignores_home_and_xdg():
    """`sudo -E` keeps the user's HOME and XDG_STATE_HOME: root's log must not follow them."""
    env = {"HOME": "/home/mallory", "XDG_STATE_HOME": "/home/mallory/.local/state", "SUDO_USER": "mallory"}
    assert default_audit_path(0, env) == ROOT_AUDIT_LOG == Path("/var/log/stucktui/audit.log")


def test_record_fields_in_order_and_one_line():
    t = FakeTarget(42, 1234, 'evil\nline {"result": "done"}')
    rec = build_record(
        target=t,
        pid=None,
        action="close-fd",
        method="gdb-null",
        command_run="gdb -p 42 -batch",
        result=R.DONE,
        detail="fd 5 now refers to /dev/null",
        extra={"fd": 5, "result": "must not overwrite"},
        user={"name": "root", "uid": 0},
        time="2025-01-01T00:00:00.000Z",
    )
    assert list(rec)[: len(FIELDS)] == FIELDS and rec["fd"] == 5 and rec["result"] == R.DONE
    line = format_record(rec)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # the newline in argv is escaped
    back = json.loads(line)
    assert back["command"] == t.command_text and back["starttime"] == 1234 and back["pid"] == 42


def test_record_without_target_keeps_pid():
    rec = build_record(
        target=None,
        pid=99,
        action="signal",
        method="pidfd_send_signal",
        command_run=None,
        result=R.GONE,
        detail="x",
    )
    assert (rec["pid"], rec["starttime"], rec["command"], rec["command_run"]) == (99, None, None, None)
    assert rec["time"].endswith("Z") and "T" in rec["time"]


def test_caller_identity_names_the_real_user():
    who = caller_identity()
    assert who["uid"] == os.getuid() and isinstance(who["name"], str) and who["name"]


def test_append_creates_private_directory_and_file(tmp_path):
    log = AuditLog(tmp_path / "deep" / "er" / "audit.log")
    old = os.umask(0)
    try:
        log.append({"a": 1})
        log.append({"a": 2})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "deep" / "er").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600
    assert [json.loads(x)["a"] for x in log.path.read_text().splitlines()] == [1, 2]


def test_append_refuses_a_symlink(tmp_path):
    real = tmp_path / "real.log"
    real.write_text("")
    (tmp_path / "link.log").symlink_to(real)
    log = AuditLog(tmp_path / "link.log")
    assert log.check_writable() is not None
    with pytest.raises(OSError):
        log.append({"a": 1})
    assert real.read_text() == ""


def test_concurrent_appends_never_interleave(tmp_path):
    log = AuditLog(tmp_path / "audit.log")
    pad = "x" * 3000  # a long line: still one write(), so lines cannot interleave

    def writer(k: int) -> None:
        for i in range(100):
            log.append({"writer": k, "i": i, "pad": pad})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log.path.read_text().splitlines()
    assert len(lines) == 400
    assert sorted((d["writer"], d["i"]) for d in map(json.loads, lines)) == [
        (k, i) for k in range(4) for i in range(100)
    ]


def test_unwritable_log_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = AuditLog(blocker / "audit.log")  # a file where a directory should be
    assert "not writable" in (log.check_writable() or "")
    policy = Policy(audit=log)
    err = policy.record(action="signal", method=None, result=R.READ_ONLY, detail="x", pid=1)
    assert err is not None and "not written" in err
    res = policy.conclude(ActionResult("signal", None, R.READ_ONLY, "x"), pid=1)
    assert res.audit_error is not None and "WARNING" in res.lines()[-1]


def test_conclude_writes_detail_and_findings(tmp_path):
    policy = Policy(audit=AuditLog(tmp_path / "a.log"))
    res = ActionResult("close-fd", "shutdown-both", R.DONE, "shutdown done.", findings=("fd 5 stays open.",))
    out = policy.conclude(res, target=FakeTarget(7, 8, "cmd"), extra={"fd": 5})
    assert out.audit_error is None
    (line,) = policy.audit.path.read_text().splitlines()
    rec = json.loads(line)
    assert (
        rec["detail"] == "shutdown done. fd 5 stays open."
        and rec["fd"] == 5
        and rec["method"] == "shutdown-both"
    )
