"""Parsers of /proc/PID/net/{tcp,tcp6,udp,udp6,unix}, checked against `ss` run at capture time."""

from __future__ import annotations

import json
import socket

import pytest

from stucktui.model.net import TCP_CLOSE_WAIT, TCP_LISTEN, format_endpoint, state_name
from stucktui.procfs.net import count_net_states, parse_net_inet, parse_net_unix


@pytest.fixture
def net(fixtures_dir):
    return fixtures_dir / "net"


def _ss_rows(path) -> set[tuple[str, int, int, str, str]]:
    """(state, recv_q, send_q, local, peer) from `ss -tanH`, states with underscores."""
    out = set()
    for line in path.read_text().splitlines():
        st, rq, sq, local, peer = line.split()[:5]
        out.add((st.replace("-", "_"), int(rq), int(sq), local, peer))
    return out


def test_tcp_rows_match_ss_except_listen_send_q(net):
    socks = parse_net_inet((net / "tcp").read_text(), "tcp") + parse_net_inet(
        (net / "tcp6").read_text(), "tcp"
    )
    ours = {(s.state_name, s.recv_q, s.send_q, s.local, s.remote) for s in socks if s.state != TCP_LISTEN}
    ss = {r for r in _ss_rows(net / "ss_tan.txt") if r[0] != "LISTEN"}
    assert ours == ss
    # /proc prints 0 where ss shows the backlog of a listener (docs/kernel-notes.md §3.1)
    listeners = {(s.local, s.recv_q, s.send_q) for s in socks if s.state == TCP_LISTEN}
    ss_listen = {(r[3], r[1], 0) for r in _ss_rows(net / "ss_tan.txt") if r[0] == "LISTEN"}
    assert listeners == ss_listen


def test_tcp_close_wait_fields(net):
    meta = json.loads((net / "meta.json").read_text())
    (cw,) = parse_net_inet((net / "tcp").read_text(), "tcp", {meta["close_wait"]["inode"]})
    assert cw.state == TCP_CLOSE_WAIT and cw.state_name == "CLOSE_WAIT"
    assert cw.recv_q == 301  # 300 bytes + the FIN
    assert cw.local == f"127.0.0.1:{meta['close_wait']['port']}"
    assert cw.remote == "127.0.0.1:6379"
    assert cw.family == socket.AF_INET and cw.proto_name == "tcp" and cw.uid == 0


def test_tcp6_addresses(net):
    meta = json.loads((net / "meta.json").read_text())
    (cw6,) = parse_net_inet((net / "tcp6").read_text(), "tcp", {meta["close_wait6"]["inode"]})
    assert cw6.family == socket.AF_INET6 and cw6.proto_name == "tcp6"
    assert cw6.remote == f"[::1]:{meta['close_wait6']['server_port']}"
    assert cw6.recv_q == 8


def test_inode_filter_and_zero_inodes(net):
    text = (net / "tcp").read_text()
    all_rows = parse_net_inet(text, "tcp")
    assert len(all_rows) == len(text.splitlines()) - 1
    assert sum(1 for s in all_rows if s.inode == 0) > 0  # accept queue, TIME_WAIT, orphans
    assert parse_net_inet(text, "tcp", set()) == ()


def test_udp(net):
    meta = json.loads((net / "meta.json").read_text())
    (u4,) = parse_net_inet((net / "udp").read_text(), "udp")
    assert (u4.state_name, u4.local, u4.remote, u4.inode) == (
        "UNCONN",
        f"127.0.0.1:{meta['udp4']['port']}",
        "0.0.0.0:*",
        meta["udp4"]["inode"],
    )
    (u6,) = parse_net_inet((net / "udp6").read_text(), "udp")
    assert (u6.state_name, u6.remote, u6.proto_name) == ("ESTAB", "[::1]:53", "udp6")


def test_count_net_states(net):
    counts, cw = count_net_states((net / "tcp").read_text())
    rows = parse_net_inet((net / "tcp").read_text(), "tcp")
    assert counts == {st: sum(1 for s in rows if s.state == st) for st in {s.state for s in rows}}
    assert sorted(cw) == sorted(s.inode for s in rows if s.state == TCP_CLOSE_WAIT)


def test_unix(net):
    meta = json.loads((net / "meta.json").read_text())
    socks = {s.inode: s for s in parse_net_unix((net / "unix").read_text())}
    listener = socks[meta["unix_listener"]["inode"]]
    assert (listener.state_name, listener.path, listener.type_name) == (
        "LISTEN",
        "/tmp/stucktui-fixture.sock",
        "stream",
    )
    assert socks[meta["abstract"]["inode"]].path == "@stucktui-abstract"
    assert socks[meta["abstract"]["inode"]].type_name == "dgram"
    pair = socks[meta["pair"][0]["inode"]]
    assert pair.state_name == "ESTAB" and pair.peer_inode is None and pair.recv_q is None  # no peer column
    assert (
        parse_net_unix((net / "unix").read_text(), {meta["abstract"]["inode"]})[0].inode
        == meta["abstract"]["inode"]
    )


def test_format_endpoint_and_names():
    assert format_endpoint("10.0.0.1", 3306) == "10.0.0.1:3306"
    assert format_endpoint("::ffff:10.0.0.1", 0) == "[::ffff:10.0.0.1]:*"
    assert state_name(12) == "SYN_RECV" and state_name(99) == "STATE_99"


def test_torn_lines_are_skipped():
    assert parse_net_inet("header\n   0: 0100007F:18EB\n", "tcp") == ()
    assert parse_net_unix("header\n0000: 00000002\n") == ()
