"""The socket collector on a fixture /proc tree, with netlink answered by captured dumps."""

from __future__ import annotations

import json
import os
import shutil
import socket

import pytest

from stucktui.collect.close_wait import CloseWaitCounter
from stucktui.collect.sockets import SocketCollector
from stucktui.model.net import TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_LISTEN, InetSocket
from stucktui.model.sockets import SERVICES, SocketRow, group_by_remote, service_name
from stucktui.procfs import netlink as nl
from stucktui.procfs.root import ProcRoot
from stucktui.report.panels_json import sockets_report

OWN_NS, OTHER_NS = 4026531833, 4026532177
NET_FILES = ("tcp", "tcp6", "udp", "udp6", "unix")


@pytest.fixture
def net(fixtures_dir):
    return fixtures_dir / "net"


@pytest.fixture
def meta(net):
    return json.loads((net / "meta.json").read_text())


def _proc(root, pid: int, ns: int, fds: dict[int, str], comm: str, net_from=None) -> None:
    d = root / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "ns").mkdir()
    (d / "net").mkdir()
    os.symlink(f"net:[{ns}]", d / "ns" / "net")
    for fd, target in fds.items():
        os.symlink(target, d / "fd" / str(fd))
    (d / "comm").write_text(comm + "\n")
    (d / "stat").write_text(f"{pid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n")
    for name in NET_FILES:
        if net_from is not None:
            shutil.copy(net_from / name, d / "net" / name)
        else:
            (d / "net" / name).write_text("header\n")


@pytest.fixture
def tree(tmp_path, net, meta):
    """pid 100 in our namespace holds the captured sockets but one unix end; pid 300 (same
    namespace) holds that other end; pid 200 lives in another namespace whose tables are its
    own /proc/200/net files. Our namespace's /proc files are empty: only netlink knows it."""
    (tmp_path / "self" / "ns").mkdir(parents=True)
    os.symlink(f"net:[{OWN_NS}]", tmp_path / "self" / "ns" / "net")
    fds = {0: "/dev/null", 1: "pipe:[42]", 50: "socket:[999999]"}  # 50: a socket in no table
    for key in ("full_listener", "close_wait", "close_wait_empty", "estab_server", "close_wait6"):
        fds[meta[key]["fd"]] = f"socket:[{meta[key]['inode']}]"
    fds[40] = f"socket:[{meta['udp4']['inode']}]"
    fds[41] = f"socket:[{meta['udp6']['inode']}]"
    fds[meta["pair"][0]["fd"]] = f"socket:[{meta['pair'][0]['inode']}]"
    fds[42] = f"socket:[{meta['unix_listener']['inode']}]"
    fds[43] = f"socket:[{meta['close_wait']['inode']}]"  # a dup of the CLOSE_WAIT fd
    _proc(tmp_path, 100, OWN_NS, fds, "service")
    _proc(tmp_path, 300, OWN_NS, {7: f"socket:[{meta['pair'][1]['inode']}]"}, "peerproc")
    _proc(
        tmp_path,
        200,
        OTHER_NS,
        {3: f"socket:[{meta['close_wait']['inode']}]", 4: "anon_inode:[eventfd]"},
        "boxed",
        net,
    )
    return tmp_path


