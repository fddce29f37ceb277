"""The command palette's entries for a screen: its keys, each run as if pressed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen


def key_commands(screen: Screen[Any], call_later: Callable[..., object]) -> Iterator[SystemCommand]:
    """One entry per key of the screen's table of keys (quit left to Textual's own entry),
    each with its keys as people write them ('key: /, \\, F4, F3')."""
    from stucktui.ui.keys import (
        BOX_SOCKET_KEYS,
        DETAIL_KEYS,
        LIST_KEYS,
        TRIAGE_KEYS,
        WHY_STUCK_KEYS,
        key_label,
    )
    from stucktui.ui.screens.box_sockets import BoxSocketsScreen
    from stucktui.ui.screens.process import ProcessScreen
    from stucktui.ui.screens.process_list import ProcessListScreen
    from stucktui.ui.screens.triage import TriageScreen
    from stucktui.ui.screens.why_stuck import WhyStuckScreen

    tables = (
        (ProcessListScreen, LIST_KEYS),
        (BoxSocketsScreen, BOX_SOCKET_KEYS),
        (WhyStuckScreen, WHY_STUCK_KEYS),
        (TriageScreen, TRIAGE_KEYS),
        (ProcessScreen, DETAIL_KEYS),
    )
    keys = next((k for cls, k in tables if isinstance(screen, cls)), ())  # a dialog: none of them
    for k in keys:
        if k.palette and k.action != "quit":
            yield SystemCommand(k.help, f"key: {key_label(k.keys)}", _pressing(screen, k.action, call_later))


def _pressing(screen: Screen[Any], action: str, call_later: Callable[..., object]) -> Callable[[], None]:
    def run() -> None:
        call_later(screen.run_action, action)

    return run
