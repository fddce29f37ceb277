"""The Why stuck? view (w in the process view): the selected process's wait chains as a tree,
Enter on a hop opens its process, hostile names escaped, usable at 80x24."""

from __future__ import annotations

import html
import io
import re
from dataclasses import replace

import pytest
from rich.console import Console
from textual.widgets import Footer, Static, Tree

from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.model import waits as W
from stucktui.model.snapshot import Snapshot
from stucktui.ui import messages as M
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.help import HelpScreen
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.screens.why_stuck import WhyStuckScreen, chain_label, hop_label
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic
from tests.ui.appkit import SIZE, fixture_app, wait_for
from tests.ui.test_ui_messages import Seen

pytestmark = pytest.mark.ui

HOSTILE = "[bold]x\x1b]0;pwn\x07"
START, READER, HOLDER = 1, 7698, 7739  # fixture processes: process_api, python, sleep

TRACED_CHAIN = W.WaitChain(
    (
        W.Hop(START, "process_api", (1, 5, 6), W.PIPE_WRITE, "write to fd 1 (pipe:[77])",
              f"pid {READER} (python) holds the read end (fd 0)", 1),
        W.Hop(READER, HOSTILE, (READER,), W.LOCK, "POSIX WRITE lock on /srv/[red]app[/red].db",
              f"pid {HOLDER} ({HOSTILE}) lock holder"),
    ),
    W.ChainEnd(W.TRACED, HOLDER, HOSTILE, "held in tracing stop by pid 1023 (gdb, `gdb -p 7739`)"),
)  # fmt: skip
IDLE_CHAIN = W.WaitChain(
    (W.Hop(START, "process_api", (7,), W.CHILD, "wait4(pid 7654)", "pid 7654 (bash) child"),),
    W.ChainEnd(W.IDLE, 7654, "bash", "1 thread: read(0 -> /dev/pts/1)"),
)
CHAINS = (TRACED_CHAIN, IDLE_CHAIN)


class ChainSampler(Sampler):
    """The fixture sampler, with hand-built chains for process 1."""

    def sample_process(self, request: SampleRequest, post=None, *, processes=None) -> Snapshot:
        snap = super().sample_process(request, post, processes=processes)
        return (
            replace(snap, chains=CHAINS) if snap.selected_pid == START and snap.chains is not None else snap
        )


def chain_app() -> StuckApp:
    clock, mono = frozen_clock(), frozen_monotonic()
    sampler = ChainSampler.for_path(str(PROC), clock=clock, monotonic=mono)
    return StuckApp(interval=0.2, start_pid=START, sampler=sampler, clock=clock, monotonic=mono, euid=0)


def plain(node) -> str:
    return node.label.plain


def screen_text(app: StuckApp) -> str:
    """The text on screen, row by row, from a screenshot."""
    rows: dict[float, list[tuple[float, str]]] = {}
    svg = app.export_screenshot()
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    return "\n".join("".join(t for _, t in sorted(r)).replace("\xa0", " ") for _, r in sorted(rows.items()))


async def _open_why(pilot, app: StuckApp) -> WhyStuckScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.chains is not None)
    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(app.screen, WhyStuckScreen))
    screen = app.screen
    assert isinstance(screen, WhyStuckScreen)
    await wait_for(pilot, lambda: len(screen.query_one(Tree).root.children) == 2)
    return screen


def test_labels_name_the_waiters_the_end_and_escape_the_processes_text():
    root = chain_label(TRACED_CHAIN).plain
    assert root.startswith("STUCK 3 threads wait → ends: traced: pid 7739 ")
    assert "[bold]x\\x1b]0;pwn\\x07" in root and "\x1b" not in root and "\x07" not in root
    assert chain_label(IDLE_CHAIN).plain.startswith("may end 1 thread waits → ends: idle: pid 7654 (bash)")
    hop = hop_label(TRACED_CHAIN.hops[1]).plain
    assert hop.startswith(f"pid {READER} ([bold]x\\x1b]0;pwn\\x07) wait for a file lock: ")
    assert "/srv/[red]app[/red].db ← pid 7739" in hop  # markup in an object stays text


