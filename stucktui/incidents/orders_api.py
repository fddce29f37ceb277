"""docs/incidents.md §2 for `stucktui demo`: a connection pool that never releases a connection.

Each order takes a connection, starts a transaction and returns early on one path without
commit, rollback or release: the balancer closes it, the pool never does.
Usage: orders_api.py PORT (the balancer's, an idle_server).
"""

from __future__ import annotations

import socket
import sys
import time

from stucktui.incidents.prelude import ready, setup


def place_order(port: int, i: int, leaked: list[socket.socket]) -> None:
    conn = socket.create_connection(("127.0.0.1", port))  # pool.get()
    conn.sendall(b"BEGIN; SELECT stock FROM items WHERE id=%d FOR UPDATE;\n" % i)
    conn.recv(64)
    leaked.append(conn)  # out of stock: return early, the connection is never released


def main(port: int) -> None:
    setup("orders-api")
    leaked: list[socket.socket] = []
    ready()
    for i in range(40):
        place_order(port, i, leaked)
        time.sleep(0.3 if i < 6 else 2.0)
    time.sleep(86400)


if __name__ == "__main__":
    main(int(sys.argv[1]))
