"""The audit log only its owner controls: each attack of issue 20 on root's log, refused.

Files "owned by another user" are chowned to nobody (65534), so those tests need root; the
others (modes, symlinks, links, FIFOs) run as anyone. Nothing outside tmp_path is touched."""

from __future__ import annotations

import json
import os
import pwd
import stat
from pathlib import Path

import pytest

from stucktui.actions import results as R
from stucktui.actions.audit import AuditLog, Policy, syslog_line
from stucktui.actions.auditpath import AuditPathRefused, open_audit_log

NOBODY = 65534
try:
    OTHER = f"{pwd.getpwuid(NOBODY).pw_name} (uid {NOBODY})"
except KeyError:
    OTHER = f"uid {NOBODY}"
ME = os.geteuid()
as_root = pytest.mark.skipif(ME != 0, reason="chown to another user needs root")


def other_user(*paths: Path) -> None:
    for p in paths:
        os.lchown(p, NOBODY, NOBODY)


def refusal(path: Path, euid: int = ME) -> str:
    log = AuditLog(path, journal=lambda line: None, euid=euid)
    why = log.check_writable()
    assert why is not None, f"{path} was accepted"
    assert "\n" not in why and why.startswith(f"audit log {path} ")
    return why


def test_a_private_directory_is_accepted_and_created_0700_0600(tmp_path):
    log = AuditLog(tmp_path / "state" / "stucktui" / "audit.log", journal=lambda line: None)
    assert log.check_writable() is None
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600 and os.stat(log.path).st_size == 0


@as_root
def test_root_refuses_a_state_dir_in_another_users_home(tmp_path):
    """sudo -E with $STUCKTUI_AUDIT_LOG (or an old default) in the user's home."""
    home = tmp_path / "home" / "mallory"
    (home / ".local" / "state" / "stucktui").mkdir(parents=True)
    other_user(home, home / ".local", home / ".local" / "state", home / ".local" / "state" / "stucktui")
    why = refusal(home / ".local" / "state" / "stucktui" / "audit.log", euid=0)
    assert f"directory {home} is owned by {OTHER}, not root" in why


