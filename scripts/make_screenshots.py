"""Writes screenshots/*.svg with the real app, on the fixture /proc tree (re-runnable by anyone):

python scripts/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stucktui.ui.screens.process import ProcessScreen  # noqa: E402
from tests.fixture_proc import pid_where  # noqa: E402
from tests.ui.appkit import fixture_app, wait_for, wait_for_list  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (130, 32)


async def shoot() -> None:
    OUT.mkdir(exist_ok=True)
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_list(pilot, app)
        await pilot.press("N", "t")
        await pilot.pause(0.2)
        app.save_screenshot(str(OUT / "process-list.svg"))
    evil = pid_where(lambda s: s.comm == "sleep")
    app = fixture_app(start_pid=evil)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None)
        await pilot.pause(0.2)
        app.save_screenshot(str(OUT / "process-detail.svg"))


if __name__ == "__main__":
    asyncio.run(shoot())
    print("wrote", *sorted(p.name for p in OUT.glob("*.svg")))
