"""sock_diag's inet messages (struct inet_diag_msg) found and decoded in the raw recv() chunks of a
dump: the pure, hot part of stucktui.procfs.netlink, written for 100,000-socket dumps (a
precompiled struct per message, a strided check at C speed before anything is decoded)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Container, Iterable, Iterator

from stucktui.model.net import InetSocket

SOCK_DIAG_BY_FAMILY = 20  # include/uapi/linux/sock_diag.h
_HDR = struct.Struct("=IH")  # nlmsghdr: nlmsg_len, nlmsg_type
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


def inode_index(chunks: list[bytes]) -> dict[int, int]:
    """inode -> chunk << 32 | offset of every socket of a dump (one int, not a tuple: 100,000
    sockets cost 6 MB less). A uniform chunk (the usual case) is indexed at C speed; one that
    mixes message lengths (TIME_WAIT sockets answer without the attributes of full sockets)
    is walked once here, so no later lookup walks it again. Inode 0 (TIME_WAIT, FIN_WAIT_2,
    not yet accepted) is left out: many share it."""
    where: dict[int, int] = {}
    for ci, buf in enumerate(chunks):
        stride = uniform_stride(buf)
        if stride:
            inos = memoryview(buf).cast("I")[21 :: stride // 4].tolist()
            where.update(zip(inos, range(ci << 32, (ci << 32) + len(inos) * stride, stride), strict=True))
            continue
        where.update((ino, ci << 32 | off) for off, ino in _inet_walk(buf))
    where.pop(0, None)
    return where


def _inet_walk(buf: bytes) -> Iterator[tuple[int, int]]:
    """(offset, inode) of each SOCK_DIAG_BY_FAMILY message of a chunk, walked by its headers."""
    quick = _INET_QUICK.unpack_from
    n = len(buf)
    off = 0
    while off + _INET_MSG_LEN <= n:
        ln, typ, _st, ino = quick(buf, off)
        if typ == SOCK_DIAG_BY_FAMILY:
            yield off, ino
        off += (ln + 3) & ~3 if ln >= 16 else n


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
