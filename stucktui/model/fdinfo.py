"""Records of /proc/PID/fdinfo/N: flags, position, and what epoll, timerfd, inotify and lock lines say."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

from stucktui.model.locks import LockEntry

# fdinfo prints the open flags in octal, with O_CLOEXEC added when close-on-exec is set (proc(5)).
# Values come from os, i.e. the platform's <fcntl.h> (include/uapi/asm-generic/fcntl.h on x86).
_O_PATH = getattr(os, "O_PATH", 0o10000000)
_FLAG_NAMES: tuple[tuple[int, str], ...] = (
    (os.O_NONBLOCK, "O_NONBLOCK"),
    (os.O_APPEND, "O_APPEND"),
    (os.O_CLOEXEC, "O_CLOEXEC"),
    (getattr(os, "O_DIRECT", 0o40000), "O_DIRECT"),
    (getattr(os, "O_ASYNC", 0o20000), "O_ASYNC"),
    (_O_PATH, "O_PATH"),
)
_O_SYNC = os.O_SYNC
_O_DSYNC = os.O_DSYNC


# EPOLL* bits of include/uapi/linux/eventpoll.h, in the order epoll_ctl(2) lists them.
EPOLL_EVENTS: tuple[tuple[int, str], ...] = (
    (0x001, "IN"),
    (0x002, "PRI"),
    (0x004, "OUT"),
    (0x008, "ERR"),
    (0x010, "HUP"),
    (0x040, "RDNORM"),
    (0x080, "RDBAND"),
    (0x100, "WRNORM"),
    (0x200, "WRBAND"),
    (0x400, "MSG"),
    (0x2000, "RDHUP"),
    (1 << 28, "EXCLUSIVE"),
    (1 << 29, "WAKEUP"),
    (1 << 30, "ONESHOT"),
    (1 << 31, "ET"),
)


# The kernel adds ERR|HUP to every registration (docs/kernel-notes.md §4), so they say nothing about the
# caller.
_EPOLL_IMPLICIT = 0x008 | 0x010


def access_mode(flags: int) -> str:
    """'r', 'w', 'rw' from O_ACCMODE, or 'path' for an O_PATH fd (no access at all)."""
    if flags & _O_PATH:
        return "path"
    return ("r", "w", "rw", "rw")[flags & 3]


def flag_names(flags: int) -> tuple[str, ...]:
    cached = _flag_cache.get(flags)
    if cached is not None:
        return cached
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    if flags & _O_SYNC == _O_SYNC:
        names.append("O_SYNC")
    elif flags & _O_DSYNC:
        names.append("O_DSYNC")
    out = _flag_cache[flags] = tuple(names)
    return out


_flag_cache: dict[int, tuple[str, ...]] = {}  # a process has few distinct flag sets


@dataclass(frozen=True, slots=True)
class EpollEntry:
    """A `tfd:` line: one registration in an epoll interest list. `tfd` is the fd number at
    registration time and can be stale (docs/kernel-notes.md §4): match on `ino`."""

    tfd: int
    events: int
    data: int
    pos: int
    ino: int
    sdev: int

    def event_names(self, *, implicit: bool = False) -> tuple[str, ...]:
        """Decoded mask; ERR and HUP are left out unless implicit=True."""
        mask = self.events if implicit else self.events & ~_EPOLL_IMPLICIT
        return tuple(name for bit, name in EPOLL_EVENTS if mask & bit)


@dataclass(frozen=True, slots=True)
class TimerFd:
    clockid: int
    ticks: int  # expirations not read yet
    settime_flags: int
    it_value: tuple[int, int]  # (s, ns) LEFT until the next expiry; (0, 0) = disarmed
    it_interval: tuple[int, int]  # (s, ns); (0, 0) = one-shot

    @property
    def armed(self) -> bool:
        return self.it_value != (0, 0)


@dataclass(frozen=True, slots=True)
class InotifyWatch:
    wd: int
    ino: int
    sdev: int  # kernel-internal dev_t: major << 20 | minor
    mask: int
    ignored_mask: int

    @property
    def major_minor(self) -> tuple[int, int]:
        return (self.sdev >> 20, self.sdev & 0xFFFFF)


class FdInfo(NamedTuple):
    pos: int
    flags: int
    mnt_id: int | None = None
    ino: int | None = None  # absent before Linux 5.14
    epoll: tuple[EpollEntry, ...] = ()
    eventfd_count: int | None = None
    eventfd_id: int | None = None
    eventfd_semaphore: bool | None = None
    sigmask: int | None = None  # signalfd: bit n-1 = signal n
    timerfd: TimerFd | None = None
    inotify: tuple[InotifyWatch, ...] = ()
    locks: tuple[LockEntry, ...] = ()  # locks held through this open file (waiters: none)
    pidfd_pid: int | None = None  # pidfd: the process it refers to; -1 once it has exited

    @property
    def access_mode(self) -> str:
        return access_mode(self.flags)

    @property
    def flag_names(self) -> tuple[str, ...]:
        return flag_names(self.flags)
