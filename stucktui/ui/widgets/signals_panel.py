"""The Signals panel: masks decoded by name, pending-but-blocked signals, the parent's masks."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from stucktui.model.panels import PanelData
from stucktui.model.process import Unavailable
from stucktui.model.signals import SignalsSnapshot, mask_names
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import KeyedTable

COLUMNS = (
    ("name", "SIGNAL"),
    ("number", "NO"),
    ("default", "DEFAULT"),
    ("disposition", "THIS PROCESS"),
    ("blocked", "BLOCKED IN"),
    ("pending", "PENDING"),
)


def _names(mask: int) -> str:
    return ", ".join(mask_names(mask)) or "-"


class SignalsPanel(DetailPanel):
    data_key = "signals"

    def compose(self) -> ComposeResult:
        yield Static(id="signals-summary")
        yield KeyedTable(COLUMNS, id="signals-table")

    def update_panels(self, panels: PanelData) -> None:
        snap = panels.signals
        summary = self.query_one("#signals-summary", Static)
        if snap is None:
            return
        if isinstance(snap, Unavailable):
            summary.update(safe_text(f"signals: {snap}", "yellow"))
            return
        assert isinstance(snap, SignalsSnapshot)
        t = Text()
        harmful = snap.stuck_harmful
        if harmful:
            t.append("PENDING BUT BLOCKED: " + ", ".join(harmful), style="bold red")
            t.append(" — delivered only when a thread unblocks it; the process may wait forever\n")
        harmless = [n for n in snap.stuck if n not in harmful]
        if harmless:
            t.append("pending but blocked, harmless: " + ", ".join(harmless), style="dim")
            t.append(" (ignored, or its default action does nothing; no handler waits for it)\n", style="dim")
        for label, mask in (
            ("pending (process)", snap.shared_pending),
            ("pending (main thread)", snap.pending),
            ("blocked (main thread)", snap.blocked),
            ("ignored", snap.ignored),
            ("caught", snap.caught),
        ):
            t.append(f"{label:<22}", style="bold")
            t.append(_names(mask) + "\n")
        for th in snap.differing_threads()[:16]:
            t.append(f"thread {th.tid} ", style="bold")
            t.append_text(safe_text(th.name))
            t.append(f": blocked {_names(th.blocked)}; pending {_names(th.pending)}\n")
        p = snap.parent
        if p is not None:
            t.append("parent ", style="bold")
            t.append_text(safe_text(f"{p.parent_pid} ({p.parent_name})"))
            if p.differs:
                t.append(f": blocked here only {_names(p.blocked_here_only)}; ")
                t.append(f"blocked in parent only {_names(p.blocked_parent_only)}")
            else:
                t.append(": same blocked and ignored masks (inherited across fork and exec)", style="yellow")
            if len(p.same_mask_parent_tids) > 1:
                tids = ", ".join(map(str, p.same_mask_parent_tids[:6])) + (
                    ", …" if len(p.same_mask_parent_tids) > 6 else ""
                )
                t.append(f"; parent threads {tids} have exactly this mask (one started it)", style="yellow")
            elif p.same_mask_parent_tid:
                t.append(f"; parent thread {p.same_mask_parent_tid} has exactly this mask", style="yellow")
            t.append("\n")
        for s in snap.signalfds:
            t.append(f"reads {_names(s.mask)} through signalfd {s.fd}\n", style="cyan")
        for n in snap.notes:
            t.append("! ", style="yellow")
            t.append_text(safe_text(n))
            t.append("\n")
        summary.update(t)
        rows = []
        for r in snap.rows:
            pending = "process" if r.pending_process else ""
            if r.pending_tids:
                pending = (
                    (pending + " " if pending else "") + "threads " + ", ".join(map(str, r.pending_tids[:8]))
                )
            blocked = "all threads" if r.blocked_everywhere else ", ".join(map(str, r.blocked_tids[:8]))
            alarm = r.stuck and not r.harmless
            style = (
                "bold red"
                if alarm
                else ("dim" if not (pending or blocked or r.disposition != "default") else "")
            )
            rows.append(
                (
                    str(r.number),
                    [
                        Text(r.name + (" (libc)" if r.libc_internal else ""), style=style),
                        Text(str(r.number), justify="right"),
                        Text(r.default_action),
                        Text(r.disposition, style="green" if r.disposition == "caught" else ""),
                        Text(blocked),
                        Text(
                            pending + (" STUCK" if alarm else " (harmless)" if r.stuck else ""),
                            style="bold red" if alarm else "dim" if r.stuck else "",
                        ),
                    ],
                )
            )
        self.query_one(KeyedTable).set_rows(rows)
