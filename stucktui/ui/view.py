"""The one path from the app to its screens: every screen that shows snapshots is a
SnapshotScreen, and the app hands each refresh to every such screen on the stack with
show_snapshot(snap, context); the status line's freshness comes down with update_status.
Screens never read the app: what they need (the clock, the freshness) comes with the data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual.css.query import NoMatches
from textual.screen import Screen

from stucktui.inspection.request import View
from stucktui.model.snapshot import Snapshot
from stucktui.ui.keys import FOOTER_WHEN_ABLE


@dataclass(frozen=True, slots=True)
class ViewContext:
    """What the app knows when it hands over a snapshot, and the screens show with it."""

    now: float  # the app's clock: process ages, times of day
    freshness: str  # the status line's "refreshed 1s ago in 40 ms, every 2s" (or PAUSED ...)
    kernel_stacks: bool = False  # the Threads panel says when a kernel stack could not be read


class SnapshotScreen(Screen[None]):
    """A view of the snapshots; VIEW tells the sampler what it shows (inspection.request)."""

    VIEW: ClassVar[View] = "other"
    started_on = False  # the screen stucktui started on (set by the app): q quits there

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.now = 0.0
        self.freshness = "collecting…"
        self.kernel_stacks = False

    @property
    def tab(self) -> str | None:
        """The panel shown, for views that have tabs."""
        return None

    @property
    def panels_read(self) -> frozenset[str]:
        """The panels whose data this view has (a read-ahead skips them)."""
        return frozenset()

    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        """Take what this view shows from one refresh (subclasses call this first)."""
        self.now = context.now
        self.freshness = context.freshness
        self.kernel_stacks = context.kernel_stacks

    def update_status(self, freshness: str) -> None:
        """The status line, once a second and after each refresh."""
        self.freshness = freshness

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit_here" and parameters == (FOOTER_WHEN_ABLE,):
            return self.started_on  # the footer offers 'q Quit' there only; else q is Esc
        return super().check_action(action, parameters)

    def action_quit_here(self, _shown: str = "") -> None:
        """q: quits on the screen stucktui started on, goes back on one opened from another."""
        if self.started_on:
            self.app.exit(0)
        else:
            self.action_back()

    def action_back(self) -> None:
        self.app.pop_screen()


def hand_over(stack: Iterable[Screen[Any]], snap: Snapshot, context: ViewContext) -> None:
    """Each SnapshotScreen on the stack takes what it shows of one snapshot; a screen still
    being composed or being taken down (its widgets not there) takes the next one."""
    for screen in stack:
        if isinstance(screen, SnapshotScreen):
            try:
                screen.show_snapshot(snap, context)
            except NoMatches:
                continue
