"""Parser of /proc/PID/mountinfo: each mount's id and filesystem type (proc(5)). With the
`mnt_id:` of an fd's fdinfo it names the filesystem a file is on without touching the file."""

from __future__ import annotations


def parse_mountinfo(text: str) -> dict[int, str]:
    """mount id -> filesystem type ('ext4', 'tmpfs', 'fuse.sshfs', 'nfs4'). A line is `36 35
    98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw`: optional fields end at the
    lone '-', the type follows it. Malformed lines are skipped."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        words = line.split()
        try:
            dash = words.index("-", 6)
            out[int(words[0])] = words[dash + 1]
        except (ValueError, IndexError):
            continue
    return out
