"""Parser of /proc/PID/fdinfo/N: position, flags, inode, and the lines special fds add."""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from typing import NamedTuple

from stucktui.procfs.locks import LockEntry, parse_lock_line

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
# The kernel adds ERR|HUP to every registration (notes 4), so they say nothing about the caller.
_EPOLL_IMPLICIT = 0x008 | 0x010

# clockid values of include/uapi/linux/time.h, as timerfd fdinfo prints them.
_CLOCKS = {0: "REALTIME", 1: "MONOTONIC", 7: "BOOTTIME", 8: "REALTIME_ALARM", 9: "BOOTTIME_ALARM"}

_KV = re.compile(r"([A-Za-z_-]+):\s*(\S+)")


@dataclass(frozen=True, slots=True)
class EpollEntry:
    """A `tfd:` line: one registration in an epoll interest list. `tfd` is the fd number at
    registration time and can be stale (notes 4): match on `ino`."""

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


def access_mode(flags: int) -> str:
    """'r', 'w', 'rw' from O_ACCMODE, or 'path' for an O_PATH fd (no access at all)."""
    if flags & _O_PATH:
        return "path"
    return ("r", "w", "rw", "rw")[flags & 3]


def link_access_mode(st_mode: int) -> str | None:
    """'r', 'w', 'rw' or 'path' from the lstat mode of a /proc/PID/fd/N link: the kernel
    gives the link S_IRUSR when the file was opened for reading and S_IWUSR for writing, and
    never a group or other bit (fs/proc/fd.c, tid_fd_update_inode), so one lstat tells the
    end of a pipe without reading fdinfo. None when the mode has group or other bits: not a
    procfs fd link (a fixture tree's symlink), so read fdinfo instead."""
    if st_mode & 0o077:
        return None
    r, w = st_mode & 0o400, st_mode & 0o200
    return "rw" if r and w else "r" if r else "w" if w else "path"


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


def fdinfo_flags(text: str) -> int:
    """Only the flags of an fdinfo text: the box-wide pipe scan needs nothing else."""
    i = text.find("flags:")
    if i < 0:
        raise ValueError("no flags: line in fdinfo")
    return int(text[i + 6 : text.index("\n", i)], 8)


def _pair(s: str) -> tuple[int, int]:
    a, _, b = s.strip().strip("()").partition(",")
    return (int(a), int(b))


def parse_fdinfo(text: str) -> FdInfo:
    # Most fds have only the four common lines; the Files panel parses 20,000 of them.
    lines = text.split("\n")
    if len(lines) == 5 and not lines[4]:
        a, b, c, d = lines[:4]
        if a[:4] == "pos:" and b[:6] == "flags:" and c[:7] == "mnt_id:" and d[:4] == "ino:":
            return FdInfo(int(a[4:]), int(b[6:], 8), int(c[7:]), int(d[4:]))
    return _parse_fdinfo(lines)