@as_root
def test_root_refuses_a_state_dir_the_user_symlinked_elsewhere(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = tmp_path / "stucktui"
    link.symlink_to(elsewhere)
    other_user(link)
    why = refusal(link / "audit.log", euid=0)
    assert f"symlink {link} is owned by {OTHER}, not root" in why
    assert list(elsewhere.iterdir()) == []  # nothing was written through it


@as_root
def test_root_refuses_a_precreated_0666_log_and_writes_nothing(tmp_path):
    """The user pre-creates audit.log mode 0666 to erase root's records later (`: > audit.log`)."""
    f = tmp_path / "audit.log"
    f.write_text("")
    os.chmod(f, 0o666)
    other_user(f)
    why = refusal(f, euid=0)
    assert f"{f} is owned by {OTHER}, not root (uid 0)" in why
    policy = Policy(audit=AuditLog(f, journal=lambda line: None, euid=0))
    err = policy.record(action="signal", method=None, result=R.DONE, detail="x", pid=1)
    assert err is not None and "refused" in err and f.read_text() == ""


def test_a_log_writable_by_others_is_refused_even_when_ours(tmp_path):
    f = tmp_path / "audit.log"
    f.write_text("")
    os.chmod(f, 0o666)
    assert "is writable by other users (mode 0666)" in refusal(f)


def test_a_sticky_world_writable_directory_may_not_hold_the_log(tmp_path):
    """/tmp itself: another user could create audit.log there first."""
    pub = tmp_path / "pub"
    pub.mkdir()
    os.chmod(pub, 0o1777)
    why = refusal(pub / "audit.log")
    assert f"directory {pub} is writable by other users (mode 1777)" in why
    assert not (pub / "audit.log").exists()
    # below it, in a directory of ours, nobody else can create, rename or remove anything
    (pub / "mine").mkdir(mode=0o700)
    assert AuditLog(pub / "mine" / "audit.log", journal=lambda line: None).check_writable() is None


def test_a_world_writable_directory_without_sticky_bit_is_refused_anywhere_above(tmp_path):
    pub = tmp_path / "pub"
    (pub / "mine").mkdir(parents=True, mode=0o700)
    os.chmod(pub, 0o777)
    assert f"directory {pub} is writable by every user without the sticky bit" in refusal(
        pub / "mine" / "audit.log"
    )


def test_a_group_writable_log_directory_is_refused(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    os.chmod(d, 0o770)
    assert f"directory {d} is writable by other users (mode 0770)" in refusal(d / "audit.log")


def test_the_log_itself_may_not_be_a_symlink(tmp_path):
    real = tmp_path / "real.log"
    real.write_text("")
    (tmp_path / "link.log").symlink_to(real)
    assert "link.log is a symlink" in refusal(tmp_path / "link.log")
    assert real.read_text() == ""


def test_our_own_symlinked_directory_is_followed_and_checked(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "via").symlink_to("real")  # relative, owned by us
    log = AuditLog(tmp_path / "via" / "audit.log", journal=lambda line: None)
    log.append({"a": 1})
    assert json.loads((real / "audit.log").read_text()) == {"a": 1}
    os.chmod(real, 0o777)  # the target is checked, not only the link
    assert f"directory {real} is writable by other users" in refusal(tmp_path / "via" / "audit.log")


def test_a_hard_linked_log_is_refused(tmp_path):
    f = tmp_path / "audit.log"
    f.write_text("")
    os.link(f, tmp_path / "other-name")
    assert "has 2 hard links" in refusal(f)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "audit.log", 0o600)
    assert "is not a regular file" in refusal(tmp_path / "audit.log")


def test_a_directory_in_place_of_the_log_is_refused(tmp_path):
    (tmp_path / "audit.log").mkdir()
    assert refusal(tmp_path / "audit.log")


def test_open_gives_an_append_only_fd(tmp_path):
    f = tmp_path / "audit.log"
    f.write_text("old\n")
    os.chmod(f, 0o600)
    fd = open_audit_log(f)
    try:
        os.write(fd, b"new\n")
        flags = os.get_blocking(fd), os.get_inheritable(fd)
    finally:
        os.close(fd)
    assert f.read_text() == "old\nnew\n" and flags == (False, False)


def test_refusal_is_an_oserror_with_one_line(tmp_path):
    f = tmp_path / "audit.log"
    f.write_text("")
    os.chmod(f, 0o622)
    with pytest.raises(AuditPathRefused) as exc:
        open_audit_log(f)
    assert isinstance(exc.value, OSError) and str(exc.value).count("\n") == 0


# -- syslog ------------------------------------------------------------------------------------
def test_every_record_goes_to_the_journal_too(tmp_path):
    seen: list[str] = []
    policy = Policy(audit=AuditLog(tmp_path / "a.log", journal=seen.append))
    assert (
        policy.record(action="signal", method="pidfd_send_signal", result=R.DONE, detail="x", pid=7) is None
    )
    (line,) = seen
    assert json.loads(line)["pid"] == 7 and line == (tmp_path / "a.log").read_text().rstrip("\n")


def test_a_refused_file_still_reaches_the_journal(tmp_path):
    seen: list[str] = []
    f = tmp_path / "audit.log"
    f.write_text("")
    os.chmod(f, 0o666)
    policy = Policy(audit=AuditLog(f, journal=seen.append))
    err = policy.record(action="close-fd", method=None, result=R.READ_ONLY, detail="x", pid=7)
    assert err is not None and len(seen) == 1 and json.loads(seen[0])["action"] == "close-fd"


def test_syslog_line_uses_authpriv_and_the_stucktui_ident(monkeypatch):
    import syslog

    from stucktui.actions import audit

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(syslog, "openlog", lambda *a: calls.append(("openlog", *a)))
    monkeypatch.setattr(syslog, "syslog", lambda *a: calls.append(("syslog", *a)))
    monkeypatch.setattr(audit, "_syslog_open", False)
    syslog_line('{"a": 1}')
    syslog_line("x" * 20000)
    assert calls[0] == ("openlog", "stucktui", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
    assert calls[1] == ("syslog", syslog.LOG_NOTICE, '{"a": 1}')
    assert len(calls) == 3 and len(calls[2][2]) == 8000  # opened once; long lines cut
