"""docs/incidents.md §1 for `stucktui demo`: worker threads blocked writing to a stderr pipe nobody drains.

fd 2 is a pipe whose only read end leaked into this process itself (the demo passes it in); 8
worker threads block in write(2) once its 64 KiB fill up, and the requests the main thread
accepts are never read: nginx gives up and closes, leaving CLOSE_WAIT sockets with unread data.
Usage: api_service.py (prints 'PORT ready').
"""

from __future__ import annotations

import os
import socket
import threading

from stucktui.incidents.prelude import ready, setup


def worker(n: int) -> None:
    while True:  # a debug print to stderr before each request
        os.write(2, b"debug: worker %d waiting for the next request...\n" % n)


def main() -> None:
    setup("api-service")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)
    for n in range(8):
        threading.Thread(target=worker, args=(n,), name=f"worker-{n}", daemon=True).start()
    ready(srv.getsockname()[1])
    pending: list[socket.socket] = []
    while True:
        conn, _ = srv.accept()
        pending.append(conn)  # handed to the workers, which never get to it


if __name__ == "__main__":
    main()
