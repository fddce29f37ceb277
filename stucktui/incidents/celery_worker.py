"""docs/incidents.md §4 for `stucktui demo`: an event loop spinning on a connection the server closed.

A pooled Redis connection in a level-triggered epoll set; Redis closes it when idle, it stays
readable forever, and the loop never reads the end-of-file.
Usage: celery_worker.py PORT (Redis's, an idle_server; prints 'FD ready').
"""

from __future__ import annotations

import select
import socket
import sys

from stucktui.incidents.prelude import ready, setup


def main(port: int) -> None:
    setup("celery-worker")
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(b"PING\r\n")
    conn.recv(64)
    ep = select.epoll()
    ep.register(conn.fileno(), select.EPOLLIN)
    ready(conn.fileno())
    while True:
        for _fd, _events in ep.poll(5.0):
            pass  # results are read only when a task asks; nobody notices the EOF


if __name__ == "__main__":
    main(int(sys.argv[1]))
