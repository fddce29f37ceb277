"""The triage reads like an incident summary (issue 19): one row per process and cause, the
rest of a cause in its row's detail; s filters by severity, / searches; at 80x24 at least 8
rows are visible."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from stucktui.ui.screens.process_list import ProcessListScreen
from stucktui.ui.screens.triage import TriageScreen
from stucktui.ui.widgets.keyed_table import KeyedTable
from tests.ui.appkit import wait_for
from tests.ui.test_triage_chains import TriageSampler, triage_app
from tests.ui.test_why_stuck import screen_text
from tests.ui.triage_kit import BUSY, LEAKER, PIPE, blind

pytestmark = pytest.mark.ui


async def _busy(pilot, app) -> tuple[TriageScreen, KeyedTable]:
    await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is BUSY)
    screen = app.screen
    assert isinstance(screen, TriageScreen)
    return screen, screen.query_one("#triage-table", KeyedTable)


def _rows(table: KeyedTable) -> list[tuple[str, ...]]:
    return list(table._plain.values())


@pytest.fixture
def busy(monkeypatch):
    monkeypatch.setattr(TriageSampler, "result", BUSY)
    app, _ = triage_app()
    return app


@pytest.mark.parametrize(
    "size,unseen", [((80, 24), False), ((80, 24), True), ((120, 36), False), ((200, 50), False)]
)
async def test_one_row_per_process_and_cause_and_at_least_8_rows_on_screen(busy, monkeypatch, size, unseen):
    """`unseen`: the header also says what was not seen (two more lines at 80 columns)."""
    if unseen:
        monkeypatch.setattr(TriageSampler, "result", blind(BUSY))
    app = busy
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TriageScreen) and app.screen.result is not None)
        screen = app.screen
        assert isinstance(screen, TriageScreen)
        table = screen.query_one("#triage-table", KeyedTable)
        if unseen:
            await wait_for(pilot, lambda: "not seen: 1 process" in screen_text(app))
        await wait_for(pilot, lambda: len(table._plain) == 17)
        rows = _rows(table)
        # 33 findings, 17 rows: the pool's 16 findings are one row, the pipe and its symptom one
        assert [r[1] for r in rows[:5]] == [str(LEAKER), str(PIPE), str(PIPE), "3300", "3400"]
        assert rows[0][0] == "critical" and rows[0][3].startswith("16 findings: pid 3100 (orders-api)")
        assert rows[0][3].endswith("(+15: close-wait-leak ×15)")
        assert rows[1][3].startswith("2 findings: 8 threads") and rows[1][3].endswith(
            "(+1: workers-all-blocked)"
        )
        assert rows[2][3].startswith("pid 3200 (api-service) has 13 CLOSE_WAIT")  # another cause
        assert [r[0] for r in rows] == ["critical"] * 5 + ["warning"] * 8 + ["info"] * 4
        # at least 8 rows on screen, whatever the size (the detail takes what is left)
        await wait_for(pilot, lambda: "worker-2" in screen_text(app))
        shown = screen_text(app)
        assert all(name in shown for name in ("orders-api", "api-service", "celery-worker", "log-worker",
                                               "worker-0", "worker-1", "worker-2"))  # fmt: skip
        assert table.size.height - 1 >= 8  # the header row, then 8 rows
        assert "warning  3502" in shown or "warning 3502" in shown  # the 8th row
        # the row's detail says what else its cause made
        await wait_for(pilot, lambda: "same cause:" in screen_text(app))
        assert "127.0.0.1:7001 [close-wait-leak]" in screen_text(app)


async def test_s_filters_by_severity_and_slash_searches(busy):
    app = busy
    async with app.run_test(size=(80, 24)) as pilot:
        screen, table = await _busy(pilot, app)
        await wait_for(pilot, lambda: len(table._plain) == 17)
        title = lambda: str(screen.query_one("#triage-title").render())  # noqa: E731
        await pilot.press("s")
        await wait_for(pilot, lambda: len(table._plain) == 13)
        assert {r[0] for r in _rows(table)} == {"critical", "warning"}
        assert "13 rows: warnings and worse" in title()
        await pilot.press("s")
        await wait_for(pilot, lambda: len(table._plain) == 5)
        assert {r[0] for r in _rows(table)} == {"critical"} and "critical only" in title()
        # / searches within the filter: pid, name, rule or words of any finding of the row
        await pilot.press("slash")
        search = screen.query_one("#triage-search", Input)
        await wait_for(pilot, lambda: search.has_focus)
        await pilot.press(*"workers-all")
        await wait_for(pilot, lambda: len(table._plain) == 1)
        assert _rows(table)[0][1] == str(PIPE)  # found by the finding folded in its row
        assert "matching 'workers-all'" in title()
        await pilot.press("enter")  # keeps the search, back to the rows
        await wait_for(pilot, lambda: table.has_focus)
        assert len(table._plain) == 1
        await pilot.press("s")  # every severity, the search kept
        await wait_for(pilot, lambda: "every finding matching" in title())
        assert len(table._plain) == 1
        await pilot.press("slash", "ctrl+u", *"nothing-like-it")
        await wait_for(pilot, lambda: len(table._plain) == 0)
        await wait_for(pilot, lambda: "no finding matches" in screen_text(app))
        # Esc clears the search (and only it), then Esc goes back as before
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(table._plain) == 17 and table.has_focus)
        assert not search.display and "matching" not in title()
        assert isinstance(app.screen, TriageScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessListScreen))
