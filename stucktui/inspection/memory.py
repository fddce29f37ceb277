"""Memory a refresh freed, given back to the system. One refresh of a sick box (100,000
sockets, thousands of processes) allocates tens of MB that it frees at once, but glibc's malloc
keeps freed heap pages mapped (a few live blocks pin them), so the TUI's RSS would stay at the
peak of its largest refresh. malloc_trim(0) returns every free page (glibc 2.8+); elsewhere
(musl) it does nothing. Called by the sampler's worker thread after each refresh."""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_trim: list[Callable[[int], int] | None] = []


def _malloc_trim() -> Callable[[int], int] | None:
    with _lock:
        if not _trim:
            import ctypes  # here, not at start-up: the first refresh's worker thread loads it

            try:  # the C library the interpreter runs on: its symbols are the process's
                _trim.append(ctypes.CDLL(None).malloc_trim)
            except (OSError, AttributeError):  # not glibc
                _trim.append(None)
        return _trim[0]


def release_freed() -> bool:
    """Give freed heap memory back to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
