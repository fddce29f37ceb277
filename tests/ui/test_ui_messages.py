"""Attributes down, messages up: screens and widgets ask the app with messages (ui/messages.py)
and never call it; the app hands each snapshot, with its clock and freshness, down to them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.message import Message

import stucktui.ui
from stucktui.ui import messages as M
from stucktui.ui.screens.help import HelpScreen
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.widgets.threads_panel import ThreadsPanel
from tests.ui.appkit import SIZE, fixture_app, wait_for, wait_for_list

pytestmark = pytest.mark.ui

UI = Path(stucktui.ui.__file__).parent


class Seen:
    """A message_hook: every message posted in the app, once each (a bubbling message is
    posted again to each parent on its way up)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.posts: dict[int, int] = {}  # id(message) -> times posted (once per hop up)

    def __call__(self, message: Message) -> None:
        if id(message) not in self.posts:
            self.messages.append(message)
        self.posts[id(message)] = self.posts.get(id(message), 0) + 1

    def of(self, cls: type[Message]) -> list:
        return [m for m in self.messages if isinstance(m, cls)]


async def test_enter_on_the_list_posts_open_process_and_the_app_opens_it():
    app, seen = fixture_app(), Seen()
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await wait_for_list(pilot, app)
        row = app.list_screen.table.selected_row()
        assert row is not None
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        (opened,) = seen.of(M.OpenProcessRequested)
        assert (opened.pid, opened.starttime, opened.tab) == (row.pid, row.starttime_ticks, None)
        assert seen.posts[id(opened)] == 2  # to the list screen, then bubbled up to the app
        assert app.screen.pid == row.pid and app.selected == (row.pid, row.starttime_ticks)
        # what the screen shows with the snapshot came down from the app
        assert app.screen.now == app.clock() and app.screen.freshness.startswith("refreshed")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.list_screen)
        assert len(seen.of(M.CloseProcessRequested)) == 1 and app.selected is None


async def test_pause_and_help_are_asked_of_the_app():
    app, seen = fixture_app(), Seen()
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.paused)
        assert len(seen.of(M.PauseToggled)) == 1
        assert app.list_screen.freshness == "PAUSED (p resumes)"  # the tick handed it down
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert len(seen.of(M.HelpRequested)) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.list_screen)


async def test_a_panel_toggle_goes_up_and_the_setting_comes_back_down():
    """K in the Threads panel: the app flips kernel stacks, samples, and the next snapshot hands
    the setting down to the panel (which never reads the app)."""
    app, seen = fixture_app(start_pid=1), Seen()
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.active_panel == "threads")
        assert seen.of(M.RefreshRequested)  # the tab changed: sample now
        panel = app.screen.query_one(ThreadsPanel)
        panel.query_one("#threads-table").focus()
        await pilot.press("K")
        await wait_for(pilot, lambda: panel.kernel_stacks)
        assert len(seen.of(M.KernelStacksToggled)) == 1 and app.kernel_stacks
        assert panel.process_name == "process_api" and panel.pid == 1


async def test_a_socket_fd_in_files_is_shown_by_the_screen_not_the_app():
    """A message a panel posts for its screen stops there."""
    app, seen = fixture_app(start_pid=1), Seen()
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        screen = app.screen
        screen.post_message(M.ShowSocketRequested(3))
        await wait_for(pilot, lambda: screen.active_panel == "sockets")
        await pilot.pause()
        (msg,) = seen.of(M.ShowSocketRequested)
        assert seen.posts[id(msg)] == 1  # posted to the screen, never bubbled on to the app


def test_no_screen_or_widget_reaches_into_the_app():
    """No `type: ignore[attr-defined]` (the sign of calling app methods the type does not know)
    and no import of procfs, collect or tools: the UI gets snapshots from inspection."""
    for path in sorted(UI.rglob("*.py")):
        text = path.read_text()
        assert "ignore[attr-defined]" not in text, path
        bad = re.findall(r"^\s*(?:from|import) stucktui\.(?:procfs|collect|tools)\b.*$", text, re.M)
        assert not bad, (path, bad)
