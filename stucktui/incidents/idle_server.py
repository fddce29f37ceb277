"""docs/incidents.md §2 and §4 for `stucktui demo`: a server that closes connections left idle.

MySQL behind a balancer with an idle timeout (docs/incidents.md §2), or Redis with its `timeout`
(docs/incidents.md §4). Usage: idle_server.py NAME IDLE_SECONDS (prints 'PORT ready'); it answers each
request with +OK and closes a connection idle for IDLE_SECONDS.
"""

from __future__ import annotations

import selectors
import socket
import sys
import time

from stucktui.incidents.prelude import ready, setup


def main(name: str, idle: float) -> None:
    setup(name)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    last: dict[socket.socket, float] = {}
    ready(srv.getsockname()[1])
    while True:
        for key, _ in sel.select(timeout=0.2):
            if key.fileobj is srv:
                c, _ = srv.accept()
                sel.register(c, selectors.EVENT_READ)
                last[c] = time.monotonic()
                continue
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            data = conn.recv(4096)
            if data:
                conn.sendall(b"+OK\r\n")
                last[conn] = time.monotonic()
            else:
                sel.unregister(conn)
                conn.close()
                last.pop(conn)
        now = time.monotonic()
        for c, t in list(last.items()):
            if now - t > idle:
                sel.unregister(c)
                c.close()
                del last[c]


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
