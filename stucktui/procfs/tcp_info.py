"""`struct tcp_info` as sock_diag's INET_DIAG_INFO attribute carries it (the bytes `ss -ti`
reads): a pure parser of the fields stucktui uses."""

from __future__ import annotations

import struct

from stucktui.model.net import TcpInfo

# struct tcp_info (include/uapi/linux/tcp.h), the fields read (docs/kernel-notes.md §A.8):
# probes and backoff (u8 at 3, 4), unacked (u32 at 24), last_data_sent, last_ack_sent,
# last_data_recv, last_ack_recv (u32 at 44..56, milliseconds ago); snd_wnd (u32 at 228) only
# in newer kernels' longer struct, so every field past the first 104 bytes is length-checked.
_TCPI_HEAD = struct.Struct("=3xBB19xI16xIIII")
_TCPI_SND_WND = 228
_U32 = struct.Struct("=I")


def parse_tcp_info(raw: bytes) -> TcpInfo | None:
    """The fields stucktui reads of a `struct tcp_info`; None when it is too short for them."""
    if len(raw) < _TCPI_HEAD.size:
        return None
    probes, backoff, unacked, sent, _ack_sent, recv, ack_recv = _TCPI_HEAD.unpack_from(raw, 0)
    wnd = _U32.unpack_from(raw, _TCPI_SND_WND)[0] if len(raw) >= _TCPI_SND_WND + 4 else None
    return TcpInfo(sent, recv, ack_recv, backoff, probes, unacked, wnd)
