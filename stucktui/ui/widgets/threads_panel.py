"""The Threads panel: what every thread is waiting on, kernel and Python views merged."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from stucktui.collect.panels import PanelData
from stucktui.collect.threads import ThreadsSnapshot
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import KeyedTable

COLUMNS = (
    ("tid", "TID"),
    ("name", "NAME"),
    ("state", "S"),
    ("cpu", "CPU%"),
    ("call", "WAITING IN"),
    ("wchan", "WCHAN"),
    ("py", "PYTHON"),
)


class ThreadsPanel(DetailPanel):
    data_key = "threads"

    def compose(self) -> ComposeResult:
        yield Static(id="threads-summary")
        yield KeyedTable(COLUMNS, id="threads-table")
        yield Static(id="threads-stack")

    def on_mount(self) -> None:
        self._snap: ThreadsSnapshot | None = None

    def update_panels(self, panels: PanelData) -> None:
        snap = panels.threads
        summary = self.query_one("#threads-summary", Static)
        if snap is None:
            return
        if isinstance(snap, str):
            summary.update(safe_text(f"threads: {snap}", "yellow"))
            return
        assert isinstance(snap, ThreadsSnapshot)
        self._snap = snap
        head = Text()
        for g in snap.groups[:8]:
            head.append("● ", style="bold red" if len(g.tids) > 1 and g.state in "SD" else "dim")
            head.append_text(safe_text(g.summary, max_len=300))
            head.append("\n")
        py = snap.python
        head.append("python: ", style="bold")
        if py is None:
            head.append("press y for Python stacks (py-spy)", style="dim")
        elif hasattr(py, "line"):
            head.append_text(safe_text(py.line, "yellow"))  # type: ignore[union-attr]
        else:
            mode = "nonblocking" if getattr(py, "nonblocking", True) else "paused the process"
            head.append(f"stacks from py-spy ({mode}); y refreshes, B toggles pausing mode", style="dim")
        for n in snap.notes:
            head.append("\n! ", style="yellow")
            head.append_text(safe_text(n))
        summary.update(head)
        rows = []
        for r in snap.rows:
            top = r.python.frames[0] if r.python and r.python.frames else None
            marker = r.python_marker or ""
            py_cell = Text(marker + " ", style="bold green" if marker == "GIL" else "dim")
            if top is not None:
                py_cell.append_text(safe_text(f"{top.function} ({top.short_file}:{top.line})", max_len=200))
            rows.append(
                (
                    str(r.tid),
                    [
                        Text(str(r.tid), justify="right"),
                        safe_text(r.name, max_len=32),
                        Text(r.state, style="bold red" if r.state == "D" else ""),
                        Text("" if r.cpu_percent is None else f"{r.cpu_percent:.1f}", justify="right"),
                        safe_text(r.call_text, max_len=300),
                        safe_text(r.wchan or "", "dim", 60),
                        py_cell,
                    ],
                )
            )
        self.query_one(KeyedTable).set_rows(rows)
        self._show_stack(self.query_one(KeyedTable).selected_key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_stack(event.row_key.value)

    def _show_stack(self, key: str | None) -> None:
        out = self.query_one("#threads-stack", Static)
        if self._snap is None or key is None:
            out.update("")
            return
        row = self._snap.row(int(key))
        if row is None:
            out.update("")
            return
        t = Text(f"thread {row.tid} ", style="bold")
        t.append_text(safe_text(row.name))
        if row.python and row.python.frames:
            t.append("  Python stack, innermost first:\n", style="dim")
            for f in row.python.frames[:40]:
                t.append("  ")
                t.append_text(safe_text(f"{f.function} ({f.short_file}:{f.line})"))
                t.append("\n")
        if row.kernel_stack:
            t.append("  kernel stack:\n", style="dim")
            for line in row.kernel_stack[:30]:
                t.append_text(safe_text(f"  {line}\n"))
        out.update(t)
