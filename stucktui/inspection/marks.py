"""The list's FIND column: the last triage's worst severity put on each process's row.

The process list collector keeps an unchanged process's row object from one refresh to the
next, and the process table formats only rows that are new objects; a marked row is a copy,
so the copy made for a row object is kept and given again while that object comes back with
the same severity (a marked row would otherwise be formatted again at every refresh)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from stucktui.model.process import ProcessListSnapshot, ProcessRow


class RowMarks:
    def __init__(self) -> None:
        self.worst: dict[tuple[int, int], str] = {}  # (pid, start time) -> worst severity
        self._copies: dict[tuple[int, int], tuple[ProcessRow, ProcessRow]] = {}

    def set(self, marks: Iterable[tuple[int, int, str]]) -> None:
        """(pid, start time, severity), most severe first: the first of each process counts."""
        self.worst = {}
        for pid, start, severity in marks:
            self.worst.setdefault((pid, start), severity)

    def apply(self, plist: ProcessListSnapshot) -> ProcessListSnapshot:
        """Each row with its worst severity; only rows that change are copied, and a row object
        seen before gets the same copy."""
        if not self.worst and not self._copies:
            return plist
        worst, old, copies = self.worst, self._copies, {}
        rows = list(plist.rows)
        for i, r in enumerate(rows):
            key = (r.pid, r.starttime_ticks)
            sev = worst.get(key)
            if sev == r.finding:
                continue
            hit = old.get(key)
            rows[i] = (
                hit[1]
                if hit is not None and hit[0] is r and hit[1].finding == sev
                else replace(r, finding=sev)
            )
            copies[key] = (r, rows[i])
        self._copies = copies
        return replace(plist, rows=tuple(rows))
