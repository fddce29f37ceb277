"""Parser of /proc/PID/limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    soft: int | None  # None = unlimited
    hard: int | None
    units: str


def _val(s: str) -> int | None:
    return None if s == "unlimited" else int(s)


def parse_limits(text: str) -> dict[str, Limit]:
    """Keyed by the kernel's name ("Max open files"). Columns are fixed-width, but names hold
    spaces; the last two or three whitespace-separated words are the values and units."""
    out: dict[str, Limit] = {}
    for line in text.splitlines()[1:]:
        words = line.split()
        if len(words) < 4 or not line.startswith("Max"):
            continue
        # "Max realtime timeout  unlimited  unlimited  us" -> the name ends before the values.
        if words[-1].isdigit() or words[-1] == "unlimited":
            name, soft, hard, units = " ".join(words[:-2]), words[-2], words[-1], ""
        else:
            name, soft, hard, units = " ".join(words[:-3]), words[-3], words[-2], words[-1]
        out[name] = Limit(name, _val(soft), _val(hard), units)
    return out
