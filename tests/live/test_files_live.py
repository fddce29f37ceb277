"""Files view on real children: a writer blocked on an undrained pipe, a pipe between two
children, an epoll set watching a CLOSE_WAIT socket."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import pytest

from stucktui.collect.files import collect_files, scan_pipes
from stucktui.model.files import pipe_summary
from stucktui.procfs.root import ProcRoot
from tests.helpers import ready_lines, wait_until

pytestmark = pytest.mark.live

# st column of /proc/net/tcp (include/net/tcp_states.h), only what these tests need.
_TCP_STATES = {"01": "ESTABLISHED", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def tcp_states(pid: int) -> dict[int, str]:
    """inode -> state from /proc/PID/net/tcp (the child's network namespace)."""
    out = {}
    with open(f"/proc/{pid}/net/tcp") as f:
        for line in f.readlines()[1:]:
            w = line.split()
            out[int(w[9])] = _TCP_STATES.get(w[3], w[3])
    return out


def rows(pid: int, **kw):
    return {r.fd: r for r in collect_files(ProcRoot(), pid, **kw).rows}


def blocked_in_write(pid: int) -> bool:
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/syscall") as f:
            if f.read().split()[0] == "1":  # write(2) on x86_64
                return True
    return False


def test_writer_blocked_on_a_pipe_whose_read_end_it_leaked_into_itself(children, tmp_path):
    """docs/incidents.md §1: the read end was inherited without close-on-exec by the writer itself, so a
    reader exists, nobody drains it, and stderr writes block once the pipe is full."""
    parent = children.python(
        """
        import os, subprocess, sys
        r, w = os.pipe()
        os.set_inheritable(r, True)
        code = "import os\\nwhile True: os.write(2, b'x' * 300)"
        gc = subprocess.Popen([sys.executable, "-c", code], stderr=w, close_fds=False)
        os.close(r); os.close(w)
        open(sys.argv[1], "w").write(f"{gc.pid} {r}")
        ready()
        import time
        while True: time.sleep(1)
        """,
        str(tmp_path / "info"),
    )
    children.wait_ready(parent)
    gc_pid, leaked_fd = map(int, (tmp_path / "info").read_text().split())
    try:
        if sys.platform != "linux" or os.uname().machine != "x86_64":
            pytest.skip("write(2) syscall number checked for x86_64 only")
        wait_until(lambda: blocked_in_write(gc_pid), 30, what="grandchild blocked in write")
        fds = rows(gc_pid)
        p = fds[2].pipe
        assert p is not None and fds[leaked_fd].kind == "pipe"
        assert p.no_reader and p.reader_is_writer
        assert [(x.pid, x.fd, x.end) for x in p.peers] == [(gc_pid, leaked_fd, "r")]
        assert p.fill.reason is None and p.fill.capacity == 65536
        # 300-byte writes fill pages to 3900 bytes: blocked while FIONREAD reads < capacity.
        assert p.fill.capacity * 0.9 <= (p.fill.queued or 0) <= p.fill.capacity
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(gc_pid, signal.SIGKILL)


def test_pipe_between_two_children_peers_both_ways(children):
    r, w = os.pipe()
    try:
        writer = children.python(
            "import os, sys, time\nos.write(int(sys.argv[1]), b'hello')\n"
            "ready()\nwhile True: time.sleep(1)\n",
            str(w),
            pass_fds=(w,),
        )
        reader = children.python("import time\nready()\nwhile True: time.sleep(1)\n", str(r), pass_fds=(r,))
    finally:
        os.close(r)
        os.close(w)
    children.wait_ready(writer)
    children.wait_ready(reader)
    m = scan_pipes(ProcRoot())
    wp = rows(writer.pid, pipe_map=m)[w].pipe
    rp = rows(reader.pid, pipe_map=m)[r].pipe
    assert wp is not None and rp is not None and wp.inode == rp.inode
    assert [(x.pid, x.fd, x.end) for x in wp.peers] == [(reader.pid, r, "r")]
    assert [(x.pid, x.fd, x.end) for x in rp.peers] == [(writer.pid, w, "w")]
    assert not (wp.no_reader or wp.no_writer or rp.no_reader or rp.no_writer)
    assert (wp.fill.queued, rp.fill.queued) == (5, 5)


SELF_PIPE = """
import os, select
r, w = os.pipe()   # the wake-up pipe of an event loop (Go's netpoll, gunicorn, asyncio)
ep = select.epoll()
ep.register(r, select.EPOLLIN)
print(r, w, ep.fileno())
ready()
while True:
    for fd, _ in ep.poll():
        os.read(fd, 4096)
"""


def test_a_wake_up_pipe_its_own_epoll_reads_is_not_flagged(children):
    """Both ends in one process is docs/incidents.md §1's shape only when nothing reads: a read end
    its own epoll set watches is drained by the event loop, so no 'no reader' label."""
    p = children.python(SELF_PIPE)
    r, w, ep = map(int, ready_lines(p))
    got = rows(p.pid)
    for fd in (r, w):
        pv = got[fd].pipe
        assert pv is not None and pv.watched_by == (ep,)
        assert not pv.no_reader and not pv.no_writer
    assert f"a wake-up pipe: epoll fd {ep} here reads it" in pipe_summary(got[w].pipe)


def test_epoll_watching_a_close_wait_socket(children, tmp_path):
    p = children.python(
        """
        import select, socket, sys, time
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
        cli = socket.create_connection(srv.getsockname()); peer, _ = srv.accept()
        peer.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); peer.close()
        ep = select.epoll()
        ep.register(cli.fileno(), select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET)
        open(sys.argv[1], "w").write(f"{ep.fileno()} {cli.fileno()}")
        ready()
        while True: time.sleep(1)
        """,
        str(tmp_path / "info"),
    )
    children.wait_ready(p)
    epfd, sockfd = map(int, (tmp_path / "info").read_text().split())
    states = wait_until(
        lambda: (s := tcp_states(p.pid)) and "CLOSE_WAIT" in s.values() and s, what="CLOSE_WAIT in net/tcp"
    )
    fds = rows(p.pid, socket_states=states)
    (watch,) = fds[epfd].epoll
    assert (watch.tfd, watch.fd, watch.kind, watch.stale) == (sockfd, sockfd, "socket", False)
    assert watch.socket_state == "CLOSE_WAIT" and watch.event_names == ("IN", "RDHUP", "ET")
    assert fds[sockfd].socket_state == "CLOSE_WAIT"
    assert watch.describe().endswith("CLOSE_WAIT")


ENDS = """
import os, socket, subprocess, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4)
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept(); a.close()  # c: CLOSE_WAIT
mine, theirs = socket.socketpair()
peer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], pass_fds=[theirs.fileno()])
theirs.close()
print(c.fileno(), c.getsockname()[1], srv.getsockname()[1], mine.fileno(), peer.pid, flush=True)
ready()
time.sleep(600)
"""


def test_a_socket_fd_in_files_reads_as_its_ends_and_the_peer_on_this_box(children):
    """Issue 19 item 8: the Files rows of sockets say local -> remote and the process holding
    the other end (a unix socketpair's), from the box facts' kept socket dumps."""
    from stucktui.collect.boxfacts import BoxFacts
    from stucktui.collect.panels import PanelCollector

    p = children.python(ENDS)
    fd, port, server, unix_fd, peer = map(int, ready_lines(p))
    try:
        root = ProcRoot()
        collector = PanelCollector(root, facts=BoxFacts(root))
        with root.pid_dir(p.pid) as d:
            files = collector.collect(d, frozenset({"files"})).files
        by_fd = {r.fd: r for r in files.rows}
        tcp = by_fd[fd]
        assert (
            tcp.endpoint == f"tcp 127.0.0.1:{port} -> 127.0.0.1:{server}" and tcp.socket_state == "CLOSE_WAIT"
        )
        unix = by_fd[unix_fd].endpoint or ""
        assert unix.startswith("unix ") and f"(peer pid {peer} python" in unix, unix
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(peer, signal.SIGKILL)
