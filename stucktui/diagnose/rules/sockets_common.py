"""Helpers the socket rules share: the CLOSE_WAIT rows, the ports a process serves, its threads in brief."""

from __future__ import annotations

from stucktui.diagnose.subject import Subject, thread_activity
from stucktui.model.net import TCP_CLOSE_WAIT, TCP_LISTEN, InetSocket
from stucktui.model.sockets import SocketRow

CLOSE_FD_SOCKET = "press c on fd {fd} in the Sockets panel (3) to close it (gdb or shutdown)"


def close_wait_rows(s: Subject) -> list[SocketRow]:
    if s.sockets is None:
        return []
    return [r for r in s.sockets.rows if isinstance(r.sock, InetSocket) and r.sock.state == TCP_CLOSE_WAIT]


def listening_ports(s: Subject) -> set[int]:
    """Ports a listener serves, this process's own or another's that handed it connections (a
    forked backend): a CLOSE_WAIT socket on one was accepted, not opened."""
    if s.sockets is None:
        return set()
    own = {
        r.sock.local_port
        for r in s.sockets.rows
        if isinstance(r.sock, InetSocket) and r.sock.state == TCP_LISTEN
    }
    return own | s.sockets.served_ports


def thread_summary(s: Subject) -> str:
    act = thread_activity(s.threads, 2)
    return f"its threads: {act}" if act else "its threads could not be read"
