"""Pause points inside long box-wide loops (the fd index's pass, the process list's scan): a
thread that registers a pause (the sampler's box lane: "wait while the process lane paints")
has it called every PAUSE_EVERY items, so a pass of seconds over 5,000 processes lets a key's
refresh of the open process run alone (both lanes are Python: they share one interpreter lock,
and the box lane would otherwise hold it through the whole pass). Other threads never pause.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PAUSE_EVERY = 32  # items between two pause points (a few ms of a pass at most)

_local = threading.local()


@contextmanager
def pausing(pause: Callable[[], None]) -> Iterator[None]:
    """Within it, this thread's pause points call `pause`."""
    before = getattr(_local, "pause", None)
    _local.pause = pause
    try:
        yield
    finally:
        _local.pause = before


def inheriting(work: Callable[[], None]) -> Callable[[], None]:
    """`work` to run in another thread with this thread's pause (none: none): a pass the box
    lane hands to a side thread (the first look's fd index) parks as the box lane would."""
    pause = getattr(_local, "pause", None)
    if pause is None:
        return work

    def run() -> None:
        with pausing(pause):
            work()

    return run


def pause_point(i: int) -> None:
    """Call at item `i` of a long loop: every PAUSE_EVERY items, the thread's pause, if any."""
    if i % PAUSE_EVERY == 0 and i:
        pause = getattr(_local, "pause", None)
        if pause is not None:
            pause()