@pytest.fixture
def dumper(net):
    answers = {
        nl.inet_request(socket.AF_INET, socket.IPPROTO_TCP): "tcp.bin",
        nl.inet_request(socket.AF_INET6, socket.IPPROTO_TCP): "tcp6.bin",
        nl.inet_request(socket.AF_INET, socket.IPPROTO_UDP): "udp.bin",
        nl.inet_request(socket.AF_INET6, socket.IPPROTO_UDP): "udp6.bin",
        nl.unix_request(): "unix.bin",
    }
    # the kernel filters a CLOSE_WAIT-only request; the full capture answers it here, which
    # yields the same CLOSE_WAIT inodes (InetDump collects only that state)
    cw = 1 << TCP_CLOSE_WAIT
    answers[nl.inet_request(socket.AF_INET, socket.IPPROTO_TCP, cw)] = "tcp.bin"
    answers[nl.inet_request(socket.AF_INET6, socket.IPPROTO_TCP, cw)] = "tcp6.bin"
    # ... and so a LISTEN-only one (the collector keeps the listeners alone)
    answers[nl.inet_request(socket.AF_INET, socket.IPPROTO_TCP, 1 << TCP_LISTEN)] = "tcp.bin"
    answers[nl.inet_request(socket.AF_INET6, socket.IPPROTO_TCP, 1 << TCP_LISTEN)] = "tcp6.bin"
    calls: list[str] = []
    requests: list[bytes] = []

    def dump(req: bytes) -> list[bytes]:
        calls.append(answers[req])
        requests.append(req)
        return [(net / answers[req]).read_bytes()]

    dump.calls = calls  # type: ignore[attr-defined]
    dump.requests = requests  # type: ignore[attr-defined]
    return dump


def test_process_rows_from_netlink(tree, dumper, meta):
    c = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper)
    ps = c.process_sockets(100)
    assert ps.source == "netlink" and ps.netns == OWN_NS and ps.notes == ()
    by_fd = {r.fd: r for r in ps.rows}
    assert [r.fd for r in ps.rows] == sorted(by_fd)
    assert 0 not in by_fd and 1 not in by_fd  # not sockets
    cw = by_fd[meta["close_wait"]["fd"]]
    assert (cw.proto, cw.state, cw.recv_q, cw.send_q, cw.remote) == (
        "tcp",
        "CLOSE_WAIT",
        301,
        0,
        "127.0.0.1:6379",
    )
    assert cw.unread_bytes == 300 and cw.close_wait_unread and cw.service == "redis"
    assert by_fd[43].inode == cw.inode  # a dup'ed fd is its own row
    empty = by_fd[meta["close_wait_empty"]["fd"]]
    assert empty.recv_q == 1 and empty.unread_bytes == 0 and not empty.close_wait_unread  # only the FIN
    full = by_fd[meta["full_listener"]["fd"]]
    assert (full.state, full.listen_backlog, full.recv_q, full.accept_queue_full) == ("LISTEN", 2, 3, True)
    assert full.unread_bytes is None
    est = by_fd[meta["estab_server"]["fd"]]
    assert est.unread_bytes == 5 and not est.close_wait_unread
    six = by_fd[meta["close_wait6"]["fd"]]
    assert (
        six.proto == "tcp6"
        and six.family == "inet6"
        and six.remote.startswith("[::1]:")
        and six.unread_bytes == 7
    )
    assert (by_fd[40].proto, by_fd[40].state) == ("udp", "UNCONN")
    assert (by_fd[41].proto, by_fd[41].remote, by_fd[41].service) == ("udp6", "[::1]:53", "domain")
    assert (by_fd[50].proto, by_fd[50].state, by_fd[50].recv_q) == ("other", "", None)
    ul = by_fd[42]
    assert (ul.proto, ul.local, ul.state, ul.listen_backlog, ul.unix_path) == (
        "unix", meta["unix_listener"]["path"], "LISTEN", 0, meta["unix_listener"]["path"]
    )  # fmt: skip
    assert ul.accept_queue_full  # listen(0) with one client waiting


def test_unix_peer_owner_in_another_process(tree, dumper, meta):
    ps = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper).process_sockets(100)
    (pair,) = (r for r in ps.rows if r.inode == meta["pair"][0]["inode"])
    assert (pair.peer_pid, pair.peer_name, pair.peer_fd) == (300, "peerproc", 7)
    assert pair.remote == f"* {meta['pair'][1]['inode']}"  # the peer is unbound


def test_peers_not_resolved_when_not_asked(tree, dumper, meta):
    ps = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper).process_sockets(
        100, peers=False
    )
    (pair,) = (r for r in ps.rows if r.inode == meta["pair"][0]["inode"])
    assert pair.peer is None and pair.sock.peer_inode == meta["pair"][1]["inode"]


