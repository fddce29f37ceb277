"""Parsers of /proc/PID/net/{tcp,tcp6,udp,udp6,unix}, and the socket records both they and netlink give.

/proc/PID/net shows the network namespace of PID (not the reader's), which is why it is the
source for targets in another namespace, where netlink cannot look (docs/kernel-notes.md §3.2).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Container

from stucktui.model.net import TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_LISTEN, InetSocket, UnixSocket

# include/linux/net.h socket_state, the "St" column of /proc/net/unix
_SS_CONNECTING = 2
_SS_CONNECTED = 3
_SO_ACCEPTCON = 0x10000  # include/linux/net.h __SO_ACCEPTCON: the "Flags" of a listener


def _decode_addr(hexaddr: str) -> str:
    """The kernel prints each 32-bit word of the address in host byte order; packing each
    8-digit group natively restores the network-order bytes on any endianness (docs/kernel-notes.md §3.1)."""
    if len(hexaddr) == 8:
        return socket.inet_ntop(socket.AF_INET, struct.pack("=I", int(hexaddr, 16)))
    raw = struct.pack("=4I", *(int(hexaddr[i : i + 8], 16) for i in range(0, 32, 8)))
    return socket.inet_ntop(socket.AF_INET6, raw)


def parse_net_inet(text: str, proto: str, inodes: Container[int] | None = None) -> tuple[InetSocket, ...]:
    """Parse /proc/PID/net/{tcp,tcp6,udp,udp6}. With `inodes`, only those sockets are decoded,
    which matters in a namespace holding 100,000 sockets when one process owns a few.

    Row layout (proc(5)): sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
    inode; the two queues are one colon-joined field, so uid is field 7 and inode field 9."""
    out: list[InetSocket] = []
    for line in text.splitlines()[1:]:
        f = line.split(None, 10)
        if len(f) < 10:
            continue
        ino = int(f[9])
        if inodes is not None and ino not in inodes:
            continue
        la, _, lp = f[1].partition(":")
        ra, _, rp = f[2].partition(":")
        tx, _, rx = f[4].partition(":")
        out.append(
            InetSocket(
                proto=proto,
                family=socket.AF_INET if len(la) == 8 else socket.AF_INET6,
                state=int(f[3], 16),
                local_addr=_decode_addr(la),
                local_port=int(lp, 16),
                remote_addr=_decode_addr(ra),
                remote_port=int(rp, 16),
                recv_q=int(rx, 16),
                send_q=int(tx, 16),
                uid=int(f[7]),
                inode=ino,
            )
        )
    return tuple(out)


def count_net_states(text: str, collect_state: int = TCP_CLOSE_WAIT) -> tuple[dict[int, int], list[int]]:
    """State counts of a /proc/PID/net/tcp* file, and the inodes of sockets in
    `collect_state`: the box-wide summary without building a record per socket."""
    counts: dict[int, int] = {}
    collected: list[int] = []
    want = f"{collect_state:02X}"
    for line in text.splitlines()[1:]:
        f = line.split(None, 10)
        if len(f) < 10:
            continue
        st = f[3]
        n = int(st, 16)
        counts[n] = counts.get(n, 0) + 1
        if st == want:
            collected.append(int(f[9]))
    return counts, collected


def parse_net_unix(text: str, inodes: Container[int] | None = None) -> tuple[UnixSocket, ...]:
    """Parse /proc/PID/net/unix: Num RefCount Protocol Flags Type St Inode [Path]. It has no
    peer column and no queue lengths; those need unix_diag (docs/kernel-notes.md §3.3)."""
    out: list[UnixSocket] = []
    for line in text.splitlines()[1:]:
        f = line.split(None, 7)
        if len(f) < 7:
            continue
        ino = int(f[6])
        if inodes is not None and ino not in inodes:
            continue
        flags, st = int(f[3], 16), int(f[5], 16)
        if flags & _SO_ACCEPTCON:
            state = TCP_LISTEN
        elif st == _SS_CONNECTED:
            state = TCP_ESTABLISHED
        elif st == _SS_CONNECTING:
            state = 2
        else:
            state = TCP_CLOSE
        out.append(
            UnixSocket(
                inode=ino,
                sock_type=int(f[4], 16),
                state=state,
                path=f[7] if len(f) > 7 else None,
                peer_inode=None,
                recv_q=None,
                send_q=None,
            )
        )
    return tuple(out)


def parse_sockstat(text: str) -> dict[str, dict[str, int]]:
    """/proc/net/sockstat: protocol -> its counters, e.g. {'TCP': {'inuse': 21, 'orphan': 0,
    'tw': 13, 'alloc': 52, 'mem': 46}}. TCP `alloc` counts every TCP socket allocated, `inuse`
    those in the kernel's tables, so alloc - inuse are sockets in no table: reset or shut down
    while a process still holds the fd, or never connected (docs/kernel-notes.md §3). `alloc` is box-wide,
    `inuse` per network namespace."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        proto, sep, rest = line.partition(":")
        if not sep:
            continue
        words = rest.split()
        counters: dict[str, int] = {}
        for key, value in zip(words[::2], words[1::2], strict=False):
            try:
                counters[key] = int(value)
            except ValueError:
                continue
        out[proto.strip()] = counters
    return out


def unlisted_tcp(sockstat: dict[str, dict[str, int]]) -> int:
    """TCP sockets allocated but in no table (see parse_sockstat); 0 when not printed."""
    tcp = sockstat.get("TCP", {})
    return max(0, tcp.get("alloc", 0) - tcp.get("inuse", 0))
