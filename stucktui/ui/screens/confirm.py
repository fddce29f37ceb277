"""A confirmation dialog: says exactly what will happen to which process; y goes, n or Esc not."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [("y", "answer(True)", "Yes"), ("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, body: Text, go_label: str = "Continue", *, danger: bool = False) -> None:
        super().__init__(classes="confirm")
        self.title_text = title
        self.body = body
        self.go_label = go_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-box"):
            yield Static(Text(self.title_text, style="bold"), id="confirm-title")
            yield Static(self.body, id="confirm-body")
            with Horizontal(id="confirm-buttons"):
                yes = f"{self.go_label} (y)"
                if self.danger:
                    yield Button(yes, id="confirm-yes", variant="error")
                else:
                    yield Button(yes, id="confirm-yes", variant="primary")
                yield Button("Cancel (n, Esc)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()  # the safe choice has the focus

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
