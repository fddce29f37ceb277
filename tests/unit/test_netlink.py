"""Parsers of sock_diag dumps, run on bytes captured from the kernel and checked against `ss`."""

from __future__ import annotations

import errno
import json
import os
import socket
import struct

import pytest

from stucktui.model.net import TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_TIME_WAIT
from stucktui.procfs import netlink as nl
from stucktui.procfs.net import parse_net_inet

from .test_proc_net import _ss_rows


@pytest.fixture
def net(fixtures_dir):
    return fixtures_dir / "net"


@pytest.fixture
def meta(net):
    return json.loads((net / "meta.json").read_text())


def _split(buf: bytes, every: int) -> list[bytes]:
    """Cut a dump into chunks at message boundaries, as several recv() calls return it."""
    chunks, start, off, n = [], 0, 0, 0
    while off < len(buf):
        ln = struct.unpack_from("=I", buf, off)[0]
        off += (ln + 3) & ~3
        n += 1
        if n % every == 0:
            chunks.append(buf[start:off])
            start = off
    if start < len(buf):
        chunks.append(buf[start:])
    return chunks


def _inet(net, name: str) -> list:
    return list(nl.iter_inet([(net / f"{name}.bin").read_bytes()], name[:3]))


def test_tcp_dump_matches_ss_including_listen_backlog(net):
    ours = {
        (s.state_name, s.recv_q, s.send_q, s.local, s.remote) for s in _inet(net, "tcp") + _inet(net, "tcp6")
    }
    assert ours == _ss_rows(net / "ss_tan.txt")


def test_tcp_dump_agrees_with_proc_except_listen_send_q(net):
    for name in ("tcp", "tcp6", "udp", "udp6"):
        dumped = {s.inode: s for s in _inet(net, name) if s.inode}
        parsed = {s.inode: s for s in parse_net_inet((net / name).read_text(), name[:3]) if s.inode}
        assert dumped.keys() == parsed.keys()
        for ino, s in dumped.items():
            p = parsed[ino]
            assert (s.state, s.local, s.remote, s.recv_q, s.uid) == (
                p.state,
                p.local,
                p.remote,
                p.recv_q,
                p.uid,
            )
            if s.state_name != "LISTEN":
                assert s.send_q == p.send_q


def test_listener_backlog_and_queue(net, meta):
    (full,) = nl.iter_inet([(net / "tcp.bin").read_bytes()], "tcp", {meta["full_listener"]["inode"]})
    assert (full.state_name, full.recv_q, full.send_q) == ("LISTEN", 3, 2)


def test_udp_dump(net, meta):
    (u4,) = _inet(net, "udp")
    assert (u4.state_name, u4.local, u4.inode) == (
        "UNCONN",
        f"127.0.0.1:{meta['udp4']['port']}",
        meta["udp4"]["inode"],
    )
    (u6,) = _inet(net, "udp6")
    assert (u6.proto_name, u6.state_name, u6.remote) == ("udp6", "ESTAB", "[::1]:53")


def test_scan_counts_states_and_close_wait_inodes(net, meta):
    buf = (net / "tcp.bin").read_bytes()
    counts = [0] * 256
    cw: list[int] = []
    assert nl.scan_inet_chunk(buf, counts, TCP_CLOSE_WAIT, cw) is True  # the capture ends with NLMSG_DONE
    socks = _inet(net, "tcp")
    assert {st: c for st, c in enumerate(counts) if c} == {
        st: sum(1 for s in socks if s.state == st) for st in {s.state for s in socks}
    }
    assert sorted(cw) == sorted([meta["close_wait"]["inode"], meta["close_wait_empty"]["inode"]])


def test_multipart_dump_across_recv_calls(net):
    buf = (net / "tcp.bin").read_bytes()
    for every in (1, 2, 5):
        chunks = _split(buf, every)
        assert len(chunks) > 1
        assert [nl.scan_headers(c) for c in chunks][-1] is True
        assert not any(nl.scan_headers(c) for c in chunks[:-1])
        assert list(nl.iter_inet(chunks, "tcp")) == _inet(net, "tcp")
        d = nl.InetDump("tcp", chunks)
        assert d.state_counts() == nl.InetDump("tcp", [buf]).state_counts()


