"""The Locks panel: locks this process holds or waits for, who else holds, waits or has the file open."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from stucktui.model.locks import ProcessLocks, waiter_text
from stucktui.model.panels import PanelData
from stucktui.model.process import Unavailable
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import KeyedTable

COLUMNS = (
    ("role", "ROLE"),
    ("type", "TYPE"),
    ("mode", "MODE"),
    ("range", "RANGE"),
    ("path", "PATH"),
    ("holder", "HOLDER"),
    ("others", "WAITERS / OTHERS"),
)


_ROLE_STYLES = {"waiting": "bold red", "held": "green", "open": "yellow"}


class LocksPanel(DetailPanel):
    data_key = "locks"

    def compose(self) -> ComposeResult:
        yield Static(id="locks-summary")
        yield KeyedTable(COLUMNS, id="locks-table")

    def update_panels(self, panels: PanelData) -> None:
        locks = panels.locks
        summary = self.query_one("#locks-summary", Static)
        if locks is None:
            return
        if isinstance(locks, Unavailable):
            summary.update(safe_text(f"locks: {locks}", "yellow"))
            return
        assert isinstance(locks, ProcessLocks)
        held = sum(1 for r in locks.rows if r.role == "held")
        waiting = sum(1 for r in locks.rows if r.role == "waiting")
        opened = len(locks.rows) - held - waiting
        head = Text(f"{held} held, {waiting} waited for", style="bold red" if waiting else "bold")
        if opened:
            head.append(
                f"; {opened} held by other processes on files it has open (a poller that retries "
                "without blocking waits there unseen: its Python stack shows it, y on the Threads "
                "panel, or SQLite's code calling its sleep)",
                style="yellow",
            )
        if not locks.rows and locks.fds_unreadable:
            head = Text(
                "/proc/locks names no lock of this process; what it cannot show is not seen:", style="yellow"
            )
        elif not locks.rows:
            head = Text("This process holds no file locks and waits for none.", style="dim")
        for n in locks.notes:
            head.append("\n! ", style="yellow")
            head.append_text(safe_text(n))
        summary.update(head)
        rows = []
        for i, r in enumerate(locks.rows):
            others = []
            if r.waiters:
                others.append("waiters " + ", ".join(map(waiter_text, r.waiters)))
            if r.others_holding:
                others.append("also held by " + ", ".join(f"{u.pid} {u.name}" for u in r.others_holding))
            if r.others_open:
                more = len(r.others_open) - 8
                others.append(
                    "open in "
                    + ", ".join(f"{u.pid} {u.name} fd {u.fd}" for u in r.others_open[:8])
                    + (f" and {more} more" if more > 0 else "")
                )
            other = safe_text("; ".join(others) or "-", max_len=400)
            if r.sqlite is not None:  # what SQLite's lock bytes mean: the holder's transaction
                other.append("\n", style="")
                other.append_text(safe_text(r.sqlite.text, max_len=200))
            if r.warning:
                other.append("\n! ", style="yellow")
                other.append_text(safe_text(r.warning))
            holder = ", ".join(f"{u.pid} {u.name} fd {u.fd}" for u in r.holders) or str(r.holder_pid)
            rows.append(
                (
                    f"{i}",
                    [
                        Text(r.role.upper(), style=_ROLE_STYLES.get(r.role, "")),
                        Text(r.type),
                        Text(r.mode),
                        Text(r.range_text if r.sqlite is None else f"{r.range_text} {r.sqlite.name}"),
                        safe_text(r.path or f"inode {r.inode}", max_len=200),
                        safe_text(holder, max_len=200),
                        other,
                    ],
                )
            )
        self.query_one(KeyedTable).set_rows(rows)
