"""Example 6 of `stucktui demo`: a backup that holds the log spool's lock, stopped halfway through.

It takes the spool's lock (flock LOCK_EX on SPOOL.lock) so that nothing appends while it
copies the spool, copies the spool's files into DEST at a bandwidth limit, and lets the lock
go. Someone pressed Ctrl+Z in its terminal (the demo stops it, SIGSTOP, once it holds the
lock): stopped, it holds the lock until it gets SIGCONT.
Usage: backup.py SPOOL DEST (prints 'ready' once it holds the lock).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

from stucktui.incidents.prelude import ready, setup

BWLIMIT = 256 * 1024  # bytes a second (rsync --bwlimit), so the backup does not starve the disk
CHUNK = 64 * 1024


def copy(src: str, dst: str) -> None:
    with open(src, "rb") as f, open(dst + ".part", "wb") as out:
        while chunk := f.read(CHUNK):
            out.write(chunk)
            time.sleep(len(chunk) / BWLIMIT)
        out.flush()
        os.fsync(out.fileno())
    os.replace(dst + ".part", dst)


def main(spool: str, dest: str) -> None:
    setup("backup")
    os.makedirs(dest, exist_ok=True)
    with open(spool + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # nothing appends to the spool while it is copied
        ready()
        for name in sorted(os.listdir(spool)):
            copy(os.path.join(spool, name), os.path.join(dest, name))
        fcntl.flock(lock, fcntl.LOCK_UN)
    while True:
        time.sleep(86400)  # the next nightly run


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
