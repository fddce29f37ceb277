"""docs/incidents.md §5 for `stucktui demo`: a SIGTERM handler that waits for a file lock its process holds.

The handler logs; logging takes the log's file lock by polling with LOCK_NB; the handler ran
while the lock was held, so it polls for a lock it holds itself. Usage: log_worker.py
[--fresh-fd] [--wait] LOCK. --fresh-fd: a new fd for every try, closed after a failed one (the
filelock library); --wait: only wait for the lock, as another process logging to the file.
"""

from __future__ import annotations

import fcntl
import functools
import os
import signal
import sys
import time
from types import FrameType

from stucktui.incidents.prelude import ready, setup


def acquire(path: str, fresh_fd: bool = False) -> int:
    fd = -1
    while True:
        if fd < 0:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if fresh_fd:
                os.close(fd)
                fd = -1
            time.sleep(0.05)


def emit(message: str, path: str, fresh_fd: bool = False) -> None:
    fd = acquire(path, fresh_fd)
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's next SIGTERM, mid-rotation
        time.sleep(0.1)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def on_term(path: str, fresh_fd: bool, signum: int, frame: FrameType | None) -> None:
    emit("terminating", path, fresh_fd)


def main(*flags: str, path: str) -> None:
    unknown = set(flags) - {"--fresh-fd", "--wait"}
    if unknown:
        raise SystemExit(f"log_worker.py: unknown option {' '.join(sorted(unknown))}")
    fresh_fd = "--fresh-fd" in flags
    setup("log-worker")
    signal.signal(signal.SIGTERM, functools.partial(on_term, path, fresh_fd))
    ready()
    if "--wait" in flags:
        acquire(path, fresh_fd)
    else:
        emit("rotating the log", path, fresh_fd)


if __name__ == "__main__":
    main(*sys.argv[1:-1], path=sys.argv[-1])
