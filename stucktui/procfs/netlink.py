"""NETLINK_SOCK_DIAG dumps (inet_diag for TCP/UDP, unix_diag with peers) and pure parsers of their bytes.

The socket only sees the network namespace it was created in (docs/kernel-notes.md §3.4), so callers use it
for their own namespace and read /proc/PID/net/* for others. The parsers take the raw recv() chunks,
so tests run them on captured bytes. They are written for 100,000-socket dumps: one
precompiled struct per message, and a cheap inode check before anything is decoded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from array import array
from collections.abc import Collection, Container, Iterable, Iterator
from typing import NamedTuple

from stucktui.model.net import TCP_CLOSE_WAIT, InetSocket, TcpInfo, UnixSocket
from stucktui.procfs.inet_msgs import (
    _HDR,
    _INET_MSG_LEN,
    _INET_QUICK,
    SOCK_DIAG_BY_FAMILY,
    find_at,
    inode_index,
    listed_in,
)
from stucktui.procfs.inet_msgs import (
    compact_chunk as compact_chunk,
)
from stucktui.procfs.inet_msgs import decode_at as decode_at
from stucktui.procfs.inet_msgs import iter_inet as iter_inet
from stucktui.procfs.inet_msgs import uniform_stride as uniform_stride
from stucktui.procfs.tcp_info import parse_tcp_info

# include/uapi/linux/netlink.h, include/uapi/linux/sock_diag.h
NETLINK_SOCK_DIAG = 4
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
ALL_STATES = 0xFFFFFFFF  # inet_diag_req_v2.idiag_states: bit n selects tcp_states.h state n

# include/uapi/linux/unix_diag.h
UDIAG_SHOW_NAME, UDIAG_SHOW_PEER, UDIAG_SHOW_ICONS, UDIAG_SHOW_RQLEN = 0x1, 0x4, 0x8, 0x10
UNIX_DIAG_NAME, UNIX_DIAG_PEER, UNIX_DIAG_ICONS, UNIX_DIAG_RQLEN = 0, 2, 3, 4

# nlmsghdr + struct unix_diag_msg (16): family, type, state, pad, inode, cookie[2]
_UNIX_MSG_LEN = 32
_UNIX_QUICK = struct.Struct("=IH14xI")  # len, type, inode
_UNIX_FULL = struct.Struct("=IH10xxBBxI")  # len, type, udiag_type, udiag_state, inode
_ATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_DONE_TAIL = struct.pack("=IH", 20, NLMSG_DONE)
_RQLEN = struct.Struct("=II")

# Each recv() gets one skb, and the kernel caps dump skbs near 32 KiB (netlink_dump in
# net/netlink/af_netlink.c); 64 KiB never truncates. The large SO_RCVBUF lets the kernel keep
# queueing while Python parses.
_RECV_SIZE = 1 << 16
_RCVBUF = 1 << 22
_TIMEOUT_S = 10


class NetlinkError(OSError):
    """The kernel answered the dump with NLMSG_ERROR (for instance EINVAL without unix_diag)."""


def inet_request(family: int, proto: int, states: int = ALL_STATES) -> bytes:
    """inet_diag_req_v2: family, protocol, ext, pad, states, and a zeroed (wildcard) sockid."""
    return struct.pack("=BBBBI", family, proto, 0, 0, states) + bytes(48)


UDIAG_SHOW_ALL = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN


def unix_request(show: int = UDIAG_SHOW_ALL) -> bytes:
    """unix_diag_req: family, protocol, pad, states, ino, show, cookie[2]."""
    return struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, ALL_STATES, 0, show, 0xFFFFFFFF, 0xFFFFFFFF)


def _control(buf: bytes, off: int, typ: int) -> bool:
    """Handle a non-data message: True at NLMSG_DONE, raise on an error. Both carry an int:
    NLMSG_ERROR a negative errno (0 is an ACK), NLMSG_DONE the dump's own status."""
    if typ != NLMSG_DONE and typ != NLMSG_ERROR:
        return False
    err = -_I32.unpack_from(buf, off + 16)[0] if off + 20 <= len(buf) else 0
    if err > 0:
        raise NetlinkError(err, os.strerror(err))
    return True


