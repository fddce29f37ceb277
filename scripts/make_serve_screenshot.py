"""Writes screenshots/serve-browser.png: `stucktui serve` in a real headless chromium, on the
box's findings while `stucktui demo`'s incidents run (re-runnable by anyone with Debian's
chromium and chromium-driver installed):

python scripts/make_serve_screenshot.py [--out PATH]

The demo's processes are children of this script; the server and its session are too; all of
them are ended by pid whatever happens (tests/live/servekit.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stucktui.demo import start_demo  # noqa: E402
from tests.live.servekit import Served, browser_missing, start_chromium, wait_screen  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "screenshots" / "serve-browser.png")
    args = ap.parse_args()
    if (why := browser_missing()) is not None:
        print(f"make_serve_screenshot: {why}", file=sys.stderr)
        return 1
    demo = start_demo()
    try:
        served = Served()
        driver = start_chromium(1280, 720)
        try:
            driver.get(served.url)
            names = [p.role[:15] for p in demo.processes]
            wait_screen(
                driver,
                lambda s: "looking at every process" not in s and sum(n in s for n in names) >= 3,
                240,
                what="the demo's findings in the browser",
            )
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
            served.stop()
    finally:
        demo.stop()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