def test_states_groups_and_report(tree, dumper, meta):
    ps = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper).process_sockets(100)
    assert ps.state_counts() == {"CLOSE_WAIT": 3, "LISTEN": 1, "ESTAB": 1}  # TCP inodes, not fds
    top = ps.by_remote[0]
    assert (top.remote, top.state, top.count, top.service) == ("127.0.0.1:6379", "CLOSE_WAIT", 3, "redis")
    assert top.recv_q == 301 + 1 + 301
    rep = sockets_report(ps)
    assert json.loads(json.dumps(rep)) == rep
    assert set(rep) == {"states", "items", "by_remote", "accept_queues"}
    (q,) = rep["accept_queues"]  # the full listener: its queued connections, none closed
    assert (q["fd"], q["queued"], q["close_wait"]) == (meta["full_listener"]["fd"], q["backlog"] + 1, 0)
    assert set(rep["items"][0]) == {"fd", "proto", "local", "remote", "state", "recv_q", "send_q", "peer_pid"}
    item = next(i for i in rep["items"] if i["fd"] == meta["pair"][0]["fd"])
    assert item["peer_pid"] == 300
    assert rep["by_remote"][0] == {"remote": "127.0.0.1:6379", "state": "CLOSE_WAIT", "count": 3}


def test_one_dump_per_namespace_per_refresh(tree, dumper):
    c = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper)
    c.process_sockets(100)
    c.process_sockets(300)
    c.summary()
    assert sorted(dumper.requests) == sorted(set(dumper.requests))


def test_other_namespace_reads_its_own_proc_files(tree, dumper, meta):
    ps = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper).process_sockets(200)
    assert ps.source == "proc" and ps.netns == OTHER_NS
    (row,) = ps.rows
    assert (row.fd, row.state, row.recv_q, row.listen_backlog) == (3, "CLOSE_WAIT", 301, None)
    assert any("namespace" in n for n in ps.notes)


def test_fallback_to_proc_when_netlink_fails(tree, net, meta):
    def broken(req: bytes) -> list[bytes]:
        raise PermissionError(1, "Operation not permitted")

    for name in NET_FILES:
        shutil.copy(net / name, tree / "100" / "net" / name)
    ps = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=broken).process_sockets(100)
    assert ps.source == "proc" and any("sock_diag refused" in n for n in ps.notes)
    by_fd = {r.fd: r for r in ps.rows}
    full = by_fd[meta["full_listener"]["fd"]]
    assert full.listen_backlog is None and not full.accept_queue_full  # /proc has no backlog
    assert by_fd[meta["close_wait"]["fd"]].recv_q == 301
    assert by_fd[meta["pair"][0]["fd"]].peer is None  # /proc/net/unix has no peers


def test_netlink_off_by_default_for_a_fixture_root(tree):
    assert SocketCollector(ProcRoot(str(tree))).process_sockets(100).source == "proc"


def test_summary_counts_per_process_and_namespace(tree, dumper, meta):
    s = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper).summary()
    per = {p.pid: p for p in s.processes}
    assert (per[100].sockets, per[100].close_wait) == (11, 4)  # fds: the dup of a CLOSE_WAIT counts
    assert (per[200].sockets, per[200].close_wait, per[200].netns) == (1, 1, OTHER_NS)
    assert (per[300].sockets, per[300].close_wait) == (1, 0)
    assert (per[100].name, per[200].name, per[300].name) == ("service", "boxed", "peerproc")
    # where its CLOSE_WAIT sockets point: 2 of its 3 sockets (4 fds, one a dup) go to redis
    # over IPv4, the third over IPv6
    assert (per[100].top_remote, per[100].top_remote_count) == ("127.0.0.1:6379 (redis)", 2)
    assert per[300].top_remote is None
    assert [p.pid for p in s.by_close_wait()] == [100, 200]
    assert s.by_sockets()[0].pid == 100
    assert s.namespaces == 2
    # both namespaces' tables are the same capture here, so every count doubles
    own = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper).state_counts()
    assert s.state_counts() == {k: 2 * v for k, v in own.items()}
    assert own["CLOSE_WAIT"] == 3 and own["LISTEN"] == 3