def test_ends_dump_on_small_and_large_chunks(net):
    buf = (net / "tcp.bin").read_bytes()
    assert nl._ends_dump(buf)
    body = buf[:-20]
    assert not nl._ends_dump(body)
    big = body * (8192 // len(body) + 1)  # > 4096 bytes: decided by the tail alone
    assert not nl._ends_dump(big)
    assert nl._ends_dump(big + buf[-20:])


def _nlmsg(typ: int, payload: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), typ, 0, 1, 0) + payload


def test_nlmsg_error_raises_with_errno():
    err = _nlmsg(nl.NLMSG_ERROR, struct.pack("=i", -errno.EINVAL) + bytes(16))
    with pytest.raises(nl.NetlinkError) as exc:
        nl.scan_headers(err)
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(nl.NetlinkError):
        nl.scan_inet_chunk(err, [0] * 256, TCP_CLOSE_WAIT, [])
    assert nl.scan_headers(_nlmsg(nl.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16)))  # an ACK


def test_done_carrying_an_error_raises():
    with pytest.raises(nl.NetlinkError):
        nl.scan_headers(_nlmsg(nl.NLMSG_DONE, struct.pack("=i", -errno.ENOBUFS)))


def test_unix_dump_peers_queues_names(net, meta):
    socks = {s.inode: s for s in nl.iter_unix([(net / "unix.bin").read_bytes()])}
    a, b = (socks[p["inode"]] for p in meta["pair"])
    assert a.peer_inode == b.inode and b.peer_inode == a.inode
    assert a.state_name == "ESTAB" and a.type_name == "stream"
    assert a.recv_q == 6 or b.recv_q == 6  # the 6 unread bytes sit in the receiver's queue
    listener = socks[meta["unix_listener"]["inode"]]
    assert listener.path == meta["unix_listener"]["path"]  # trailing NUL cut
    assert (listener.state_name, listener.recv_q, listener.send_q) == ("LISTEN", 1, 0)
    assert len(listener.pending) == 1
    assert socks[meta["abstract"]["inode"]].path == "@stucktui-abstract"
    client = socks[meta["unix_listener"]["client"]]
    assert listener.pending == (client.inode,)  # UNIX_DIAG_ICONS: the clients waiting for accept()


def test_unix_dump_matches_ss(net):
    ss = set()
    for line in (net / "ss_xan.txt").read_text().splitlines():
        _t, st, rq, sq, *rest = line.split()
        ss.add((st, int(rq), int(sq), int(rest[-3]), int(rest[-1])))
    ours = {
        (s.state_name, s.recv_q, s.send_q, s.inode, s.peer_inode or 0)
        for s in nl.iter_unix([(net / "unix.bin").read_bytes()])
    }
    assert ours == ss


def test_unix_inode_filter(net, meta):
    want = {meta["abstract"]["inode"]}
    assert [s.inode for s in nl.iter_unix([(net / "unix.bin").read_bytes()], want)] == list(want)


def test_requests_have_kernel_layout():
    req = nl.inet_request(socket.AF_INET6, socket.IPPROTO_TCP, 1 << TCP_CLOSE_WAIT)
    assert len(req) == 56 and struct.unpack_from("=BBBBI", req) == (
        socket.AF_INET6,
        socket.IPPROTO_TCP,
        0,
        0,
        256,
    )
    assert len(nl.unix_request()) == 24


