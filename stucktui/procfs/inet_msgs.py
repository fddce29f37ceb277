"""sock_diag's inet messages (struct inet_diag_msg) found and decoded in the raw recv() chunks of a
dump: the pure, hot part of stucktui.procfs.netlink, written for 100,000-socket dumps (a
precompiled struct per message, a strided check at C speed before anything is decoded)."""

from __future__ import annotations

import socket
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Collection, Container, Iterable, Iterator
from itertools import compress, repeat
from operator import lshift, or_

from stucktui.model.net import TCP_CLOSE_WAIT, TCP_ESTABLISHED, InetSocket

SOCK_DIAG_BY_FAMILY = 20  # include/uapi/linux/sock_diag.h
_HDR = struct.Struct("=IH")  # nlmsghdr: nlmsg_len, nlmsg_type
_U32 = struct.Struct("=I")
# nlmsghdr (16) + struct inet_diag_msg (72, include/uapi/linux/inet_diag.h): family, state,
# timer, retrans, then inet_diag_sockid (sport, dport big-endian; src[4], dst[4] network order;
# if; cookie[2]), expires, rqueue, wqueue, uid, inode.
_INET_MSG_LEN = 88
_INET_QUICK = struct.Struct("=IH11xB66xI")  # len, type, state, inode
_INET_FULL = struct.Struct("=IH10xBBxxHH16s16s16xIIII")


def uniform_stride(buf: bytes) -> int:
    """The message length when every message of the chunk is a SOCK_DIAG_BY_FAMILY answer of
    that same length (the usual case: one family, one attribute set), else 0. Checked at
    C speed on strided slices: each header at k*L says length L and type 20, so by
    induction the messages really sit at k*L."""
    if len(buf) < _INET_MSG_LEN:
        return 0
    ln: int = _HDR.unpack_from(buf, 0)[0]
    if ln < _INET_MSG_LEN or ln % 4 or len(buf) % ln:
        return 0
    n = len(buf) // ln
    head = _HDR.pack(ln, SOCK_DIAG_BY_FAMILY)
    for i, byte in enumerate(head):
        if buf[i::ln].count(byte) != n:
            return 0
    return ln


def iter_inet(
    chunks: Iterable[bytes], proto: str, inodes: Container[int] | None = None, states: int = 0
) -> Iterator[InetSocket]:
    """Decode the sockets of an inet dump; with `inodes`, only those (the rest cost a set
    lookup each); with `states` (bit n: TCP state n), only sockets in those states, the others
    skipped before they are decoded (77,000 TIME_WAIT and FIN_WAIT_2 sockets share inode 0)."""
    return decode_at(((buf, _offsets(buf, inodes, states)) for buf in chunks), proto)


