"""The panels of the process view, in tab order. Each later panel (Sockets, Files, Threads,
Signals, Locks, Findings) is one entry here and one widget in ui/widgets/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from stucktui.model.panels import PanelData
from stucktui.model.process import ProcessDetail


class DetailPanel(Widget):
    """Base of the process view's panels: handed each new detail, never reads /proc."""

    # the panel's id in PanelData, or None for panels drawn from the detail alone
    data_key: str | None = None
    # handed down by the process view: the process shown (the panel's actions name it), and
    # the app's kernel-stacks toggle with each detail
    pid: int | None = None
    kernel_stacks: bool = False

    def update_detail(self, detail: ProcessDetail, now: float) -> None:
        """Most panels ignore the basic facts; the Overview draws only them."""

    def update_panels(self, panels: PanelData) -> None:
        """Called with the panel data of each refresh."""


def show_text(widget: Static, text: Text) -> None:
    """widget.update(text) unless it shows that text already: an update lays the screen out
    again and renders the widget anew, which a refresh that changed nothing (a tab key's, after
    the read-ahead) paid in the frame that shows its data."""
    old = widget.content
    if not (
        isinstance(old, Text)
        and old.plain == text.plain
        and old.spans == text.spans
        and old.style == text.style
        and (old.justify, old.no_wrap, old.overflow) == (text.justify, text.no_wrap, text.overflow)
    ):
        widget.update(text)


@dataclass(frozen=True)
class PanelSpec:
    id: str
    title: str
    factory: Callable[[], DetailPanel]
    # what the panel's first refresh reads ({pid}: the process), shown until its data comes
    waits_for: str = ""


def _overview() -> DetailPanel:
    from stucktui.ui.widgets.overview import OverviewPanel

    return OverviewPanel()


def _lazy(module: str, cls: str) -> Callable[[], DetailPanel]:
    def make() -> DetailPanel:
        import importlib

        panel: DetailPanel = getattr(importlib.import_module(f"stucktui.ui.widgets.{module}"), cls)()
        return panel

    return make


DETAIL_PANELS: list[PanelSpec] = [
    PanelSpec("overview", "Overview", _overview),
    PanelSpec(
        "threads",
        "Threads",
        _lazy("threads_panel", "ThreadsPanel"),
        "the threads of pid {pid} (/proc/{pid}/task; py-spy when it runs Python)",
    ),
    PanelSpec(
        "sockets",
        "Sockets",
        _lazy("sockets_panel", "SocketsPanel"),
        "the sockets of pid {pid} (its fds, /proc/{pid}/net, sock_diag)",
    ),
    PanelSpec(
        "files", "Files", _lazy("files_panel", "FilesPanel"), "the fds of pid {pid} (/proc/{pid}/fd, fdinfo)"
    ),
    PanelSpec(
        "locks",
        "Locks",
        _lazy("locks_panel", "LocksPanel"),
        "the file locks of pid {pid} (/proc/locks, the fds of their holders)",
    ),
    PanelSpec(
        "signals",
        "Signals",
        _lazy("signals_panel", "SignalsPanel"),
        "the signal masks and handlers of pid {pid} (/proc/{pid}/status)",
    ),
]
