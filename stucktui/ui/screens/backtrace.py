"""Every thread's native stack from gdb, in a scrollable modal (Esc closes)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from stucktui.tools.gdb import GdbError, NativeBacktrace
from stucktui.ui.safe import safe_text


def backtrace_text(bt: NativeBacktrace | GdbError) -> Text:
    if isinstance(bt, GdbError):
        return safe_text(f"gdb could not take the stacks of {bt.pid}: {bt.reason}", "yellow")
    t = Text(f"process {bt.pid}: {len(bt.threads)} threads, gdb took {bt.duration:.1f}s\n", style="bold")
    for th in bt.threads:
        t.append(f"\nthread {th.tid}", style="bold")
        if th.name:
            t.append_text(safe_text(f" {th.name}"))
        t.append("\n")
        for f in th.frames[:60]:
            line = f"  #{f.index:<3} {f.function}({f.args})"
            if f.location:
                line += f"  {f.location}"
            t.append_text(safe_text(line, max_len=300))
            t.append("\n")
    return t


class BacktraceScreen(ModalScreen[None]):
    BINDINGS = [("escape,q", "close", "Close")]

    def __init__(self, bt: NativeBacktrace | GdbError) -> None:
        super().__init__()
        self.bt = bt

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="backtrace-box"):
            yield Static(backtrace_text(self.bt), id="backtrace-text")

    def action_close(self) -> None:
        self.dismiss(None)
