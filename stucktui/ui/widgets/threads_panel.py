"""The Threads panel: what every thread is waiting on, kernel and Python views merged."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from stucktui.model.panels import PanelData
from stucktui.model.process import ProcessDetail, Unavailable
from stucktui.model.python import PySpyError
from stucktui.model.text import head_and_tail
from stucktui.model.threads import ThreadGroup, ThreadRow, ThreadsSnapshot
from stucktui.ui.keys import THREADS_KEYS, bindings
from stucktui.ui.messages import KernelStacksToggled, NativeBacktraceRequested, PyspyNativeToggled
from stucktui.ui.panels import DetailPanel, show_text
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import KeyedTable, first_rows

COLUMNS = (
    ("tid", "TID"),
    ("name", "NAME"),
    ("state", "S"),
    ("cpu", "CPU%"),
    ("call", "WAITING IN"),
    ("wchan", "WCHAN"),
    ("py", "PYTHON"),
)


def _thread_cells(r: ThreadRow, indent: str = "") -> list[Text]:
    top = r.python.frames[0] if r.python and r.python.frames else None
    marker = r.python_marker or ""
    py_cell = Text(marker + " ", style="bold green" if marker == "GIL" else "dim")
    if top is not None:
        py_cell.append_text(safe_text(f"{top.function} ({top.short_file}:{top.line})", max_len=200))
    return [
        Text(f"{indent}{r.tid}", justify="right"),
        safe_text(r.name, max_len=32),
        Text(r.state, style="bold red" if r.state == "D" else ""),
        Text("" if r.cpu_percent is None else f"{r.cpu_percent:.1f}", justify="right"),
        safe_text(r.call_text, max_len=300),
        safe_text(r.wchan or "", "dim", 60),
        py_cell,
    ]


def _group_cells(g: ThreadGroup, first: ThreadRow, members: list[ThreadRow], open_: bool) -> list[Text]:
    cells = _thread_cells(first)
    cpu = [m.cpu_percent for m in members if m.cpu_percent is not None]
    cells[0] = Text(f"{'▾' if open_ else '▸'} {len(g.tids)}", justify="right", style="bold")
    cells[1] = Text(f"{len(g.tids)} threads", style="bold")
    cells[3] = Text(f"{sum(cpu):.1f}" if cpu else "", justify="right")
    return cells


class ThreadsPanel(DetailPanel):
    """Threads grouped by what they wait on (g shows every thread); Enter opens a group."""

    data_key = "threads"
    BINDINGS = bindings(THREADS_KEYS)
    process_name = "?"  # from the detail handed down, for the gdb warning

    def compose(self) -> ComposeResult:
        yield Static(id="threads-summary")
        yield KeyedTable(COLUMNS, id="threads-table", more_hint="g groups them by what they wait on")
        yield Static(id="threads-stack")

    def on_mount(self) -> None:
        self._snap: ThreadsSnapshot | None = None
        self.grouped = True
        self.expanded: set[int] = set()  # groups opened, by their first tid

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#threads-table", KeyedTable)

    def update_detail(self, detail: ProcessDetail, now: float) -> None:
        self.process_name = detail.name

    def update_panels(self, panels: PanelData) -> None:
        snap = panels.threads
        summary = self.query_one("#threads-summary", Static)
        if snap is None:
            return
        if isinstance(snap, Unavailable):
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
        elif isinstance(py, PySpyError):
            head.append_text(safe_text(py.line, "yellow"))
        else:
            mode = "nonblocking" if py.nonblocking else "paused the process"
            head.append(
                f"stacks from py-spy ({mode}); y refreshes, B toggles pausing, n native frames", style="dim"
            )
        view = (
            "grouped by what they wait on: Enter opens a group, g lists every thread"
            if self.grouped
            else "every thread: g groups them"
        )
        head.append(
            f"\n{view} · K kernel stacks · G native stacks with gdb (pauses the process)", style="dim"
        )
        for n in snap.notes:
            head.append("\n! ", style="yellow")
            head.append_text(safe_text(n))
        show_text(summary, head)
        self.redraw()

    def redraw(self) -> None:
        snap = self._snap
        if snap is None:
            return
        rows: list[tuple[str, list[Text]]] = []
        if not self.grouped:
            rows = [(str(r.tid), _thread_cells(r)) for r in first_rows(snap.rows, self.table.limit)]
        else:
            by_tid = {r.tid: r for r in snap.rows}
            for g in snap.groups:
                members = [by_tid[t] for t in g.tids if t in by_tid]
                if not members:
                    continue
                if len(members) == 1:
                    rows.append((str(members[0].tid), _thread_cells(members[0])))
                    continue
                open_ = g.tids[0] in self.expanded
                rows.append((f"group:{g.tids[0]}", _group_cells(g, members[0], members, open_)))
                if open_:
                    rows.extend((str(m.tid), _thread_cells(m, "  ")) for m in members)
        # grouped rows are all built (groups are few), the table cuts an opened big group short
        self.table.set_rows(rows, total=None if self.grouped else len(snap.rows))
        self._show_stack(self.table.selected_key)

    # -- keys ---------------------------------------------------------------------------------
    def action_toggle_grouped(self) -> None:
        self.grouped = not self.grouped
        self.redraw()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value or ""
        if key.startswith("group:"):
            event.stop()
            first = int(key.removeprefix("group:"))
            self.expanded.symmetric_difference_update({first})
            self.redraw()

    def action_kernel_stacks(self) -> None:
        self.post_message(KernelStacksToggled())

    def action_native(self) -> None:
        self.post_message(PyspyNativeToggled())

    def action_gdb(self) -> None:
        if self._snap is not None:
            self.post_message(NativeBacktraceRequested(self._snap.pid, self.process_name))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_stack(event.row_key.value)

    def _show_stack(self, key: str | None) -> None:
        out = self.query_one("#threads-stack", Static)
        if self._snap is None or key is None:
            show_text(out, Text())
            return
        if key.startswith("group:"):
            key = key.removeprefix("group:")
        row = self._snap.row(int(key))
        if row is None:
            show_text(out, Text())
            return
        t = Text(f"thread {row.tid} ", style="bold")
        t.append_text(safe_text(row.name))
        if row.python and row.python.frames:
            t.append("  Python stack, innermost first:\n", style="dim")
            head, skipped, tail = head_and_tail(row.python.frames, 35)
            for f in head:
                t.append("  ")
                t.append_text(safe_text(f"{f.function} ({f.short_file}:{f.line})"))
                t.append("\n")
            if skipped:
                t.append(f"  ... {skipped} more frames ...\n", style="dim")
            for f in tail:
                t.append("  ")
                t.append_text(safe_text(f"{f.function} ({f.short_file}:{f.line})"))
                t.append("\n")
        if row.kernel_stack:
            t.append("  kernel stack:\n", style="dim")
            for line in row.kernel_stack[:30]:
                t.append_text(safe_text(f"  {line}"))
                t.append("\n")  # safe_text shows a newline inside its text as \\n
        elif self.kernel_stacks:
            t.append("  kernel stack: not readable (root only, and not for every kernel)\n", style="yellow")
        show_text(out, t)
