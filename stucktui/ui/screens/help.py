"""The help screen: every key, from the same catalogue as the bindings."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from stucktui.ui.keys import (
    BOX_SOCKET_KEYS,
    DETAIL_KEYS,
    FILES_KEYS,
    LIST_KEYS,
    SOCKETS_KEYS,
    THREADS_KEYS,
    TRIAGE_KEYS,
    TRIAGE_TABLE_KEYS,
    WHY_STUCK_KEYS,
    KeyAction,
    key_label,
)


def _table(title: str, actions: tuple[KeyAction, ...], more: tuple[tuple[str, str], ...] = ()) -> Table:
    t = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for a in actions:
        t.add_row(Text(key_label(a.keys)), Text(a.help))
    for key, text in more:
        t.add_row(Text(key), Text(text))
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape,q,question_mark,f1", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("stucktui keys", style="bold"))
            yield Static(_table("Process list", LIST_KEYS))
            yield Static(_table("Process view", DETAIL_KEYS))
            yield Static(_table("In a panel", THREADS_KEYS + SOCKETS_KEYS + FILES_KEYS))
            yield Static(_table("Why stuck? (w in the process view)", WHY_STUCK_KEYS))
            yield Static(_table("Box-wide sockets", BOX_SOCKET_KEYS))
            yield Static(_table("Findings on this box", TRIAGE_KEYS, TRIAGE_TABLE_KEYS))
            yield Static(
                Text("Ctrl+P opens the command palette. Click a column header to sort by it.", style="dim")
            )

    def action_close(self) -> None:
        self.dismiss(None)