def scan_inet_chunk(buf: bytes, counts: list[int], collect_state: int, collected: list[int]) -> bool:
    """Count states in one recv() chunk of an inet dump (counts is indexed by state number)
    and append the inodes of sockets in `collect_state`. True once NLMSG_DONE is seen."""
    stride = uniform_stride(buf)
    if stride:
        states = buf[17::stride]
        for st in set(states):
            counts[st] += states.count(st)
        if collect_state in states:
            inodes = memoryview(buf).cast("I")[21 :: stride // 4]
            collected.extend(ino for st, ino in zip(states, inodes, strict=True) if st == collect_state)
        return False
    n = len(buf)
    off = 0
    quick = _INET_QUICK.unpack_from
    while off < n:
        if off + _INET_MSG_LEN <= n:
            ln, typ, st, ino = quick(buf, off)
            if typ == SOCK_DIAG_BY_FAMILY:
                counts[st] += 1
                if st == collect_state:
                    collected.append(ino)
                off += (ln + 3) & ~3
                continue
        ln, typ = _HDR.unpack_from(buf, off)
        if _control(buf, off, typ):
            return True
        if ln < 16:
            raise NetlinkError(errno.EPROTO, "malformed netlink message")
        off += (ln + 3) & ~3
    return False


def scan_headers(buf: bytes) -> bool:
    """True once a chunk holds NLMSG_DONE; raises on NLMSG_ERROR."""
    n = len(buf)
    off = 0
    while off + 16 <= n:
        ln, typ = _HDR.unpack_from(buf, off)
        if typ != SOCK_DIAG_BY_FAMILY and _control(buf, off, typ):
            return True
        if ln < 16:
            raise NetlinkError(errno.EPROTO, "malformed netlink message")
        off += (ln + 3) & ~3
    return False


def _unix_name(raw: bytes) -> str:
    """Abstract names start with NUL and are shown as '@name'; paths come with a trailing
    NUL that is cut (docs/kernel-notes.md §3.3)."""
    if raw[:1] == b"\0":
        return "@" + raw[1:].decode("utf-8", "backslashreplace")
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def parse_unix_message(buf: bytes, off: int) -> UnixSocket:
    """One unix_diag_msg and its attributes, at `off` (the start of its nlmsghdr)."""
    ln, _typ, utype, ustate, ino = _UNIX_FULL.unpack_from(buf, off)
    end = min(off + ln, len(buf))
    a = off + _UNIX_MSG_LEN
    path: str | None = None
    peer: int | None = None
    pending: tuple[int, ...] = ()
    rq: int | None = None
    wq: int | None = None
    while a + 4 <= end:
        alen, atype = _ATTR.unpack_from(buf, a)
        if alen < 4:
            break
        if atype == UNIX_DIAG_NAME:
            path = _unix_name(buf[a + 4 : a + alen])
        elif atype == UNIX_DIAG_PEER:
            peer = _U32.unpack_from(buf, a + 4)[0]
        elif atype == UNIX_DIAG_ICONS:
            pending = tuple(x for (x,) in _U32.iter_unpack(buf[a + 4 : a + 4 + (alen - 4) // 4 * 4]))
        elif atype == UNIX_DIAG_RQLEN:
            rq, wq = _RQLEN.unpack_from(buf, a + 4)
        a += (alen + 3) & ~3
    return UnixSocket(ino, utype, ustate, path, peer or None, rq, wq, pending)


def iter_unix(chunks: Iterable[bytes], inodes: Container[int] | None = None) -> Iterator[UnixSocket]:
    quick = _UNIX_QUICK.unpack_from
    for buf in chunks:
        n = len(buf)
        off = 0
        while off + _UNIX_MSG_LEN <= n:
            ln, typ, ino = quick(buf, off)
            if typ == SOCK_DIAG_BY_FAMILY and (inodes is None or ino in inodes):
                yield parse_unix_message(buf, off)
            off += (ln + 3) & ~3 if ln >= 16 else n


def _ends_dump(buf: bytes) -> bool:
    """True when this chunk holds NLMSG_DONE (raises on NLMSG_ERROR). NLMSG_DONE is the last
    message of its chunk and 20 bytes long without NETLINK_EXT_ACK (netlink_dump_done in
    net/netlink/af_netlink.c), so big chunks are only walked when their tail looks like one;
    errors come alone in a small chunk."""
    if len(buf) < 4096 or buf[-20:-14] == _DONE_TAIL:
        return scan_headers(buf)
    return False


def dump(request: bytes) -> list[bytes]:
    """Send one SOCK_DIAG_BY_FAMILY dump request and return the raw recv() chunks up to
    NLMSG_DONE. Raises OSError when netlink is unavailable (no AF_NETLINK, a seccomp filter,
    a kernel without the diag module) or the kernel stops answering."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    try:
        with contextlib.suppress(OSError):  # a small buffer only means more recv() calls
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        # SO_RCVTIMEO rather than settimeout(), which would add a poll() to every recv()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", _TIMEOUT_S, 0))
        hdr = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        s.sendto(hdr + request, (0, 0))
        chunks: list[bytes] = []
        recv = s.recv
        while True:
            buf = recv(_RECV_SIZE)
            if not buf:
                raise NetlinkError(errno.EPROTO, "netlink dump ended without NLMSG_DONE")
            chunks.append(buf)
            if _ends_dump(buf):
                return chunks
    finally:
        s.close()


def inet_exact_request(
    family: int,
    proto: int,
    local_addr: str,
    local_port: int,
    remote_addr: str,
    remote_port: int,
    ext: int = 0,
) -> bytes:
    """inet_diag_req_v2 naming one socket by its four-tuple (no cookie), for a lookup without
    NLM_F_DUMP: the kernel answers with that socket alone or ENOENT. `ext`: the
    INET_DIAG_* attributes wanted (1 << (INET_DIAG_INFO - 1) for tcp_info)."""
    src = socket.inet_pton(family, local_addr).ljust(16, b"\0")[:16]
    dst = socket.inet_pton(family, remote_addr).ljust(16, b"\0")[:16]
    sockid = struct.pack("!HH", local_port, remote_port) + src + dst
    sockid += struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)  # any interface, INET_DIAG_NOCOOKIE
    return struct.pack("=BBBBI", family, proto, ext, 0, ALL_STATES) + sockid


def _lookup(family: int, proto: int, local: tuple[str, int], remote: tuple[str, int]) -> bytes | None:
    """The one inet_diag_msg the kernel answers for this four-tuple (with its tcp_info for
    TCP); None for ENOENT."""
    ext = _WANT_INFO if proto == socket.IPPROTO_TCP else 0
    request = inet_exact_request(family, proto, local[0], local[1], remote[0], remote[1], ext)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", _TIMEOUT_S, 0))
        hdr = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
        s.sendto(hdr + request, (0, 0))
        buf = s.recv(_RECV_SIZE)
    finally:
        s.close()
    if len(buf) >= 20 and _HDR.unpack_from(buf, 0)[1] == NLMSG_ERROR:
        err = -_I32.unpack_from(buf, 16)[0]
        if err in (errno.ENOENT, 0):
            return None
        raise NetlinkError(err, os.strerror(err))
    return buf if len(buf) >= _INET_MSG_LEN else None


# inet_diag_msg.idiag_timer and idiag_retrans (bytes 2 and 3 after the netlink header): timer
# 1 is the retransmission timer (retrans: timeouts in a row without an ACK), 4 the zero-window
# probe ("persist") timer, armed while the receiver advertises a window of 0 (inet_diag.c).
_TIMER_OFFSET = 16 + 2
TIMER_RETRANSMIT = 1
TIMER_PERSIST = 4


# include/uapi/linux/inet_diag.h: the tcp_info attribute, asked for with bit INET_DIAG_INFO - 1
INET_DIAG_INFO = 2
_WANT_INFO = 1 << (INET_DIAG_INFO - 1)


class InetLookup(NamedTuple):
    """One socket found by its four-tuple: the socket, idiag_timer, idiag_retrans, and (TCP)
    what tcp_info says of its traffic (None: the kernel sent none)."""

    sock: InetSocket
    timer: int
    retrans: int
    info: TcpInfo | None = None


def message_attr(buf: bytes, off: int, typ: int) -> bytes | None:
    """The payload of attribute `typ` of the sock_diag message at `off` (after its
    72-byte inet_diag_msg), or None."""
    end = off + _HDR.unpack_from(buf, off)[0]
    pos = off + _INET_MSG_LEN
    while pos + 4 <= min(end, len(buf)):
        ln, t = _ATTR.unpack_from(buf, pos)
        if ln < 4:
            return None
        if t == typ:
            return buf[pos + 4 : pos + ln]
        pos += (ln + 3) & ~3
    return None


def lookup_inet(
    family: int, proto: int, local_addr: str, local_port: int, remote_addr: str, remote_port: int
) -> InetLookup | None:
    """The socket of this namespace with exactly this local and remote endpoint, its
    idiag_timer and idiag_retrans and, for TCP, its tcp_info; or None. One request, no dump:
    the cost does not grow with the number of sockets. Raises OSError when netlink is
    unavailable."""
    buf = _lookup(family, proto, (local_addr, local_port), (remote_addr, remote_port))
    if buf is None:
        return None
    found = next(iter_inet([buf], "tcp" if proto == socket.IPPROTO_TCP else "udp", None), None)
    # without an established match the kernel answers with the listener of the local port
    if found is None or (found.remote_port, found.local_port) != (remote_port, local_port):
        return None
    if socket.inet_pton(family, found.remote_addr) != socket.inet_pton(family, remote_addr):
        return None
    raw = message_attr(buf, 0, INET_DIAG_INFO) if proto == socket.IPPROTO_TCP else None
    info = parse_tcp_info(raw) if raw is not None else None
    return InetLookup(found, buf[_TIMER_OFFSET], buf[_TIMER_OFFSET + 1], info)


class InetDump:
    """One inet dump as kept: its chunks compacted as they are scanned (compact_chunk: the
    fixed part of each message, no TIME_WAIT crowd), its state counts and the inodes in one
    state (CLOSE_WAIT) read in that same pass, before anything is dropped."""

    def __init__(self, proto: str, chunks: list[bytes], collect_state: int = TCP_CLOSE_WAIT) -> None:
        self.proto = proto
        self.collect_state = collect_state
        counts = [0] * 256
        self._collected: list[int] = []
        self.chunks = []
        for buf in chunks:
            scan_inet_chunk(buf, counts, collect_state, self._collected)
            small = compact_chunk(buf)
            if small:
                self.chunks.append(small)
        self._counts = counts
        self._where: array[int] | None = None  # find()'s index (inode_index)
        self._indexed = False

    def state_counts(self) -> dict[int, int]:
        return {st: c for st, c in enumerate(self._counts) if c}

    @property
    def collected(self) -> list[int]:
        return self._collected

    def index(self) -> array[int] | None:
        """find()'s index (inode_index), built on first use (a worker thread may build it
        ahead: NetnsTable.prefetch); None when a chunk could not be indexed."""
        if self._where is None:
            index = inode_index(self.chunks)
            self._where = index if index is not None else array("Q")
            self._indexed = bool(index) or not any(len(c) >= _INET_MSG_LEN for c in self.chunks)
        return self._where if self._indexed else None

    def find(self, inodes: Collection[int]) -> Iterator[InetSocket]:
        """The sockets with these inodes (not 0). A kept dump is looked up by several panels
        each refresh: an index of its inodes, built on the first lookup (8 bytes a socket),
        makes each a few bisections instead of a pass over every socket."""
        index = self.index()
        if index is None:
            return iter_inet(self.chunks, self.proto, inodes)
        by_chunk = find_at(index, inodes)
        return decode_at(((self.chunks[ci], offs) for ci, offs in by_chunk.items()), self.proto)

    def listed(self, inodes: Collection[int]) -> set[int]:
        """Which of these inodes the dump holds: bisections in its index, nothing decoded."""
        index = self.index()
        if index is None:
            return {s.inode for s in iter_inet(self.chunks, self.proto, inodes)}
        return listed_in(index, inodes)


def dump_inet(
    family: int, proto: int, states: int = ALL_STATES, collect_state: int = TCP_CLOSE_WAIT
) -> InetDump:
    proto_name = "tcp" if proto == socket.IPPROTO_TCP else "udp"
    return InetDump(proto_name, dump(inet_request(family, proto, states)), collect_state)


def dump_unix() -> list[bytes]:
    return dump(unix_request())
