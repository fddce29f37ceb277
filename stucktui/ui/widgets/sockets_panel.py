"""The Sockets panel: TCP state counts, every socket with queues and peers, grouped by remote."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from stucktui.model.panels import PanelData
from stucktui.model.process import Unavailable
from stucktui.model.sockets import ProcessSockets, SocketRow
from stucktui.ui.keys import SOCKETS_KEYS, bindings
from stucktui.ui.messages import CloseFdRequested
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import KeyedTable, first_rows

ROW_COLUMNS = (
    ("fd", "FD"),
    ("proto", "PROTO"),
    ("local", "LOCAL"),
    ("remote", "REMOTE"),
    ("state", "STATE"),
    ("recvq", "RECV-Q"),
    ("sendq", "SEND-Q"),
    ("peer", "PEER / NOTE"),
)
GROUP_COLUMNS = (("count", "COUNT"), ("state", "STATE"), ("remote", "REMOTE"), ("recvq", "RECV-Q SUM"))


def state_line(states: tuple[tuple[str, int], ...]) -> Text:
    """'ESTAB 12   CLOSE_WAIT 9,874 ...', CLOSE_WAIT in red: the Sockets panel and the box view."""
    t = Text()
    for state, n in states:
        t.append(f"{state} ", style="bold red" if state == "CLOSE_WAIT" else "bold")
        t.append(f"{n:,}   ")
    if not states:
        t.append("no TCP sockets", style="dim")
    return t


def _row_cells(r: SocketRow) -> list[Text]:
    remote = safe_text(r.remote, max_len=120)
    if r.service:
        remote.append(f" ({r.service})", style="cyan")
    state_style = "bold red" if r.state == "CLOSE_WAIT" else "green" if r.state == "ESTAB" else ""
    note = Text()
    if r.peer_pid is not None:
        note.append_text(safe_text(f"{r.peer_pid} {r.peer_name} fd {r.peer_fd}", max_len=80))
    if r.close_wait_unread:
        note.append(f"{r.unread_bytes} bytes never read", style="bold red")
    if r.listen_backlog is not None:
        full = r.accept_queue_full
        note.append(
            f"accept queue {r.recv_q}/{r.listen_backlog}" + (" FULL" if full else ""),
            style="bold red" if full else "dim",
        )
    return [
        Text(str(r.fd), justify="right"),
        Text(r.proto),
        safe_text(r.local, max_len=120),
        remote,
        Text(r.state, style=state_style),
        Text(
            "" if r.recv_q is None else f"{r.recv_q:,}",
            justify="right",
            style="bold red" if r.close_wait_unread else "",
        ),
        Text("" if r.send_q is None else f"{r.send_q:,}", justify="right"),
        note,
    ]


class SocketsPanel(DetailPanel):
    data_key = "sockets"
    BINDINGS = bindings(SOCKETS_KEYS)

    def compose(self) -> ComposeResult:
        yield Static(id="sockets-summary")
        yield KeyedTable(ROW_COLUMNS, id="sockets-table", more_hint="g groups them by remote endpoint")
        yield KeyedTable(GROUP_COLUMNS, id="sockets-groups")

    def on_mount(self) -> None:
        self.grouped = False
        self._data: ProcessSockets | None = None
        self._want_fd: int | None = None
        self.query_one("#sockets-groups").display = False

    def action_close_fd(self) -> None:
        if self.grouped:
            self.app.notify("g lists single sockets: pick one there to close it", timeout=3)
            return
        key = self.query_one("#sockets-table", KeyedTable).selected_key
        if key is not None and self.pid is not None:
            self.post_message(CloseFdRequested(self.pid, int(key)))

    def focus_fd(self, fd: int) -> None:
        """Put the cursor on this fd's row, now or when the next data arrives."""
        if self.grouped:
            self.action_toggle_group()
        self._want_fd = fd
        self._move_to_wanted()

    def _move_to_wanted(self) -> None:
        if self._want_fd is None:
            return
        table = self.query_one("#sockets-table", KeyedTable)
        if table.select_key(str(self._want_fd)):
            table.focus()
            self._want_fd = None

    def action_toggle_group(self) -> None:
        self.grouped = not self.grouped
        self.query_one("#sockets-groups").display = self.grouped
        self.query_one("#sockets-table").display = not self.grouped
        (self.query_one("#sockets-groups" if self.grouped else "#sockets-table")).focus()

    def update_panels(self, panels: PanelData) -> None:
        data = panels.sockets
        summary = self.query_one("#sockets-summary", Static)
        if data is None:
            return
        if isinstance(data, Unavailable):
            summary.update(safe_text(f"sockets: {data}", "yellow"))
            return
        assert isinstance(data, ProcessSockets)
        t = state_line(data.states)
        unread = sum(1 for r in data.rows if r.close_wait_unread)
        if unread:
            t.append(f"\n{unread:,} CLOSE_WAIT sockets hold data this process never read", style="bold red")
        for q in data.accept_queues:
            t.append("\n")
            t.append_text(safe_text(f"accept queue of fd {q.fd} ({q.local}): {q.queued:,} not accepted"))
            if q.close_wait:
                t.append(
                    f", {q.close_wait:,} already closed by their clients (CLOSE_WAIT, requests unread)",
                    style="bold red",
                )
        t.append(f"\n{len(data.rows)} sockets from {data.source}; g groups by remote endpoint", style="dim")
        for note in data.notes:
            t.append("\n! ", style="yellow")
            t.append_text(safe_text(note))
        summary.update(t)
        table = self.query_one("#sockets-table", KeyedTable)
        want = self._want_fd
        shown = first_rows(data.rows, table.limit, (lambda r: r.fd == want) if want is not None else None)
        table.set_rows([(str(r.fd), _row_cells(r)) for r in shown], total=len(data.rows))
        self._move_to_wanted()
        groups = []
        for i, g in enumerate(data.by_remote):
            remote = safe_text(g.remote, max_len=120)
            if g.service:
                remote.append(f" ({g.service})", style="cyan")
            groups.append(
                (
                    str(i),
                    [
                        Text(f"{g.count:,}", justify="right"),
                        Text(g.state, style="bold red" if g.state == "CLOSE_WAIT" else ""),
                        remote,
                        Text(f"{g.recv_q:,}", justify="right"),
                    ],
                )
            )
        self.query_one("#sockets-groups", KeyedTable).set_rows(groups)
