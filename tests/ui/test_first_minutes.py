"""Issue 19, a newcomer's first five minutes: rows told apart by NAME at 80 columns, keys that
behave as people expect (q quits on the screen stucktui started on, Esc goes back, Ctrl+C
quits, Home/End move rows, Enter in the filter opens the top match, a sort puts the cursor
on top), the panel keys on the tabs, help and palette that name each key once and as written."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Tab

from stucktui.textsafe import printable
from stucktui.ui.screens.help import HelpScreen
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.screens.process_list import ProcessListScreen
from stucktui.ui.screens.triage import TriageScreen
from stucktui.ui.widgets.keyed_table import KeyedTable
from tests.fixture_proc import pid_where
from tests.ui.appkit import SIZE, fixture_app, wait_for, wait_for_list
from tests.ui.test_triage_chains import triage_app
from tests.ui.test_why_stuck import screen_text

pytestmark = pytest.mark.ui

NARROW = (80, 24)


async def _exits(pilot, app) -> None:
    await wait_for(pilot, lambda: app.return_code == 0 and not app.is_running)


async def test_the_list_at_80_columns_shows_name_and_command():
    app = fixture_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("N")
        await pilot.pause()
        text = screen_text(app)
        header = next(line for line in text.splitlines() if "PID" in line and "COMMAND" in line)
        assert "NAME" in header and header.index("NAME") < header.index("COMMAND")
        shown = app.list_screen.table.shown_columns
        assert {"name", "command", "pid", "cpu", "finding"} <= set(shown)
        # the sleeping fixture process: its name and some of its command on the one 80-column line
        row = next(line for line in text.splitlines() if re.search(r"\bsleep\b", line))
        assert row.count("sleep") >= 2 and len(row) <= 80


async def test_the_tree_at_80_columns_keeps_names_visible():
    app = fixture_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("N", "t")
        await pilot.pause()
        zombie = pid_where(lambda s: s.state == "Z")
        name = app.list_screen.snapshot.by_pid()[zombie].name
        line = next(ln for ln in screen_text(app).splitlines() if ln.lstrip().startswith(f"{zombie} "))
        assert "└─" in line or "├─" in line  # the tree guide is there...
        assert printable(name)[:8] in line.split("─")[0]  # ...and the name is before it, not pushed out


async def test_a_narrow_screen_keeps_the_sort_column():
    app = fixture_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for_list(pilot, app)
        assert "fds" not in app.list_screen.table.shown_columns  # gave way at 80 columns
        await pilot.press("F")  # sort by open fds
        await wait_for(pilot, lambda: "fds" in app.list_screen.table.shown_columns)
        assert "FDS ▼" in screen_text(app)


async def test_a_sort_key_puts_the_cursor_on_top():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("N", "down", "down", "down")
        assert app.list_screen.table.cursor_row == 3
        await pilot.press("M")
        await wait_for(pilot, lambda: app.list_screen.table.cursor_row == 0)
        await pilot.press("down", "down", "I")
        await wait_for(pilot, lambda: app.list_screen.table.cursor_row == 0)


async def test_filter_then_enter_opens_the_top_match_not_the_row_selected_before():
    app = fixture_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("N", "down", "down")  # a row that the filter will leave out
        before = app.list_screen.table.selected_pid
        sleeper = pid_where(lambda s: s.comm == "sleep")
        assert before != sleeper
        await pilot.press("slash", *"sleep")
        await wait_for(pilot, lambda: app.list_screen.table.selected_pid == app.list_screen.table.pids()[0])
        top = app.list_screen.table.pids()[0]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen))
        assert app.screen.pid == top and top != before


@pytest.mark.parametrize("size", [NARROW, SIZE])
async def test_q_quits_on_the_triage_stucktui_started_on(size):
    app, _ = triage_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is not None)
        # the footer says so (on a loaded box it is painted a frame after the findings)
        await wait_for(pilot, lambda: "q Quit" in screen_text(app).splitlines()[-1])
        await pilot.press("q")
        await _exits(pilot, app)


async def test_esc_on_the_start_triage_goes_to_the_list_and_q_there_quits():
    app, _ = triage_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessListScreen))
        await pilot.press("q")
        await _exits(pilot, app)


async def test_q_on_a_triage_opened_from_the_list_goes_back():
    app = fixture_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen))
        assert "q Quit" not in screen_text(app).splitlines()[-1]
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessListScreen))
        assert app.is_running


async def test_q_quits_on_the_process_of_pid_and_esc_goes_to_the_list():
    sleeper = pid_where(lambda s: s.comm == "sleep")
    app = fixture_app(start_pid=sleeper)
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        assert "q Quit" in screen_text(app).splitlines()[-1]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessListScreen))
        await wait_for_list(pilot, app)
    app = fixture_app(start_pid=sleeper)
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen))
        await pilot.press("q")
        await _exits(pilot, app)


async def test_q_on_a_process_opened_from_the_list_goes_back():
    app = fixture_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessListScreen))
        assert app.is_running


@pytest.mark.parametrize("start", ["list", "triage"])
async def test_ctrl_c_quits(start):
    app = fixture_app() if start == "list" else triage_app()[0]
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: app.last is not None)
        await pilot.press("ctrl+c")
        await _exits(pilot, app)


async def test_end_and_home_in_the_triage_move_rows_not_the_columns():
    app, _ = triage_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is not None)
        table = app.screen.query_one(KeyedTable)
        await wait_for(pilot, lambda: table.row_count >= 2)
        await pilot.press("end")
        await wait_for(pilot, lambda: table.cursor_row == table.row_count - 1)
        assert table.scroll_x == 0
        last = app.screen._by_key[table.selected_key]
        assert re.search(rf"\b{last.pid}\b", screen_text(app))  # its row is on screen, not a blank
        await pilot.press("home")
        await wait_for(pilot, lambda: table.cursor_row == 0)
        assert table.scroll_x == 0


async def test_the_tabs_show_their_keys():
    app = fixture_app(start_pid=pid_where(lambda s: s.comm == "sleep"))
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen))
        await pilot.pause()
        labels = [str(t.label) for t in app.screen.query(Tab)]
        assert labels[:6] == ["1 Overview", "2 Threads", "3 Sockets", "4 Files", "5 Locks", "6 Signals"]
        await pilot.press("4")
        await wait_for(pilot, lambda: app.screen.active_panel == "files")


async def test_help_lists_each_key_once_per_screen_and_the_common_ones_once():
    app = fixture_app()
    async with app.run_test(size=(120, 200)) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        text = screen_text(app)
        assert text.count("Pause or resume refreshing") == 1 and text.count("Show all keys") == 1
        assert text.count("Close the selected fd") == 1
        assert "1-6" in text and "Show the Overview panel" not in text


async def test_the_palette_names_keys_as_people_write_them():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        helps = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert helps["Filter as you type: pid, user, name or command line"] == "key: /, \\, F4, F3"
        assert helps["The box's findings, most severe first"] == "key: !"
        assert not any("slash" in h or "question_mark" in h for h in helps.values())
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen))
        triage = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert triage.get("Open the process of the selected finding") == "key: Enter"
        assert "Send a signal chosen by name (confirmed, verified, logged)" not in triage


@pytest.mark.parametrize("size", [NARROW, SIZE])
async def test_the_findings_never_eat_the_panel(size):
    """Three long findings at 120x36 took 9 rows, the third cut mid-sentence: now a sixth of
    the screen at most, whole findings, and '… N more · f' for the rest."""
    from stucktui.model.findings import Finding

    long = "threads wait on a lock held by pid 4242, which itself waits for a pipe reader " * 2
    findings = tuple(
        Finding(f"rule-{i}", "critical", 7739, "sleep", f"finding {i}: {long}", ("e",), ("n",), "threads")
        for i in range(3)
    )
    app = fixture_app(start_pid=pid_where(lambda s: s.comm == "sleep"))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.examined)
        screen = app.screen
        await pilot.press("p")  # paused: no refresh replaces the findings below
        await wait_for(pilot, lambda: all(lane.since is None for lane in app.lanes.values()))
        screen.update_detail(screen.detail, None, findings)
        await pilot.pause()
        box = screen.query_one("#findings")
        assert box.size.height <= max(3, size[1] // 6)
        text = screen_text(app)
        assert "more · f: every finding" in text and "finding 0:" in text
        assert "finding 2:" not in text  # left for f, not cut mid-sentence
        await pilot.press("f")
        await wait_for(pilot, lambda: "finding 2:" in screen_text(app))


async def test_the_signal_picker_shows_one_line_per_signal_and_the_highlighted_in_full():
    from textual.app import App

    from stucktui.actions.signals import SignalChoice
    from stucktui.ui.screens.actions import SignalPickerScreen

    warn = "the process catches it and may ignore it; a second TERM is often taken as kill " * 2
    choices = [
        SignalChoice(
            name, n, "terminate", "caught", (), False, True, "caught by a handler " * 4, (warn,), "exit"
        )
        for name, n in (("SIGTERM", 15), ("SIGINT", 2), ("SIGHUP", 1), ("SIGUSR1", 10))
    ]

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(SignalPickerScreen(["pid 1 (x)"], choices))

    app = Host()
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SignalPickerScreen))
        await pilot.pause()
        lines = screen_text(app).splitlines()
        names = [i for i, line in enumerate(lines) if re.search(r"SIG(TERM|INT|HUP|USR1) +\d", line)]
        assert len(names) == 4 and names == list(range(names[0], names[0] + 4))  # one line each
        detail = str(app.screen.query_one("#signal-detail").render())
        assert detail.startswith("SIGTERM (15): caught by a handler") and "second TERM" in detail
        await pilot.press("down")
        await wait_for(
            pilot, lambda: str(app.screen.query_one("#signal-detail").render()).startswith("SIGINT")
        )
