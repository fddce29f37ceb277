"""What an fd is, from the text of its /proc/PID/fd/N link and, when known, its stat mode."""

from __future__ import annotations

import stat

# Kinds of fd, as the Files panel and `stucktui report` name them.
FILE = "file"
DIR = "dir"
PIPE = "pipe"
FIFO = "fifo"
SOCKET = "socket"
EPOLL = "epoll"
EVENTFD = "eventfd"
SIGNALFD = "signalfd"
TIMERFD = "timerfd"
INOTIFY = "inotify"
FANOTIFY = "fanotify"
PIDFD = "pidfd"
MEMFD = "memfd"
DEVICE = "device"
DELETED = "deleted"
NAMESPACE = "namespace"
ANON = "anon"  # another anon_inode: io_uring, userfaultfd, bpf-map, perf_event, ...
OTHER = "other"

# Links of anonymous inodes (fs/anon_inodes.c names them "anon_inode:<name>"; most names
# carry brackets, inotify's does not). Since Linux 6.9 pidfds live in pidfs: "pidfd:[N]"
# there, "anon_inode:[pidfd]" before.
_ANON = {
    "[eventpoll]": EPOLL,
    "[eventfd]": EVENTFD,
    "[signalfd]": SIGNALFD,
    "[timerfd]": TIMERFD,
    "inotify": INOTIFY,
    "[fanotify]": FANOTIFY,
    "[pidfd]": PIDFD,
}
_DELETED = " (deleted)"
# Namespace links (nsfs) read "<type>:[inode]", see namespaces(7).
_NS_TYPES = frozenset({"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"})


def bracket_inode(target: str) -> int | None:
    """The inode of `pipe:[123]`, `socket:[456]`, `pidfd:[7]`, `net:[4026531840]`."""
    if target.endswith("]"):
        i = target.find(":[")
        if i > 0:
            try:
                return int(target[i + 2 : -1])
            except ValueError:
                return None
    return None


def classify(target: str, mode: int | None = None) -> str:
    """The kind of an fd. `mode` (st_mode of a stat through the link) tells FIFOs, devices and
    directories from regular files; without it a path is guessed from its text only."""
    if target[:1] != "/":
        head, _, rest = target.partition(":")
        if head == "pipe":
            return PIPE
        if head == "socket":
            return SOCKET
        if head == "anon_inode":
            return _ANON.get(rest, ANON)
        if head == "pidfd":
            return PIDFD
        return NAMESPACE if head in _NS_TYPES else OTHER
    if target.startswith("/memfd:"):
        return MEMFD
    if mode is not None:
        if stat.S_ISFIFO(mode):
            return FIFO
        if stat.S_ISSOCK(mode):
            return SOCKET  # a bound unix socket opened through its path is rare but possible
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            return DEVICE
        if stat.S_ISDIR(mode):
            return DIR
    if target.endswith(_DELETED):
        return DELETED
    if mode is None and target.startswith("/dev/") and not target.startswith(("/dev/shm/", "/dev/mqueue/")):
        return DEVICE
    return FILE


def strip_deleted(target: str) -> str:
    """The path without the kernel's ' (deleted)' suffix."""
    return target[: -len(_DELETED)] if target.endswith(_DELETED) else target
