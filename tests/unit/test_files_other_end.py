"""Issue 19 item 9: a pipe row's other end is readable at 120 columns: it comes right after the
link, before the fill and the verdicts (which may be long)."""

from __future__ import annotations

from stucktui.model.files import FdRow, PipeEnd, PipeFill, pipe_view
from stucktui.ui.widgets.files_panel import _target


def test_the_other_end_comes_before_the_fill_and_verdicts():
    holders = (PipeEnd(42, "api", 2, "w"), PipeEnd(42, "api", 3, "r"), PipeEnd(77, "shipper", 0, "r"))
    view = pipe_view(42, 2, "w", 5210641, holders, PipeFill(65536, 65536, None))
    row = FdRow(2, "pipe", "pipe:[5210641]", "w", (), 0, 5210641, pipe=view)
    text = _target(row).plain
    assert text.startswith("pipe:[5210641]  other end: ")
    assert "77 shipper fd 0 (r)" in text[:84]  # the TARGET column's width at 120 columns
    assert text.index("other end:") < text.index("queued")
