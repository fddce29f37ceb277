"""Dialogs of the actions: the signal picker, the close-fd method chooser, and the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from stucktui.ui.safe import safe_text

if TYPE_CHECKING:
    from stucktui.actions.closefd import CloseMethod, CloseOptions
    from stucktui.actions.signals import SignalChoice

_WARNINGS = ("WARNING", "NOT AVAILABLE", "⚠")


def lines_text(lines: list[str] | tuple[str, ...], style: str = "") -> Text:
    """Lines of untrusted text, escaped; warning lines stand out."""
    t = Text()
    for i, line in enumerate(lines):
        if i:
            t.append("\n")
        t.append_text(safe_text(line, "bold yellow" if line.startswith(_WARNINGS) else style, max_len=1000))
    return t


def signal_prompt(c: SignalChoice) -> Text:
    """One line per signal (the picker's list never wraps): name, number, default action, what
    this process does with it, ⚠ when sending it may surprise (the words under the list)."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    t.append(f"{c.name:<13}", style="bold" if c.common else "")
    t.append(f"{c.number:>3}  ", style="dim")
    t.append(f"default {c.default_action:<9} ", style="dim")
    if c.warning:
        t.append("⚠ ", style="bold yellow")
    t.append_text(safe_text(c.handling, "cyan" if c.disposition == "caught" else "", 80))
    return t


def signal_detail(c: SignalChoice) -> Text:
    """The highlighted signal in full, under the list: what the process does with it, and
    why sending it may surprise."""
    t = Text(f"{c.label}: ", style="bold")
    t.append_text(safe_text(c.handling, max_len=300))
    if c.warning:
        t.append("\n⚠ ", style="bold yellow")
        t.append_text(safe_text(c.warning, "yellow", 600))
    t.no_wrap = False
    return t


class SignalPickerScreen(ModalScreen["SignalChoice | None"]):
    """Type to search by name; common signals first; Enter picks, Esc cancels."""

    BINDINGS = [("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    SignalPickerScreen #picker-list {
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    SignalPickerScreen #signal-detail {
        height: auto;
        max-height: 6;
        padding: 1 0 0 0;
    }
    """

    def __init__(self, head: list[str], choices: list[SignalChoice]) -> None:
        super().__init__()
        self.head = head
        self.choices = choices
        self.shown: list[SignalChoice] = list(choices)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="picker-box"):
            yield Static(Text("Send a signal", style="bold"))
            yield Static(lines_text(self.head, "dim"))
            yield Input(placeholder="signal name: TERM, usr1, rtmin+2…", id="picker-search")
            yield OptionList(*[Option(signal_prompt(c)) for c in self.choices], id="picker-list")
            yield Static("", id="signal-detail")

    def on_mount(self) -> None:
        self.query_one("#picker-search", Input).focus()
        ol = self.query_one("#picker-list", OptionList)
        if self.shown and ol.highlighted is None:
            ol.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        i = event.option_index
        self.query_one("#signal-detail", Static).update(
            signal_detail(self.shown[i]) if 0 <= i < len(self.shown) else ""
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        q = event.value.strip().upper().removeprefix("SIG")
        self.shown = [c for c in self.choices if q in c.name.removeprefix("SIG")] if q else list(self.choices)
        ol = self.query_one("#picker-list", OptionList)
        ol.clear_options()
        ol.add_options([Option(signal_prompt(c)) for c in self.shown])
        if self.shown:
            ol.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        ol = self.query_one("#picker-list", OptionList)
        i = ol.highlighted if ol.highlighted is not None else 0
        if self.shown:
            self.dismiss(self.shown[i])

    def on_key(self, event: events.Key) -> None:
        # arrows move in the list while typing in the search field
        if event.key in ("down", "up") and self.query_one("#picker-search", Input).has_focus:
            ol = self.query_one("#picker-list", OptionList)
            ol.action_cursor_down() if event.key == "down" else ol.action_cursor_up()
            event.stop()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.shown[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


def method_prompt(m: CloseMethod) -> Text:
    t = Text()
    t.append(f"{m.id:<14}", style="bold" if m.available else "dim")
    t.append_text(safe_text(m.title, "" if m.available else "dim", 80))
    if m.default and m.available:
        t.append("  (default)", style="green")
    if not m.available:
        t.append("\n    unavailable: ", style="dim")
        t.append_text(safe_text(m.reason or "", "yellow", 200))
    return t


class CloseFdScreen(ModalScreen["str | None"]):
    """The methods that fit the fd, each with its effects and exact command; Enter picks."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, head: list[str], options: CloseOptions) -> None:
        super().__init__()
        self.head = head
        self.options = options

    def compose(self) -> ComposeResult:
        f = self.options.facts
        with VerticalScroll(id="picker-box"):
            yield Static(Text(f"Close fd {f.fd} inside process {f.pid}", style="bold"))
            yield Static(lines_text([*self.head, f"fd {f.fd}: {f.description}"], "dim"))
            ol = OptionList(
                *[Option(method_prompt(m), id=m.id, disabled=not m.available) for m in self.options.methods],
                id="picker-list",
            )
            yield ol
            yield Static("", id="method-detail")

    def on_mount(self) -> None:
        ol = self.query_one("#picker-list", OptionList)
        ol.focus()
        default = self.options.default
        ids = [m.id for m in self.options.methods]
        if default is not None and ol.highlighted is None:  # not over a pick made meanwhile
            ol.highlighted = ids.index(default.id)
        self._detail(ol.highlighted)

    def _detail(self, index: int | None) -> None:
        out = self.query_one("#method-detail", Static)
        if index is None:
            out.update("")
            return
        m = self.options.methods[index]
        lines = [f"command: {m.command}", *("effect: " + e for e in m.effects)]
        out.update(lines_text(lines))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._detail(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ResultScreen(ModalScreen[None]):
    """What an action did, re-read from the process afterwards."""

    BINDINGS = [("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, lines: list[str] | Text, ok: bool) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.ok = ok

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-box"):
            yield Static(
                Text(self.title_text, style="bold green" if self.ok else "bold red"), id="result-title"
            )
            body = self.lines if isinstance(self.lines, Text) else lines_text(self.lines)
            yield Static(body, id="result-body")
            yield Static(Text("Enter or Esc closes", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