def _offsets(buf: bytes, inodes: Container[int] | None, states: int = 0) -> Iterable[int]:
    stride = uniform_stride(buf) if inodes is not None or states else 0
    if stride:
        # offsets of the wanted sockets, found without a Python-level walk of the headers
        words = memoryview(buf).cast("I")
        inos = words[21 :: stride // 4].tolist() if inodes is not None else None
        # the state is byte 17 of a message (nlmsghdr 16, then idiag_family)
        sts = memoryview(buf)[17::stride].tolist() if states else None
        n = len(buf) // stride
        return [
            k * stride
            for k in range(n)
            if (inos is None or inos[k] in inodes)  # type: ignore[operator]
            and (sts is None or (1 << sts[k]) & states)
        ]
    return _inet_offsets(buf, inodes, states)


def decode_at(located: Iterable[tuple[bytes, Iterable[int]]], proto: str) -> Iterator[InetSocket]:
    full = _INET_FULL.unpack_from
    ntohs = socket.ntohs
    ntop = socket.inet_ntop
    names: dict[bytes, str] = {}  # thousands of sockets share a few addresses
    for buf, offsets in located:
        for off in offsets:
            _, _, fam, st, sp, dp, src, dst, rq, wq, uid, ino = full(buf, off)
            la = names.get(src)
            if la is None:
                la = names[src] = ntop(fam, src[:4] if fam == socket.AF_INET else src)
            ra = names.get(dst)
            if ra is None:
                ra = names[dst] = ntop(fam, dst[:4] if fam == socket.AF_INET else dst)
            yield InetSocket(proto, fam, st, la, ntohs(sp), ra, ntohs(dp), rq, wq, uid, ino)


# the sockets with no inode a kept dump keeps: connections waiting in an accept queue
# (ESTABLISHED, or CLOSE_WAIT when their client closed them there); TIME_WAIT, orphaned
# FIN_WAIT2 and the like are counted by the scan, never looked up
_QUEUED = bytes(1 if st in (TCP_ESTABLISHED, TCP_CLOSE_WAIT) else 0 for st in range(256))
_FIXED_LEN = _U32.pack(_INET_MSG_LEN)


def compact_chunk(buf: bytes) -> bytes:
    """One recv() chunk of an inet dump as a kept dump holds it: each message cut to its fixed
    88 bytes (nlmsghdr and inet_diag_msg: its attributes dropped, its length rewritten), the
    sockets with no inode but those in an accept queue (_QUEUED) left out, and so are the
    control messages (NLMSG_DONE). 88 bytes a socket instead of 96 to 124, none for the
    TIME_WAIT crowd, and a run of same-length messages, so every later read of it (the index,
    iter_inet) takes the strided paths. A chunk it cannot walk is kept as it is."""
    stride = uniform_stride(buf)
    if not stride:
        return _compact_walk(buf)
    n = len(buf)
    # a socket is kept when its inode or its _QUEUED flag is not 0: decided at C speed
    keep = map(or_, memoryview(buf).cast("I")[21 :: stride // 4], buf[17::stride].translate(_QUEUED))
    if stride == _INET_MSG_LEN:
        kept = list(compress(map(slice, range(0, n, stride), range(stride, n + 1, stride)), keep))
        return buf if len(kept) == n // stride else b"".join(map(buf.__getitem__, kept))
    # each kept message after its length: the rest of its header and its inet_diag_msg
    rest = compress(map(slice, range(4, n, stride), range(_INET_MSG_LEN, n + 1, stride)), keep)
    return _joined(list(map(buf.__getitem__, rest)))


def _joined(parts: list[bytes]) -> bytes:
    return _FIXED_LEN + _FIXED_LEN.join(parts) if parts else b""


def _compact_walk(buf: bytes) -> bytes:
    """compact_chunk of a chunk of mixed lengths (TIME_WAIT's are shorter), message by message."""
    quick = _INET_QUICK.unpack_from
    queued = _QUEUED
    parts = []
    n = len(buf)
    off = 0
    while off + _INET_MSG_LEN <= n:
        ln, typ, st, ino = quick(buf, off)
        if typ != SOCK_DIAG_BY_FAMILY:
            break  # NLMSG_DONE, the last message of its chunk
        if ln < _INET_MSG_LEN:
            return buf
        if ino or queued[st]:
            parts.append(buf[off + 4 : off + _INET_MSG_LEN])
        off += (ln + 3) & ~3
    return _joined(parts)


def inode_index(chunks: list[bytes]) -> array[int] | None:
    """The sorted inode << 32 | chunk << 16 | offset / 4 of every socket with an inode of a
    dump whose chunks are all uniform (the usual case), else None: 8 bytes a socket (a dict
    took over 100), looked up by bisection (find_at). Inode 0 is left out: many share it."""
    keys: list[int] = []
    for ci, buf in enumerate(chunks):
        stride = uniform_stride(buf)
        if not stride:
            if len(buf) >= _INET_MSG_LEN:
                return None
            continue  # the NLMSG_DONE chunk
        if len(buf) > 1 << 18 or ci >= 1 << 16:  # offsets / 4 past 16 bits: not indexed
            return None
        inos = memoryview(buf).cast("I")[21 :: stride // 4]
        at = ci << 16
        keys.extend(map(or_, map(lshift, inos, repeat(32)), range(at, at + len(buf) // 4, stride // 4)))
    keys.sort()
    index = array("Q", keys)
    del index[: bisect_left(index, 1 << 32)]  # inode 0
    return index


def located(index: array[int], ino: int) -> int | None:
    """chunk << 16 | offset / 4 of this inode's message, from an inode_index; None: not in it."""
    i = bisect_left(index, ino << 32)
    return index[i] & 0xFFFFFFFF if i < len(index) and index[i] >> 32 == ino else None


# Above this many inodes asked for at once, one pass over the index at C speed (its inodes
# taken as a list, each tested by a set lookup) beats a bisection per inode: the 20,000
# sockets of a leaking pool, the 100,000 of every holder checked for sockets in no table.
BULK_LOOKUP = 256
_HIGH = slice(1, None, 2) if sys.byteorder == "little" else slice(0, None, 2)


def index_inodes(index: array[int]) -> list[int]:
    """The inode of each entry of an inode_index, in its order (the high 32 bits of each key,
    read at C speed)."""
    return memoryview(index).cast("B").cast("I")[_HIGH].tolist()


def _as_set(inodes: Collection[int]) -> set[int] | frozenset[int]:
    return inodes if isinstance(inodes, (set, frozenset)) else set(inodes)


def _bulk(index: array[int], inodes: Collection[int]) -> Iterator[int]:
    """The entries of an inode_index whose inode is among `inodes`, the first of each inode
    only (as located()), found in one pass at C speed."""
    want = _as_set(inodes)
    last = -1
    for key in compress(index, map(want.__contains__, index_inodes(index))):
        if key >> 32 != last:
            last = key >> 32
            yield key


def listed_in(index: array[int], inodes: Collection[int]) -> set[int]:
    """Which of these inodes an inode_index holds."""
    if len(inodes) > BULK_LOOKUP:
        return set(_as_set(inodes).intersection(index_inodes(index)))
    return {ino for ino in inodes if located(index, ino) is not None}


def find_at(index: array[int], inodes: Collection[int]) -> dict[int, list[int]]:
    """chunk -> the sorted offsets of these inodes' messages, from an inode_index."""
    by_chunk: dict[int, list[int]] = {}
    if len(inodes) > BULK_LOOKUP:
        for key in _bulk(index, inodes):
            by_chunk.setdefault((key >> 16) & 0xFFFF, []).append((key & 0xFFFF) * 4)
    else:
        for ino in inodes:
            at = located(index, ino)
            if at is not None:
                by_chunk.setdefault(at >> 16, []).append((at & 0xFFFF) * 4)
    for offs in by_chunk.values():
        offs.sort()
    return by_chunk


def _inet_offsets(buf: bytes, inodes: Container[int] | None, states: int = 0) -> Iterator[int]:
    quick = _INET_QUICK.unpack_from
    n = len(buf)
    off = 0
    while off + _INET_MSG_LEN <= n:
        ln, typ, st, ino = quick(buf, off)
        if (
            typ == SOCK_DIAG_BY_FAMILY
            and (inodes is None or ino in inodes)
            and (not states or (1 << st) & states)
        ):
            yield off
        off += (ln + 3) & ~3 if ln >= 16 else n
