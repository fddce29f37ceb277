"""Builds a StuckApp on a fixture /proc tree with a frozen clock, and waits for its snapshots."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from stucktui.inspection.sampler import Sampler
from stucktui.ui.app import StuckApp
from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic

SIZE = (120, 36)


def fixture_app(proc: str | Path = PROC, **kw) -> StuckApp:
    clock, mono = frozen_clock(), frozen_monotonic()
    kw.setdefault("interval", 0.2)
    return StuckApp(
        sampler=Sampler.for_path(str(proc), clock=clock, monotonic=mono),
        clock=clock,
        monotonic=mono,
        euid=0,
        **kw,
    )


def copy_tree(dst: Path) -> Path:
    shutil.copytree(PROC, dst, symlinks=True)
    return dst


async def wait_for(pilot, predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"UI condition not met within {timeout}s: {predicate}")


async def wait_for_list(pilot, app: StuckApp) -> None:
    await wait_for(
        pilot, lambda: app.list_screen.snapshot is not None and app.list_screen.table.row_count > 0
    )
    await asyncio.sleep(0)