def test_live_dump_sees_our_listener():
    """The real syscall path once: a listener made here appears with its backlog."""
    try:
        nl.dump(nl.inet_request(socket.AF_INET, socket.IPPROTO_TCP))
    except OSError as exc:
        pytest.skip(f"netlink sock_diag unavailable here: {exc}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(3)
        ino = __import__("os").fstat(s.fileno()).st_ino
        d = nl.dump_inet(socket.AF_INET, socket.IPPROTO_TCP)
        (mine,) = nl.iter_inet(d.chunks, "tcp", {ino})
        assert (mine.state_name, mine.send_q, mine.local_port) == ("LISTEN", 3, s.getsockname()[1])


def _messages(buf: bytes) -> list[bytes]:
    out, off = [], 0
    while off < len(buf):
        ln = struct.unpack_from("=I", buf, off)[0]
        out.append(buf[off : off + ((ln + 3) & ~3)])
        off += (ln + 3) & ~3
    return out


def test_uniform_chunks_take_the_strided_path_with_the_same_results(net, meta):
    """Chunks whose messages all have one length are read with strided slices; the result
    must equal the message-by-message walk."""
    msgs = _messages((net / "tcp.bin").read_bytes())
    by_len: dict[int, list[bytes]] = {}
    for m in msgs:
        if struct.unpack_from("=IH", m)[1] == nl.SOCK_DIAG_BY_FAMILY:
            by_len.setdefault(len(m), []).append(m)
    same = max(by_len.values(), key=len)
    assert len(same) >= 3
    chunk = b"".join(same)
    assert nl.uniform_stride(chunk) == len(same[0])
    assert nl.uniform_stride(chunk + msgs[-1]) == 0  # NLMSG_DONE appended: walked instead
    counts, cw = [0] * 256, []
    nl.scan_inet_chunk(chunk, counts, TCP_CLOSE_WAIT, cw)
    slow_counts, slow_cw = [0] * 256, []
    for m in same:  # each message followed by NLMSG_DONE: walked one by one
        nl.scan_inet_chunk(m + msgs[-1], slow_counts, TCP_CLOSE_WAIT, slow_cw)
    assert counts == slow_counts and sorted(cw) == sorted(slow_cw)
    want = {struct.unpack_from("=I", m, 84)[0] for m in same[::2]}
    fast = list(nl.iter_inet([chunk], "tcp", want))
    slow = list(nl.iter_inet([m + msgs[-1] for m in same], "tcp", want))
    assert fast == slow and {s.inode for s in fast} == want


def test_exact_request_names_one_four_tuple():
    req = nl.inet_exact_request(socket.AF_INET, socket.IPPROTO_TCP, "127.0.0.1", 41000, "10.1.2.3", 5140)
    assert len(req) == 56
    family, proto, _ext, _pad, states = struct.unpack_from("=BBBBI", req)
    assert (family, proto, states) == (socket.AF_INET, socket.IPPROTO_TCP, nl.ALL_STATES)
    sport, dport = struct.unpack_from("!HH", req, 8)
    assert (sport, dport) == (41000, 5140)
    assert req[12:16] == socket.inet_aton("127.0.0.1") and req[28:32] == socket.inet_aton("10.1.2.3")
    assert struct.unpack_from("=III", req, 44) == (0, 0xFFFFFFFF, 0xFFFFFFFF)  # any if, no cookie
    v6 = nl.inet_exact_request(socket.AF_INET6, socket.IPPROTO_TCP, "::1", 1, "::ffff:10.0.0.1", 2)
    assert v6[12:28] == socket.inet_pton(socket.AF_INET6, "::1")


@pytest.mark.live
def test_lookup_finds_the_other_end_of_a_loopback_connection_and_nothing_else():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname())
    a, _ = srv.accept()
    try:
        la, lp = c.getsockname()
        ra, rp = c.getpeername()
        try:
            got = nl.lookup_inet(socket.AF_INET, socket.IPPROTO_TCP, ra, rp, la, lp)
        except OSError as exc:
            pytest.skip(f"sock_diag not available here: {exc}")
        assert got is not None
        peer, timer, _retrans, _info = got
        assert peer.inode == os.fstat(a.fileno()).st_ino and (peer.local_port, peer.remote_port) == (rp, lp)
        assert timer in (0, 2)  # idle: no retransmission or zero-window timer
        # no such connection: the kernel would answer with the listener of that port; refused
        assert nl.lookup_inet(socket.AF_INET, socket.IPPROTO_TCP, ra, rp, la, 1) is None
        assert nl.lookup_inet(socket.AF_INET, socket.IPPROTO_TCP, "127.0.0.1", 1, "127.0.0.1", 2) is None
    finally:
        for s in (c, a, srv):
            s.close()


def test_a_kept_dump_finds_sockets_by_inode_through_its_index(net, meta):
    """InetDump.find (the index a kept dump builds on first use) gives what a pass over every
    socket gives, for a few inodes, for none, and for an inode not in the dump."""
    buf = (net / "tcp.bin").read_bytes()
    every = list(nl.iter_inet([buf], "tcp"))
    dump = nl.InetDump("tcp", [buf])
    some = {s.inode for s in every if s.inode}
    assert sorted(dump.find(some), key=lambda s: s.inode) == sorted(
        (s for s in every if s.inode in some), key=lambda s: s.inode
    )
    one = meta["close_wait"]["inode"]
    assert [s.inode for s in dump.find({one, 999_999_999})] == [one]
    assert list(dump.find(set())) == []
    chopped = nl.InetDump("tcp", [buf[:-3]])  # not a run of whole messages: found the slow way
    assert {s.inode for s in chopped.find({one})} <= {one}


