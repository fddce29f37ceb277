"""Big tables stay responsive: a KeyedTable shows at most its limit of rows (a last line says how
many more and how to reach them) and a refresh that keeps the same rows rewrites only the cells
that changed, instead of re-adding (and re-measuring) every row on the UI thread."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from stucktui.model.files import FdRow, ProcessFiles
from stucktui.model.panels import PanelData
from stucktui.ui.widgets.files_panel import FIRST_ROWS, FilesPanel
from stucktui.ui.widgets.keyed_table import MORE_KEY, KeyedTable, first_rows

COLUMNS = (("fd", "FD"), ("kind", "KIND"), ("target", "TARGET"))


def rows(n: int, target: str = "/var/log/app.log") -> list[tuple[str, list[Text]]]:
    return [(str(i), [Text(str(i)), Text("file"), Text(target)]) for i in range(n)]


class TableApp(App):
    def __init__(self, **kw) -> None:
        super().__init__()
        self.kw = kw
        self.selected: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, **self.kw)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.selected.append(event.row_key.value)


def cell(table: KeyedTable, row: str, col: str) -> str:
    return str(table.get_cell(row, col))


async def test_rows_past_the_limit_are_summed_up_in_one_last_line():
    app = TableApp(limit=100, more_hint="/ filters")
    async with app.run_test(size=(100, 30)) as pilot:
        t = app.query_one(KeyedTable)
        t.set_rows(rows(2500))
        await pilot.pause()
        assert t.row_count == 101
        assert cell(t, MORE_KEY, "target") == "… 2,400 more rows not shown: / filters"
        t.focus()
        t.move_cursor(row=100)
        await pilot.pause()
        assert t.selected_key is None  # the summary line is no row to act on
        await pilot.press("enter")
        t.move_cursor(row=99)
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == ["99"]  # Enter on the summary line reached nobody
        t.set_rows(rows(50))
        await pilot.pause()
        assert t.row_count == 50 and MORE_KEY not in {k.value for k in t.rows}


async def test_first_rows_keeps_the_row_a_jump_targets():
    assert first_rows(list(range(10)), 3) == [0, 1, 2]
    assert first_rows(list(range(10)), 3, lambda x: x == 8) == [0, 1, 2, 8]
    app = TableApp(limit=100)
    async with app.run_test(size=(100, 30)) as pilot:
        t = app.query_one(KeyedTable)
        all_rows = rows(500)
        t.set_rows(first_rows(all_rows, 100, lambda r: r[0] == "400"), total=500)
        await pilot.pause()
        assert t.row_count == 102 and t.select_key("400")
        assert cell(t, MORE_KEY, "target") == "… 399 more rows not shown"


async def test_a_refresh_of_the_same_rows_rewrites_only_changed_cells(monkeypatch):
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        t = app.query_one(KeyedTable)
        t.set_rows(rows(300))
        await pilot.pause()
        t.focus()
        t.move_cursor(row=120)
        cleared: list[bool] = []
        real_clear = t.clear
        monkeypatch.setattr(t, "clear", lambda *a, **kw: cleared.append(True) or real_clear(*a, **kw))
        changed = rows(300)
        changed[7] = ("7", [Text("7"), Text("pipe"), Text("/var/log/app.log")])
        t.set_rows(changed)
        await pilot.pause()
        assert cleared == [] and cell(t, "7", "kind") == "pipe" and t.selected_key == "120"
        # a value wider than its column, or a new row, rebuilds the table and keeps the cursor
        wider = rows(300, "/var/log/a-much-longer-path-than-the-column-had-room-for.log")
        t.set_rows(wider)
        await pilot.pause()
        assert cleared == [True] and t.selected_key == "120"
        assert cell(t, "3", "target").endswith("room-for.log")
        t.set_rows(wider[:299])
        await pilot.pause()
        assert cleared == [True, True] and t.row_count == 299


class FilesApp(App):
    def compose(self) -> ComposeResult:
        yield FilesPanel()


def files(n: int) -> ProcessFiles:
    fd_rows = tuple(FdRow(fd, "file", f"/data/part-{fd}.bin", "r", (), fd * 10, 1000 + fd) for fd in range(n))
    return ProcessFiles(42, fd_rows, (("file", n),), 65536, 65536, (), 0.0)


async def test_files_panel_of_20000_fds_shows_the_first_and_filters_reach_the_rest():
    app = FilesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(FilesPanel)
        panel.update_panels(PanelData(files=files(20_000)))
        await pilot.pause()
        t = panel.table
        assert t.row_count == FIRST_ROWS + 1  # a few screenfuls built at first
        more = f"… {20_000 - FIRST_ROWS:,} more rows not shown: scroll down, / filters"
        assert cell(t, MORE_KEY, "target").startswith(more)
        t.action_scroll_bottom()  # ctrl+end: every row the table shows is built
        await pilot.pause()
        assert t.row_count == 1001
        assert cell(t, MORE_KEY, "target").startswith("… 19,000 more rows not shown: / filters")
        panel.query_text = "part-19999"
        panel.redraw()
        await pilot.pause()
        assert [k.value for k in t.rows] == ["19999"]


class ThreadsApp(App):
    def compose(self) -> ComposeResult:
        from stucktui.ui.widgets.threads_panel import ThreadsPanel

        yield ThreadsPanel()


async def test_an_opened_group_of_3000_threads_is_cut_at_the_limit_too():
    from stucktui.ui.widgets.threads_panel import ThreadsPanel
    from tests.unit.diagnose_kit import thread, threads

    snap = threads(*(thread(100 + i, "futex", (0, 0x189)) for i in range(3000)), pid=100)
    app = ThreadsApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(ThreadsPanel)
        panel.update_panels(PanelData(threads=snap))
        await pilot.pause()
        (group,) = snap.groups
        assert panel.table.row_count == 1  # one group of 3,000
        panel.expanded.add(group.tids[0])
        panel.redraw()
        await pilot.pause()
        assert panel.table.row_count == 1001  # the group line, 999 threads, the "more" line
        assert cell(panel.table, MORE_KEY, panel.table._columns[-1][0]).startswith("… 2,001 more rows")


async def test_a_change_of_height_alone_keeps_the_lines_rendered():
    """A label above the table shown or hidden (the Files tab's 'as of …') changes its height,
    not its lines: they are not rendered again; a new width renders them again."""
    from textual.widgets import Static

    class LabelApp(App):
        CSS = "KeyedTable { height: 1fr; }"

        def compose(self) -> ComposeResult:
            yield Static("as of 12:00:00 (refreshing…)", id="label")
            yield KeyedTable(COLUMNS)

    app = LabelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(KeyedTable)
        table.set_rows(rows(150))
        await pilot.pause()
        rendered = table._update_count
        top = table.render_line(1).text
        app.query_one("#label").display = False
        await pilot.pause()
        await pilot.pause()
        assert table.size.height == 24 and table._update_count == rendered
        assert table.render_line(1).text == top and "0" in top
        await pilot.resize_terminal(100, 24)
        await pilot.pause()
        assert table._update_count > rendered and len(table.render_line(1).text) == 100


async def test_a_text_shown_again_is_not_laid_out_again(monkeypatch):
    """show_text: a refresh that changed nothing (a tab key's, after the read-ahead) does not
    update its Static (an update lays the screen out again); any change of text or style does."""
    from textual.widgets import Static

    from stucktui.ui.panels import show_text

    class One(App):
        def compose(self) -> ComposeResult:
            yield Static(Text("process 42 (app)", style="bold"))

    app = One()
    async with app.run_test(size=(80, 24)) as pilot:
        w = app.query_one(Static)
        updates: list[object] = []
        real = w.update
        monkeypatch.setattr(w, "update", lambda t: updates.append(t) or real(t))
        show_text(w, Text("process 42 (app)", style="bold"))
        assert updates == []
        show_text(w, Text("process 42 (app)", style="bold red"))
        show_text(w, Text("process 42 (app) S", style="bold red"))
        await pilot.pause()
        assert len(updates) == 2 and w.render().plain == "process 42 (app) S"
