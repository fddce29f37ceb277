"""Real sockets in child processes, inspected by the collector and checked against `ss`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable

import pytest

from stucktui.collect.close_wait import CloseWaitCounter
from stucktui.collect.sockets import SocketCollector
from stucktui.procfs.root import ProcRoot
from tests.helpers import wait_until

pytestmark = pytest.mark.live

K = 40
_INODE = re.compile(r"\bino:(\d+)")

# The child connects K clients to its own listener on loopback; a thread accepts each one,
# sends 300 bytes and closes it, so the client ends sit in CLOSE_WAIT with Recv-Q 301.
HOLDER = """
import socket, sys, threading
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
host = "::1" if sys.argv[1] == "6" else "127.0.0.1"
k = int(sys.argv[2])
srv = socket.socket(fam)
srv.bind((host, 0))
srv.listen(128)
def serve():
    for _ in range(k):
        a, _ = srv.accept()
        a.sendall(b"x" * 300)
        a.close()
threading.Thread(target=serve, daemon=True).start()
clients = [socket.create_connection(srv.getsockname()[:2]) for _ in range(k)]
print(srv.getsockname()[1])
ready()
sys.stdin.read()
"""


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def _inodes(pid: int) -> dict[int, int]:
    """socket inode -> fd, of pid's fds only."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out[int(link[8:-1])] = int(name)
    return out


def _ss_for(pid: int, port: int, args: str) -> set[tuple[int, str, int, int, str, str]]:
    """(fd, state, recv_q, send_q, local, peer) of pid's sockets among `ss -Hne<args>` rows to
    or from `port`: filtered by ss (never the whole box's table) and matched by inode (no -p,
    which would read the fds of every process)."""
    flt = f"sport = :{port} or dport = :{port}"
    out = subprocess.run(["ss", "-Hne" + args, flt], capture_output=True, text=True, check=True).stdout
    fds = _inodes(pid)
    rows = set()
    for line in out.splitlines():
        f = line.split()
        ino = _INODE.search(line)
        if ino and int(ino.group(1)) in fds:
            rows.add((fds[int(ino.group(1))], f[0].replace("-", "_"), int(f[1]), int(f[2]), f[3], f[4]))
    return rows


def _ours(pid: int, proto: str) -> set[tuple[int, str, int, int, str, str]]:
    ps = SocketCollector().process_sockets(pid)
    return {
        (r.fd, r.state, r.recv_q, r.send_q, r.local, r.remote) for r in ps.rows if r.proto.startswith(proto)
    }


def _column(pid: int) -> int | None:
    """The process list's CLOSE_WAIT column for `pid`, as its first refresh computes it."""
    return CloseWaitCounter(ProcRoot()).counts(_identities([pid])).get(pid)


def _close_wait_ready(pid: int, k: int):
    # the K client ends in CLOSE_WAIT and nothing else but the listener: on a busy box the
    # serving thread's last accepted socket can still be seen open in one snapshot
    def check():
        ps = SocketCollector().process_sockets(pid)
        cw = [r for r in ps.rows if r.state == "CLOSE_WAIT" and r.recv_q == 301]
        return ps if len(cw) == k and len(ps.rows) == k + 1 else None

    return check


@pytest.mark.parametrize("family", ["4", "6"])
def test_close_wait_with_unread_data_matches_ss(children, family):
    _need("ss")
    p = children.python(HOLDER, family, str(K), stdin=subprocess.PIPE)
    (port,) = map(int, children.wait_ready(p))
    ps = wait_until(_close_wait_ready(p.pid, K), timeout=30, what="K CLOSE_WAIT sockets")
    assert ps.source == "netlink"
    assert ps.state_counts() == {"CLOSE_WAIT": K, "LISTEN": 1}
    cw = [r for r in ps.rows if r.state == "CLOSE_WAIT"]
    assert all(r.close_wait_unread and r.unread_bytes == 300 for r in cw)
    assert all(r.proto == ("tcp6" if family == "6" else "tcp") for r in cw)
    (group,) = ps.by_remote
    assert (group.state, group.count, group.recv_q) == ("CLOSE_WAIT", K, 301 * K)
    # ss and we read at slightly different moments: retry until both agree on a stable state
    wait_until(lambda: _ours(p.pid, "tcp") == _ss_for(p.pid, port, "ta"), timeout=30, what="rows equal to ss")
    summary = SocketCollector().summary()
    (mine,) = (x for x in summary.processes if x.pid == p.pid)
    assert (mine.close_wait, mine.sockets) == (K, K + 1)
    host = "[::1]" if family == "6" else "127.0.0.1"
    assert mine.top_remote.startswith(host) and mine.top_remote_count == K
    assert summary.state_counts()["CLOSE_WAIT"] >= K
    assert _column(p.pid) == K  # the process list's column


