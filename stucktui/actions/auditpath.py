"""Where the audit log lives, and opening it so that nobody but its owner can touch the records.

As root the log is /var/log/stucktui/audit.log whatever HOME and XDG_STATE_HOME say: `sudo -E`
keeps a user's HOME, and a log in that user's home is theirs to delete, to swap for a symlink,
or to pre-create writable by everyone. As an ordinary user it is in the user's own state
directory. $STUCKTUI_AUDIT_LOG overrides both, through the same checks:

- the path is walked from / one component at a time through directory fds, each looked at
  with lstat before it is entered, so nothing can be swapped between a check and the open;
- every directory and symlink on the way is owned by root, or (for an ordinary user) by
  that user; a symlink is followed only then, and the log file itself is never one;
- the log's own directory is writable by nobody else; a directory above it that others may
  write to must have the sticky bit (as /tmp has: nobody can rename or delete another user's
  entry there), except a root-owned directory writable by its group only (root chose that
  group: Debian's /var/log is root:syslog 0775);
- the file is opened O_APPEND|O_NOFOLLOW (created O_EXCL, mode 0600; missing directories
  0700), then checked through the open fd: a regular file, ours, writable by nobody else, one
  link.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from collections.abc import Mapping
from pathlib import Path

ENV_AUDIT_LOG = "STUCKTUI_AUDIT_LOG"
ROOT_AUDIT_LOG = Path("/var/log/stucktui/audit.log")
_MAX_SYMLINKS = 40  # as the kernel's path walk (MAXSYMLINKS)
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


class AuditPathRefused(OSError):
    """The log's path or file is not safe to write to; str() is the reason, one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def default_audit_path(euid: int | None = None, env: Mapping[str, str] | None = None) -> Path:
    """$STUCKTUI_AUDIT_LOG if set and non-empty (made absolute); else, as root,
    /var/log/stucktui/audit.log; else $XDG_STATE_HOME/stucktui/audit.log, where an unset,
    empty or relative XDG_STATE_HOME means ~/.local/state (XDG Base Directory spec)."""
    env = os.environ if env is None else env
    override = env.get(ENV_AUDIT_LOG)
    if override:
        return Path(os.path.abspath(os.path.expanduser(override)))
    if (os.geteuid() if euid is None else euid) == 0:
        return ROOT_AUDIT_LOG
    state = env.get("XDG_STATE_HOME", "")
    if state and os.path.isabs(state):
        base = Path(state)
    else:
        home = env.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir
        base = Path(home) / ".local" / "state"
    return base / "stucktui" / "audit.log"


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, OSError):
        return f"uid {uid}"


def _check_owner(st: os.stat_result, euid: int, shown: str, what: str) -> None:
    if st.st_uid == 0 or st.st_uid == euid:
        return
    want = "root" if euid == 0 else "root or you"
    raise AuditPathRefused(f"{what} {shown} is owned by {_owner(st.st_uid)}, not {want}")


def _check_dir(st: os.stat_result, euid: int, shown: str, last: bool) -> None:
    _check_owner(st, euid, shown, "directory")
    mode = stat.S_IMODE(st.st_mode)
    sticky = bool(mode & stat.S_ISVTX)
    if last and mode & 0o022:
        raise AuditPathRefused(
            f"directory {shown} is writable by other users (mode {mode:04o}): "
            "another user could create or replace the log there"
        )
    if mode & 0o002 and not sticky:
        raise AuditPathRefused(
            f"directory {shown} is writable by every user without the sticky bit (mode {mode:04o})"
        )
    if mode & 0o020 and not sticky and st.st_uid != 0:
        raise AuditPathRefused(f"directory {shown} is writable by its group (mode {mode:04o})")


def _join(base: str, name: str) -> str:
    return os.path.normpath(os.path.join(base, name))


def _walk(directory: str, euid: int, create: bool) -> tuple[int, str]:
    """(an O_PATH fd of `directory`, its name after symlinks), every component checked;
    missing ones created 0700 when `create`. Raises AuditPathRefused or OSError."""
    parts = [p for p in directory.split("/") if p not in ("", ".")]
    parts.reverse()  # a stack: the next component last
    cur, shown, hops = os.open("/", _DIR), "/", 0
    try:
        _check_dir(os.fstat(cur), euid, shown, not parts)
        while parts:
            name = parts.pop()
            here = _join(shown, name)
            try:
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
            except FileNotFoundError:
                if not create or name == "..":
                    raise
                try:
                    os.mkdir(name, 0o700, dir_fd=cur)
                except FileExistsError:
                    pass  # made meanwhile by someone: looked at like any other
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                _check_owner(st, euid, here, "symlink")
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise AuditPathRefused(f"too many symlinks on the way to {directory}")
                target = os.readlink(name, dir_fd=cur)
                parts.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
                if target.startswith("/"):
                    os.close(cur)
                    cur, shown = os.open("/", _DIR), "/"
                    _check_dir(os.fstat(cur), euid, shown, not parts)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENOTDIR, f"{here} is not a directory")
            nxt = os.open(name, _DIR, dir_fd=cur)
            os.close(cur)
            cur, shown = nxt, here
            now = os.fstat(cur)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise AuditPathRefused(f"directory {here} was replaced while it was checked")
            _check_dir(now, euid, shown, not parts)
    except BaseException:
        os.close(cur)
        raise
    return cur, shown


def _check_file(st: os.stat_result, euid: int, shown: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise AuditPathRefused(f"{shown} is not a regular file")
    if st.st_uid != euid:
        raise AuditPathRefused(f"{shown} is owned by {_owner(st.st_uid)}, not {_owner(euid)}")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise AuditPathRefused(
            f"{shown} is writable by other users (mode {mode:04o}): its records cannot be trusted"
        )
    if st.st_nlink != 1:
        raise AuditPathRefused(f"{shown} has {st.st_nlink} hard links: another name could change it")


def open_audit_log(path: str | os.PathLike[str], euid: int | None = None, *, create: bool = True) -> int:
    """An fd on the log, for appending, after every check above. Raises AuditPathRefused (the
    path is not safe: one line saying why) or OSError."""
    euid = os.geteuid() if euid is None else euid
    full = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(full)
    if name in ("", ".", ".."):
        raise AuditPathRefused(f"{full} names no file")
    dirfd, shown_dir = _walk(directory, euid, create)
    shown = _join(shown_dir, name)
    try:
        for _ in range(3):  # exists, or is created by us (O_EXCL), or appeared meanwhile: again
            try:
                fd = os.open(name, _FILE, dir_fd=dirfd)
                break
            except FileNotFoundError:
                if not create:
                    raise
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise AuditPathRefused(f"{shown} is a symlink") from None
                if exc.errno == errno.ENXIO:  # a FIFO nobody reads (O_NONBLOCK): no waiting
                    raise AuditPathRefused(f"{shown} is not a regular file") from None
                raise
            try:
                fd = os.open(name, _FILE | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dirfd)
                break
            except FileExistsError:
                continue
        else:
            raise AuditPathRefused(f"{shown} keeps appearing and disappearing")
    finally:
        os.close(dirfd)
    try:
        _check_file(os.fstat(fd), euid, shown)
    except BaseException:
        os.close(fd)
        raise
    return fd
