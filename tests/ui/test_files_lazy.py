"""The Files panel reads fdinfo lazily: the rows on screen are asked for as the table scrolls
(off the UI thread), filled in when they arrive, and kept until a refresh reads them again."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets.data_table import RowKey

from stucktui.model.files import FdRow, ProcessFiles
from stucktui.model.panels import PanelData
from stucktui.ui.messages import FdDetailsReady, FdDetailsWanted
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.widgets.files_panel import FilesPanel
from stucktui.ui.widgets.keyed_table import MORE_KEY
from tests.ui.appkit import SIZE, copy_tree, fixture_app, wait_for

N = 400


def _row(fd: int, read: bool) -> FdRow:
    if read:
        return FdRow(fd, "file", f"/data/part-{fd}.bin", "r", ("O_RDONLY",), fd * 10, 1000 + fd)
    return FdRow(fd, "file", f"/data/part-{fd}.bin", None, (), None, 1000 + fd, unread=True)


def lazy_files(read: set[int]) -> ProcessFiles:
    rows = tuple(_row(fd, fd in read) for fd in range(N))
    return ProcessFiles(42, rows, (("file", N),), 65536, 65536, (), 0.0, lazy=True)


class FilesApp(App):
    """A Files panel alone; answers its requests as the app's sampler would, and records them."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[frozenset[int] | None] = []

    def compose(self) -> ComposeResult:
        yield FilesPanel()

    def on_fd_details_wanted(self, msg: FdDetailsWanted) -> None:
        self.asked.append(msg.fds)
        if msg.fds is not None:
            msg.reply_to.post_message(FdDetailsReady(msg.pid, lazy_files(set(msg.fds))))


def _mode(panel: FilesPanel, fd: int) -> str:
    return panel.table._plain[str(fd)][2]


async def test_rows_scrolled_to_are_asked_for_and_filled_in():
    app = FilesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(FilesPanel)
        panel.pid = 42
        panel.update_panels(PanelData(files=lazy_files(set())))
        await wait_for(pilot, lambda: _mode(panel, 5) == "r")  # on screen: asked for, filled in
        first = app.asked[0]
        assert first is not None and 0 in first and N - 1 not in first
        # far below the screen: not read, not even built (rows are built a few screenfuls ahead)
        assert str(N - 1) not in panel.table._plain and len(panel.table._plain) < N
        panel.table.focus()
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: _mode(panel, N - 1) == "r")
        assert app.asked[-1] is not None and 0 not in app.asked[-1]  # only around the new window
        # a refresh that read only the old window keeps the rows on screen as they were (no
        # flicker) and asks for them again
        n = len(app.asked)
        panel.update_panels(PanelData(files=lazy_files(set(range(50)))))
        assert _mode(panel, N - 1) == "r"
        await wait_for(pilot, lambda: len(app.asked) > n)


async def test_rows_are_built_as_the_table_scrolls_near_their_end():
    """A process of 20,000 fds: DataTable measures every row added, so the first paint builds
    a few screenfuls and scrolling builds more, never a row twice."""
    app = FilesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(FilesPanel)
        panel.pid = 42
        panel.update_panels(PanelData(files=lazy_files(set())))
        table = panel.table
        await wait_for(pilot, lambda: table.row_count > 0)
        first = table.row_count
        assert first < N and table._plain[MORE_KEY][-1].startswith(f"… {N - first + 1:,} more rows")
        assert "scroll down" in table._plain[MORE_KEY][-1]
        table.focus()
        for _ in range(8):
            await pilot.press("pagedown")
        await wait_for(pilot, lambda: table.row_count > first)
        assert str(first - 1) in table._plain  # the rows built before stay, in order
        assert table.get_row_index(RowKey(str(first - 2))) == first - 2


async def test_an_order_by_position_asks_for_every_fd():
    app = FilesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(FilesPanel)
        panel.pid = 42
        panel.update_panels(PanelData(files=lazy_files(set())))
        await wait_for(pilot, lambda: bool(app.asked))
        panel.sort_key = "pos"
        panel.redraw()
        await wait_for(pilot, lambda: app.asked[-1] is None)
        panel.sort_key = "fd"
        panel.redraw()  # back to the window: it is asked for again
        await wait_for(pilot, lambda: app.asked[-1] is not None)


def _many_fds(proc: Path, pid: int) -> None:
    """Gives a fixture process N fds (one file opened again and again) and an fdinfo for each."""
    d = proc / str(pid)
    (d / "fdinfo").mkdir()
    for fd in range(11, N):
        if not (d / "fd" / str(fd)).is_symlink():  # 251: a pipe already
            os.symlink("/etc/hostname", d / "fd" / str(fd))
    inodes: dict[str, int] = {}  # one inode per file
    for link in (d / "fd").iterdir():
        target = os.readlink(link)
        flags = "01" if target.startswith("pipe:") else "0100000"
        ino = inodes.setdefault(target, 100 + len(inodes))
        text = f"pos:\t{link.name}\nflags:\t{flags}\nmnt_id:\t24\nino:\t{ino}\n"
        (d / "fdinfo" / link.name).write_text(text)


async def test_scrolling_the_files_panel_fills_in_rows(tmp_path):
    """The real app on a fixture /proc: a refresh reads the rows on screen, the rest wait
    (shown as …) until the table scrolls to them."""
    proc = copy_tree(tmp_path / "proc")
    _many_fds(proc, 7698)
    app = fixture_app(proc, start_pid=7698)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        await pilot.press("4")
        panel = app.screen.query_one(FilesPanel)
        await wait_for(pilot, lambda: panel.files is not None and len(panel.files.rows) > 300)
        await wait_for(pilot, lambda: _mode(panel, 12) == "r")
        assert str(N - 1) not in panel.table._plain  # not built until the table gets near it
        panel.table.focus()
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: _mode(panel, N - 1) == "r")
        row = next(r for r in panel.files.rows if r.fd == N - 1)
        assert (row.pos, row.kind, row.unread) == (N - 1, "file", False)
        await wait_for(pilot, lambda: panel.files is not None and panel.files.rows[-1].fd == N - 1)
        done = app.last
        await wait_for(pilot, lambda: app.last is not done)  # a later refresh reads them too
        assert _mode(panel, N - 1) == "r"


async def test_a_files_panel_off_screen_asks_for_no_rows_until_its_tab_shows():
    """Read ahead while another tab is on screen, its rows are not read for nobody: that read
    would share the interpreter with the refresh a tab key asks for. Shown, it asks."""
    from textual.containers import Vertical

    class HiddenApp(FilesApp):
        def compose(self) -> ComposeResult:
            with Vertical(id="pane"):
                yield FilesPanel()

    app = HiddenApp()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one("#pane")
        pane.display = False
        panel = app.query_one(FilesPanel)
        panel.pid = 42
        panel.update_panels(PanelData(files=lazy_files(set())))
        await pilot.pause(0.2)
        assert app.asked == [] and _mode(panel, 5) == "…"
        pane.display = True
        await wait_for(pilot, lambda: _mode(panel, 5) == "r")
        assert app.asked and app.asked[0] is not None and 5 in app.asked[0]
