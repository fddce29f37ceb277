"""Parser of /proc/PID/maps: the executable mappings, to tell which library an address in the
process's code belongs to (proc(5))."""

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