def test_listener_with_full_backlog(children):
    _need("ss")
    p = children.python(
        """
        import socket, sys
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(2)
        queued = [socket.create_connection(srv.getsockname()) for _ in range(3)]
        print(srv.getsockname()[1])
        ready()
        sys.stdin.read()
        """,
        stdin=subprocess.PIPE,
    )
    (port,) = map(int, children.wait_ready(p))

    def listener():
        rows = [r for r in SocketCollector().process_sockets(p.pid).rows if r.state == "LISTEN"]
        return rows[0] if rows and rows[0].recv_q == 3 else None

    row = wait_until(listener, timeout=30, what="3 queued connections")
    assert (row.listen_backlog, row.accept_queue_full) == (2, True)
    wait_until(lambda: _ours(p.pid, "tcp") == _ss_for(p.pid, port, "ta"), timeout=30, what="rows equal to ss")


def test_unix_socketpair_between_two_children(children):
    code = """
        import os, socket, sys
        a, b = socket.socketpair()
        if os.fork() == 0:
            a.close()
            b.send(b"hi")
            sys.stdin.read()
            os._exit(0)
        b.close()
        print(a.fileno(), flush=True)
        ready()
        sys.stdin.read()
        """
    p = children.python(code, stdin=subprocess.PIPE)
    children.wait_ready(p)

    def kid() -> int | None:
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            pids = f.read().split()
        return int(pids[0]) if pids else None

    child = wait_until(kid, timeout=20, what="the forked child")

    def peer_rows():
        mine = [r for r in SocketCollector().process_sockets(p.pid).rows if r.proto == "unix" and r.peer]
        theirs = [r for r in SocketCollector().process_sockets(child).rows if r.proto == "unix" and r.peer]
        # the child sends after the fork: wait for its bytes too, not only for the peers
        return (mine, theirs) if mine and theirs and mine[0].recv_q == 2 else None

    mine, theirs = wait_until(peer_rows, timeout=20, what="unix peers, with the child's 2 bytes queued")
    assert [(r.peer_pid, r.peer_fd) for r in mine] == [(child, theirs[0].fd)]
    assert [(r.peer_pid, r.peer_fd) for r in theirs] == [(p.pid, mine[0].fd)]
    with open(f"/proc/{child}/comm") as f:
        assert mine[0].peer_name == f.read().strip()
    assert mine[0].sock.peer_inode == theirs[0].inode and theirs[0].sock.peer_inode == mine[0].inode
    assert mine[0].recv_q == 2  # the child's "hi", unread (and it stays so)


def test_child_in_its_own_network_namespace(children):
    _need("unshare")
    _need("ip")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {probe.stderr.decode().strip()}")
    code = (
        "import socket, sys\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 5555)); srv.listen(4)\n"
        "c = socket.create_connection(('127.0.0.1', 5555))\n"
        "a, _ = srv.accept(); a.sendall(b'xyz'); a.close()\n"
        "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()\n"
    )
    shell = f'ip link set lo up && exec {sys.executable} -c "{code}"'
    p = children.spawn(["unshare", "-n", "sh", "-c", shell], stdin=subprocess.PIPE)
    children.wait_ready(p)
    c = SocketCollector()
    ns = wait_until(lambda: c.netns_of(p.pid) if c.netns_of(p.pid) != c.own_netns else None, timeout=20)
    assert ns is not None

    def rows():
        ps = SocketCollector().process_sockets(p.pid)
        states = {r.state for r in ps.rows}
        return ps if {"LISTEN", "CLOSE_WAIT"} <= states else None

    ps = wait_until(rows, timeout=20, what="sockets of the namespaced child")
    assert ps.source == "proc" and ps.netns == ns
    by_state = {r.state: r for r in ps.rows}
    assert by_state["LISTEN"].local == "127.0.0.1:5555"
    assert (by_state["CLOSE_WAIT"].remote, by_state["CLOSE_WAIT"].recv_q) == ("127.0.0.1:5555", 4)
    # our own namespace's table does not have them
    own = subprocess.run(["ss", "-Htan", "sport = :5555"], capture_output=True, text=True).stdout
    assert "127.0.0.1:5555" not in own
    summary = SocketCollector().summary()
    (mine,) = (x for x in summary.processes if x.pid == p.pid)
    assert (mine.netns, mine.close_wait, mine.sockets) == (ns, 1, 2)
    assert _column(p.pid) == 1  # found in its own namespace


