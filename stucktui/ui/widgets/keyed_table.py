"""A DataTable whose rows are replaced by key each refresh, keeping the cursor on its key and
the scroll offset where it was."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowDoesNotExist, RowKey

T = TypeVar("T")
MORE_KEY = "\0more"  # the key of the last line when rows were left out
ROW_LIMIT = 1000  # rows a table shows; filters and orders narrow down or bring up the rest


class KeyedTable(DataTable[Text | str]):
    # Home and End move to the first and last row, as in every list (DataTable's scroll the
    # table sideways, which left a wide table blank)
    BINDINGS = [
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    def __init__(
        self, columns: Sequence[tuple[str, str]], *, limit: int = ROW_LIMIT, more_hint: str = "", **kw: Any
    ) -> None:
        """`more_hint` tells how to reach rows left out past `limit` (a filter key, say)."""
        super().__init__(cursor_type="row", **kw)
        self.limit = limit
        self.more_hint = more_hint
        self._columns = columns
        self._plain: dict[str, tuple[str, ...]] = {}
        self.before_bottom: Callable[[], None] | None = None  # an owner that builds rows lazily
        self._width = -1  # the width of the lines rendered (see _on_resize)

    def _on_resize(self, event: events.Resize) -> None:
        """DataTable drops every line it rendered on any resize (its caches are keyed by a
        count it bumps). A line is its row's cells cut to the width: a change of height alone
        (a label above the table shown or hidden, as the Files tab's 'as of …' is) keeps them,
        so only a new width lets DataTable's handler run (a 20,000-fd Files tab re-rendered
        every row on screen for that label, twice a tab key)."""
        if event.size.width == self._width:
            event.prevent_default()  # the base classes' handlers are not called
        self._width = event.size.width

    def action_scroll_bottom(self) -> None:
        """ctrl+end: to the last row, after the owner has built every row it would show."""
        if self.before_bottom is not None:
            self.before_bottom()
        super().action_scroll_bottom()

    def on_mount(self) -> None:
        for key, title in self._columns:
            self.add_column(title, key=key)

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)
            self.scroll_x = 0

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
            self.scroll_x = 0

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None
        return None if key == MORE_KEY else key

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row with this key; False when there is none (yet)."""
        if key not in self._plain:
            return False
        self.move_cursor(row=self.get_row_index(RowKey(key)))
        return True

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Text]]], total: int | None = None) -> None:
        """Show these rows (at most `limit`; a last row says how many more there are). A
        refresh that keeps the same keys in the same order rewrites only the cells whose text
        changed: DataTable measures every cell of every row it adds (~65 us a row on the UI
        thread), so rebuilding 10,000 CLOSE_WAIT rows each refresh froze the screen for 0.6 s.
        `total`: how many rows there are when the caller passes only those to show (see
        `first_rows`); then every row passed is shown."""
        if total is None:
            total = len(rows)
            rows = rows[: self.limit]
        if total > len(rows):
            hint = f": {self.more_hint}" if self.more_hint else ""
            more = Text(f"… {total - len(rows):,} more rows not shown{hint}", style="dim italic")
            filler = [Text("…"), *[Text("") for _ in self._columns[1:]]]
            filler[-1] = more
            rows = [*rows, (MORE_KEY, filler)]
        plain = {k: tuple(c.plain for c in cells) for k, cells in rows}
        old = self._plain
        if list(plain) == list(old):
            changed = [(k, cells) for k, cells in rows if plain[k] != old[k]]
            if not changed:
                return  # nothing changed: no repaint, no cursor jump
            if self._update_in_place(changed, plain, old):
                self._plain = plain
                return
        if self._extend(rows, plain, old):
            self._plain = plain
            return
        keep = self.selected_key
        scroll_y = self.scroll_y
        with self.app.batch_update():
            self.clear()
            for key, cells in rows:
                self.add_row(*cells, key=key, height=None if _tall(plain[key]) else 1)
            self._plain = plain
            if keep is not None:
                try:
                    self.move_cursor(row=self.get_row_index(RowKey(keep)), scroll=False)
                except RowDoesNotExist:
                    pass
            self.scroll_to(y=scroll_y, animate=False, immediate=True)

    def _extend(
        self,
        rows: Sequence[tuple[str, Sequence[Text]]],
        plain: dict[str, tuple[str, ...]],
        old: dict[str, tuple[str, ...]],
    ) -> bool:
        """More of the same rows (the owner raised `limit` as the table scrolled near its end):
        the rows shown stay, the 'more rows' line goes, the new rows are added after them
        (DataTable measures only rows it has not measured yet). False: not such a change."""
        keys = [k for k in old if k != MORE_KEY]
        if len(rows) <= len(old) or any(rows[i][0] != k or plain[k] != old[k] for i, k in enumerate(keys)):
            return False
        with self.app.batch_update():
            if MORE_KEY in old:
                self.remove_row(MORE_KEY)
            for key, cells in rows[len(keys) :]:
                self.add_row(*cells, key=key, height=None if _tall(plain[key]) else 1)
        return True

    def _update_in_place(
        self,
        changed: list[tuple[str, Sequence[Text]]],
        plain: dict[str, tuple[str, ...]],
        old: dict[str, tuple[str, ...]],
    ) -> bool:
        """Rewrite the changed cells where they fit their column and keep the row's height;
        False (nothing written) when one does not: the caller rebuilds. DataTable's own
        update_width re-measures the whole column for each cell (7 s for 1,000 cells)."""
        widths = [self.columns[ColumnKey(key)].content_width for key, _ in self._columns]
        edits = []
        for k, cells in changed:
            if _tall(plain[k]) or _tall(old[k]):
                return False
            for i, (cell, new, was) in enumerate(zip(cells, plain[k], old[k], strict=True)):
                if new != was:
                    if cell_len(new) > widths[i]:
                        return False
                    edits.append((k, self._columns[i][0], cell))
        for k, col, cell in edits:
            self.update_cell(k, col, cell)
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value == MORE_KEY:
            event.stop()  # the "more rows" line is not a row to act on

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value == MORE_KEY:
            event.stop()


def _tall(cells: tuple[str, ...]) -> bool:
    """A row with a second line in any cell gets its height from its content."""
    return any("\n" in c for c in cells)


def first_rows(
    items: Sequence[T], limit: int = ROW_LIMIT, keep: Callable[[T], bool] | None = None
) -> list[T]:
    """The first `limit` items, and any later one `keep` asks for (the row a jump targets), so
    a panel builds cells only for the rows a KeyedTable will show."""
    out = list(items[:limit])
    if keep is not None and len(items) > limit:
        out.extend(x for x in items[limit:] if keep(x))
    return out
