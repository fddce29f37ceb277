"""Writes screenshots/*.svg with the real app (re-runnable by anyone):

python scripts/make_screenshots.py [--fixture-only | --demo-only]

The fixture part shoots the process list and a process view on the fixture /proc tree
(tests/fixtures). The demo part starts `stucktui demo`'s five incidents as children of this
script, waits until their findings show, shoots the triage view and each incident's main
process on the panel that holds its evidence, live on this box's /proc, and ends every demo
process by pid whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from textual.widgets import Static

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stucktui.demo import Demo, start_demo  # noqa: E402
from stucktui.ui.app import StuckApp  # noqa: E402
from stucktui.ui.panels import DETAIL_PANELS  # noqa: E402
from stucktui.ui.screens.process import ProcessScreen  # noqa: E402
from stucktui.ui.screens.triage import TriageScreen  # noqa: E402
from stucktui.ui.widgets.keyed_table import KeyedTable  # noqa: E402
from tests.fixture_proc import pid_where  # noqa: E402
from tests.ui.appkit import fixture_app, wait_for, wait_for_list  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (130, 32)
DEMO_SIZE = (140, 40)  # the process view: findings on top, then the panel
TRIAGE_SIZE = (140, 34)
DEMO_INTERVAL = 1.0  # seconds between refreshes (CPU% is measured over one)
SETTLE = 0.3  # the one fixed pause: lets the last refresh paint before the shot


async def shoot_fixture() -> None:
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


@dataclass(frozen=True)
class Shot:
    file: str
    role: str  # the demo process shown
    key: str  # the key of the panel that holds the evidence
    table: str  # that panel's table
    cursor: str | None = None  # its row to put the cursor on: the fd to act on, the stuck signal
    python: bool = False  # wait for py-spy's stacks too


SHOTS = (
    Shot("demo-1-pipe.svg", "api-service", "4", "#files-table", cursor="2"),
    Shot("demo-2-close-wait.svg", "orders-api", "3", "#sockets-table"),
    # the same connections on the Files panel: each socket fd reads as its ends
    Shot("demo-2-files.svg", "orders-api", "4", "#files-table"),
    Shot("demo-3-signal.svg", "hping3", "6", "#signals-table", cursor="14"),
    Shot("demo-4-epoll.svg", "celery-worker", "4", "#files-table", cursor="3"),
    # the LOCK_NB poller shows only in its Python stack (emit twice), on the Threads panel
    Shot("demo-5-lock.svg", "log-worker", "2", "#threads-table", python=True),
)


async def shoot_triage(
    demo: Demo, size: tuple[int, int] = TRIAGE_SIZE, name: str = "demo-triage.svg"
) -> None:
    want = {(p.pid, i) for p in demo.processes for i in p.expect}
    app = StuckApp(interval=DEMO_INTERVAL, triage_at_start=True)
    async with app.run_test(size=size) as pilot:

        def developed() -> bool:
            screen = app.screen
            if not isinstance(screen, TriageScreen) or screen.result is None:
                return False
            return want <= {(f.pid, f.id) for f in screen.result.findings}

        await wait_for(pilot, developed, timeout=30)
        await pilot.pause(SETTLE)
        app.save_screenshot(str(OUT / name))


async def shoot_process(demo: Demo, shot: Shot) -> None:
    proc = demo.by_role(shot.role)
    app = StuckApp(interval=DEMO_INTERVAL, start_pid=proc.pid)
    async with app.run_test(size=DEMO_SIZE) as pilot:

        def screen() -> ProcessScreen | None:
            s = app.screen
            return s if isinstance(s, ProcessScreen) and s.detail is not None else None

        def shows_evidence() -> bool:
            s = screen()
            if s is None or s.active_panel != DETAIL_PANELS[int(shot.key) - 1].id:
                return False
            if not set(proc.expect) <= {f.id for f in s.findings}:
                return False
            if shot.python and "Python stack" not in str(s.query_one("#threads-stack", Static).content):
                return False
            return s.query_one(shot.table, KeyedTable).row_count > 0

        await wait_for(pilot, lambda: screen() is not None, timeout=30)
        await pilot.press(shot.key)
        await wait_for(pilot, shows_evidence, timeout=30)
        # one more refresh: its CPU% is measured over a whole interval, not since the key
        shown = app.screen.detail
        await wait_for(pilot, lambda: (s := screen()) is not None and s.detail is not shown, timeout=10)
        if shot.cursor is not None:
            table = app.screen.query_one(shot.table, KeyedTable)
            await wait_for(pilot, lambda: table.select_key(shot.cursor), timeout=10)
        await pilot.pause(SETTLE)
        app.save_screenshot(str(OUT / shot.file))


async def shoot_read_only(demo: Demo) -> None:
    """`--read-only`: k on a process is refused at the key, in one line."""
    proc = demo.by_role("hping3")
    app = StuckApp(interval=DEMO_INTERVAL, start_pid=proc.pid, read_only=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProcessScreen) and app.screen.detail is not None, timeout=30
        )
        await pilot.press("k")
        await wait_for(pilot, lambda: any("refused" in n.message for n in app._notifications), timeout=10)
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")), timeout=10)  # on screen
        await pilot.pause(SETTLE)
        app.save_screenshot(str(OUT / "demo-read-only.svg"))


async def shoot_demo(demo: Demo) -> None:
    await shoot_triage(demo)
    await shoot_triage(demo, (80, 24), "demo-triage-80x24.svg")
    for shot in SHOTS:
        await shoot_process(demo, shot)
    await shoot_read_only(demo)


def run_demo_part() -> None:
    """Started outside the event loop, as `stucktui demo` starts them (so the fd numbers in
    the shots are the ones the demo shows); SIGTERM and SIGHUP pass through the finally too."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)
    demo = start_demo()
    try:
        print("demo started:", " ".join(f"{p.role}={p.pid}" for p in demo.processes), flush=True)
        demo.wait_developed(60.0)
        asyncio.run(shoot_demo(demo))
    finally:
        demo.stop()
        print("demo ended: pids", *demo.pids, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--fixture-only", action="store_true", help="only the fixture /proc screenshots")
    only.add_argument("--demo-only", action="store_true", help="only the `stucktui demo` screenshots")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    if not args.demo_only:
        asyncio.run(shoot_fixture())
    if not args.fixture_only:
        run_demo_part()
    print(f"wrote in {time.monotonic() - started:.1f}s:", *sorted(p.name for p in OUT.glob("*.svg")))


if __name__ == "__main__":
    main()
