"""The cyclic garbage collector's full passes, kept away from keys.

A full pass walks every object the collector tracks while holding the GIL, whichever thread
starts it, so a key pressed during one waits for all of it. At 5,000 processes the TUI tracks
about 145,000 objects and Python started a full pass every few refreshes, each 50-60 ms of CPU
(more wall time with both cores pegged): the longest key-to-repaint pauses of the benchmark.

Two things here:
- start-up's objects (the modules, the app's screens and widgets: about 55,000) are frozen
  once (gc.freeze): they live as long as the process, and walking them again gains nothing;
- the automatic full passes are switched off (generation 2's threshold out of reach) and run
  instead by the app's one-second tick once no key or mouse event has come for IDLE seconds,
  at most one every EVERY seconds, and whatever the input after LONGEST seconds, so garbage
  in reference cycles is still freed within a minute even while someone types without pause.
Generations 0 and 1 stay automatic: their passes walk only young objects (a few ms).
Reference counting frees everything else at once, as always; only cycles wait for a pass."""

from __future__ import annotations

import gc
from dataclasses import dataclass

IDLE = 1.0  # seconds without input before a full pass may run
EVERY = 10.0  # seconds between full passes while idle
LONGEST = 60.0  # a full pass after this long whatever the input
_OUT_OF_REACH = 1 << 30  # generation 2's threshold: gen-1 passes between automatic full passes


def settle_startup_heap() -> int:
    """Freeze what start-up made, after a collection so that no garbage is frozen with it, and
    return how many objects were frozen. What start-up made and later drops is still freed by
    its reference count; only a reference cycle among it would stay (a screen built at start-up
    and closed later: once, a few hundred kB at most)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@dataclass
class IdlePasses:
    """When the full passes run. Call take_over() once, input(now) on each key or mouse event,
    and tick(now) about once a second (on the UI thread); tick returns whether it ran a pass."""

    last_input: float = float("-inf")
    last_pass: float = 0.0
    active: bool = False
    threshold: int = 10  # generation 2's own, given back by give_back()
    ended: bool = False  # give_back() came: a take_over() still scheduled does nothing

    def take_over(self, now: float) -> None:
        if self.active or self.ended:
            return
        settle_startup_heap()
        first, second, self.threshold = gc.get_threshold()
        gc.set_threshold(first, second, _OUT_OF_REACH)
        self.last_pass, self.active = now, True

    def input(self, now: float) -> None:
        self.last_input = now

    def due(self, now: float) -> bool:
        if not self.active:
            return False
        since = now - self.last_pass
        return since >= LONGEST or (since >= EVERY and now - self.last_input >= IDLE)

    def tick(self, now: float) -> bool:
        if not self.due(now):
            return False
        gc.collect()
        self.last_pass = now
        return True

    def give_back(self) -> None:
        """Python's own schedule again, and the frozen objects collectable again (the app ends:
        in a test run, apps come and go in one process)."""
        self.ended = True
        if self.active:
            first, second, _ = gc.get_threshold()
            gc.set_threshold(first, second, self.threshold)
            gc.unfreeze()
            self.active = False
