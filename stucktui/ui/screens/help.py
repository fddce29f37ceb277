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
    COMMON_KEYS,
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

_COMMON = {(a.action, a.keys) for a in COMMON_KEYS}


def key_rows(actions: tuple[KeyAction, ...], *, common: bool = False) -> list[tuple[str, str]]:
    """Each key once: the keys every screen has left out (unless `common`: they have a
    section of their own), the panel keys 1-6 on one line, and a key that means different
    things in different panels on one line."""
    rows: dict[str, list[str]] = {}
    tabs = [a for a in actions if a.action.startswith("tab(")]
    for a in actions:
        if ((a.action, a.keys) in _COMMON and not common) or a in tabs:
            continue
        helps = rows.setdefault(key_label(a.keys), [])
        if a.help not in helps:
            helps.append(a.help)
    out = [(k, "; ".join(h)) for k, h in rows.items()]
    if tabs:
        out.insert(1, (f"1-{len(tabs)}", "The panels: " + ", ".join(a.title for a in tabs)))
    return out


def _table(
    title: str,
    actions: tuple[KeyAction, ...],
    more: tuple[tuple[str, str], ...] = (),
    *,
    common: bool = False,
) -> Table:
    t = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for key, text in [*key_rows(actions, common=common), *more]:
        t.add_row(Text(key), Text(text))
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape,q,question_mark,f1", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("stucktui keys", style="bold"))
            yield Static(_table("On every screen", COMMON_KEYS, common=True))
            yield Static(_table("Process list", LIST_KEYS))
            yield Static(_table("Process view", DETAIL_KEYS))
            yield Static(_table("In a panel", THREADS_KEYS + SOCKETS_KEYS + FILES_KEYS))
            yield Static(_table("Why stuck? (w in the process view)", WHY_STUCK_KEYS))
            yield Static(_table("Box-wide sockets", BOX_SOCKET_KEYS))
            yield Static(_table("Findings on this box", TRIAGE_KEYS, TRIAGE_TABLE_KEYS))
            yield Static(Text("Click a column header to sort by it.", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
