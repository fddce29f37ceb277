"""Parser of /proc/PID/maps: the executable mappings, to tell which library an address in the
process's code belongs to, and the mapping of any address with its device and inode (proc(5))."""

from __future__ import annotations

from typing import NamedTuple


class CodeMapping(NamedTuple):
    start: int
    end: int  # exclusive
    path: str  # the mapped file; '' for anonymous code (a JIT)


def parse_code_mappings(text: str) -> list[CodeMapping]:
    """The mappings with the execute bit, in address order: `7f..-7f.. r-xp 00026000 fe:00
    339893 /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6`. Malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        words = line.split(maxsplit=5)
        if len(words) < 5 or "x" not in words[1]:
            continue
        lo, sep, hi = words[0].partition("-")
        try:
            out.append(CodeMapping(int(lo, 16), int(hi, 16), words[5].strip() if len(words) > 5 else ""))
        except ValueError:
            continue
    return out


def mapping_of(mappings: list[CodeMapping], address: int) -> CodeMapping | None:
    for m in mappings:
        if m.start <= address < m.end:
            return m
    return None


class Mapping(NamedTuple):
    start: int
    end: int  # exclusive
    major: int  # the mapped file's device; 0:0 and inode 0 for anonymous memory
    minor: int
    inode: int


def mapping_at(text: str, address: int) -> Mapping | None:
    """The mapping that holds `address`: `7ffd..-7ffd.. rw-p 00000000 00:00 0 [stack]`,
    `7f..-7f.. r--p 00000000 00:28 2 /mnt/x/file` (device in hex). None when it is in none."""
    for line in text.splitlines():
        words = line.split(maxsplit=5)
        if len(words) < 5:
            continue
        lo, _, hi = words[0].partition("-")
        try:
            start, end = int(lo, 16), int(hi, 16)
            if start <= address < end:
                major, _, minor = words[3].partition(":")
                return Mapping(start, end, int(major, 16), int(minor, 16), int(words[4]))
        except ValueError:
            continue
    return None
