"""The Files panel: every fd, pipe peers and fill, epoll interest lists, special fds."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from stucktui.fd_listing import SORT_TITLES, filter_fds, next_sort, sort_fds
from stucktui.model.files import FdRow, ProcessFiles, pipe_summary
from stucktui.model.panels import PanelData
from stucktui.model.process import Unavailable
from stucktui.ui.keys import FILES_KEYS, bindings
from stucktui.ui.messages import CloseFdRequested, ShowSocketRequested
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import KeyedTable, first_rows

COLUMNS = (
    ("fd", "FD"),
    ("kind", "KIND"),
    ("mode", "MODE"),
    ("flags", "FLAGS"),
    ("pos", "POS"),
    ("target", "TARGET"),
)


def _target(r: FdRow) -> Text:
    t = safe_text(r.target, max_len=300)
    if r.socket_state:
        t.append(f" {r.socket_state}", style="bold red" if r.socket_state == "CLOSE_WAIT" else "")
    if r.detail:
        t.append("  ")
        t.append_text(safe_text(r.detail, "cyan", 200))
    if r.pipe is not None:
        bad = r.pipe.no_reader or r.pipe.no_writer
        t.append("  ")
        t.append_text(safe_text(pipe_summary(r.pipe), "bold red" if bad else "cyan", 300))
        peers = ", ".join(f"{p.pid} {p.name} fd {p.fd} ({p.end})" for p in r.pipe.peers[:6]) or (
            "none seen" if r.pipe.partial else "nobody"
        )
        t.append("  other end: ", style="dim")
        t.append_text(safe_text(peers, max_len=300))
    for w in r.epoll[:50]:
        t.append("\n  watches ", style="dim")
        t.append_text(safe_text(f"fd {w.tfd} [{' '.join(w.event_names)}] {w.describe()}", max_len=300))
    return t


def _cells(r: FdRow) -> list[Text]:
    return [
        Text(str(r.fd), justify="right"),
        Text(r.kind),
        Text(r.mode or "?"),
        Text(" ".join(f.removeprefix("O_") for f in r.flags), style="dim"),
        Text("" if r.pos is None else str(r.pos), justify="right"),
        _target(r),
    ]


class FilesPanel(DetailPanel):
    """Every fd; `/` filters, `o` changes the order, Enter on a socket opens it in Sockets."""

    data_key = "files"
    BINDINGS = bindings(FILES_KEYS)

    def compose(self) -> ComposeResult:
        yield Static(id="files-summary")
        yield Input(
            placeholder="filter fds: a number, or words (pipe, socket, CLOSE_WAIT, a path…)",
            id="files-filter",
        )
        yield KeyedTable(COLUMNS, id="files-table", more_hint="/ filters, o changes the order")

    def on_mount(self) -> None:
        self.sort_key = "fd"
        self.query_text = ""
        self.files: ProcessFiles | None = None
        self.query_one("#files-filter", Input).display = False

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#files-table", KeyedTable)

    def update_panels(self, panels: PanelData) -> None:
        summary = self.query_one("#files-summary", Static)
        files = panels.files
        if files is None:
            return
        if isinstance(files, ProcessFiles) and files.unlisted:
            files = files.unlisted  # not "0 fds": they could not be seen
        if isinstance(files, Unavailable):
            summary.update(safe_text(f"files: {files}", "yellow"))
            self.files = None
            self.table.set_rows([])
            return
        assert isinstance(files, ProcessFiles)
        self.files = files
        self.redraw()

    def redraw(self) -> None:
        files = self.files
        if files is None:
            return
        rows = sort_fds(filter_fds(files.rows, self.query_text), self.sort_key)
        head = Text(f"{files.fd_count} fds", style="bold")
        if files.fd_soft_limit:
            head.append(f" of {files.fd_soft_limit} (RLIMIT_NOFILE)")
        head.append("  " + ", ".join(f"{k} {n}" for k, n in files.counts), style="dim")
        view = f"\norder: {SORT_TITLES[self.sort_key]} (o)"
        if self.query_text:
            view += f" · filter {self.query_text!r}: {len(rows)} of {len(files.rows)} fds"
        view += " · / filters · Enter on a socket opens it in Sockets"
        head.append(view, style="dim")
        for n in files.notes:
            head.append("\n! ", style="yellow")
            head.append_text(safe_text(n))
        self.query_one("#files-summary", Static).update(head)
        table = self.table
        table.set_rows([(str(r.fd), _cells(r)) for r in first_rows(rows, table.limit)], total=len(rows))

    # -- keys ---------------------------------------------------------------------------------
    def action_close_fd(self) -> None:
        key = self.table.selected_key
        if key is not None and self.pid is not None:
            self.post_message(CloseFdRequested(self.pid, int(key)))

    def action_next_sort(self) -> None:
        self.sort_key = next_sort(self.sort_key)
        self.redraw()

    def action_filter(self) -> None:
        inp = self.query_one("#files-filter", Input)
        inp.display = True
        inp.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value
        self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            event.input.display = False
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        inp = self.query_one("#files-filter", Input)
        if event.key == "escape" and (inp.has_focus or inp.value):
            event.stop()
            event.prevent_default()
            inp.value = ""
            inp.display = False
            self.table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.files is None or event.row_key.value is None:
            return
        fd = int(event.row_key.value)
        row = next((r for r in self.files.rows if r.fd == fd), None)
        if row is not None and row.kind == "socket":
            self.post_message(ShowSocketRequested(fd))
        elif row is not None:
            self.app.notify(f"fd {fd} is a {row.kind}, not a socket", timeout=2)
