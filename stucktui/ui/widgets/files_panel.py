"""The Files panel: every fd, pipe peers and fill, epoll interest lists, special fds."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from stucktui.fd_listing import SORT_TITLES, filter_fds, next_sort, sort_fds
from stucktui.model.files import FdRow, ProcessFiles, pipe_summary
from stucktui.model.panels import PanelData
from stucktui.model.process import Unavailable
from stucktui.ui.keys import FILES_KEYS, bindings
from stucktui.ui.messages import CloseFdRequested, FdDetailsReady, FdDetailsWanted, ShowSocketRequested
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import ROW_LIMIT, KeyedTable, first_rows

# rows built at first (DataTable measures each cell of a row it adds, ~0.5 ms a row here): a
# screenful many times over; scrolling near their end builds MORE_ROWS more, up to ROW_LIMIT
FIRST_ROWS = 150
MORE_ROWS = 250
_MORE_HINT = "/ filters, o changes the order"

COLUMNS = (
    ("fd", "FD"),
    ("kind", "KIND"),
    ("mode", "MODE"),
    ("flags", "FLAGS"),
    ("pos", "POS"),
    ("target", "TARGET"),
)


def _target(r: FdRow) -> Text:
    # a socket reads as what it talks to (its ends, the peer on this box), its inode after
    t = safe_text(r.endpoint if r.endpoint else r.target, max_len=300)
    if r.socket_state:
        t.append(f" {r.socket_state}", style="bold red" if r.socket_state == "CLOSE_WAIT" else "")
    if r.endpoint:
        t.append_text(safe_text(f"  {r.target}", "dim", 60))
    if r.detail:
        t.append("  ")
        t.append_text(safe_text(r.detail, "cyan", 200))
    if r.pipe is not None:
        # the other end first: it is what the row is read for, and stays on a 120-column screen
        # when the fill and the verdicts after it are long
        bad = r.pipe.no_reader or r.pipe.no_writer
        peers = ", ".join(f"{p.pid} {p.name} fd {p.fd} ({p.end})" for p in r.pipe.peers[:6]) or (
            "none seen" if r.pipe.partial else "nobody"
        )
        t.append("  other end: ", style="dim")
        t.append_text(safe_text(peers, max_len=300))
        t.append("  ")
        t.append_text(safe_text(pipe_summary(r.pipe), "bold red" if bad else "cyan", 300))
    for w in r.epoll[:50]:
        t.append("\n  watches ", style="dim")
        t.append_text(safe_text(f"fd {w.tfd} [{' '.join(w.event_names)}] {w.describe()}", max_len=300))
    return t


def _cells(r: FdRow) -> list[Text]:
    if r.unread:  # fdinfo not read yet: asked for as the row comes on screen
        mode, flags, pos = Text(r.mode or "…", style="dim"), Text("…", style="dim"), Text("")
    else:
        mode = Text(r.mode or "?")
        flags = Text(" ".join(f.removeprefix("O_") for f in r.flags), style="dim")
        pos = Text("" if r.pos is None else str(r.pos), justify="right")
    return [Text(str(r.fd), justify="right"), Text(r.kind), mode, flags, pos, _target(r)]


def _reads_all(sort_key: str, query: str) -> bool:
    """An order or a filter that reads what only a row read in full says (position, mode,
    flags, the other ends of a pipe), so every row needs it; a filter by fd number does not."""
    words = query.split()
    return sort_key in ("pos", "state") or bool(words) and not (len(words) == 1 and words[0].isdigit())


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
        yield KeyedTable(COLUMNS, id="files-table", limit=FIRST_ROWS, more_hint=_MORE_HINT)

    def on_mount(self) -> None:
        self.sort_key = "fd"
        self.query_text = ""
        self.files: ProcessFiles | None = None
        self.query_one("#files-filter", Input).display = False
        self._order: list[FdRow] = []  # the rows in the table's order, filtered
        self._asked: set[int] = set()  # fds asked for since the last refresh
        self._stale: set[int] = set()  # rows on screen kept from before until read again
        self._all_asked = False  # every fd asked for (an order or a filter reads them all)
        self._ask_timer: Timer | None = None
        self.watch(self.table, "scroll_y", self._scrolled, init=False)
        self.table.before_bottom = self._build_all

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
        self.files = self._carry(files)
        self._asked = set()
        self.redraw()

    def redraw(self) -> None:
        files = self.files
        if files is None:
            return
        rows = self._order = sort_fds(filter_fds(files.rows, self.query_text), self.sort_key)
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
        table.more_hint = ("scroll down, " if table.limit < ROW_LIMIT else "") + _MORE_HINT
        table.set_rows([(str(r.fd), _cells(r)) for r in first_rows(rows, table.limit)], total=len(rows))
        self._schedule_ask()

    # -- fdinfo for the rows on screen (read lazily, off the UI thread) -------------------------
    def _visible(self) -> list[FdRow]:
        """The rows on screen, with a screenful either side (rows may be two lines high)."""
        t = self.table
        h = max(t.size.height, 20)
        top = int(t.scroll_y)
        return self._order[max(0, top - h) : min(top + 2 * h, t.limit)]

    def _carry(self, files: ProcessFiles) -> ProcessFiles:
        """Rows on screen that this refresh did not read (it was asked for before the table
        scrolled there) keep what was read of them until they are read again: no flicker."""
        old, self._stale = self.files, set()
        if old is None or old.pid != files.pid or not files.lazy:
            return files
        shown = {r.fd: r for r in self._visible() if not r.unread}
        if not shown:
            return files
        rows = []
        for r in files.rows:
            o = shown.get(r.fd)
            if r.unread and o is not None and o.target == r.target:
                r = o
                self._stale.add(r.fd)
            rows.append(r)
        return replace(files, rows=tuple(rows))

    def _build_all(self) -> None:
        if self.table.limit < ROW_LIMIT:
            self.table.limit = ROW_LIMIT
            self.redraw()

    def _scrolled(self) -> None:
        t = self.table
        if t.limit < min(ROW_LIMIT, len(self._order)) and t.scroll_y + 2 * t.size.height >= t.limit:
            t.limit = min(ROW_LIMIT, t.limit + MORE_ROWS)  # near the end of the rows built
            self.redraw()
        self._schedule_ask()

    def _schedule_ask(self) -> None:
        if self._ask_timer is not None:
            self._ask_timer.stop()
        self._ask_timer = self.set_timer(0.05, self._ask)  # once scrolling pauses

    def on_show(self) -> None:
        self._schedule_ask()  # its tab came on screen: the rows it shows now

    def _hidden(self) -> bool:
        """Its tab is not on screen: a read for rows nobody sees would share the interpreter
        with the refresh the tab key asks for, and slow it."""
        return not all(w.display for w in self.ancestors_with_self if isinstance(w, Widget))

    def _ask(self) -> None:
        files, pid = self.files, self.pid
        if files is None or pid is None or self._hidden():
            return
        if _reads_all(self.sort_key, self.query_text):
            if not self._all_asked and files.lazy:
                self._all_asked = True
                self.post_message(FdDetailsWanted(self, pid, None))
            return
        shown = self._visible()
        need = {r.fd for r in shown if r.unread or r.fd in self._stale} - self._asked
        if need or self._all_asked:  # back from reading every fd: the window again
            self._all_asked = False
            self._asked |= need
            self.post_message(FdDetailsWanted(self, pid, frozenset(r.fd for r in shown)))

    def on_fd_details_ready(self, msg: FdDetailsReady) -> None:
        msg.stop()
        if self.files is None or msg.pid != self.pid:
            return
        got = {r.fd: r for r in msg.files.rows if not r.unread}
        rows, changed = [], False
        for r in self.files.rows:
            n = got.get(r.fd)
            if n is not None and n.target == r.target and (r.unread or r.fd in self._stale):
                self._stale.discard(r.fd)
                r, changed = n, True
            rows.append(r)
        if changed:
            self.files = replace(self.files, rows=tuple(rows))
            self.redraw()

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
