"""Memory a refresh freed, given back to the system. One refresh of a sick box (100,000
sockets, thousands of processes) allocates tens of MB that it frees at once, but glibc's malloc
keeps freed heap pages mapped (a few live blocks pin them), so the TUI's RSS would stay at the
peak of its largest refresh. malloc_trim(0) returns every free page (glibc 2.8+); elsewhere
(musl) it does nothing. Called by the sampler's worker thread after each refresh.

glibc also gives each thread that allocates while another holds the heap an arena of its own
(up to 8 per core), and each keeps the peak of what was freed in it: the lanes' worker threads,
a new one per refresh, spread a refresh's garbage over several. limit_arenas() caps them
before the first worker starts (MALLOC_ARENA_MAX, set from inside); the GIL serialises the
allocations anyway, so sharing costs no waiting worth naming. It also maps each block of
MMAP_FROM bytes or more on its own (M_MMAP_THRESHOLD; glibc's threshold otherwise grows to
32 MiB as such blocks are freed): a refresh's large transients (the dict tables and lists of
5,000 rows, a listing of 20,000 fds) are unmapped when freed, instead of being carved out of
the heap between long-lived blocks that pin its pages (1.5 MB of the TUI's RSS on the sick
box, bench/README.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable

ARENAS = 2  # the main thread's and one for the lanes' workers
MMAP_FROM = 64 * 1024  # bytes: a block this large or larger is mapped on its own
_M_ARENA_MAX = -8  # malloc.h: mallopt's parameters
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_libc: list[object] = []  # the C library, once looked up (None: not glibc)
_limited: list[bool] = []


def _glibc() -> object | None:
    with _lock:
        if not _libc:
            import ctypes  # here, not at start-up: the first lane loads it

            lib = ctypes.CDLL(None)  # the C library the interpreter runs on: its symbols are ours
            _libc.append(lib if hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt") else None)
        return _libc[0]


def _malloc_trim() -> Callable[[int], int] | None:
    lib = _glibc()
    return None if lib is None else lib.malloc_trim  # type: ignore[attr-defined]


def limit_arenas(n: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at n for the threads that allocate from now on, and map
    blocks of MMAP_FROM bytes or more on their own (once per process); False where the C
    library has no such setting."""
    lib = _glibc()
    if lib is None:
        return False
    with _lock:
        if not _limited:
            capped = bool(lib.mallopt(_M_ARENA_MAX, n))  # type: ignore[attr-defined]
            mapped = bool(lib.mallopt(_M_MMAP_THRESHOLD, MMAP_FROM))  # type: ignore[attr-defined]
            _limited.append(capped and mapped)
        return _limited[0]


def release_freed() -> bool:
    """Give freed heap memory back to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