def test_vanished_process_and_fd(tree, dumper, meta):
    from stucktui.procfs.errors import ProcessGone

    c = SocketCollector(ProcRoot(str(tree)), use_netlink=True, dumper=dumper)
    with pytest.raises(ProcessGone):
        c.process_sockets(4242)
    assert 4242 not in {p.pid for p in c.summary().processes}


def test_service_names():
    assert (
        service_name(3306) == "mysql" and service_name(5432) == "postgresql" and service_name(6379) == "redis"
    )
    assert service_name(1) is None and all(isinstance(v, str) for v in SERVICES.values())


def test_close_wait_state_number_is_the_kernel_one():
    assert TCP_CLOSE_WAIT == 8


def _column(root: ProcRoot, dumper) -> dict[int, int | None]:
    """The CLOSE_WAIT column's first refresh (a full pass) over every process of the tree."""
    counter = CloseWaitCounter(root, collector=lambda: SocketCollector(root, use_netlink=True, dumper=dumper))
    return counter.counts(dict.fromkeys(root.pids(), 0))


def test_close_wait_column_per_process(tree, dumper):
    assert _column(ProcRoot(str(tree)), dumper) == {100: 4, 200: 1, 300: 0}
    # our namespace costs two CLOSE_WAIT-only dumps: no UDP, no unix, no full TCP table
    assert dumper.calls == ["tcp.bin", "tcp6.bin"]


def test_close_wait_column_skips_fds_in_a_quiet_namespace(tree):
    class CountingRoot(ProcRoot):
        opened: list[int] = []

        def pid_dir(self, pid):
            self.opened.append(pid)
            return super().pid_dir(pid)

    root = CountingRoot(str(tree))
    # no CLOSE_WAIT in our namespace; pid 200's (its /proc/200/net/tcp) has one: only 200 is scanned
    assert _column(root, lambda req: []) == {100: 0, 200: 1, 300: 0}
    assert root.opened == [200]


def test_accepted_connections_grouped_by_client_address_not_port():
    """A server's accepted sockets come from ephemeral ports: one group per client host."""

    def row(fd, state, local_port, remote, remote_port):
        s = InetSocket("tcp", socket.AF_INET, state, "10.0.0.1", local_port, remote, remote_port, 0, 0, 0, fd)
        return SocketRow(fd, fd, s, 1, "netlink")

    rows = [row(3, TCP_LISTEN, 8080, "0.0.0.0", 0)]
    rows += [row(10 + i, TCP_ESTABLISHED, 8080, "10.0.0.7", 40000 + i) for i in range(3)]
    rows += [row(20, TCP_ESTABLISHED, 8080, "10.0.0.9", 50000)]
    rows += [row(30 + i, TCP_ESTABLISHED, 51000 + i, "10.0.0.5", 3306) for i in range(2)]  # it opened
    got = [(g.remote, g.state, g.count) for g in group_by_remote(rows)]
    assert got == [("10.0.0.7:*", "ESTAB", 3), ("10.0.0.5:3306", "ESTAB", 2), ("10.0.0.9:*", "ESTAB", 1)]


def test_sockstat_counts_tcp_sockets_in_no_table(net):
    """Captured while a process held 30 TCP sockets reset by their peer (state CLOSE, in no
    table): alloc 52 against inuse 22."""
    from stucktui.procfs.net import parse_sockstat, unlisted_tcp

    stats = parse_sockstat((net / "sockstat_30_reset.txt").read_text())
    assert stats["TCP"] == {"inuse": 22, "orphan": 0, "tw": 0, "alloc": 52, "mem": 46}
    assert stats["sockets"] == {"used": 76} and stats["FRAG"] == {"inuse": 0, "memory": 0}
    assert unlisted_tcp(stats) == 30 and unlisted_tcp({}) == 0
