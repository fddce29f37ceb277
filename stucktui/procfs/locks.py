"""Parser of /proc/locks (and of the same lines after `lock:` in /proc/PID/fdinfo/N)."""

from __future__ import annotations

from stucktui.model.locks import _TYPE_NAMES, LockEntry


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
