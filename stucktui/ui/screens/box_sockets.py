"""The box-wide Sockets view: the box's TCP state counts and the processes holding sockets,
ranked by CLOSE_WAIT; Enter opens a process on its Sockets panel."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from stucktui.model.process import Unavailable
from stucktui.model.snapshot import Snapshot
from stucktui.model.sockets import PidSocketCount, SocketSummary
from stucktui.ui.keys import BOX_SOCKET_KEYS, bindings
from stucktui.ui.messages import HelpRequested, OpenPidRequested, PauseToggled, RefreshRequested
from stucktui.ui.safe import safe_text
from stucktui.ui.view import SnapshotScreen, ViewContext
from stucktui.ui.widgets import HEADER_ICON
from stucktui.ui.widgets.keyed_table import KeyedTable
from stucktui.ui.widgets.sockets_panel import state_line

COLUMNS = (
    ("pid", "PID"),
    ("name", "NAME"),
    ("close_wait", "CLOSE_WAIT"),
    ("sockets", "SOCKETS"),
    ("remote", "MOST CLOSE_WAIT TO"),
    ("netns", "NET NS"),
)


def _cells(p: PidSocketCount, own_netns: bool) -> list[Text]:
    remote = Text()
    if p.top_remote:
        remote = safe_text(p.top_remote, max_len=80)
        remote.append(f" ×{p.top_remote_count:,}", style="dim")
    return [
        Text(str(p.pid), justify="right"),
        safe_text(p.name, max_len=40),
        Text(f"{p.close_wait:,}", justify="right", style="bold red" if p.close_wait else "dim"),
        Text(f"{p.sockets:,}", justify="right"),
        remote,
        Text("" if p.netns is None or own_netns else f"net:[{p.netns}]", style="dim"),
    ]


class BoxSocketsScreen(SnapshotScreen):
    BINDINGS = bindings(BOX_SOCKET_KEYS)
    VIEW = "box_sockets"

    def __init__(self) -> None:
        super().__init__(id="box-sockets")
        self.summary: SocketSummary | None = None
        self.rank = "close_wait"  # or "sockets"
        self._pending: SocketSummary | Unavailable | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon=HEADER_ICON)
        yield Static(Text("Sockets on this box: collecting…", style="bold"), id="box-title")
        yield Static("", id="box-states")
        yield KeyedTable(COLUMNS, id="box-sockets-table")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()
        self.call_later(self._show_pending)  # is_mounted is true only after every Mount handler

    def _show_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.update_summary(pending)

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#box-sockets-table", KeyedTable)

    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        super().show_snapshot(snap, context)
        if snap.box_sockets is not None:
            self.update_summary(snap.box_sockets)

    def update_summary(self, summary: SocketSummary | Unavailable) -> None:
        if not self.is_mounted:
            self._pending = summary
            return
        if isinstance(summary, Unavailable):
            self.query_one("#box-states", Static).update(safe_text(str(summary), "yellow"))
            return
        self.summary = summary
        self.redraw()

    def rows(self) -> list[PidSocketCount]:
        if self.summary is None:
            return []
        if self.rank == "sockets":
            return self.summary.by_sockets()
        return list(self.summary.processes)  # the collector ranks them by CLOSE_WAIT, then sockets

    def redraw(self) -> None:
        s = self.summary
        if s is None:
            return
        ranked = "CLOSE_WAIT sockets" if self.rank == "close_wait" else "all sockets"
        title = Text("Sockets on this box", style="bold")
        title.append(f"  processes ranked by {ranked} (o changes it)", style="dim")
        self.query_one("#box-title", Static).update(title)
        states = state_line(s.states)
        holders = sum(1 for p in s.processes if p.close_wait)
        if holders:
            states.append(f"\n{holders} processes hold CLOSE_WAIT sockets", style="bold red")
        self.query_one("#box-states", Static).update(states)
        self.table.set_rows([(str(p.pid), _cells(p, p.netns == s.own_netns)) for p in self.rows()])
        self.update_status(self.freshness)

    def update_status(self, freshness: str) -> None:
        super().update_status(freshness)
        if not self.is_mounted:
            return
        s = self.summary
        parts = []
        if s is not None:
            parts.append(f"{len(s.processes)} processes hold sockets")
            if s.namespaces > 1:
                parts.append(f"{s.namespaces} network namespaces")
            if s.unreadable:
                why = s.unreadable_why or "run stucktui as root to see them"
                parts.append(f"{s.unreadable} processes not readable ({why})")
            parts.append(f"built in {s.duration * 1000:.0f} ms")
        parts.append(freshness)
        self.query_one("#status", Static).update(Text(" · ".join(parts)))

    # -- actions ------------------------------------------------------------------------------
    def action_open(self) -> None:
        key = self.table.selected_key
        if key is not None:
            self.post_message(OpenPidRequested(int(key), tab="sockets"))

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_rank(self) -> None:
        self.rank = "sockets" if self.rank == "close_wait" else "close_wait"
        self.redraw()

    def action_back(self) -> None:
        self.app.pop_screen()
        # to the app itself: this screen is on its way out and answers no more messages
        self.app.post_message(RefreshRequested())

    def action_toggle_pause(self) -> None:
        self.post_message(PauseToggled())

    def action_help(self) -> None:
        self.post_message(HelpRequested())