def _kept(socks: list) -> list:
    """What a kept dump keeps: sockets with an inode, and those without one that wait in an
    accept queue (ESTABLISHED, CLOSE_WAIT)."""
    return [s for s in socks if s.inode or s.state in (TCP_ESTABLISHED, TCP_CLOSE_WAIT)]


def test_a_kept_dump_is_compacted_to_the_fixed_part_of_the_sockets_it_may_be_asked_for(net):
    """The captured dump mixes 124-byte messages (attributes) with 96-byte TIME_WAIT and
    FIN_WAIT2 ones and ends with NLMSG_DONE: kept, it is a run of 88-byte messages (the strided
    paths read it), the TIME_WAIT crowd is gone, and every kept socket decodes as before;
    the state counts are those of the whole dump."""
    buf = (net / "tcp.bin").read_bytes()
    every = list(nl.iter_inet([buf], "tcp"))
    assert any(not s.inode and s.state == TCP_TIME_WAIT for s in every)
    for chunks in ([buf], _split(buf, 2), _split(buf, 5)):
        d = nl.InetDump("tcp", chunks)
        assert all(nl.uniform_stride(c) == 88 for c in d.chunks)
        assert list(nl.iter_inet(d.chunks, "tcp")) == _kept(every)
        assert sum(len(c) for c in d.chunks) == 88 * len(_kept(every))
        assert d.state_counts() == nl.InetDump("tcp", [buf]).state_counts()
        assert d.state_counts()[TCP_TIME_WAIT] == sum(1 for s in every if s.state == TCP_TIME_WAIT)
        some = {s.inode for s in every if s.inode}
        assert sorted(d.find(some), key=lambda s: s.inode) == sorted(
            (s for s in every if s.inode), key=lambda s: s.inode
        )


def test_compacting_a_uniform_chunk_at_c_speed(net):
    """A chunk of same-length messages (the usual recv()) takes the strided path: a TIME_WAIT
    socket with no inode is dropped, a queued connection with no inode is kept, and a chunk
    already compact comes back as it is."""
    long = [m for m in _messages((net / "tcp.bin").read_bytes()) if len(m) == 124]
    tw = bytearray(long[2])
    tw[17] = TCP_TIME_WAIT
    struct.pack_into("=I", tw, 84, 0)  # no inode
    queued = bytearray(long[3])
    struct.pack_into("=I", queued, 84, 0)  # CLOSE_WAIT, no inode: its client closed it in the queue
    chunk = b"".join([*long, bytes(tw), bytes(queued)])
    assert nl.uniform_stride(chunk) == 124
    small = nl.compact_chunk(chunk)
    assert nl.uniform_stride(small) == 88
    got = list(nl.iter_inet([small], "tcp"))
    assert got == [s for s in nl.iter_inet([chunk], "tcp") if s.inode or s.state != TCP_TIME_WAIT]
    assert [s.inode for s in got][-1] == 0 and len(got) == len(long) + 1
    assert nl.compact_chunk(small) is small
    only_tw = nl.compact_chunk(bytes(tw) * 3)
    assert only_tw == b""
    assert nl.compact_chunk(small + bytes(tw[:88])) == small  # the stride-88 path drops too


def _short(m: bytes, inode: int, state: int) -> bytes:
    """The message cut to its inet_diag_msg, as the kernel answers for a TIME_WAIT socket
    (no attributes), with this inode and state."""
    out = bytearray(m[:88])
    struct.pack_into("=I", out, 0, 88)
    out[17] = state
    struct.pack_into("=I", out, 84, inode)
    return bytes(out)


