"""docs/incidents.md §3 for `stucktui demo`: a program that waits for a SIGALRM its inherited mask blocks.

Started by uwsgi.py from its signal-blocking thread; the SIGALRM stays pending forever.
"""

from __future__ import annotations

import signal

from stucktui.incidents.prelude import setup


def main() -> None:
    setup("hping3")
    signal.signal(signal.SIGALRM, lambda *_: None)  # paces its probes with SIGALRM
    signal.alarm(1)
    while True:
        signal.pause()  # SIGALRM is blocked: pending forever, pause() never returns


if __name__ == "__main__":
    main()