@pytest.mark.parametrize("size", [(80, 24), SIZE])
async def test_w_shows_the_chains_as_a_tree_and_enter_opens_a_hop(size):
    app, seen = chain_app(), Seen()
    async with app.run_test(size=size, message_hook=seen) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.chains is not None)
        # the footer offers w while the process has chains, and still fits at 80 columns
        await wait_for(pilot, lambda: "f Findings  w Why  k Signal" in screen_text(app).splitlines()[-1])
        assert "? Help" in screen_text(app).splitlines()[-1]
        screen = await _open_why(pilot, app)
        tree = screen.query_one(Tree)
        traced, idle = tree.root.children
        assert plain(traced).startswith("STUCK 3 threads wait → ends: traced: pid 7739 ([bold]x\\x1b]0;pwn")
        assert [n.data[0] for n in traced.children] == [START, READER, HOLDER]  # the pid Enter opens
        assert plain(traced.children[-1]).startswith("end: traced: pid 7739")
        assert plain(idle).startswith("may end 1 thread waits → ends: idle")
        assert "2 chains of waits, 1 stuck" in str(screen.query_one("#why-title").render())
        # what the user sees: escaped, never read as markup or terminal escapes
        shown = screen_text(app)
        assert "[bold]x\\x1b]0;pwn" in shown and "\x1b]0;pwn" not in shown
        # usable: the tree, the highlighted hop in full and the footer are on screen
        for w in (tree, screen.query_one("#why-detail"), screen.query_one(Footer)):
            assert w.region.height > 0 and w.region.bottom <= size[1]
        assert tree.region.height >= 5
        await pilot.press("down", "down")  # the chain's second hop: the lock waiter
        await wait_for(pilot, lambda: tree.cursor_node is traced.children[1])
        refreshes = len(seen.of(M.SnapshotReady))
        await wait_for(pilot, lambda: len(seen.of(M.SnapshotReady)) >= refreshes + 2)
        assert tree.cursor_node is traced.children[1]  # the same chains: the tree is left as it was
        detail = str(screen.query_one("#why-detail").render())
        assert f"Enter: open process {READER}" in detail and "could end it: pid 7739" in detail
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.pid == READER)
        (opened,) = seen.of(M.OpenPidRequested)
        assert opened.pid == READER and app.selected is not None and app.selected[0] == READER
        # back: to the Why stuck? view of the first process, selected again
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert app.selected is not None and app.selected[0] == START
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.pid == START)


async def test_enter_on_the_process_itself_goes_back_and_a_chain_root_folds():
    app = chain_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_why(pilot, app)
        tree = screen.query_one(Tree)
        traced = tree.root.children[0]
        assert tree.cursor_node is traced and traced.is_expanded
        await pilot.press("enter")
        await wait_for(pilot, lambda: not traced.is_expanded)
        await pilot.press("enter", "down")
        await wait_for(pilot, lambda: tree.cursor_node is traced.children[0])
        await pilot.press("enter")  # hop 1 is process 1 itself: back to its view
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.pid == START)


async def test_without_chains_the_view_says_nothing_waits_and_the_footer_stays_as_it_was():
    app = fixture_app(start_pid=START)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.chains is not None)
        assert app.screen.chains == ()
        assert not any(b.binding.key == "w" and b.binding.show for b in app.screen.active_bindings.values())
        await pilot.press("w")  # the key works whatever the footer shows
        await wait_for(pilot, lambda: isinstance(app.screen, WhyStuckScreen))
        (only,) = app.screen.query_one(Tree).root.children
        assert plain(only).startswith("No thread of process 1 waits on another process that stucktui follows")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        console = Console(width=200, record=True, file=io.StringIO())
        for static in app.screen.query(Static):
            console.print(static.content)
        assert re.search(r"\n *w +Why stuck\? The chains of waits", console.export_text())


def test_the_palette_offers_why_stuck_in_the_process_view():
    app = fixture_app()
    screen = ProcessScreen(START, None)
    helps = [c.title for c in app.get_system_commands(screen)]
    assert any(h.startswith("Why stuck?") for h in helps)