def test_a_chunk_mixing_message_lengths_is_kept_indexed_and_filtered_by_state(net):
    """TIME_WAIT sockets answer without attributes, so a chunk mixes lengths: kept compact, it
    is indexed (every find a lookup, not a walk; which inodes it lists answered from the index
    alone), and a state filter skips the sockets of other states before they are decoded, on
    the strided and the walked paths alike."""
    msgs = [m for m in _messages((net / "tcp.bin").read_bytes()) if struct.unpack_from("=IH", m)[1] == 20]
    full = [m for m in msgs if struct.unpack_from("=I", m, 84)[0]][:3]
    assert len(full) == 3 and len(full[0]) > 88
    tw = _short(full[0], 0, 6)  # TIME_WAIT, inode 0
    orphan = _short(full[0], 0, 1)  # ESTABLISHED, inode 0: waiting in an accept queue
    chunk = full[0] + tw + full[1] + orphan + full[2]
    assert nl.uniform_stride(chunk) == 0
    dump = nl.InetDump("tcp", [chunk])
    inos = [struct.unpack_from("=I", m, 84)[0] for m in full]
    assert [s.inode for s in dump.find({inos[2], inos[0]})] == sorted([inos[0], inos[2]], key=inos.index)
    assert dump.index() is not None and len(dump.index()) == 3  # inode 0 is not indexed
    assert dump.listed({*inos, 0, 999_999_999}) == set(inos)
    assert [(s.inode, s.state) for s in nl.iter_inet(dump.chunks, "tcp", {0})] == [(0, 1)]  # TIME_WAIT gone
    established = 1 << 1
    zero = list(nl.iter_inet([chunk], "tcp", {0}, established))
    assert [(s.inode, s.state) for s in zero] == [(0, 1)]
    assert len(list(nl.iter_inet([chunk], "tcp", {0}))) == 2
    strided = tw + orphan + tw  # one length: the strided path filters the same way
    assert nl.uniform_stride(strided) == 88
    assert [(s.inode, s.state) for s in nl.iter_inet([strided], "tcp", None, established)] == [(0, 1)]
    assert len(list(nl.iter_inet([strided], "tcp", {0}, 1 << 6))) == 2


def test_which_inodes_a_table_lists_comes_from_the_dumps_index_alone(net):
    """NetnsTable.inet_listed (who holds sockets in no table: every held socket is checked)
    answers from each kept dump's inode index, as the decoded lookup would."""
    from stucktui.collect.netns import NetnsTable
    from stucktui.procfs.root import ProcRoot

    buf = (net / "tcp.bin").read_bytes()

    def dumper(request: bytes) -> list[bytes]:
        family, proto = request[0], request[1]
        return [buf] if (family, proto) == (socket.AF_INET, socket.IPPROTO_TCP) else []

    table = NetnsTable(ProcRoot(), 1, os.getpid(), dumper)
    every = {s.inode for s in nl.iter_inet([buf], "tcp") if s.inode}
    asked = set(list(every)[:5]) | {999_999_999, 999_999_998}
    assert table.inet_listed(asked) == set(table.inet(asked)) == asked - {999_999_999, 999_999_998}
    assert table.inet_listed(set()) == set()


def test_many_inodes_at_once_are_looked_up_in_one_pass_with_the_same_answer(net, meta, monkeypatch):
    """Past BULK_LOOKUP inodes, a kept dump's index is walked once at C speed instead of
    bisected per inode (a pool's 20,000 sockets): the same sockets found, the same listed."""
    from stucktui.procfs import inet_msgs

    buf = (net / "tcp.bin").read_bytes()
    dump = nl.InetDump("tcp", [buf])
    inodes = {s.inode for s in nl.iter_inet([buf], "tcp") if s.inode} | {999_999_999}
    by_bisection = sorted(dump.find(inodes), key=lambda s: s.inode)
    listed = dump.listed(inodes)
    monkeypatch.setattr(inet_msgs, "BULK_LOOKUP", 0)
    assert sorted(dump.find(inodes), key=lambda s: s.inode) == by_bisection
    assert dump.listed(inodes) == listed == inodes - {999_999_999}
    assert dump.listed(list(inodes)) == listed  # any collection, not only a set


def test_a_bulk_lookup_takes_the_first_entry_of_an_inode_as_a_bisection_does(monkeypatch):
    """An index holding one inode twice (two chunks of one dump): the bulk pass, like
    located(), answers with its first entry only, and skips inodes not asked for."""
    from array import array

    from stucktui.procfs import inet_msgs

    keys = sorted(
        [7 << 32 | 0 << 16 | 22, 7 << 32 | 1 << 16 | 44, 9 << 32 | 0 << 16 | 66, 11 << 32 | 1 << 16 | 0]
    )
    index = array("Q", keys)
    bisected = {0: [88]}
    assert inet_msgs.find_at(index, {7, 8}) == bisected
    assert inet_msgs.index_inodes(index) == [7, 7, 9, 11]
    assert list(inet_msgs._bulk(index, {7, 8, 11})) == [7 << 32 | 22, 11 << 32 | 1 << 16]
    assert inet_msgs.listed_in(index, set(range(300))) == {7, 9, 11}
    monkeypatch.setattr(inet_msgs, "BULK_LOOKUP", 0)
    assert inet_msgs.find_at(index, {7, 8}) == bisected
    assert inet_msgs.find_at(index, {9, 11}) == {0: [264], 1: [0]}
