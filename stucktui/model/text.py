"""Numbers and lists as people read them: sizes, ages, the head and tail of a long list."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    v = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if v < 1024 or unit == "T":
            if unit == "B":
                return f"{int(v)}B"
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
        v /= 1024
    return f"{v:.0f}T"


def clock_time(ts: float) -> str:
    """A time of day as the status line shows it: '14:03:27' (local time)."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def human_age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:  # minutes only: a cell that changed every second would repaint every row
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def head_and_tail(items: Sequence[T], head: int, tail: int = 5) -> tuple[Sequence[T], int, Sequence[T]]:
    """(the first `head`, how many are left out, the last `tail`) of a long stack, so that the
    outermost frames (where a lock or a handler was first entered) show too; a short one
    comes back whole with nothing left out."""
    if len(items) <= head + tail:
        return items, 0, ()
    return items[:head], len(items) - head - tail, items[-tail:]
