"""Parser of /proc/locks (and of the same lines after `lock:` in /proc/PID/fdinfo/N)."""

from __future__ import annotations

from dataclasses import dataclass

# Lock kinds as the kernel prints them (fs/locks.c, lock_get_status); OFDLCK is shown as OFD.
_TYPE_NAMES = {"OFDLCK": "OFD"}


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One line of /proc/locks.

    `pid` is what the kernel prints, which is not always the holder (notes 8.1): OFD locks
    print -1, and a flock prints the pid that created it, which may have exited since."""

    id: int  # shared by a lock and the requests waiting for it
    depth: int  # 0 = a granted lock; 1 = waits for it; 2 = waits for that waiter, ...
    type: str  # FLOCK, POSIX, OFD, LEASE, DELEG
    kind: str  # ADVISORY, MANDATORY; for leases ACTIVE, BREAKING, BREAKER
    mode: str  # READ, WRITE, UNLCK
    pid: int  # -1 for OFD locks; 0 when the kernel has none
    major: int
    minor: int
    inode: int  # 0 when the kernel printed <none>
    start: int
    end: int | None  # None = to the end of the file (EOF)

    @property
    def waiting(self) -> bool:
        return self.depth > 0

    @property
    def dev_ino(self) -> tuple[int, int, int]:
        """(major, minor, inode): compare with os.major/os.minor(st_dev) and st_ino."""
        return (self.major, self.minor, self.inode)

    @property
    def range_text(self) -> str:
        return f"{self.start}-{'EOF' if self.end is None else self.end}"


def parse_lock_line(line: str) -> LockEntry | None:
    """One line such as `2:  -> FLOCK  ADVISORY  WRITE 6144 fe:00:2146914 0 EOF`.

    The kernel prints one `->` per line for a waiter and indents it by its depth in the tree
    of blocked requests (a request can wait for another request, not only for the lock)."""
    head, sep, rest = line.partition(":")
    if not sep or not head.strip().isdigit():
        return None
    words = rest.split()
    arrows = 0
    while arrows < len(words) and words[arrows] == "->":
        arrows += 1
    words = words[arrows:]
    if len(words) != 7:
        return None
    # ": " then one more space per level before the arrow: the indent is the depth.
    depth = max(1, len(rest) - len(rest.lstrip(" "))) if arrows else 0
    type_, kind, mode, pid, dev, start, end = words
    try:
        if dev.startswith("<none>"):
            major = minor = inode = 0
        else:
            maj, mnr, ino = dev.split(":")
            major, minor, inode = int(maj, 16), int(mnr, 16), int(ino)
        return LockEntry(
            id=int(head),
            depth=depth,
            type=_TYPE_NAMES.get(type_, type_),
            kind=kind,
            mode=mode,
            pid=int(pid),
            major=major,
            minor=minor,
            inode=inode,
            start=int(start),
            end=None if end == "EOF" else int(end),
        )
    except ValueError:
        return None


def parse_locks(text: str) -> tuple[LockEntry, ...]:
    """Every line of /proc/locks, in the kernel's order (a waiter follows what it waits for).
    Lines that do not parse are skipped: the format has changed across kernels."""
    out = []
    for line in text.splitlines():
        entry = parse_lock_line(line)
        if entry is not None:
            out.append(entry)
    return tuple(out)
