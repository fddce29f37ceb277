"""The read-only policy and the audit log: one JSON line per action or refused attempt.

The log is append-only: each record is one write() on a file opened with O_APPEND, so lines
from concurrent stucktui sessions never interleave or overwrite each other. Where it lives and
the checks that keep it out of other users' reach are in auditpath.py (directory 0700, file
0600: they name processes and command lines). Each record also goes to syslog (facility
authpriv, ident "stucktui"), where auditors look; without a syslog daemon that is a no-op.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from stucktui.actions.auditpath import (
    ENV_AUDIT_LOG,
    ROOT_AUDIT_LOG,
    AuditPathRefused,
    default_audit_path,
    open_audit_log,
)
from stucktui.actions.results import DECLINED, ActionResult
from stucktui.procfs.root import ProcRoot

__all__ = [
    "ENV_AUDIT_LOG",
    "ENV_VIA",
    "ROOT_AUDIT_LOG",
    "AuditLog",
    "Policy",
    "default_audit_path",
    "syslog_line",
]

# Set by `stucktui serve` for the TUI it runs for one browser: "browser from ADDR:PORT". The
# record's user is who serves (the uid the session runs as); this says the keys came from a browser.
ENV_VIA = "STUCKTUI_VIA"
_UNSET_LOGINUID = 4294967295  # (uid_t)-1: no login session (kernel/audit.c AUDIT_UID_UNSET)
_SYSLOG_MAX = 8000  # characters: rsyslog's default message size is 8 KiB
_syslog_open = False


def syslog_line(line: str) -> None:
    """Send one record to syslog (authpriv.notice, ident "stucktui"). Never raises; with no
    /dev/log the C library drops it (LOG_CONS is not set, so nothing reaches the console)."""
    global _syslog_open
    try:
        import syslog
    except ImportError:  # not a Unix Python
        return
    try:
        if not _syslog_open:
            syslog.openlog("stucktui", syslog.LOG_PID, getattr(syslog, "LOG_AUTHPRIV", syslog.LOG_AUTH))
            _syslog_open = True
        syslog.syslog(syslog.LOG_NOTICE, line[:_SYSLOG_MAX])
    except (OSError, ValueError):
        pass


def caller_identity(root: ProcRoot | None = None) -> dict[str, object]:
    """Who runs stucktui: real uid and its name; the sudo caller and the audit login uid when
    they tell more (a root shell reached through sudo is still someone's)."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except (KeyError, OSError):
        name = str(uid)
    who: dict[str, object] = {"name": name, "uid": uid}
    if os.geteuid() != uid:
        who["euid"] = os.geteuid()
    sudo = os.environ.get("SUDO_USER")
    if sudo:
        who["sudo_user"] = sudo
    try:
        login = int((root or ProcRoot()).read_text("self", "loginuid").strip())
    except (OSError, ValueError):
        login = _UNSET_LOGINUID
    if login != _UNSET_LOGINUID and login != uid:
        who["login_uid"] = login
    if via := os.environ.get(ENV_VIA):
        who["via"] = via
    return who


def utc_now() -> str:
    """ISO 8601 in UTC with milliseconds: '2025-01-31T12:00:00.123Z'."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TargetLike(Protocol):
    pid: int
    starttime: int

    @property
    def command_text(self) -> str: ...


def build_record(
    *,
    target: TargetLike | None,
    pid: int | None,
    action: str,
    method: str | None,
    command_run: str | None,
    result: str,
    detail: str,
    extra: Mapping[str, object] | None = None,
    user: Mapping[str, object] | None = None,
    time: str | None = None,
) -> dict[str, object]:
    """One audit record, fields in a fixed order. `target` None: the process could not even be
    pinned (no such pid), so only `pid` is known."""
    rec: dict[str, object] = {
        "time": time or utc_now(),
        "user": dict(user) if user is not None else caller_identity(),
        "pid": target.pid if target is not None else pid,
        "starttime": target.starttime if target is not None else None,
        "command": target.command_text if target is not None else None,
        "action": action,
        "method": method,
        "command_run": command_run,
        "result": result,
        "detail": detail,
    }
    for k, v in (extra or {}).items():
        rec.setdefault(k, v)
    return rec


def format_record(record: Mapping[str, object]) -> bytes:
    """One line of JSON; control characters in command lines are escaped by json, so a hostile
    argv cannot forge a second line."""
    return (json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n").encode(
        "utf-8", "backslashreplace"
    )


def why_not(path: Path, exc: OSError) -> str:
    """One line: why the log at `path` cannot be written."""
    if isinstance(exc, AuditPathRefused):
        return f"audit log {path} refused: {exc.reason}"
    return f"audit log {path} is not writable: {exc.strerror or exc}"


class AuditLog:
    """An append-only JSON-lines file, and syslog. `path` None: default_audit_path() at
    construction. `journal` receives each record as one line (None: syslog_line, looked up
    when called, so tests can replace it); `euid` is whom the ownership checks trust besides
    root (None: the effective uid)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        journal: Callable[[str], None] | None = None,
        euid: int | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_audit_path()
        self.journal = journal
        self.euid = euid

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    def _open(self) -> int:
        return open_audit_log(self.path, self.euid)

    def check_writable(self) -> str | None:
        """None when a line can be appended now; otherwise why not, in one line. Creates the
        directory and an empty file when missing; writes no record."""
        try:
            os.close(self._open())
        except OSError as exc:
            return why_not(self.path, exc)
        return None

    def append(self, record: Mapping[str, object]) -> None:
        """Append one line with a single write(), and send it to the journal (also when the file
        cannot be written). Raises OSError (refused path, disk full, short write)."""
        line = format_record(record)
        try:
            fd = self._open()
            try:
                n = os.write(fd, line)
                if n != len(line):
                    raise OSError(f"short write to {self.path}: {n} of {len(line)} bytes")
            finally:
                os.close(fd)
        finally:
            (self.journal or syslog_line)(line.decode("utf-8", "replace").rstrip("\n"))


@dataclass
class Policy:
    """What the session may do, and where it says what it did. read_only refuses every action
    (and logs the refusal)."""

    read_only: bool = False
    audit: AuditLog = field(default_factory=AuditLog)

    def record(
        self,
        *,
        action: str,
        method: str | None,
        result: str,
        detail: str,
        target: TargetLike | None = None,
        pid: int | None = None,
        command_run: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> str | None:
        """Append one record; returns None, or why the line could not be written (the action
        itself is not undone: the caller shows this next to its result)."""
        rec = build_record(
            target=target,
            pid=pid,
            action=action,
            method=method,
            command_run=command_run,
            result=result,
            detail=detail,
            extra=extra,
        )
        try:
            self.audit.append(rec)
        except AuditPathRefused as exc:
            return f"audit log {self.audit.path} not written: refused: {exc.reason}"
        except OSError as exc:
            return f"audit log {self.audit.path} not written: {exc.strerror or exc}"
        return None

    def declined(
        self,
        target: TargetLike,
        action: str,
        method: str | None,
        *,
        detail: str = "the user answered no",
        extra: Mapping[str, object] | None = None,
    ) -> str | None:
        """Log a confirmation the user declined (the UI calls this when its dialog is
        cancelled). Returns None or why the line could not be written."""
        return self.record(
            action=action, method=method, result=DECLINED, detail=detail, target=target, extra=extra
        )

    def conclude(
        self,
        result: ActionResult,
        *,
        target: TargetLike | None = None,
        pid: int | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> ActionResult:
        """Log `result` as one line and return it, carrying the logging error if any."""
        err = self.record(
            action=result.action,
            method=result.method,
            result=result.outcome,
            detail=" ".join([result.detail, *result.findings]),
            target=target,
            pid=pid,
            command_run=result.command_run,
            extra=extra,
        )
        return replace(result, audit_error=err) if err else result
