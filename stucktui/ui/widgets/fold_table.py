"""A KeyedTable with rows that fold others under them: → on a folded row asks its screen to
show the rows under it, ← on it or on a row under it to fold them again. Elsewhere ← and →
scroll the table sideways, as in any row table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.binding import Binding
from textual.message import Message

from stucktui.ui.widgets.keyed_table import KeyedTable


class FoldTable(KeyedTable):
    # DataTable's own Enter, in the footer: opening a row's process is the first thing to know
    BINDINGS = [Binding("enter", "select_cursor", "Open", show=True)]

    class Toggled(Message):
        """Show (`open`) or fold the rows under the row `key`."""

        def __init__(self, key: str, open: bool) -> None:
            super().__init__()
            self.key = key
            self.open = open

    def __init__(self, columns: Sequence[tuple[str, str]], **kw: Any) -> None:
        super().__init__(columns, **kw)
        self.heads: dict[str, bool] = {}  # key of a row with rows under it -> they are shown
        self.parents: dict[str, str] = {}  # key of a row shown under another -> that row's key

    def set_folds(self, heads: dict[str, bool], parents: dict[str, str]) -> None:
        self.heads = heads
        self.parents = parents

    def action_cursor_right(self) -> None:
        key = self.selected_key
        if key is not None and self.heads.get(key) is False:
            self.post_message(self.Toggled(key, True))
        else:
            super().action_cursor_right()

    def action_cursor_left(self) -> None:
        key = self.selected_key
        if key is not None and self.heads.get(key):
            self.post_message(self.Toggled(key, False))
        elif key is not None and key in self.parents:
            self.post_message(self.Toggled(self.parents[key], False))
        else:
            super().action_cursor_left()
