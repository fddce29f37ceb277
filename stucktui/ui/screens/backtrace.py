"""Every thread's native stack from gdb, in a scrollable modal (Esc closes)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from stucktui.inspection.backtrace import GdbError, NativeBacktrace, backtrace_command
from stucktui.ui.messages import BacktraceReady
from stucktui.ui.safe import safe_text
from stucktui.ui.screens.confirm import ConfirmScreen


def confirm_backtrace(pid: int, name: str) -> ConfirmScreen:
    """gdb stops the process while it reads the stacks: the dialog says so, and names the
    command it will run."""
    body = Text()
    body.append(f"gdb will attach to process {pid} ")
    body.append_text(safe_text(f"({name})", "bold"))
    body.append(
        " and STOP EVERY THREAD while it reads their stacks: usually under a second, longer "
        "with many threads or large binaries. Nothing else is changed; the process resumes "
        "when gdb detaches. A process that is timing-sensitive (heartbeats, watchdogs) may "
        "notice the pause.\n\n",
    )
    body.append("command: ", style="dim")
    body.append_text(safe_text(backtrace_command(pid), max_len=600))
    return ConfirmScreen(f"Native stacks of {pid} with gdb", body, "Pause and read")


def ask_backtrace(app: App[Any], pid: int, name: str, take: Callable[[], NativeBacktrace | GdbError]) -> None:
    """The confirmation, then, on y, take() (gdb) in a thread of its own: its result comes
    back to the app as BacktraceReady."""

    def run() -> None:
        app.post_message(BacktraceReady(take()))

    def answered(yes: bool | None) -> None:
        if yes:
            app.notify(f"gdb is reading the stacks of {pid}…", timeout=3)
            threading.Thread(target=run, name="stucktui-gdb", daemon=True).start()

    app.push_screen(confirm_backtrace(pid, name), answered)


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
