"""docs/incidents.md §1 for `stucktui demo`: a proxy that sends api-service requests and gives up on them.

Usage: nginx.py PORT. Each request waits 0.2 s for an answer (proxy_read_timeout), then the
connection is closed: fast at first, then every few seconds.
"""

from __future__ import annotations

import socket
import sys
import time

from stucktui.incidents.prelude import ready, setup


def main(port: int) -> None:
    setup("nginx")
    ready()
    for i in range(200):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET /heartbeat HTTP/1.1\r\nHost: api\r\nX-Request: " + b"x" * 240 + b"\r\n\r\n")
        time.sleep(0.2)  # proxy_read_timeout: no answer came, give up
        c.close()
        time.sleep(0.1 if i < 12 else 3.0)
    time.sleep(86400)


if __name__ == "__main__":
    main(int(sys.argv[1]))
