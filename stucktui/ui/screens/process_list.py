"""The process list: filter, sort, tree, pause; Enter opens a process."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer, Header, Input, Static

from stucktui.listing import COLUMN_BY_KEY, COLUMNS, TreeLine, filter_rows, sort_rows, tree_lines
from stucktui.model.process import ProcessListSnapshot
from stucktui.model.snapshot import Snapshot
from stucktui.ui.keys import LIST_KEYS, bindings
from stucktui.ui.messages import (
    BoxSocketsRequested,
    HelpRequested,
    OpenProcessRequested,
    PauseToggled,
    TriageRequested,
)
from stucktui.ui.preload import preload_views
from stucktui.ui.view import SnapshotScreen, ViewContext
from stucktui.ui.widgets import HEADER_ICON
from stucktui.ui.widgets.meters import MetersBar
from stucktui.ui.widgets.process_table import ProcessTable


def permission_banner(euid: int) -> str:
    """The list's banner for a user who is not root: what they cannot see, and why."""
    if euid == 0:
        return ""
    return (
        "Not running as root: other users' processes show no open fds, exe, cwd, syscalls or "
        "stacks, and actions on them are refused. Run `sudo stucktui` to see everything."
    )


class ProcessListScreen(SnapshotScreen):
    BINDINGS = bindings(LIST_KEYS)
    VIEW = "list"

    def __init__(self, banner: str = "") -> None:
        """banner: shown above the list when set (why some processes show little)."""
        super().__init__(id="process-list")
        self.banner = banner
        self.snapshot: ProcessListSnapshot | None = None
        self.query_text = ""
        self.sort_column = "cpu"
        self.sort_reverse = True
        self.tree_view = False
        self._banner_lines: list[str] | None = None  # the banner shown

    def compose(self) -> ComposeResult:
        yield Header(icon=HEADER_ICON)
        with Vertical(id="list-body"):
            yield MetersBar(id="meters")
            yield Static("", id="banner")
            yield Input(placeholder="filter: pid, user, name or command line (Esc clears)", id="filter")
            yield ProcessTable(id="processes")
            yield Static("collecting the first snapshot…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(ProcessTable).focus()
        self.call_after_refresh(self._indicate_sort)
        self._show_banner()
        self.call_after_refresh(self.redraw)

    @property
    def table(self) -> ProcessTable:
        return self.query_one(ProcessTable)

    # -- data in ------------------------------------------------------------------------------
    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        super().show_snapshot(snap, context)
        preload_views()  # the first refresh is on screen: the other views load in the background
        if snap.processes is not None:
            self.update_processes(snap.processes)

    def update_processes(self, snap: ProcessListSnapshot) -> None:
        self.snapshot = snap
        for m in self.query(MetersBar).results():
            m.show(snap.meters)
        self._show_banner()
        self.redraw()

    def _show_banner(self) -> None:
        """Why some processes show little, and how many: the list never passes off what it
        could not read as nothing to see."""
        if not self.is_mounted:
            return
        lines = [self.banner] if self.banner else []
        if self.snapshot is not None:
            lines += self.snapshot.visibility.lines()
        if lines == self._banner_lines:
            return  # unchanged: no layout of the screen
        self._banner_lines = lines
        for b in self.query("#banner").results(Static):
            b.update(Text("\n".join(lines)))
            b.display = bool(lines)

    def lines(self) -> list[TreeLine]:
        if self.snapshot is None:
            return []
        rows = filter_rows(self.snapshot.rows, self.query_text)
        if self.tree_view:
            return tree_lines(rows, self.sort_column, self.sort_reverse)
        return [TreeLine(r, "", 0) for r in sort_rows(rows, self.sort_column, self.sort_reverse)]

    def redraw(self, follow_pid: int | None = None, *, top: bool = False) -> None:
        """top: the cursor goes to the first row (a new sort order, a new filter), as in htop."""
        if self.snapshot is None or not self.is_mounted:
            return  # on_mount draws what arrived before the screen was composed
        lines = self.lines()
        self.table.show(lines, self.now, follow_pid)
        if top:
            self.table.action_home()
        self._show_status()

    def update_status(self, freshness: str) -> None:
        super().update_status(freshness)
        self._show_status()

    def _show_status(self) -> None:
        if not self.is_mounted:
            return
        snap = self.snapshot
        statuses = list(self.query("#status").results(Static))  # none while the app exits
        if snap is None or not statuses:
            return
        shown = self.table.row_count
        total = len(snap.rows)
        col = COLUMN_BY_KEY[self.sort_column].title
        parts = [f"{shown} of {total} processes" if shown != total else f"{total} processes"]
        if self.query_text:
            parts.append(f"filter: {self.query_text!r}")
        parts.append(f"sort: {col} {'▼' if self.sort_reverse else '▲'}")
        if self.tree_view:
            parts.append("tree")
        parts.append(self.freshness)
        statuses[0].update(Text(" · ".join(parts)), layout=False)  # one line, always (the CSS)

    def _indicate_sort(self) -> None:
        self.table.set_sort_indicator(self.sort_column, self.sort_reverse)

    # -- actions ------------------------------------------------------------------------------
    def action_open(self) -> None:
        row = self.table.selected_row()
        if row is not None:
            self.post_message(OpenProcessRequested(row.pid, row.starttime_ticks))

    def on_process_table_selected(self, event: ProcessTable.Selected) -> None:
        event.stop()
        self.action_open()

    def action_filter(self) -> None:
        inp = self.query_one("#filter", Input)
        inp.display = True
        inp.focus()

    def action_clear_filter(self) -> None:
        inp = self.query_one("#filter", Input)
        if inp.value:
            inp.value = ""
        inp.display = False
        self.table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.redraw(top=True)  # the best match first: Enter opens it

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter opens the top match (Esc, or Enter on an empty filter, only
        closes it)."""
        if not event.value:
            event.input.display = False
        self.table.focus()
        if event.value:
            self.table.action_home()
            self.action_open()

    def key_escape(self) -> None:
        self.action_clear_filter()

    def action_toggle_tree(self) -> None:
        self.tree_view = not self.tree_view
        self.redraw()

    def action_triage(self) -> None:
        self.post_message(TriageRequested())

    def action_box_sockets(self) -> None:
        self.post_message(BoxSocketsRequested())

    def action_toggle_pause(self) -> None:
        self.post_message(PauseToggled())

    def action_sort(self, column: str) -> None:
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = column
            self.sort_reverse = COLUMN_BY_KEY[column].default_reverse
        self._indicate_sort()
        self.redraw(top=True)

    def _step_sort(self, step: int) -> None:
        keys = [c.key for c in COLUMNS]
        nxt = keys[(keys.index(self.sort_column) + step) % len(keys)]
        self.action_sort(nxt)

    def action_next_sort(self) -> None:
        self._step_sort(1)

    def action_prev_sort(self) -> None:
        self._step_sort(-1)

    def action_invert_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._indicate_sort()
        self.redraw(top=True)

    def on_process_table_header_clicked(self, event: ProcessTable.HeaderClicked) -> None:
        event.stop()
        self.action_sort(event.column)

    def action_help(self) -> None:
        self.post_message(HelpRequested())

    def action_quit(self) -> None:
        self.app.exit(0)
