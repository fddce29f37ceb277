"""Example 6 of `stucktui demo`: a log shipper that reads a service's log from a pipe into a spool.

Its stdin is the read end of report-exporter's stderr pipe (`report-exporter 2>&1 | log-shipper`).
It gathers the lines into batches and appends each batch to SPOOL/current.log under the spool's
lock (flock on SPOOL.lock), the lock the backup takes to archive the spool. While it waits for
the lock it reads nothing: the pipe fills, and every writer of it blocks.
Usage: log_shipper.py SPOOL (prints 'ready').
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

from stucktui.incidents.prelude import ready, setup

BATCH_LINES = 200
BATCH_SECONDS = 1.0


def flush(spool: str, batch: list[bytes]) -> None:
    with open(spool + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits while the backup holds the spool
        with open(os.path.join(spool, "current.log"), "ab") as out:
            out.writelines(batch)
        fcntl.flock(lock, fcntl.LOCK_UN)
    batch.clear()


def main(spool: str) -> None:
    setup("log-shipper")
    ready()
    batch: list[bytes] = []
    since = time.monotonic()
    for line in sys.stdin.buffer:
        batch.append(b"%.3f " % time.time() + line)
        if len(batch) >= BATCH_LINES or time.monotonic() - since >= BATCH_SECONDS:
            flush(spool, batch)
            since = time.monotonic()
    if batch:
        flush(spool, batch)
    while True:  # the service went away: wait to be restarted with the next one
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1])
