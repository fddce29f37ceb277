"""Who goes first when the lanes and the UI share one interpreter lock.

The box lane's long loops (the fd index's pass, the process list's scan, the CLOSE_WAIT count)
call wait() at their pause points (collect/pausing.py). It parks the box lane, for YIELD_FOR
seconds at most (a process refresh may hang on a read), while
- a process refresh waits to run or reads what the view paints (painting(+1) ... (-1)): its
  detail and panels; its findings, read after, share the machine with the box lane;
- the UI handles a key or a mouse event (input(), then painted() once its frame is drawn, or
  INPUT_LEASE seconds at most): the key's work then has the interpreter to itself, instead of
  handing the lock to the box lane every switch interval (5 ms) and taking twice as long.
A box lane that is not at a pause point goes on until it reaches one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

YIELD_FOR = 5.0  # seconds at most the box lane waits at one pause point
INPUT_LEASE = 0.2  # seconds at most an input event parks the box lane without painted()


class Turns:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._cond = threading.Condition()
        self._monotonic = monotonic
        self.process_wanted = 0  # process refreshes waiting or reading what the view paints
        self._input_until = 0.0  # the UI's input lease ends then

    def painting(self, n: int) -> None:
        with self._cond:
            self.process_wanted += n
            self._cond.notify_all()

    def input(self, lease: float = INPUT_LEASE) -> None:
        with self._cond:
            self._input_until = max(self._input_until, self._monotonic() + lease)

    def painted(self) -> None:
        with self._cond:
            self._input_until = 0.0
            self._cond.notify_all()

    def _held(self, now: float) -> float:
        """Seconds to wait before looking again (0: go on)."""
        if self.process_wanted:
            return YIELD_FOR
        return max(0.0, self._input_until - now)

    def wait(self) -> None:
        """The box lane's pause point: park while a process refresh or the UI goes first."""
        now = self._monotonic()
        if not self._held(now):  # the usual case, without the lock
            return
        end = now + YIELD_FOR
        with self._cond:
            while (now := self._monotonic()) < end and (held := self._held(now)):
                self._cond.wait(min(held, end - now))
