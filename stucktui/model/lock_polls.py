"""Pollers of file locks (pure): a process that retries a lock without blocking (flock with
LOCK_NB, fcntl F_SETLK or F_OFD_SETLK, SQLite's busy handler) and sleeps between tries. It
never shows in /proc/locks as a waiter; what proves it polls is where its sleeping threads come
from: a Python stack in a lock call, or the sleep called by SQLite's code (docs/kernel-notes.md
§8.3, §A.7). A process that merely has the locked file open (a reader, `tail -f` of a log
another process locks) proves nothing and is no poller."""

from __future__ import annotations

import os
from typing import Final

from stucktui.model.python import PyFrame
from stucktui.model.threads import ThreadRow

# A lock wait's `what` starts so when the threads poll for the lock rather than block on it
POLLING: Final = "polling for "

# Function names (the last part of py-spy's qualified name) of file-lock calls in the common
# libraries: filelock (acquire, _poll_until_acquired, _acquire), portalocker (lock), fcntl's own
# (flock, lockf), concurrent-log-handler (_do_lock). Whole names, never substrings: a function
# called serve_blocking_requests, or a file called clock.py, takes no lock.
LOCK_NAMES: Final = frozenset(
    {"acquire", "_acquire", "_poll_until_acquired", "_acquire_native", "lock", "_lock", "_do_lock",
     "flock", "lockf", "acquire_lock", "_acquire_lock", "trylock", "try_lock", "wait_for_lock"}
)  # fmt: skip
# Files whose acquire() is an in-process lock (threading, queues, asyncio): not a file lock.
IN_PROCESS: Final = ("threading.py", "queue.py", "asyncio/locks.py", "multiprocessing/synchronize.py")
INNERMOST: Final = 4  # how deep under the innermost frame the lock call may be (time.sleep under it)

# Calls a poller sleeps in between two tries (with a timeout: select and poll are counted only
# with one, checked by the caller)
SLEEP_CALLS: Final = frozenset(
    {"nanosleep", "clock_nanosleep", "clock_nanosleep_time64", "select", "pselect6", "poll", "ppoll"}
)


def is_lock_frame(f: PyFrame) -> bool:
    name = f.function.rsplit(".", 1)[-1].lower()
    return name in LOCK_NAMES and not f.file.endswith(IN_PROCESS)


def lock_hit(frames: tuple[PyFrame, ...]) -> PyFrame | None:
    """The lock call among the innermost frames of a stack, if the thread is in one."""
    return next((f for f in frames[:INNERMOST] if is_lock_frame(f)), None)


def sleeping(t: ThreadRow) -> bool:
    """Asleep in a call a poller sleeps in between tries."""
    return t.state == "S" and t.call is not None and t.call.name in SLEEP_CALLS


def sqlite_library(path: str) -> bool:
    """SQLite's library, or a module that has it built in (libsqlite3.so.0, _sqlite3.*.so,
    libsqlcipher)."""
    name = os.path.basename(path).lower()
    return "sqlite" in name or "sqlcipher" in name


def poll_evidence(t: ThreadRow, caller: str | None) -> str | None:
    """Why thread `t` is polling for a lock, or None: its Python stack is in a lock call, or
    its sleep was called by SQLite's code (`caller`: the library that called the sleep)."""
    if not sleeping(t) and not (t.call is not None and t.call.name in ("flock", "fcntl", "fcntl64")):
        return None
    frames = t.python.frames if t.python is not None else ()
    hit = lock_hit(frames)
    if hit is not None:
        return f"thread {t.tid}'s Python stack is in {hit.function} ({hit.short_file}:{hit.line})"
    if caller is not None and sqlite_library(caller) and sleeping(t):
        return (
            f"thread {t.tid} sleeps in {t.call.name if t.call else 'a sleep'} called by "
            f"{os.path.basename(caller)}: SQLite's busy handler, between two tries of a lock"
        )
    return None
