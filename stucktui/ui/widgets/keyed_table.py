"""A DataTable whose rows are replaced by key each refresh, keeping the cursor on its key and
the scroll offset where it was."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist, RowKey


class KeyedTable(DataTable):
    def __init__(self, columns: Sequence[tuple[str, str]], **kw) -> None:
        super().__init__(cursor_type="row", **kw)
        self._columns = columns
        self._plain: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for key, title in self._columns:
            self.add_column(title, key=key)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row with this key; False when there is none (yet)."""
        if key not in self._plain:
            return False
        self.move_cursor(row=self.get_row_index(RowKey(key)))
        return True

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        plain = {k: tuple(c.plain for c in cells) for k, cells in rows}
        if plain == self._plain and list(plain) == list(self._plain):
            return  # nothing changed: no repaint, no cursor jump
        keep = self.selected_key
        scroll_y = self.scroll_y
        with self.app.batch_update():
            self.clear()
            for key, cells in rows:
                self.add_row(*cells, key=key, height=None if any("\n" in c for c in plain[key]) else 1)
            self._plain = plain
            if keep is not None:
                try:
                    self.move_cursor(row=self.get_row_index(RowKey(keep)), scroll=False)
                except RowDoesNotExist:
                    pass
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
