"""The process an action is aimed at, pinned by a pidfd so a reused pid is never hit
(docs/kernel-notes.md §6.1).

The pidfd is opened first; only then is /proc/PID pinned and its start time compared with the
one the user saw. A start time alone is not enough (two processes born in the same clock tick
share it), but once the pidfd exists, every signal and pidfd_getfd goes to that exact process
or fails with ESRCH, and the pidfd turns readable when the process exits.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from stucktui.actions import results as R
from stucktui.actions.results import ProcessState
from stucktui.collect.users import UserNames
from stucktui.model.process import STATE_NAMES
from stucktui.model.signals import mask_names
from stucktui.procfs.cmdline import parse_cmdline
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.stat import PidStat, parse_stat
from stucktui.procfs.status import Status, parse_status
from stucktui.procfs.system import parse_boot_time
from stucktui.textsafe import printable_argv

_users = UserNames()
# PID_MAX_LIMIT of a 64-bit kernel (include/linux/threads.h): pid_max is at most this, and
# every pid is below pid_max, so a number above it can never name a process.
PID_LIMIT = 4194304


def pid_problem(pid: int) -> str | None:
    """None for a number that may name a process; otherwise what is wrong with it, in words."""
    if 1 <= pid <= PID_LIMIT:
        return None
    return f"pid must be a whole number from 1 to {PID_LIMIT}, not {pid}"


def _thread_of(pid: int) -> int | None:
    """The process a thread id belongs to (its Tgid), or None: /proc/TID exists though unlisted."""
    try:
        status = parse_status(ProcRoot().read_text(pid, "status", pid=pid))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None
    return status.tgid if status.tgid != pid else None


class TargetError(Exception):
    """The process cannot be acted on; `outcome` is results.GONE, NO_PERMISSION or UNAVAILABLE."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class Target:
    """One process, pinned: a pidfd plus a /proc/PID directory fd. Thread-safe; close() when the
    user leaves the process (a closed Target refuses every use)."""

    def __init__(
        self, pid: int, pidfd: int, piddir: PidDir, stat: PidStat, status: Status, argv: tuple[str, ...]
    ):
        self.pid = pid
        self.starttime = stat.starttime  # clock ticks after boot, stat field 22
        self.comm = stat.comm
        self.argv = argv
        self.uid = status.uids[0]  # real uid: what kill(2)'s permission check compares
        self.user = _users(self.uid)
        self.kernel_thread = stat.is_kernel_thread
        self.zombie = stat.state == "Z"
        self.nspid = status.nspid
        self.piddir = piddir
        self._pidfd: int | None = pidfd
        self._lock = threading.RLock()
        self._users = 0  # actions in progress (in_use)
        self._closing = False

    # -- life cycle --------------------------------------------------------------------------
    @classmethod
    def open(cls, pid: int, starttime: int | None = None, *, root: ProcRoot | None = None) -> Target:
        """Pin `pid`. With `starttime` (stat field 22 as the process list showed it), a pid that
        now names another process is refused. Raises TargetError."""
        if root is not None and root.path != "/proc":
            raise TargetError(R.UNAVAILABLE, f"actions need the live /proc, not {root.path}")
        root = ProcRoot()
        if (why := pid_problem(pid)) is not None:  # pidfd_open(0) is EINVAL; 2**63 overflows
            raise TargetError(R.BAD_REQUEST, why)
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise TargetError(R.GONE, f"no process with pid {pid}") from None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINVAL):
                tgid = _thread_of(pid)
                if tgid is not None:
                    why = f"{pid} is a thread of process {tgid}, not a process: give pid {tgid}"
                    raise TargetError(R.BAD_REQUEST, why) from None
                raise TargetError(R.GONE, f"no process with pid {pid}") from None
            raise TargetError(R.FAILED, f"pidfd_open({pid}): {exc.strerror}") from None
        t = cls._pin(root, pid, pidfd)  # owns the pidfd from here, also when it raises
        # The pidfd was opened before the directory: if the process behind the pidfd is still
        # running now, the directory and the stat read through it are that process's.
        if starttime is not None and t.starttime != starttime:
            t.close()
            raise TargetError(
                R.GONE,
                f"pid {pid} now belongs to another process ({t.comm}, start time {t.starttime}, "
                f"expected {starttime}): the process you selected has exited",
            )
        if t.exited():
            t.close()
            raise TargetError(
                R.GONE,
                f"process {pid} has exited" + (" (a zombie: its parent must reap it)" if t.zombie else ""),
            )
        return t

    @classmethod
    def _pin(cls, root: ProcRoot, pid: int, pidfd: int) -> Target:
        """The Target for an open pidfd; closes the pidfd itself when it cannot build one."""
        try:
            d = root.pid_dir(pid)
        except BaseException as exc:
            os.close(pidfd)
            if isinstance(exc, (ProcessGone, FileNotFoundError)):
                raise TargetError(R.GONE, f"process {pid} has exited") from None
            if isinstance(exc, AccessDenied):
                raise TargetError(R.NO_PERMISSION, f"no permission to read /proc/{pid}") from None
            raise
        try:
            st = parse_stat(d.read_text("stat"))
            status = parse_status(d.read_text("status"))
            argv = parse_cmdline(d.read_bytes("cmdline"))
        except BaseException as exc:
            d.close()
            os.close(pidfd)
            if isinstance(exc, ProcessGone):
                raise TargetError(R.GONE, f"process {pid} has exited") from None
            if isinstance(exc, (AccessDenied, OSError, ValueError)):
                raise TargetError(R.FAILED, f"cannot read /proc/{pid}: {exc}") from None
            raise
        return cls(pid, pidfd, d, st, status, argv)

    def close(self) -> None:
        """Release the pidfd and the directory; safe from any thread. Work in progress (in_use)
        keeps them until it ends, so their numbers are never reused under its feet."""
        with self._lock:
            self._closing = True
            if self._users == 0:
                self._release()

    def _release(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        self.piddir.close()

    @contextmanager
    def in_use(self) -> Iterator[Target]:
        """Hold the handles for the length of an action. Raises TargetError once closed."""
        with self._lock:
            if self._closing:
                raise TargetError(R.GONE, f"the handle on process {self.pid} was closed")
            self._users += 1
        try:
            yield self
        finally:
            with self._lock:
                self._users -= 1
                if self._closing and self._users == 0:
                    self._release()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Target(pid={self.pid}, starttime={self.starttime}, comm={self.comm!r})"

    @contextmanager
    def pidfd(self) -> Iterator[int]:
        """The pidfd, held so that close() from another thread cannot free (and let something
        else reuse) its number while it is in use."""
        with self._lock:
            if self._pidfd is None:
                raise TargetError(R.GONE, f"the handle on process {self.pid} was closed")
            yield self._pidfd

    # -- identity ----------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closing

    def exited(self) -> bool:
        """True once the process has exited (zombie or reaped): the pidfd polls readable."""
        with self._lock:
            if self._pidfd is None:
                return True
            poller = select.poll()  # not select(): our own fd numbers may pass 1023
            poller.register(self._pidfd, select.POLLIN)
            return bool(poller.poll(0))

    def check(self) -> str | None:
        """None while this is still the same live process; otherwise why not, in words."""
        if self.closed:
            return f"the handle on process {self.pid} was closed"
        if self.exited():
            return f"process {self.pid} has exited" + self._successor()
        try:
            now = parse_stat(self.piddir.read_text("stat")).starttime
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return f"process {self.pid} has exited" + self._successor()
        if now != self.starttime:  # cannot happen while the pidfd is unreadable; kept as a guard
            return f"pid {self.pid} now belongs to another process"
        return None

    def _successor(self) -> str:
        try:
            st = parse_stat(ProcRoot().read_text(self.pid, "stat", pid=self.pid))
        except (ProcessGone, AccessDenied, OSError, ValueError):
            return ""
        if st.starttime != self.starttime or st.state not in ("Z", "X"):
            return f"; pid {self.pid} now belongs to another process ({st.comm})"
        return ""

    # -- for confirmations and the audit log -------------------------------------------------
    @property
    def command_text(self) -> str:
        """The command line as one line, control characters escaped; [comm] when empty."""
        return printable_argv(self.argv) if self.argv else f"[{self.comm}]"

    def started(self) -> str:
        """Start time as local wall-clock time, with the raw ticks: '2025-01-31 12:00:01 (ticks 4242)'."""
        try:
            boot = parse_boot_time(ProcRoot().read_text("stat"))
            wall = boot + self.starttime / os.sysconf("SC_CLK_TCK")
            return f"{datetime.fromtimestamp(wall):%Y-%m-%d %H:%M:%S} (ticks {self.starttime})"
        except (OSError, ValueError):
            return f"{self.starttime} ticks after boot"

    def describe(self) -> list[str]:
        """pid, user, start time, command line: the head of every confirmation."""
        return [
            f"process {self.pid} ({self.comm}), user {self.user} (uid {self.uid})",
            f"started {self.started()}",
            f"command: {self.command_text}",
        ]

    @property
    def namespace_init(self) -> bool:
        """PID 1 of a pid namespace below ours: the kernel drops signals it does not catch."""
        return len(self.nspid) > 1 and self.nspid[-1] == 1


def read_state(target: Target) -> ProcessState:
    """The target's state now; never raises."""
    if target.exited():
        return ProcessState(False, None, None)
    try:
        st = parse_stat(target.piddir.read_text("stat"))
        status = parse_status(target.piddir.read_text("status"))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return ProcessState(not target.exited(), None, None)
    pending = status.sig_pnd | status.shd_pnd
    return ProcessState(
        alive=st.state not in ("Z", "X"),
        state=st.state,
        state_name=STATE_NAMES.get(st.state, st.state),
        pending=mask_names(pending),
        pending_blocked=mask_names(pending & status.sig_blk),
    )


def wait_for(
    target: Target, done: Callable[[ProcessState], bool], timeout: float, interval: float = 0.01
) -> ProcessState:
    """Re-read the state until done(state) or `timeout` seconds pass (bounded; 0 = read once)."""
    deadline = time.monotonic() + timeout
    state = read_state(target)
    while not done(state) and time.monotonic() < deadline:
        if not state.alive:
            break
        time.sleep(interval)
        state = read_state(target)
    return state
