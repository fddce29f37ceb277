"""Pilot tests: filter, sort, tree, detail, pause, help, quit, cursor survival, a hung read."""

from __future__ import annotations

import io
import os
import shutil

import pytest
from rich.console import Console
from textual.widgets import Static

from stucktui.model.process import NO_PERMISSION
from stucktui.ui.screens.help import HelpScreen
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.screens.process_list import ProcessListScreen
from tests.fixture_proc import PROC, pid_where
from tests.ui.appkit import SIZE, copy_tree, fixture_app, wait_for, wait_for_list

pytestmark = pytest.mark.ui

NPROC = sum(1 for d in PROC.iterdir() if d.is_dir())


def visible_pids(app) -> list[int]:
    return app.list_screen.table.pids()


async def test_list_shows_every_fixture_process():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        assert sorted(visible_pids(app)) == sorted(int(d.name) for d in PROC.iterdir() if d.is_dir())


async def test_filter_as_you_type_and_escape_clears():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("slash", "s", "l", "e", "e", "p")
        await wait_for(pilot, lambda: app.list_screen.table.row_count < NPROC)
        by = app.list_screen.snapshot.by_pid()
        assert pid_where(lambda s: s.comm == "sleep") in visible_pids(app)
        assert all("sleep" in by[p].command for p in visible_pids(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.list_screen.table.row_count == NPROC)
        # by user and by pid too
        await pilot.press("slash", "r", "o", "o", "t")
        await wait_for(pilot, lambda: app.list_screen.table.row_count == NPROC)
        await pilot.press("escape", "slash", "1", "0", "2", "2")
        await wait_for(pilot, lambda: 1022 in visible_pids(app) and app.list_screen.table.row_count <= 2)


async def test_sort_keys_and_header_click():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("N")
        await wait_for(pilot, lambda: visible_pids(app) == sorted(visible_pids(app)))
        await pilot.press("N")  # same key again inverts
        await wait_for(pilot, lambda: visible_pids(app) == sorted(visible_pids(app), reverse=True))
        await pilot.press("M")
        by = app.list_screen.snapshot.by_pid()
        await wait_for(
            pilot,
            lambda: (
                [by[p].rss_bytes for p in visible_pids(app)]
                == sorted((by[p].rss_bytes for p in visible_pids(app)), reverse=True)
            ),
        )
        await pilot.click("#processes", offset=(2, 0))  # the PID header
        assert app.list_screen.sort_column == "pid"


async def test_a_new_sort_order_scrolls_the_cursor_into_view():
    """The selected process moves with the sort; the view follows it, so Enter never opens a
    row that is not on screen."""
    app = fixture_app()
    async with app.run_test(size=(100, 14)) as pilot:
        await wait_for_list(pilot, app)
        table = app.list_screen.table
        await pilot.press("N")
        await wait_for(pilot, lambda: visible_pids(app) == sorted(visible_pids(app)))
        table.focus()
        await pilot.press("end")
        chosen = table.selected_pid
        assert chosen == max(visible_pids(app)) and table.scroll_offset.y > 0

        def on_screen() -> bool:
            top = table.scroll_offset.y
            return top <= table.cursor_row < top + table.size.height - 1

        assert on_screen()
        await pilot.press("N")  # inverted: the chosen process is now the first row
        await wait_for(pilot, lambda: visible_pids(app)[0] == chosen)
        await wait_for(pilot, on_screen)
        assert table.selected_pid == chosen and table.scroll_offset.y == 0


async def test_tree_view_nests_children_under_parents():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("t")
        await wait_for(pilot, lambda: app.list_screen.tree_view)
        pids = visible_pids(app)
        by = app.list_screen.snapshot.by_pid()
        assert pids[0] in (1, 2)
        for i, pid in enumerate(pids):
            ppid = by[pid].ppid
            if ppid in by:
                assert pids.index(ppid) < i  # every parent above its children
        zombie = pid_where(lambda s: s.state == "Z")
        t = app.list_screen.table
        cmd = t.get_cell(str(zombie), "command").plain
        assert cmd.lstrip(" │").startswith(("└─", "├─"))


async def test_enter_opens_detail_and_escape_returns():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        evil = pid_where(lambda s: "evil" in s.comm)
        await pilot.press("slash", *"evil", "enter")  # Enter in the filter opens the top match
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.detail is not None)
        assert screen.pid == evil and screen.detail.parents[-1].pid == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessListScreen))


async def test_no_findings_in_a_process_it_cannot_read_is_not_called_healthy():
    """Another user's process without root: 'no findings' would read as healthy; the line
    says what could not be read instead."""
    from stucktui.model.files import ProcessFiles
    from stucktui.model.panels import PanelData

    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("slash", *"evil", "enter")  # Enter in the filter opens the top match
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        screen = app.screen
        files = ProcessFiles(screen.pid, (), (), None, None, (), 0.0, unlisted=NO_PERMISSION)
        screen.update_detail(screen.detail, PanelData(files=files, sockets=NO_PERMISSION), ())
        text = str(screen.query_one("#findings").render())
        assert "findings: none in what stucktui could read (sockets, files: no permission" in text
        screen.update_detail(screen.detail, PanelData(), ())
        assert "no known stuck pattern" in str(screen.query_one("#findings").render())


