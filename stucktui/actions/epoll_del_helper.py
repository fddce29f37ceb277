"""The helper process of epoll-del: EPOLL_CTL_DEL of a target's registrations, through copies.

run_epoll_del (actions/verify.py) runs this file by path, `python -I epoll_del_helper.py PIDFD
EPFD FD INODE SYSCALL_NR TFD[,TFD...]`, with PIDFD passed in. It runs in a fresh process so that
the copy of the watched file can take each registered fd number without touching any fd of
stucktui itself: the epoll key is (file, fd number) and EPOLL_CTL_DEL must name both. It never
reads either copy, and imports only the standard library. It writes one JSON object on stdout:
{"ok": true, "tfds": {"TFD": "removed" or an errno name}}, or {"ok": false, "error", "errno"}.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import select
import sys
from collections.abc import Sequence


def main(argv: Sequence[str]) -> None:
    pidfd, epfd, fd, ino, nr = map(int, argv[:5])
    tfds = [int(x) for x in argv[5].split(",")]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    low = max([*tfds, pidfd, 2]) + 1
    out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, low)

    def high(x: int) -> int:
        y = fcntl.fcntl(x, fcntl.F_DUPFD_CLOEXEC, low)
        os.close(x)
        return y

    def getfd(n: int) -> int:
        r = libc.syscall(nr, pidfd, n, 0)
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return high(r)

    res: dict[str, object]
    try:
        ep = select.epoll.fromfd(getfd(epfd))
        f = getfd(fd)
        if os.fstat(f).st_ino != ino:
            raise OSError(0, f"fd {fd} now refers to another file")
        done: dict[int, str] = {}
        for t in tfds:
            os.dup2(f, t)
            try:
                ep.unregister(t)
                done[t] = "removed"
            except OSError as exc:
                done[t] = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            os.close(t)
        res = {"ok": True, "tfds": done}
    except OSError as exc:
        res = {"ok": False, "error": exc.strerror or str(exc), "errno": exc.errno}
    os.write(out, json.dumps(res).encode())


if __name__ == "__main__":
    main(sys.argv[1:])
