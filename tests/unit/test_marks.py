"""The FIND column's marks: a row object the collector kept unchanged gets the same marked
copy at every refresh (the process table formats only new row objects); a process's mark
follows its (pid, start time), never a pid reused by another process."""

from __future__ import annotations

from stucktui.inspection.marks import RowMarks
from stucktui.model.process import ProcessListSnapshot, ProcessRow


def row(pid: int, start: int = 100) -> ProcessRow:
    return ProcessRow(pid, 1, 0, "root", "S", "x", ("x",), 0.0, 0, 1, 3, 0.0, start, False)


def snap(*rows: ProcessRow) -> ProcessListSnapshot:
    return ProcessListSnapshot(0.0, 0.0, rows)


def test_an_unchanged_row_keeps_its_marked_copy_and_a_new_severity_makes_a_new_one():
    a, b = row(10), row(11)
    marks = RowMarks()
    marks.set([(10, 100, "critical"), (10, 100, "info"), (11, 999, "warning")])
    first = marks.apply(snap(a, b))
    assert first.rows[0].finding == "critical" and first.rows[1] is b  # 11's mark: another start
    again = marks.apply(snap(a, b))
    assert again.rows[0] is first.rows[0]  # the same row object: the same copy
    changed = row(10)  # the collector read it again: a new object
    assert marks.apply(snap(changed, b)).rows[0] is not first.rows[0]
    marks.set([(10, 100, "warning")])
    assert marks.apply(snap(changed, b)).rows[0].finding == "warning"
    marks.set([])
    assert marks.apply(snap(changed, b)).rows == (changed, b)
