"""The triage view: the box's findings, most severe first; Enter opens the process."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static

from stucktui.model.findings import Finding, TriageResult
from stucktui.model.snapshot import Snapshot
from stucktui.ui.keys import TRIAGE_KEYS, bindings
from stucktui.ui.messages import HelpRequested, OpenProcessRequested, PauseToggled
from stucktui.ui.safe import safe_text
from stucktui.ui.view import SnapshotScreen, ViewContext
from stucktui.ui.widgets.keyed_table import KeyedTable

SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan"}
COLUMNS = (("severity", "SEVERITY"), ("pid", "PID"), ("name", "NAME"), ("finding", "FINDING"))


def finding_key(i: int, f: Finding) -> str:
    return f"{f.pid}:{f.id}:{i}"


def finding_text(f: Finding, *, detail: bool = False) -> Text:
    """One finding: severity and summary; with detail, its evidence and next steps."""
    t = Text()
    t.append(f"{f.severity.upper():<8} ", style=SEVERITY_STYLE.get(f.severity, ""))
    t.append_text(safe_text(f.summary, max_len=600))
    t.append(f"  [{f.id}]", style="dim")
    if detail:
        for e in f.evidence:
            t.append("\n    evidence: ", style="dim")
            t.append_text(safe_text(e, max_len=600))
        for n in f.next_steps:
            t.append("\n    next: ", style="green")
            t.append_text(safe_text(n, max_len=600))
    return t


class TriageScreen(SnapshotScreen):
    BINDINGS = bindings(TRIAGE_KEYS)
    VIEW = "triage"

    def __init__(self) -> None:
        super().__init__(id="triage")
        self.result: TriageResult | None = None
        self._pending: TriageResult | None = None
        self._by_key: dict[str, Finding] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        looking = Text("Findings on this box: looking at every process…", style="bold")
        yield Static(looking, id="triage-title")
        yield KeyedTable(COLUMNS, id="triage-table")
        yield Static("", id="triage-detail")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.update_triage(pending)

    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        super().show_snapshot(snap, context)
        if snap.triage is not None:
            self.update_triage(snap.triage)

    def update_triage(self, result: TriageResult) -> None:
        if not self.is_mounted:
            self._pending = result
            return
        self.result = result
        title = Text("Findings on this box", style="bold")
        n = len(result.findings)
        title.append(
            f"  {n} finding{'s' if n != 1 else ''} in {len({f.pid for f in result.findings})} processes"
            f" · {result.processes} processes looked at, {result.suspects} in depth"
            f" · {result.duration * 1000:.0f} ms · Enter opens the process, Esc the process list",
            style="dim",
        )
        if not n:
            title.append("\nnothing found: no process shows one of the known stuck patterns", style="green")
        self.query_one("#triage-title", Static).update(title)
        self._by_key = {finding_key(i, f): f for i, f in enumerate(result.findings)}
        rows = [
            (
                k,
                [
                    Text(f.severity, style=SEVERITY_STYLE.get(f.severity, "")),
                    Text(str(f.pid), justify="right"),
                    safe_text(f.name, max_len=32),
                    safe_text(f.summary, max_len=400),
                ],
            )
            for k, f in self._by_key.items()
        ]
        self.query_one(KeyedTable).set_rows(rows)
        self._show(self.query_one(KeyedTable).selected_key)

    def _show(self, key: str | None) -> None:
        f = self._by_key.get(key or "")
        self.query_one("#triage-detail", Static).update(finding_text(f, detail=True) if f else "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        f = self._by_key.get(self.query_one(KeyedTable).selected_key or "")
        if f is not None:
            self.post_message(OpenProcessRequested(f.pid, f.starttime, tab=f.panel))

    def update_status(self, freshness: str) -> None:
        super().update_status(freshness)
        for w in self.query("#status").results(Static):
            w.update(Text(freshness))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_pause(self) -> None:
        self.post_message(PauseToggled())

    def action_help(self) -> None:
        self.post_message(HelpRequested())
