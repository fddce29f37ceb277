"""Parser of /proc/PID/fdinfo/N: position, flags, inode, and the lines special fds add."""

from __future__ import annotations

import re
import signal

from stucktui.model.fdinfo import (
    EpollEntry,
    FdInfo,
    InotifyWatch,
    TimerFd,
)
from stucktui.model.locks import LockEntry
from stucktui.procfs.locks import parse_lock_line

# clockid values of include/uapi/linux/time.h, as timerfd fdinfo prints them.
_CLOCKS = {0: "REALTIME", 1: "MONOTONIC", 7: "BOOTTIME", 8: "REALTIME_ALARM", 9: "BOOTTIME_ALARM"}

_KV = re.compile(r"([A-Za-z_-]+):\s*(\S+)")


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


def fdinfo_flags(text: str) -> int:
    """Only the flags of an fdinfo text: the box-wide pipe scan needs nothing else."""
    i = text.find("flags:")
    if i < 0:
        raise ValueError("no flags: line in fdinfo")
    return int(text[i + 6 : text.index("\n", i)], 8)


def fuse_connection(text: str) -> int | None:
    """The `fuse_connection:` line of a /dev/fuse fd's fdinfo: the number of the FUSE
    connection it serves (docs/kernel-notes.md §A.6); None when there is none."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "fuse_connection":
            try:
                return int(value)
            except ValueError:
                return None
    return None


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
