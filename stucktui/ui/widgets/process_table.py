"""The process list table: a virtual list that renders only the rows on screen.

A DataTable holding every row of a 5,000-process box re-applied each refresh cost the UI thread
~290 ms of CPU per refresh and delayed key presses (bench/README.md). Here a refresh replaces a
plain list (the sort is a few ms) and only the ~50 visible rows are formatted and rendered, each
cached by its cell text, as htop does: the cell text of 5,000 rows kept was 3 MB of the TUI's
memory. Rows are identified by pid, so the cursor stays on its process.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from stucktui.listing import COLUMNS, NARROW_DROPS, TreeLine, short_argv, widest_command
from stucktui.model.process import ProcessRow
from stucktui.model.text import human_age, human_bytes
from stucktui.textsafe import printable
from stucktui.ui.safe import safe_text

_STATE_STYLE = {
    "R": "bold green",
    "D": "bold red",
    "Z": "bold magenta",
    "T": "bold yellow",
    "t": "bold yellow",
}
_WIDTHS = {
    "pid": 7, "user": 9, "state": 1, "cpu": 6, "rss": 6, "threads": 4, "fds": 6, "close_wait": 7,
    "finding": 4, "age": 6, "name": 15,
}  # fmt: skip
_MIN_COMMAND = 24  # columns of COMMAND kept on a narrow screen before other columns give way
_NUMERIC = frozenset({"pid", "cpu", "rss", "threads", "fds", "close_wait", "age"})
_FINDING = {
    "critical": ("CRIT", "bold white on red"),
    "warning": ("WARN", "bold yellow"),
    "info": ("info", "cyan"),
}
_COMMAND_MAX = 400
_CACHE_MAX = 2000  # rendered rows kept at most (a Strip and its crop are ~3 KB)


def _cells(line: TreeLine, now: float) -> tuple[str, ...]:
    """Plain cell values; a row is re-rendered only when one of them changes."""
    r = line.row
    return (
        str(r.pid),
        r.user,
        r.state,
        "" if r.cpu_percent is None else f"{r.cpu_percent:.1f}",
        human_bytes(r.rss_bytes),
        str(r.num_threads),
        "denied" if r.num_fds is None else str(r.num_fds),
        "denied" if r.close_wait is None else str(r.close_wait),
        _FINDING[r.finding][0] if r.finding in _FINDING else "",
        human_age(now - r.start_time),
        r.name,
        line.prefix + (" ".join(short_argv(r.cmdline)[0]) if r.cmdline else f"[{r.name}]"),
    )


_AGE = 9  # the AGE cell's place in _cells
_Cached = tuple[ProcessRow, str, tuple[str, ...], float]  # row, prefix, its cells, AGE good until
_StripKey = tuple[int, tuple[str, ...], bool, int]  # pid, cells, cursor, width


def _age_until(start: float, now: float) -> float:
    """When the AGE cell (human_age) of a process started at `start` next changes: each
    second under a minute, then each minute, then each hour after a day."""
    s = max(0, int(now - start))
    step = 1 if s < 60 else 60 if s < 86400 else 3600
    return start + (s // step + 1) * step


def _line_cells(line: TreeLine, now: float, cache: dict[int, _Cached]) -> tuple[str, ...]:
    """_cells of a line, taken from `cache` (pid -> _Cached, refilled here) while the line's
    row is the same object as when they were made: the collector keeps an unchanged process's
    row, so a row on screen is formatted again only when it changed or its age moved on."""
    r = line.row
    hit = cache.get(r.pid)
    if hit is not None and hit[0] is r and hit[1] == line.prefix:
        if now < hit[3]:
            return hit[2]
        cells = (*hit[2][:_AGE], human_age(now - r.start_time), *hit[2][_AGE + 1 :])
    else:
        cells = _cells(line, now)
    cache[r.pid] = (r, line.prefix, cells, _age_until(r.start_time, now))
    return cells


def _cell_text(key: str, line: TreeLine, value: str) -> Text:
    r = line.row
    if key == "command":
        t = Text(no_wrap=True, end="")
        t.append(line.prefix, style="dim")
        if not r.cmdline:
            t.append_text(safe_text(f"[{r.name}]", "dim", 200))
            return t
        argv, main = short_argv(r.cmdline)
        for i, a in enumerate(argv):
            if i:
                t.append(" ")
            t.append(printable(a, None), style="bold" if i == main else "")
        t.truncate(_COMMAND_MAX + len(line.prefix), overflow="ellipsis")
        return t
    if key == "name":
        return safe_text(value, "" if r.cmdline else "dim", max_len=40)
    if key == "state":
        return Text(value, style=_STATE_STYLE.get(value, ""))
    if key == "fds" and r.num_fds is None:
        return Text(value, style="dim")
    if key == "finding":
        return Text(value, style=_FINDING[r.finding][1] if r.finding in _FINDING else "")
    if key == "close_wait":
        return Text(value, style="bold red" if r.close_wait else "dim")
    if key == "user":
        return safe_text(value, max_len=12)
    return Text(value)


class ProcessTable(ScrollView, can_focus=True):
    """Shows TreeLines; knows nothing about /proc."""

    DEFAULT_CSS = """
    ProcessTable {
        background: $surface;
    }
    ProcessTable > .process-table--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    ProcessTable > .process-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    ProcessTable:blur > .process-table--cursor {
        background: $block-cursor-blurred-background;
        text-style: none;
    }
    """
    COMPONENT_CLASSES = {"process-table--header", "process-table--cursor"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "home", "Top", show=False),
        Binding("end", "end", "Bottom", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class Selected(Message):
        """Enter or a double click on a row."""

        def __init__(self, pid: int) -> None:
            super().__init__()
            self.pid = pid

    class HeaderClicked(Message):
        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._lines: list[TreeLine] = []
        self._now = 0.0  # the time the rows' AGE is shown at (show())
        self._index: dict[int, int] = {}
        self.cursor_row = 0
        self._sort: tuple[str, bool] | None = None
        # the rows rendered since the last show(), and before it: a row not rendered again by the
        # next show() is forgotten (the cache holds what is on screen, not every row ever shown)
        self._cache: dict[_StripKey, Strip] = {}
        self._cache_old: dict[_StripKey, Strip] = {}
        self._cells: dict[int, _Cached] = {}  # the cells of the rows formatted (_line_cells)
        self._formatted: dict[int, _Cached] = {}  # ... of them, those since the last show()
        self._command_lens: dict[int, tuple[ProcessRow, str, int]] = {}  # widest_command
        self._command_width = 20
        self._shown: tuple[str, ...] = tuple(c.key for c in COLUMNS)  # the columns that fit

    # -- data in ------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._lines)

    def pids(self) -> list[int]:
        return [ln.row.pid for ln in self._lines]

    @property
    def selected_pid(self) -> int | None:
        if not self._lines:
            return None
        return self._lines[min(self.cursor_row, len(self._lines) - 1)].row.pid

    def selected_row(self) -> ProcessRow | None:
        pid = self.selected_pid
        return None if pid is None else self._lines[self._index[pid]].row

    def get_cell(self, pid: str | int, column: str) -> Text:
        i = self._index[int(pid)]
        keys = [c.key for c in COLUMNS]
        return _cell_text(column, self._lines[i], self._plain(i)[keys.index(column)])

    def set_sort_indicator(self, column: str, reverse: bool) -> None:
        self._sort = (column, reverse)
        self._relayout()
        self.refresh()  # rows are cached by their cells only; the header is drawn each time

    def show(self, lines: list[TreeLine], now: float, follow_pid: int | None = None) -> None:
        """Replace the rows with `lines`, in that order, keeping the cursor on the same pid (or
        `follow_pid`) and the scroll offset where it was, unless the cursor's row moved (a new
        sort order, a busier process): then the view follows it, as htop does, so Enter never
        opens a process that is not on screen."""
        keep = follow_pid if follow_pid is not None else self.selected_pid
        before = self.cursor_row
        self._lines = lines
        self._now = now
        # the cells kept: those formatted since the last refresh (the rows on screen then)
        self._cells, self._formatted = self._formatted, {}
        self._index = {ln.row.pid: i for i, ln in enumerate(lines)}
        if keep is not None and keep in self._index:
            self.cursor_row = self._index[keep]
        elif lines:
            self.cursor_row = min(self.cursor_row, len(lines) - 1)
        else:
            self.cursor_row = 0
        self._command_width = widest_command(lines, self._command_lens)
        self._command_width = min(max(self._command_width, 20), _COMMAND_MAX + 40)
        self._cache_old, self._cache = self._cache, {}
        self._relayout()
        self.virtual_size = Size(self._fixed_width() + self._command_width, len(lines) + 1)
        if lines and self.cursor_row != before:
            self._move_to(self.cursor_row)
        self.refresh()

    # -- geometry -----------------------------------------------------------------------------
    @property
    def shown_columns(self) -> tuple[str, ...]:
        return self._shown

    def _relayout(self) -> None:
        """The columns that fit the width: on a narrow screen THR, AGE, CL_WAIT and FDS give
        way (in that order, never the sort column) so NAME and some COMMAND stay readable."""
        width = self.size.width or 200
        sort = self._sort[0] if self._sort else None
        shown = [c.key for c in COLUMNS]
        for key in NARROW_DROPS:
            if self._width_of(shown) + _MIN_COMMAND <= width:
                break
            if key != sort:
                shown.remove(key)
        if tuple(shown) != self._shown:
            self._shown = tuple(shown)
            self._drop_strips()
            self.virtual_size = Size(self._fixed_width() + self._command_width, len(self._lines) + 1)

    @staticmethod
    def _width_of(keys: list[str] | tuple[str, ...]) -> int:
        return sum(_WIDTHS[k] + 1 for k in keys if k != "command")

    def _fixed_width(self) -> int:
        return self._width_of(self._shown)

    def _column_at(self, x: int) -> str:
        pos = 0
        for key in self._shown:
            w = _WIDTHS.get(key, self._command_width) + 1
            if x < pos + w:
                return key
            pos += w
        return self._shown[-1]

    def on_resize(self, _: events.Resize) -> None:
        self._relayout()

    # -- rendering ----------------------------------------------------------------------------
    def _plain(self, i: int) -> tuple[str, ...]:
        """The cells of line i, formatted now unless kept (_line_cells)."""
        line = self._lines[i]
        cells = _line_cells(line, self._now, self._cells)
        self._formatted[line.row.pid] = self._cells[line.row.pid]
        return cells

    def _row_strip(self, i: int, cursor: bool, width: int) -> Strip:
        line, plain = self._lines[i], self._plain(i)
        key = (line.row.pid, plain, cursor, width)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._cache_old.pop(key, None)
            if len(self._cache) >= _CACHE_MAX:  # scrolled through thousands while paused
                self._cache.clear()
            if strip is not None:
                self._cache[key] = strip
        if strip is None:
            text = Text(no_wrap=True, end="")
            for c, value in zip(COLUMNS, plain, strict=True):
                if c.key not in self._shown:
                    continue
                cell = _cell_text(c.key, line, value)
                w = _WIDTHS.get(c.key, width - self._fixed_width())
                cell.truncate(w, overflow="ellipsis" if c.key in ("command", "name") else "crop")
                cell.align("right" if c.key in _NUMERIC else "left", w)
                text.append_text(cell)
                if c.key != "command":
                    text.append(" ")
            if cursor:
                text.stylize(self.get_component_rich_style("process-table--cursor"))
            segments = list(text.render(self.app.console))
            strip = Strip(segments).adjust_cell_length(width)
            self._cache[key] = strip
        return strip

    def _header_strip(self, width: int) -> Strip:
        text = Text(no_wrap=True, end="")
        for c in COLUMNS:
            if c.key not in self._shown:
                continue
            label = c.title
            if self._sort and self._sort[0] == c.key:
                label += " ▼" if self._sort[1] else " ▲"
            w = _WIDTHS.get(c.key, width - self._fixed_width())
            cell = Text(label)
            cell.truncate(w)
            cell.align("right" if c.key in _NUMERIC else "left", w)
            text.append_text(cell)
            if c.key != "command":
                text.append(" ")
        style = self.get_component_rich_style("process-table--header")
        return (
            Strip(list(text.render(self.app.console)), text.cell_len)
            .apply_style(style)
            .adjust_cell_length(width, style)
        )

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = max(self.virtual_size.width, self.size.width)
        if y == 0:
            strip = self._header_strip(width)
        else:
            i = scroll_y + y - 1
            if i >= len(self._lines):
                return Strip.blank(self.size.width, self.rich_style)
            strip = self._row_strip(i, i == self.cursor_row, width)
        return strip.crop(scroll_x, scroll_x + self.size.width)

    def _drop_strips(self) -> None:
        self._cache.clear()
        self._cache_old.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drop_strips()

    # -- cursor -------------------------------------------------------------------------------
    def _move_to(self, row: int) -> None:
        if not self._lines:
            return
        self.cursor_row = max(0, min(row, len(self._lines) - 1))
        # +1: the header occupies the first line of the viewport
        self.scroll_to_region(
            Region(0, self.cursor_row + 1, 1, 1), animate=False, spacing=None, immediate=True
        )
        top = self.scroll_offset.y
        if self.cursor_row < top:  # scrolled up past the header line
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self._move_to(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self._move_to(self.cursor_row + step * max(1, self.size.height - 2))

    def action_home(self) -> None:
        self._move_to(0)

    def action_end(self) -> None:
        self._move_to(len(self._lines) - 1)

    def action_select(self) -> None:
        pid = self.selected_pid
        if pid is not None:
            self.post_message(self.Selected(pid))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self.post_message(self.HeaderClicked(self._column_at(event.x + self.scroll_offset.x)))
            return
        row = self.scroll_offset.y + event.y - 1
        if 0 <= row < len(self._lines):
            self.cursor_row = row
            self.refresh()
            if event.chain >= 2:
                self.action_select()
