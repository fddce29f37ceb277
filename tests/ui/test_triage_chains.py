"""The triage folds wait chains: one row per chain root, the processes waiting on it (their
wait-chain findings and their other findings, symptoms of the wait) folded under it until → shows
them; Enter on the root's row opens the root; hostile names escaped; usable at 80x24."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stucktui.diagnose.engine import sort_findings
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.model import waits as W
from stucktui.model.findings import Finding, TriageResult
from stucktui.model.snapshot import Snapshot
from stucktui.ui import messages as M
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.process import ProcessScreen
from stucktui.ui.screens.triage import TriageScreen
from stucktui.ui.widgets.keyed_table import KeyedTable
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic
from tests.ui.appkit import SIZE, wait_for
from tests.ui.test_ui_messages import Seen
from tests.ui.test_why_stuck import screen_text

pytestmark = pytest.mark.ui

HOSTILE = "[bold]x\x1b]0;pwn\x07"
# fixture processes (pid, comm, start time): the root is stopped, two processes wait on it
API, READER, ROOT, LONE = 1, 7698, 7739, 7654
STARTS = {API: 22, READER: 45917, ROOT: 45925, LONE: 45909}

FROM_API = W.WaitChain(
    (
        W.Hop(API, "process_api", (1, 5), W.PIPE_WRITE, "write to fd 1 (pipe:[77])",
              f"pid {READER} (python) holds the read end (fd 0)", 1),
        W.Hop(READER, "python", (READER,), W.LOCK, "POSIX WRITE lock on /srv/app.db",
              f"pid {ROOT} lock holder"),
    ),
    W.ChainEnd(W.STOPPED, ROOT, HOSTILE, "stopped (state T)"),
)  # fmt: skip
FROM_READER = W.WaitChain(FROM_API.hops[1:], FROM_API.end)


def finding(id: str, severity, pid: int, name: str, summary: str, **kw) -> Finding:
    return Finding(id, severity, pid, name, summary, ("evidence",), ("next",), "threads",
                   starttime=STARTS[pid], **kw)  # fmt: skip


FINDINGS = (
    finding("wait-chain", "critical", API, "process_api", "2 threads of process_api wait …", tids=(1, 5)),
    finding("pipe-writers-blocked", "critical", API, "process_api", "writers blocked on fd 1", fds=(1,)),
    finding("wait-chain", "critical", READER, "python", "1 thread of python waits for a lock …"),
    finding("wait-chain", "critical", ROOT, HOSTILE,
            f"pid {ROOT} ({HOSTILE}) is stopped (state T), and 2 processes wait on it"),
    finding("zombie-children", "warning", LONE, "bash", "bash has 3 zombie children"),
)  # fmt: skip
TRIAGE = TriageResult(tuple(sort_findings(list(FINDINGS))), 4, 4, 0.01, 0.0, chains=(FROM_API, FROM_READER))
KEY = {(f.pid, f.id): f"{f.pid}:{f.id}:{i}" for i, f in enumerate(TRIAGE.findings)}
ROOT_KEY, LONE_KEY = KEY[(ROOT, "wait-chain")], KEY[(LONE, "zombie-children")]
WAITER_KEYS = {KEY[(API, "wait-chain")], KEY[(API, "pipe-writers-blocked")], KEY[(READER, "wait-chain")]}


class TriageSampler(Sampler):
    """The fixture sampler, with a hand-built triage (`result`) in place of the fixture box's."""

    result = TRIAGE

    def sample_box(self, request: SampleRequest, *, yielding: bool = True) -> Snapshot:
        snap = super().sample_box(request, yielding=yielding)
        return replace(snap, triage=self.result) if snap.triage is not None else snap


def triage_app() -> tuple[StuckApp, TriageSampler]:
    clock, mono = frozen_clock(), frozen_monotonic()
    sampler = TriageSampler.for_path(str(PROC), clock=clock, monotonic=mono)
    app = StuckApp(interval=0.2, sampler=sampler, clock=clock, monotonic=mono, euid=0, triage_at_start=True)
    return app, sampler


def finding_cell(table: KeyedTable, key: str) -> str:
    return table._plain[key][3]


