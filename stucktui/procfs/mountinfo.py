"""Parser of /proc/PID/mountinfo (proc(5)): one line per mount of the process's mount namespace.
With the `mnt_id:` of an fd's fdinfo it names the filesystem a file is on without touching the
file.

    36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2) (3)   (4)    (5)          (6)      (7)    (8) (9)   (10)       (11)

(1) mount ID, (2) parent ID, (3) major:minor of st_dev, (4) root of the mount within its file
system, (5) mount point relative to the process's root, (6) per-mount options, (7) zero or more
optional fields ending at the lone '-' (8), (9) file system type, (10) source, (11) per-superblock
options. The kernel writes a space, tab, newline or backslash inside a path as a three-digit
octal escape (`\\040`, `\\011`, `\\012`, `\\134`), so a field never holds a blank and a hostile
mount point cannot fake the separator (docs/kernel-notes.md §A.6).
"""

from __future__ import annotations

import re

from stucktui.model.mounts import Mount

_ESCAPE = re.compile(r"\\([0-7]{3})")


def parse_mountinfo(text: str) -> dict[int, str]:
    """mount id -> filesystem type ('ext4', 'tmpfs', 'fuse.sshfs', 'nfs4'), and nothing else:
    what the Files panel reads on every refresh, at a quarter of the cost of parse_mounts (a
    node with 2,000 mounts). Malformed lines are skipped."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        words = line.split()
        try:
            dash = words.index("-", 6)
            out[int(words[0])] = words[dash + 1]
        except (ValueError, IndexError):
            continue
    return out


def parse_mount_devices(text: str) -> dict[int, tuple[int, int, str]]:
    """mount id -> (major, minor, fstype): the device of each mount's superblock, as
    /proc/locks prints a locked file's (docs/kernel-notes.md §10.5). Malformed lines are
    skipped."""
    out: dict[int, tuple[int, int, str]] = {}
    for line in text.splitlines():
        words = line.split()
        try:
            dash = words.index("-", 6)
            major, _, minor = words[2].partition(":")
            out[int(words[0])] = (int(major), int(minor), unescape(words[dash + 1]))
        except (ValueError, IndexError):
            continue
    return out


def unescape(field: str) -> str:
    """A path field as the kernel named it: '\\040' -> ' ', '\\134' -> '\\'."""
    if "\\" not in field:
        return field
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mount_line(line: str) -> Mount | None:
    """One line, every field, its paths unescaped; None when it is not in the documented shape
    (a truncated read)."""
    f = line.split(" ")
    try:
        sep = f.index("-", 6)
        major, _, minor = f[2].partition(":")
        return Mount(
            mount_id=int(f[0]),
            parent_id=int(f[1]),
            major=int(major),
            minor=int(minor),
            root=unescape(f[3]),
            point=unescape(f[4]),
            options=f[5],
            fstype=unescape(f[sep + 1]),
            source=unescape(f[sep + 2]),
            super_options=f[sep + 3] if len(f) > sep + 3 else "",
        )
    except (ValueError, IndexError):
        return None


def parse_mounts(text: str) -> tuple[Mount, ...]:
    """Every mount, every field, in the kernel's order (a mount stacked over another comes
    after it)."""
    return tuple(m for line in text.splitlines() if line and (m := parse_mount_line(line)) is not None)