# The CLOSE_WAIT column across refreshes: "more" adds a CLOSE_WAIT socket, "fork" starts a
# process that inherits all of them (it prints its pid).
GROWER = """
import os, signal, socket, sys, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(128)
def serve():
    while True:
        a, _ = srv.accept(); a.sendall(b"x"); a.close()
threading.Thread(target=serve, daemon=True).start()
clients = [socket.create_connection(srv.getsockname()) for _ in range(int(sys.argv[1]))]
ready()
for line in sys.stdin:
    if line.strip() == "more":
        clients.append(socket.create_connection(srv.getsockname()))
        ready()
    elif line.strip() == "fork":
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        print(pid); ready()
"""


def _starttime(pid: int) -> bytes | None:
    """Field 22 of /proc/PID/stat, as bytes: a process name need not be UTF-8."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _identities(pids: Iterable[int] | None = None) -> dict[int, bytes]:
    """pid -> start time of `pids`; None: of every process, as the process list hands them to
    the CLOSE_WAIT column (the one test of its reuse across refreshes needs the box: a socket
    whose owner it was not told about forces a full scan)."""
    out = {}
    for pid in ProcRoot().pids() if pids is None else pids:
        if (start := _starttime(pid)) is not None:
            out[pid] = start
    return out


def test_close_wait_column_reuses_owners_between_refreshes(children):
    p = children.python(GROWER, str(K), stdin=subprocess.PIPE)
    children.wait_ready(p)
    counter = CloseWaitCounter(ProcRoot(), full_every=1000, rescan_gap=1000)

    def count(pid: int) -> int | None:
        return counter.counts(_identities()).get(pid)

    wait_until(lambda: count(p.pid) == K, timeout=30, what="K CLOSE_WAIT in the column")
    scans = counter.full_scans
    # nothing changed: the kept owners answer (another process on the box could add a
    # CLOSE_WAIT socket meanwhile and force a scan, so a few tries are allowed)
    reused = False
    for _ in range(5):
        before = counter.full_scans
        assert count(p.pid) == K
        if counter.full_scans == before:
            reused = True
            break
    assert reused, f"every refresh rescanned all fds ({counter.full_scans - scans} full scans)"
    # a new CLOSE_WAIT socket nobody is known to own: its likely holder (a process already
    # holding CLOSE_WAIT sockets, a leaking pool) is read, not every process
    assert p.stdin is not None
    p.stdin.write(b"more\n")
    p.stdin.flush()
    children.wait_ready(p)
    before = counter.full_scans
    wait_until(lambda: count(p.pid) == K + 1, timeout=30, what="the new CLOSE_WAIT socket")
    assert counter.full_scans == before
    # a fork inherits every socket: the new process is read without a full scan
    p.stdin.write(b"fork\n")
    p.stdin.flush()
    (kid,) = map(int, children.wait_ready(p))
    try:
        got = wait_until(
            lambda: (c := counter.counts(_identities())).get(kid) == K + 1 and c, timeout=30, what="the fork"
        )
        assert got[p.pid] == K + 1
        # the same pid naming another process (its start time differs) is read again as a new
        # process, without a full scan
        ids = _identities()
        ids[p.pid] = b"not the same process"
        before, reads = counter.full_scans, counter.reads
        assert counter.counts(ids)[p.pid] == K + 1
        assert counter.full_scans == before and counter.reads > reads
    finally:
        os.kill(kid, signal.SIGKILL)
        wait_until(lambda: not os.path.exists(f"/proc/{kid}") or _zombie(kid), what="the fork to exit")


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True