def _parse_fdinfo(lines: list[str]) -> FdInfo:
    pos = flags = 0
    mnt_id = ino = None
    epoll: list[EpollEntry] = []
    inotify: list[InotifyWatch] = []
    locks: list[LockEntry] = []
    ev_count = ev_id = sigmask = pidfd_pid = None
    ev_sem: bool | None = None
    timer: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if key == "pos":
            pos = int(value)
        elif key == "flags":
            flags = int(value, 8)
        elif key == "mnt_id":
            mnt_id = int(value)
        elif key == "ino":
            ino = int(value)
        elif key == "tfd":
            f = dict(_KV.findall(line))
            epoll.append(
                EpollEntry(
                    tfd=int(f["tfd"]),
                    events=int(f["events"], 16),
                    data=int(f["data"], 16),
                    pos=int(f.get("pos", "0")),
                    ino=int(f["ino"], 16),
                    sdev=int(f["sdev"], 16),
                )
            )
        elif key == "eventfd-count":
            ev_count = int(value, 16)
        elif key == "eventfd-id":
            ev_id = int(value)
        elif key == "eventfd-semaphore":
            ev_sem = value == "1"
        elif key == "sigmask":
            sigmask = int(value, 16)
        elif key in ("clockid", "ticks", "settime flags", "it_value", "it_interval"):
            timer[key] = value
        elif key == "inotify wd":
            f = dict(_KV.findall(line))
            inotify.append(
                InotifyWatch(
                    wd=int(f["wd"]),
                    ino=int(f["ino"], 16),
                    sdev=int(f["sdev"], 16),
                    mask=int(f["mask"], 16),
                    ignored_mask=int(f.get("ignored_mask", "0"), 16),
                )
            )
        elif key == "lock":
            entry = parse_lock_line(value)
            if entry is not None:
                locks.append(entry)
        elif key == "Pid":
            pidfd_pid = int(value)
    timerfd = None
    if "clockid" in timer:
        timerfd = TimerFd(
            clockid=int(timer["clockid"]),
            ticks=int(timer.get("ticks", "0")),
            settime_flags=int(timer.get("settime flags", "0"), 8),
            it_value=_pair(timer.get("it_value", "(0, 0)")),
            it_interval=_pair(timer.get("it_interval", "(0, 0)")),
        )
    return FdInfo(
        pos=pos,
        flags=flags,
        mnt_id=mnt_id,
        ino=ino,
        epoll=tuple(epoll),
        eventfd_count=ev_count,
        eventfd_id=ev_id,
        eventfd_semaphore=ev_sem,
        sigmask=sigmask,
        timerfd=timerfd,
        inotify=tuple(inotify),
        locks=tuple(locks),
        pidfd_pid=pidfd_pid,
    )


def _signal_names(mask: int) -> tuple[str, ...]:
    """Bit n-1 = signal n (signal(7), proc(5) SigBlk); 32 and 33 are taken by glibc's threads."""
    out = []
    for n in range(1, 65):
        if not mask >> (n - 1) & 1:
            continue
        if n < 32:
            try:
                out.append(signal.Signals(n).name)
            except ValueError:
                out.append(f"SIG{n}")
        elif n < 34:
            out.append(f"SIG{n} (libc)")
        else:
            out.append("SIGRTMIN" if n == 34 else f"SIGRTMIN+{n - 34}")
    return tuple(out)


def _seconds(t: tuple[int, int]) -> str:
    v = t[0] + t[1] / 1e9
    return f"{v:.1f} s" if v < 100 else f"{v:.0f} s"


def describe_special(kind: str, info: FdInfo) -> str | None:
    """One line for the fds whose state lives in fdinfo; `kind` comes from fdtarget.classify."""
    if kind == "signalfd" and info.sigmask is not None:
        return "signals " + (", ".join(_signal_names(info.sigmask)) or "none")
    if kind == "eventfd" and info.eventfd_count is not None:
        return f"count {info.eventfd_count}" + (" (semaphore)" if info.eventfd_semaphore else "")
    if kind == "timerfd" and info.timerfd is not None:
        t = info.timerfd
        clock = "CLOCK_" + _CLOCKS.get(t.clockid, str(t.clockid))
        text = f"{clock}, fires in {_seconds(t.it_value)}" if t.armed else f"{clock}, disarmed"
        if t.it_interval != (0, 0):
            text += f", every {_seconds(t.it_interval)}"
        if t.ticks:
            text += f", {t.ticks} expirations unread"
        return text
    if kind == "inotify":
        return f"{len(info.inotify)} watch" + ("" if len(info.inotify) == 1 else "es")
    if kind == "pidfd" and info.pidfd_pid is not None:
        return "process exited" if info.pidfd_pid < 0 else f"pid {info.pidfd_pid}"
    if kind == "epoll":
        return f"{len(info.epoll)} watched"
    return None
