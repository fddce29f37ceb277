"""The Overview panel: identity, ancestry, paths, cgroup and fd use of one process."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from stucktui.model.process import ProcessDetail, Unavailable
from stucktui.report import fact_lines
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_argv, safe_text


def _fd_bar(d: ProcessDetail) -> Text | None:
    if isinstance(d.num_fds, Unavailable) or isinstance(d.fd_limit, Unavailable) or not d.fd_limit[0]:
        return None
    frac = min(1.0, d.num_fds / d.fd_limit[0])
    width = 30
    filled = round(frac * width)
    style = "red" if frac >= 0.9 else "yellow" if frac >= 0.7 else "green"
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")


class OverviewPanel(DetailPanel):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="facts")
            yield Static(id="notes")

    def update_detail(self, detail: ProcessDetail, now: float) -> None:
        t = Table(show_header=False, box=None, padding=(0, 1), expand=True)
        t.add_column(style="bold", no_wrap=True, width=11)
        t.add_column(overflow="fold")
        for label, value in fact_lines(detail, now):
            if label == "command" and detail.cmdline:
                cell = safe_argv(detail.cmdline)
                cell.no_wrap = False
            else:
                style = "dim" if value in ("no permission", "not available", "-") else ""
                cell = safe_text(value, style)
                cell.no_wrap = False
            t.add_row(Text(label), cell)
            if label == "open fds":
                bar = _fd_bar(detail)
                if bar is not None:
                    t.add_row(Text(""), bar)
        self.query_one("#facts", Static).update(t)
        notes = Text()
        for n in detail.notes:
            notes.append("! ", style="yellow")
            notes.append_text(safe_text(n))
            notes.append("\n")
        self.query_one("#notes", Static).update(notes)
