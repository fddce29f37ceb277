"""The process list table: rows keyed by pid, updated in place so the cursor survives refreshes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist, RowKey

from stucktui.listing import COLUMNS, TreeLine, human_age, human_bytes
from stucktui.snapshot import ProcessRow
from stucktui.ui.safe import safe_argv, safe_text

_STATE_STYLE = {
    "R": "bold green",
    "D": "bold red",
    "Z": "bold magenta",
    "T": "bold yellow",
    "t": "bold yellow",
}
# above this many removals one rebuild is cheaper than removing row by row (remove_row is O(n))
_REBUILD_THRESHOLD = 64


def _cells(line: TreeLine, now: float) -> tuple[str, ...]:
    """Plain cell values, compared between refreshes so only changed cells are redrawn."""
    r = line.row
    return (
        str(r.pid),
        r.user,
        r.state,
        "" if r.cpu_percent is None else f"{r.cpu_percent:.1f}",
        human_bytes(r.rss_bytes),
        str(r.num_threads),
        "denied" if r.num_fds is None else str(r.num_fds),
        human_age(now - r.start_time),
        line.prefix + r.command,
    )


def _render(line: TreeLine, plain: tuple[str, ...]) -> list[Text]:
    r = line.row
    out: list[Text] = []
    for col, value in zip(COLUMNS, plain, strict=True):
        if col.key == "command":
            cmd = safe_argv(r.cmdline, max_len=400) if r.cmdline else safe_text(f"[{r.name}]", "dim", 400)
            t = Text(no_wrap=True, end="")
            t.append(line.prefix, style="dim")
            t.append_text(cmd)
        elif col.key == "state":
            t = Text(value, style=_STATE_STYLE.get(value, ""))
        elif col.key == "fds" and r.num_fds is None:
            t = Text("denied", style="dim", justify="right")
        elif col.key == "user":
            t = safe_text(value, max_len=12)
        else:
            t = Text(value, justify="right" if col.numeric else "left")
        out.append(t)
    return out


class ProcessTable(DataTable):
    """Shows TreeLines; knows nothing about /proc."""

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self._plain: dict[int, tuple[str, ...]] = {}
        self._order: list[int] = []

    def on_mount(self) -> None:
        for col in COLUMNS:
            self.add_column(col.title, key=col.key, width=col.width)

    def set_sort_indicator(self, column: str, reverse: bool) -> None:
        for col in COLUMNS:
            label = col.title + ((" ▼" if reverse else " ▲") if col.key == column else "")
            c = self.columns.get(col.key)  # type: ignore[call-overload]
            if c is not None:
                c.label = Text(label, style="bold" if col.key == column else "")
                if c.width < len(label) and col.key != "command":
                    c.width = len(label)
        # DataTable caches rendered lines by its update count; labels changed in place need a bump
        self._update_count += 1
        self._require_update_dimensions = True
        self.refresh()

    @property
    def selected_pid(self) -> int | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return int(key.value) if key.value is not None else None

    def selected_row(self) -> ProcessRow | None:
        return self._rows.get(self.selected_pid) if self.selected_pid is not None else None

    def show(self, lines: list[TreeLine], now: float, follow_pid: int | None = None) -> None:
        """Replace the table's contents with `lines`, in that order, keeping the cursor on the
        same pid (or `follow_pid`) and the scroll offset where it was."""
        keep = follow_pid if follow_pid is not None else self.selected_pid
        scroll_y = self.scroll_y
        new = {ln.row.pid: ln for ln in lines}
        self._rows = {pid: ln.row for pid, ln in new.items()}
        gone = [pid for pid in self._plain if pid not in new]
        with self.app.batch_update():
            if len(gone) > _REBUILD_THRESHOLD or not self._plain:
                self.clear()
                self._plain = {}
                for ln in lines:
                    plain = _cells(ln, now)
                    self._plain[ln.row.pid] = plain
                    self.add_row(*_render(ln, plain), key=str(ln.row.pid))
            else:
                for pid in gone:
                    self.remove_row(str(pid))
                    del self._plain[pid]
                for ln in lines:
                    pid = ln.row.pid
                    plain = _cells(ln, now)
                    old = self._plain.get(pid)
                    if old is None:
                        self.add_row(*_render(ln, plain), key=str(pid))
                    elif old != plain:
                        cells = _render(ln, plain)
                        for i, col in enumerate(COLUMNS):
                            if old[i] != plain[i]:
                                self.update_cell(
                                    str(pid), col.key, cells[i], update_width=col.key == "command"
                                )
                    self._plain[pid] = plain
                order = [ln.row.pid for ln in lines]
                if order != self._order:
                    rank = {str(pid): i for i, pid in enumerate(order)}
                    self.sort("pid", key=lambda cell: rank[cell.plain])
            self._order = [ln.row.pid for ln in lines]
            if keep is not None:
                try:
                    idx = self.get_row_index(RowKey(str(keep)))
                except RowDoesNotExist:
                    idx = None
                if idx is not None and idx != self.cursor_row:
                    self.move_cursor(row=idx, scroll=False)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
            if self.row_count and not self.is_valid_row_index(self.cursor_row):
                self.move_cursor(row=self.row_count - 1, scroll=False)

    _rows: dict[int, ProcessRow] = {}