async def test_cursor_stays_on_its_process_across_refreshes(tmp_path):
    proc = copy_tree(tmp_path / "proc")
    app = fixture_app(proc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("N")  # by pid, ascending
        await wait_for(pilot, lambda: visible_pids(app) == sorted(visible_pids(app)))
        await pilot.press("down", "down", "down")
        chosen = app.list_screen.table.selected_pid
        # a new process appears above the cursor (pid 3 sorts before every chosen one)...
        shutil.copytree(proc / "2", proc / "3", symlinks=True)
        st = (proc / "3" / "stat").read_text().replace("2 (kthreadd)", "3 (newcomer)", 1)
        (proc / "3" / "stat").write_text(st)
        await wait_for(pilot, lambda: 3 in visible_pids(app))
        assert app.list_screen.table.selected_pid == chosen
        # ...and one below it vanishes
        shutil.rmtree(proc / str(max(visible_pids(app))))
        await wait_for(pilot, lambda: app.list_screen.table.row_count == NPROC)
        assert app.list_screen.table.selected_pid == chosen


async def test_pause_stops_sampling_and_resume_restarts(tmp_path):
    proc = copy_tree(tmp_path / "proc")
    app = fixture_app(proc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("p")
        assert app.paused
        shutil.copytree(proc / "2", proc / "3", symlinks=True)
        (proc / "3" / "stat").write_text(
            (proc / "3" / "stat").read_text().replace("2 (kthreadd)", "3 (x)", 1)
        )
        await pilot.pause(1.0)  # several intervals: nothing may change while paused
        assert 3 not in visible_pids(app)
        assert "PAUSED" in app.freshness()
        await pilot.press("p")
        await wait_for(pilot, lambda: 3 in visible_pids(app))


async def test_help_and_quit():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        # every screen's keys, the triage table's fold keys (not bindings) included
        console = Console(width=140, record=True, file=io.StringIO())
        for w in app.screen.query(Static):
            console.print(w.content)
        shown = console.export_text()
        assert "Findings on this box" in shown and "Fold them again" in shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessListScreen))
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape", "q")
        await wait_for(pilot, lambda: app._exit)


async def test_start_on_pid_opens_that_process():
    app = fixture_app(start_pid=1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        assert app.screen.detail.name == "process_api"


async def test_findings_opened_from_a_process_view_come_at_once():
    """Started on a process, the box's triage is not waited for refreshes later: a triage
    that finished after the view opened is kept, and opening the findings with none runs one."""
    from stucktui.ui.screens.triage import TriageScreen

    app = fixture_app(start_pid=1, interval=60)  # no timed refresh during the test
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        app.last_triage = None  # as if the first sample's triage had been lost
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.list_screen and app.lanes["box"].since is None)
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen))
        await wait_for(pilot, lambda: app.screen.result is not None, timeout=10)


async def test_hostile_names_shown_escaped_on_screen():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("slash", *"evil")
        await wait_for(pilot, lambda: app.list_screen.table.row_count == 2)
        evil = pid_where(lambda s: "evil" in s.comm and s.state != "Z")
        assert app.list_screen.table.selected_pid == evil  # the top match (the zombie's pid is after)
        cmd = app.list_screen.table.get_cell(str(evil), "command")
        assert "\x1b" not in cmd.plain and "\n" not in cmd.plain
        assert "[bold]red[/]" in cmd.plain  # literal, no style from markup: only the program is bold
        assert [(s.start, s.end, s.style) for s in cmd.spans] == [(0, len("python"), "bold")]
        await pilot.press("enter")  # in the filter: opens the top match
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        assert app.screen.pid == evil
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "pwned" in svg


async def test_palette_offers_main_actions():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for needle in ("Filter as you type", "tree", "Pause", "Sort by CPU", "Open the selected process"):
            assert any(needle in t for t in titles), needle


async def test_a_hung_proc_read_does_not_freeze_the_screen(tmp_path):
    """A /proc read can block (cmdline of a process whose mmap lock is held). A FIFO in a
    fixture tree blocks the same way: the sampler waits, the keys keep working."""
    proc = copy_tree(tmp_path / "proc")
    hang = proc / "4242"
    shutil.copytree(proc / "2", hang, symlinks=True)
    (hang / "stat").write_text((hang / "stat").read_text().replace("2 (kthreadd)", "4242 (hung)", 1))
    app = fixture_app(proc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        (hang / "cmdline").unlink()
        os.mkfifo(hang / "cmdline")  # the next sample blocks opening it
        try:
            box, progress = app.lanes["box"], app.sampler.box_progress
            await wait_for(pilot, lambda: box.since is not None and progress.since is not None)
            await pilot.pause(0.5)
            assert box.since is not None  # still blocked
            since = box.since
            box.since = progress.since = app.monotonic() - 60  # a minute on, in the one read
            assert app.freshness() == (
                "waiting 60s for /proc: the process list (/proc/*/stat, cmdline, fd) "
                "(a hung filesystem?; keys still work, q quits)"
            )
            progress.since = app.monotonic() - 5  # the refresh is late, its step is not: slow, not blocked
            assert app.freshness().endswith(
                "box scan running 60 s: the process list (/proc/*/stat, cmdline, fd)"
            )
            box.since = since
            await pilot.press("t")
            await wait_for(pilot, lambda: app.list_screen.tree_view)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
        finally:
            # unblock the sampler thread: a writer opens and closes, the reader sees EOF
            fd = os.open(hang / "cmdline", os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        await wait_for(pilot, lambda: app.lanes["box"].since is None)


async def test_findings_view_and_sort_keys():
    from stucktui.ui.screens.triage import TriageScreen

    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("X")
        assert (app.list_screen.sort_column, app.list_screen.sort_reverse) == ("finding", True)
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen))
        await wait_for(pilot, lambda: app.screen.result is not None)  # the triage of the fixture box
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.list_screen)