@pytest.mark.parametrize("size", [(80, 24), SIZE])
async def test_waiters_fold_under_their_root_and_enter_opens_the_root(size):
    (app, _), seen = triage_app(), Seen()
    async with app.run_test(size=size, message_hook=seen) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is TRIAGE)
        screen = app.screen
        table = screen.query_one("#triage-table", KeyedTable)
        # folded: one row for the root, the lone process's row as before, no waiter's row
        assert list(table._plain) == [ROOT_KEY, LONE_KEY]
        root = table._plain[ROOT_KEY]
        assert root[:3] == ("critical", str(ROOT), "[bold]x\\x1b]0;pwn\\x07")
        assert finding_cell(table, ROOT_KEY) == (
            f"pid {ROOT} ([bold]x\\x1b]0;pwn\\x07) is stopped (state T)"
            " — 2 processes wait on it (▸ → to show)"
        )
        assert finding_cell(table, LONE_KEY) == "bash has 3 zombie children"
        assert table.selected_key == ROOT_KEY
        # on screen: the count and the key that shows them, escaped, whatever the width (once
        # the table has been painted with its rows: the result may arrive a frame before them)
        await wait_for(pilot, lambda: "[bold]x\\x1b]0;pwn" in screen_text(app))
        shown = screen_text(app)
        assert "2 processes wait on" in shown and "→ shows them" in shown
        assert "[bold]x\\x1b]0;pwn" in shown and "\x1b]0;pwn" not in shown
        assert "→ shows who waits on a root" in str(screen.query_one("#triage-title").render())
        # → shows the waiting processes' findings under the root, indented
        await pilot.press("right")
        await wait_for(pilot, lambda: len(table._plain) == 5)
        assert list(table._plain)[0] == ROOT_KEY and list(table._plain)[-1] == LONE_KEY
        assert set(list(table._plain)[1:4]) == WAITER_KEYS
        assert all(finding_cell(table, k).startswith("  └ ") for k in WAITER_KEYS)
        assert finding_cell(table, ROOT_KEY).endswith("2 processes wait on it (▾ ← to fold)")
        assert table.selected_key == ROOT_KEY
        # a new triage keeps it open
        screen.update_triage(replace(TRIAGE))
        await pilot.pause()
        assert len(table._plain) == 5
        # ← on a waiter folds them again, the cursor back on the root
        await pilot.press("down")
        await wait_for(pilot, lambda: table.selected_key in WAITER_KEYS)
        await pilot.press("left")
        await wait_for(pilot, lambda: list(table._plain) == [ROOT_KEY, LONE_KEY])
        assert table.selected_key == ROOT_KEY
        # Enter on the root's row opens the root process
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.pid == ROOT)
        (opened,) = seen.of(M.OpenProcessRequested)
        assert (opened.pid, opened.starttime, opened.tab) == (ROOT, STARTS[ROOT], "threads")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


async def test_enter_on_a_waiter_opens_the_waiter_and_rows_without_chains_are_as_before():
    (app, sampler), seen = triage_app(), Seen()
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is TRIAGE)
        screen = app.screen
        table = screen.query_one("#triage-table", KeyedTable)
        await pilot.press("right", "down")
        await wait_for(pilot, lambda: table.selected_key in WAITER_KEYS)
        key = table.selected_key
        assert key is not None
        pid = int(key.split(":")[0])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.pid == pid)
        (opened,) = seen.of(M.OpenProcessRequested)
        assert opened.pid == pid
        # without chains: one row per finding, none folded
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        sampler.result = replace(TRIAGE, chains=())
        screen.update_triage(sampler.result)
        await wait_for(pilot, lambda: len(table._plain) == len(TRIAGE.findings))
        assert list(table._plain) == list(KEY.values())
        assert all(finding_cell(table, k) == f.summary.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
                   for k, f in zip(KEY.values(), TRIAGE.findings, strict=True))  # fmt: skip
        assert "who waits on a root" not in str(screen.query_one("#triage-title").render())
        await pilot.press("right")  # scrolls as before: nothing to show
        await pilot.pause()
        assert len(table._plain) == len(TRIAGE.findings)
