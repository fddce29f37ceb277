"""The Signals panel raises the alarm only for a pending, blocked signal something may wait
for: a SIGWINCH left pending by a terminal resize in a process that blocks it (default
action: ignore, no handler) is shown as harmless, never as STUCK."""

from __future__ import annotations

import signal

from textual.app import App, ComposeResult

from stucktui.model.panels import PanelData
from stucktui.ui.widgets.keyed_table import KeyedTable
from stucktui.ui.widgets.signals_panel import SignalsPanel
from tests.unit.diagnose_kit import signals


def bit(sig: signal.Signals) -> int:
    return 1 << (int(sig) - 1)


class SignalsApp(App):
    def compose(self) -> ComposeResult:
        yield SignalsPanel()


def test_a_blocked_pending_sigwinch_is_harmless_and_sigterm_is_not():
    both = bit(signal.SIGWINCH) | bit(signal.SIGTERM)
    snap = signals(shared=both, blocked=both)
    assert set(snap.stuck) == {"SIGWINCH", "SIGTERM"}
    assert snap.stuck_harmful == ("SIGTERM",)
    caught = signals(shared=bit(signal.SIGWINCH), blocked=bit(signal.SIGWINCH), caught=bit(signal.SIGWINCH))
    assert caught.stuck_harmful == ("SIGWINCH",)  # a handler is installed: something may wait


async def test_the_panel_says_harmless_for_sigwinch_and_raises_the_alarm_for_sigterm():
    winch = bit(signal.SIGWINCH)
    app = SignalsApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(SignalsPanel)
        panel.update_panels(PanelData(signals=signals(shared=winch, blocked=winch)))
        await pilot.pause()
        summary = str(app.query_one("#signals-summary").render())
        assert "PENDING BUT BLOCKED" not in summary
        assert "pending but blocked, harmless: SIGWINCH" in summary
        table = app.query_one(KeyedTable)
        row = table.get_row(str(int(signal.SIGWINCH)))
        assert "STUCK" not in str(row[-1]) and "harmless" in str(row[-1])
        term = winch | bit(signal.SIGTERM)
        panel.update_panels(PanelData(signals=signals(shared=term, blocked=term)))
        await pilot.pause()
        summary = str(app.query_one("#signals-summary").render())
        assert "PENDING BUT BLOCKED: SIGTERM" in summary
        assert "STUCK" in str(app.query_one(KeyedTable).get_row(str(int(signal.SIGTERM)))[-1])
