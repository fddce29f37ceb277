"""The TUI's first look started early: the process list's first CPU window, with the fd
owner index's first pass and the socket dumps made in it (Sampler.first_look), begins in a
thread before Textual is imported and while it starts. Most of that work waits in the kernel
(readlink of every fd, netlink recv), which releases the interpreter lock, so it overlaps the
start-up instead of following it; the first box refresh then finds the window made, and reads
the process list while the index's pass and the dumps go on in their own threads (the triage
waits for them: inspection/triage.py, cpu_window_wait)."""

from __future__ import annotations

import threading

from stucktui.inspection.memory import limit_arenas
from stucktui.inspection.sampler import Sampler


def start_first_look(sampler: Sampler) -> threading.Thread:
    """Start the sampler's first look in a daemon thread (quitting never waits for it). A
    failure is left to the box lane's first refresh, which makes the window itself and says
    what it could not read."""

    def run() -> None:
        try:
            sampler.first_look()
        except Exception:  # noqa: BLE001 - reported by the refresh that tries again
            pass

    limit_arenas()  # before this first worker allocates, as before the lanes' (memory.py)
    t = threading.Thread(target=run, name="stucktui-first-look", daemon=True)
    t.start()
    return t
