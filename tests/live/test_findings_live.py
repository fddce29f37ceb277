"""Live: every rule fires on a real child showing its condition, names the right fd, peer,
signal or file, and stays silent on a healthy child. Every process is ended by pid."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import signal
import socket
import subprocess
from typing import Any

import pytest

from stucktui.collect.detail import collect_detail, sample_cpu_percent
from stucktui.collect.panels import PanelCollector, collect_panels_once
from stucktui.collect.proclist import ProcessListCollector
from stucktui.collect.sockets import SocketCollector
from stucktui.collect.threads import ThreadCollector
from stucktui.diagnose.history import History
from stucktui.inspection.examine import examine
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
from stucktui.inspection.triage import triage_box
from stucktui.model.findings import Finding
from stucktui.model.python import PySpyFailure
from stucktui.model.threads import ThreadsSnapshot
from stucktui.procfs.root import ProcRoot
from stucktui.tools.pyspy import dump_python, find_pyspy
from tests.helpers import RESET_POOL, ready_lines, wait_until

pytestmark = pytest.mark.live


def examine_process(*args: Any, **kw: Any) -> list[Finding]:
    """The findings of one examination, as the process view takes them."""
    return list(examine(*args, **kw).findings)


def findings(pid: int, *, python: bool = False, cpu: bool = False, history=None, now=None) -> list[Finding]:
    root = ProcRoot()
    pct = sample_cpu_percent(root, pid, 0.3) if cpu else None
    detail = collect_detail(root, pid, cpu_percent=pct)
    panels = collect_panels_once(root, pid, python=python)
    return examine_process(root, detail, panels=panels, history=history, python=python, now=now)


def wait_for(pid: int, rule: str, what: str = "", **kw) -> Finding:
    def check():
        return next((f for f in findings(pid, **kw) if f.id == rule), None)

    return wait_until(check, timeout=40, interval=0.2, what=what or f"{rule} on pid {pid}")


def _threads(pid: int):
    with ProcRoot().pid_dir(pid) as d:
        return ThreadCollector(ProcRoot()).collect(d).rows


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def need_pyspy(pid: int) -> None:
    if find_pyspy() is None:
        pytest.skip("py-spy is not installed")
    probe = dump_python(pid, timeout=60)
    if getattr(probe, "kind", None) is PySpyFailure.PERMISSION:
        pytest.skip("py-spy may not attach here")


STDERR_LEAK = """
import os, threading, time
r, w = os.pipe()
os.dup2(w, 2)   # stderr is a pipe whose only read end (r) this process keeps and never reads
def worker():
    while True:
        os.write(2, b"debug: waiting for a request\\n")
for _ in range(4):
    threading.Thread(target=worker, daemon=True).start()
print(r)
ready()
while True:
    time.sleep(1000)
"""


def test_pipe_writers_blocked_and_workers_all_blocked(children):
    p = children.python(STDERR_LEAK)
    (r,) = map(int, ready_lines(p))
    f = wait_for(p.pid, "pipe-writers-blocked")
    assert f.severity == "critical" and f.fds == (2,) and len(f.tids) == 4
    assert "fd 2, its stderr" in f.summary and f"only read end is fd {r} of this same process" in f.summary
    w = next(x for x in findings(p.pid) if x.id == "workers-all-blocked")
    assert (
        w.summary.startswith(f"All 4 worker threads of pid {p.pid}")
        and "blocked in write on fd 2" in w.summary
    )


def test_examine_process_reuses_the_panels_the_view_has(children):
    """The process view's path: only the Threads panel was collected (its fd arguments read
    one by one: no Files view, no scan of the box); examine_process adds what the rules need,
    exactly."""
    p = children.python(STDERR_LEAK)
    (r,) = map(int, ready_lines(p))
    wait_for(p.pid, "pipe-writers-blocked")
    root = ProcRoot()
    detail = collect_detail(root, p.pid)
    with root.pid_dir(p.pid) as d:
        shown = PanelCollector(root).collect(d, frozenset({"threads"}))
    assert shown.files is None and isinstance(shown.threads, ThreadsSnapshot)
    assert any(a.target.startswith("pipe:[") for t in shown.threads.rows for a in t.fd_args)
    found = {f.id: f for f in examine_process(root, detail, panels=shown, history=History())}
    assert {"pipe-writers-blocked", "workers-all-blocked"} <= set(found)
    assert f"only read end is fd {r} of this same process" in found["pipe-writers-blocked"].summary
    assert {f.id for f in examine_process(root, detail)} >= {"pipe-writers-blocked"}


LOGGING_LEAK = """
import logging, os, sys, threading, time
r, w = os.pipe()
os.dup2(w, 2)   # stderr: a pipe whose only read end this process keeps and never reads
logging.basicConfig(stream=os.fdopen(2, "w"), level=logging.INFO)
log = logging.getLogger("svc")
def worker(i):
    while True:
        log.info("worker %d handled a request %s", i, "x" * 100)
for i in range(4):
    threading.Thread(target=worker, args=(i,), daemon=True).start()
ready()
while True:
    time.sleep(1000)
"""


def test_workers_queued_on_the_logging_lock_behind_the_blocked_write(children):
    """CPython's shape of docs/incidents.md §1: one worker is in write(2) inside StreamHandler.emit,
    holding the handler's lock; the other three wait for that lock in futex. Python stacks
    (py-spy, run by stucktui itself) show they are stuck behind the write, not idle."""
    p = children.python(LOGGING_LEAK)
    children.wait_ready(p)
    need_pyspy(p.pid)

    def settled() -> bool:
        calls = sorted(t.call.name if t.call else "running" for t in _threads(p.pid) if t.tid != p.pid)
        return calls == ["futex", "futex", "futex", "write"]

    wait_until(settled, timeout=30, what="one writer blocked and three threads behind it")
    root = ProcRoot()
    found = {f.id: f for f in examine_process(root, collect_detail(root, p.pid), python=True)}
    assert {"pipe-writers-blocked", "workers-all-blocked"} <= set(found), found
    assert "3 more threads wait behind it in Handler.acquire (" in (found["pipe-writers-blocked"].summary)
    w = found["workers-all-blocked"]
    assert w.summary.startswith(f"All 4 worker threads of pid {p.pid}") and "stuck on fd 2" in w.summary
    assert "3 are waiting for a lock held across that call" in w.summary
    r = triage_box(root, history=History())
    assert {"pipe-writers-blocked", "workers-all-blocked"} <= {f.id for f in r.findings if f.pid == p.pid}


PARENT_WAITS = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import os\\nwhile True: os.write(1, b'x' * 4096)"],
                         stdout=subprocess.PIPE)
print(child.pid)
ready()
child.wait()   # never reads child.stdout: the classic subprocess deadlock
"""


def test_pipe_reader_waiting_for_the_writer_is_a_deadlock(children):
    p = children.python(PARENT_WAITS)
    (kid,) = map(int, ready_lines(p))
    try:
        f = wait_for(kid, "pipe-writers-blocked")
        assert f.severity == "critical" and f.fds == (1,)
        assert f"pid {p.pid} (python" in f.summary and "waits for this process to exit" in f.summary
        assert "deadlock" in f.summary
    finally:
        kill_quietly(kid)


WRITES_FOREVER = "import os, sys\nready()\nwhile True: os.write(int(sys.argv[1]), b'x' * 4096)\n"
SLOW_READER = """
import os, sys, time
ready()
while True:
    os.read(int(sys.argv[1]), 512)
    time.sleep(0.005)   # a slow consumer: sleeping in almost every sample
"""
IDLE_READER = "import sys, time\nready()\nwhile True: time.sleep(1000)\n"


def _writer_and_reader(children, reader: str):
    """Two children joined by a pipe: one writes forever, `reader` holds the read end."""
    r, w = os.pipe()
    try:
        writer = children.python(WRITES_FOREVER, str(w), pass_fds=(w,))
        peer = children.python(reader, str(r), pass_fds=(r,))
    finally:
        os.close(r)
        os.close(w)
    return writer, peer


@pytest.mark.parametrize("reader,blamed", [(SLOW_READER, False), (IDLE_READER, True)], ids=["slow", "idle"])
def test_pipe_reader_that_sleeps_between_reads_is_not_blamed(children, reader, blamed):
    """Both readers sleep in clock_nanosleep in any one sample; only the one that reads
    nothing while stucktui watches it (rchar of /proc/PID/io) is blamed."""
    writer, peer = _writer_and_reader(children, reader)
    children.wait_ready(writer)
    children.wait_ready(peer)
    h = History()

    def blocked_seen(now: float) -> list[Finding]:
        return [f for f in findings(writer.pid, history=h, now=now) if f.id == "pipe-writers-blocked"]

    # the writer blocks within a few samples either way (the slow reader drains 100 KB/s at most)
    def writer_blocked() -> bool:
        return any(t.call and t.call.name == "write" and t.state == "S" for t in _threads(writer.pid))

    wait_until(writer_blocked, timeout=30, what="the writer blocked")
    blocked_seen(1000.0)
    got = []
    for i in range(3):  # past the 5 s a live reader is given, three looks
        got += blocked_seen(1010.0 + i)
    if blamed:
        assert got and f"pid {peer.pid} (python" in got[0].summary and "read nothing in" in got[0].summary
    else:
        assert got == [], got[0].summary


def test_triage_watches_the_readers_of_every_suspect_in_one_window(children, monkeypatch):
    """Two writers blocked on two idle readers: triage blames each reader, and watches both
    for reads in one shared window (one collect_peers call), not one window per suspect."""
    triage_mod = importlib.import_module("stucktui.inspection.suspects")  # where triage calls it
    calls: list[list[int]] = []
    real = triage_mod.collect_peers

    def spy(root, pids, **kw):
        pids = list(pids)
        calls.append(pids)
        return real(root, pids, **kw)

    monkeypatch.setattr(triage_mod, "collect_peers", spy)
    pairs = []
    for _ in range(2):
        pairs.append(_writer_and_reader(children, IDLE_READER))
    for writer, peer in pairs:
        children.wait_ready(writer)
        children.wait_ready(peer)

    def blocked(pid: int) -> bool:
        return any(t.call and t.call.name == "write" and t.state == "S" for t in _threads(pid))

    wait_until(lambda: all(blocked(w.pid) for w, _ in pairs), timeout=30, what="both writers blocked")
    root = ProcRoot()
    collector = ProcessListCollector(root)
    h = History()
    triage_box(root, processes=collector.collect(), history=h, now=1000.0)

    def found():
        calls.clear()
        r = triage_box(root, processes=collector.collect(), history=h, now=1010.0)
        got = {f.pid: f for f in r.findings if f.id == "pipe-writers-blocked"}
        return got if all(w.pid in got for w, _ in pairs) else None

    got = wait_until(found, 40, interval=0.3, what="both writers in the triage")
    for writer, peer in pairs:
        summary = got[writer.pid].summary
        assert f"pid {peer.pid} (python" in summary and "read nothing in" in summary, summary
    assert len(calls) == 1 and {peer.pid for _, peer in pairs} <= set(calls[0])


def _give_up_after_asking(port: int, n: int) -> None:
    """n clients each send a 300-byte request to the loopback port and close at once."""
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET / HTTP/1.1\r\n" + b"x" * 284)  # 300 bytes
        c.close()


NEVER_READS = """
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1])
ready()
held = []
while True:
    held.append(srv.accept()[0])   # accepted, never read
"""


def test_close_wait_unread_on_accepted_requests(children):
    p = children.python(NEVER_READS)
    (port,) = map(int, ready_lines(p))
    _give_up_after_asking(port, 3)
    f = wait_for(p.pid, "close-wait-unread", what="3 CLOSE_WAIT sockets with unread data")
    wait_until(lambda: len(next(x for x in findings(p.pid) if x.id == "close-wait-unread").fds) == 3, 30)
    f = next(x for x in findings(p.pid) if x.id == "close-wait-unread")
    assert "3 CLOSE_WAIT sockets with unread data" in f.summary and "300 bytes on fd" in f.summary
    assert "accept4" in f.summary  # names what its threads do instead of reading
    assert not [x for x in findings(p.pid) if x.id == "close-wait-leak"]  # server side: not a pool
    assert "from 1 peer: 127.0.0.1:* ×3" in f.evidence
    # the box-wide Sockets view counts them by client address too, not one ephemeral port
    (mine,) = (x for x in SocketCollector().summary().processes if x.pid == p.pid)
    assert (mine.top_remote, mine.top_remote_count) == ("127.0.0.1:*", 3)


# A forking server (PostgreSQL, Apache prefork, inetd): the parent accepts, a child closes the
# listener and keeps the connections; these never read what their clients sent.
FORKED_BACKEND = """
import os, socket, sys, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1])
ready()
conns = [srv.accept()[0] for _ in range(3)]
pid = os.fork()
if pid == 0:
    srv.close()
    while True:
        time.sleep(1000)
for c in conns:
    c.close()
print(pid)
ready()
os.waitpid(pid, 0)
"""


def test_connections_accepted_by_a_parent_are_not_a_pool_leak_in_its_forked_child(children):
    p = children.python(FORKED_BACKEND)
    (port,) = map(int, ready_lines(p))
    _give_up_after_asking(port, 3)
    (child,) = map(int, ready_lines(p))
    try:

        def all_closed():
            with ProcRoot().pid_dir(child) as d:
                socks = SocketCollector().process_sockets(child, piddir=d)
            return sum(1 for r in socks.rows if r.state == "CLOSE_WAIT") == 3 and socks

        socks = wait_until(all_closed, 30, what="three CLOSE_WAIT sockets in the forked child")
        assert port in socks.served_ports and ("127.0.0.1:*", "CLOSE_WAIT", 3) in [
            (g.remote, g.state, g.count) for g in socks.by_remote
        ]
        got = {f.id: f for f in findings(child)}
    finally:
        os.kill(child, signal.SIGKILL)  # the grandchild, by its pid
    assert "close-wait-leak" not in got  # not a pool: the parent's listener accepted them
    assert "close-wait-unread" in got and "300 bytes on fd" in got["close-wait-unread"].summary


NEVER_ACCEPTS = """
import socket, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1])
ready()
while True:
    time.sleep(1000)   # the thread that should accept() is busy elsewhere, forever
"""


def test_accept_queue_abandoned_on_requests_never_accepted(children):
    """Clients send a request and give up before the server accepts: their connections wait
    in the accept queue as CLOSE_WAIT sockets that no fd holds (ss shows them, lsof does not)."""
    p = children.python(NEVER_ACCEPTS)
    (port,) = map(int, ready_lines(p))
    _give_up_after_asking(port, 3)

    def closed_three():
        f = next((x for x in findings(p.pid) if x.id == "accept-queue-abandoned"), None)
        return f if f is not None and "3 of them were closed" in f.summary else None

    f = wait_until(closed_three, 30, what="3 abandoned connections in the accept queue")
    assert f"has not accepted 3 connections waiting on 127.0.0.1:{port} (fd 3)" in f.summary
    assert "900B of requests never read" in f.summary
    assert not [x for x in findings(p.pid) if x.id == "close-wait-unread"]  # no fd holds them
    r = triage_box(ProcRoot(), history=History())
    assert any(x.pid == p.pid and x.id == "accept-queue-abandoned" for x in r.findings)


def test_triage_finds_a_leak_whose_sockets_were_all_reset(children):
    """No CLOSE_WAIT left anywhere, so no CLOSE_WAIT count points at it: /proc/net/sockstat
    says TCP sockets are held in no table, and the box scan finds who holds them."""
    p = children.python(RESET_POOL)
    children.wait_ready(p)
    root = ProcRoot()

    def found():
        r = triage_box(root, history=History())
        return next((f for f in r.findings if f.pid == p.pid and f.id == "close-wait-leak"), None)

    f = wait_until(found, 30, interval=0.3, what="the reset pool in the triage")
    assert "holds 25 TCP sockets that are already reset or shut down" in f.summary


POOL = """
import socket, threading
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
def server():
    while True:
        srv.accept()[0].close()   # the balancer's idle timeout, at once
threading.Thread(target=server, daemon=True).start()
pool = [socket.create_connection(srv.getsockname()) for _ in range(3)]
print(srv.getsockname()[1], *(c.fileno() for c in pool))
ready()
import time
while True:
    time.sleep(1000)
"""


def test_the_reset_sockets_holders_come_from_the_fd_index_without_reading_fds_again(children):
    """The box scan's pass for sockets in no table takes each process's socket fds from the
    fd owner index (kept by its last pass), reading a process itself only when the index
    has nothing for it: both ways give the same holders."""
    from stucktui.collect.boxfacts import BoxFacts
    from stucktui.collect.sockets import SocketCollector

    p = children.python(RESET_POOL)
    children.wait_ready(p)
    root = ProcRoot()
    facts = BoxFacts(root)
    asked: list[int] = []

    def kept(pid: int) -> list[tuple[int, int]] | None:
        asked.append(pid)
        return facts.index.socket_fds(pid)

    def both() -> bool:
        facts.tick()
        facts.warm_index()
        asked.clear()
        via_index = SocketCollector(root).closed_tcp_holders([p.pid, os.getpid()], kept)
        read = SocketCollector(root).closed_tcp_holders([p.pid, os.getpid()])
        return via_index == read and via_index.get(p.pid) == 25 and asked == [p.pid, os.getpid()]

    wait_until(both, 30, interval=0.3, what="the reset pool's 25 sockets, both ways")
    assert facts.index.socket_fds(p.pid) is not None  # the index answered for the pool


def test_close_wait_leak_grows_with_the_time_stucktui_has_seen_it(children):
    p = children.python(POOL)
    port, *fds = map(int, ready_lines(p))
    h = History()
    f = wait_for(p.pid, "close-wait-leak", history=h, now=1000.0)
    wait_until(lambda: len(next(x for x in findings(p.pid) if x.id == "close-wait-leak").fds) == 3, 30)
    first = next(x for x in findings(p.pid, history=h, now=1000.0) if x.id == "close-wait-leak")
    assert first.severity == "info" and f"3 CLOSE_WAIT connections to 127.0.0.1:{port}" in first.summary
    assert set(first.fds) == set(fds)
    later = next(x for x in findings(p.pid, history=h, now=1700.0) if x.id == "close-wait-leak")
    assert later.severity == "critical" and any("for 11m" in e for e in later.evidence)
    assert f.pid == p.pid


def test_close_wait_leak_goes_on_after_the_leaked_sockets_are_reset(children):
    """A write (or a keepalive probe) on a leaked CLOSE_WAIT connection gets a reset: the
    socket leaves every table while the pool still holds the fd. The leak stays found, and
    its age goes on from the CLOSE_WAIT days (same inode)."""
    p = children.python(POOL.replace("ready()", "import sys\nready()\nsys.stdin.readline()\n"
                                     "for c in pool:\n    c.send(b'ping')\nprint('sent', flush=True)"),
                        stdin=subprocess.PIPE)  # fmt: skip
    port, *fds = map(int, ready_lines(p))
    h = History()
    wait_until(lambda: len(next(x for x in findings(p.pid) if x.id == "close-wait-leak").fds) == 3, 30)
    findings(p.pid, history=h, now=1000.0)
    assert p.stdin is not None
    p.stdin.write(b"go\n")
    p.stdin.flush()

    def reset() -> bool:
        with ProcRoot().pid_dir(p.pid) as d:
            rows = SocketCollector().process_sockets(p.pid, piddir=d).rows
        return sum(1 for r in rows if r.closed_tcp) == 3

    wait_until(reset, 30, what="the three pooled sockets reset")
    (f,) = [x for x in findings(p.pid, history=h, now=1200.0) if x.id == "close-wait-leak"]
    assert "holds 3 TCP sockets that are already reset or shut down" in f.summary
    assert set(f.fds) == set(fds) and any("for 3m" in e for e in f.evidence)


SPIN = """
import select, socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
cli = socket.create_connection(srv.getsockname())
srv.accept()[0].close()          # Redis closes the idle client
ep = select.epoll()
ep.register(cli.fileno(), select.EPOLLIN)
print(ep.fileno(), cli.fileno())
ready()
while True:
    ep.poll(5.0)                 # readable forever, never read
"""


def test_epoll_spin_on_a_close_wait_socket(children):
    p = children.python(SPIN)
    epfd, sock = map(int, ready_lines(p))

    def critical() -> Finding | None:
        # a box busy with other work can starve the loop below half a core for a moment (then
        # it is a warning): look again until a window shows it spinning flat out
        return next(
            (x for x in findings(p.pid, cpu=True) if x.id == "epoll-spin" and x.severity == "critical"), None
        )

    f = wait_until(critical, timeout=40, interval=0.2, what="a critical epoll-spin")
    assert f.fds == (sock, epfd) and f.severity == "critical"
    assert f"epoll fd {epfd} watches fd {sock}, a socket in CLOSE_WAIT" in f.summary


def test_epoll_spin_goes_on_after_the_socket_is_shut_down(children):
    """shutdown(SHUT_RDWR) moves the CLOSE_WAIT socket to CLOSE and out of every table, but
    the fd stays registered and epoll_wait now reports HUP at once: still a spin (what
    stucktui's shutdown-both action leaves behind; only closing the fd ends it)."""
    p = children.python(SPIN.replace("ready()", "cli.shutdown(socket.SHUT_RDWR)\nready()"))
    epfd, sock = map(int, ready_lines(p))
    f = wait_for(p.pid, "epoll-spin", cpu=True)
    assert f.fds == (sock, epfd)
    assert f"epoll fd {epfd} watches fd {sock}, a socket that is closed (reset or shut down)" in f.summary
    # the box-wide triage finds it too, though it holds no CLOSE_WAIT socket any more
    root = ProcRoot()
    collector = ProcessListCollector(root)
    collector.collect()  # CPU% needs two samples

    def in_triage():
        r = triage_box(root, processes=collector.collect(), history=History())
        return any(x.pid == p.pid and x.id == "epoll-spin" for x in r.findings)

    wait_until(in_triage, 40, interval=0.5, what="the spinner in the triage")


INHERITED_MASK = """
import signal, subprocess, threading, time
def spawner():
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    c = subprocess.Popen(["sleep", "1000"])
    print(c.pid, threading.get_native_id(), flush=True)
    ready()
    time.sleep(1000)
threading.Thread(target=spawner, daemon=True).start()
while True:
    time.sleep(1000)
"""


def test_signal_blocked_pending_says_the_mask_was_inherited(children):
    p = children.python(INHERITED_MASK)
    kid, tid = map(int, ready_lines(p))
    try:
        assert not [f for f in findings(kid) if f.id == "signal-blocked-pending"]  # blocked, not pending
        os.kill(kid, signal.SIGALRM)
        f = wait_for(kid, "signal-blocked-pending")
        assert f.summary.startswith(f"SIGALRM is blocked and pending in pid {kid} (sleep)")
        assert f"inherited from its parent pid {p.pid} (python" in f.summary and f"thread {tid}" in f.summary
    finally:
        kill_quietly(kid)


def test_lock_self_wait_blocked_in_flock(children, tmp_path):
    lock = tmp_path / "app.log.lock"
    p = children.python(
        """
        import fcntl, os, sys
        a = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        fcntl.flock(a, fcntl.LOCK_EX)
        b = os.open(sys.argv[1], os.O_RDWR)
        print(a, b)
        ready()
        fcntl.flock(b, fcntl.LOCK_EX)   # waits for the lock it holds through a
        """,
        str(lock),
    )
    a, b = map(int, ready_lines(p))
    f = wait_for(p.pid, "lock-self-wait")
    assert f"holds the FLOCK WRITE lock on {lock} (fd {a}) and waits for that same lock" in f.summary
    assert any(f"flock({b} -> {lock}, LOCK_EX)" in e for e in f.evidence)


OFD_LOCK = """
import fcntl, os, signal, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
def lock():
    fcntl.fcntl(fd, 38, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))  # F_OFD_SETLKW
if sys.argv[2] == "hold":
    lock()
print(fd)
ready()
lock()  # the holder has it already (an OFD lock is per open file): the waiter blocks here
signal.pause()
"""


def test_lock_wait_of_an_ofd_waiter_names_the_holder(children, tmp_path):
    """/proc/locks lists OFD holders and waiters with pid -1: the waiter is known by its
    thread blocked in F_OFD_SETLKW, the holder by its fdinfo lock: line, in the process's
    own findings and box-wide."""
    lock = tmp_path / "ofd.lock"
    holder = children.python(OFD_LOCK, str(lock), "hold")
    ready_lines(holder)
    waiter = children.python(OFD_LOCK, str(lock), "wait")
    (fd,) = map(int, ready_lines(waiter))
    f = wait_for(waiter.pid, "lock-wait")
    assert f"waits for the OFD WRITE lock on {lock}, held by pid {holder.pid}" in f.summary
    assert any(f"fcntl({fd} -> {lock}, F_OFD_SETLKW)" in e for e in f.evidence)
    # the holder itself is not said to wait
    assert not [x for x in findings(holder.pid) if x.id == "lock-wait"]

    def in_triage():
        r = triage_box(ProcRoot(), history=None)
        return next((x for x in r.findings if x.pid == waiter.pid and x.id == "lock-wait"), None)

    boxed = wait_until(in_triage, 30, what="the OFD waiter in the box-wide triage")
    assert f"held by pid {holder.pid}" in boxed.summary


# docs/incidents.md §5 in its polling form is the demo's log-worker (stucktui/incidents/log_worker.py):
# its SIGTERM handler polls with LOCK_NB for the log's lock that the code it interrupted holds.
# Each is run with the lock file's path after it.
POLLER = ("log_worker",)


def test_lock_self_wait_of_a_lock_nb_poller_seen_in_its_stack(children, tmp_path):
    p = children.incident(*POLLER, str(tmp_path / "app.log.lock"))
    children.wait_ready(p)
    need_pyspy(p.pid)
    f = wait_for(p.pid, "lock-self-wait", python=True)
    assert "keeps trying to take it again through fd" in f.summary
    assert any("Python stack is in acquire" in e for e in f.evidence)
    assert any("emit twice" in e and "re-entered" in e for e in f.evidence)


def test_triage_finds_the_processes_polling_behind_a_holder_that_polls_for_itself(children, tmp_path):
    """docs/incidents.md §5 in its polling form: the holder polls for its own lock, and every other
    process that logs to the file polls with LOCK_NB too; /proc/locks names none of them."""
    lock = str(tmp_path / "app.log.lock")
    holder = children.incident(*POLLER, lock)
    children.wait_ready(holder)
    need_pyspy(holder.pid)
    other = children.incident(*POLLER, "--wait", lock)  # only waits for the lock
    children.wait_ready(other)

    def found():
        r = triage_box(ProcRoot(), python=True)
        got = {(x.pid, x.id): x for x in r.findings}
        return got.get((other.pid, "lock-wait")) if (holder.pid, "lock-self-wait") in got else None

    f = wait_until(found, 40, interval=0.3, what="the other poller box-wide")
    assert f"trying to lock {lock}" in f.summary and f"held by pid {holder.pid}" in f.summary


# The filelock library's way: a fresh fd for every LOCK_NB try, closed after a failed one.
CLOSING_POLLER = ("log_worker", "--fresh-fd")


def test_lock_self_wait_of_a_poller_that_closes_its_fd_between_tries(children, tmp_path):
    """filelock closes the lock file between two LOCK_NB tries: no second fd to see, no waiter in
    /proc/locks; the re-entered stack in the lock call still tells it, in the process's own
    report and box-wide."""
    assert CLOSING_POLLER != POLLER
    p = children.incident(*CLOSING_POLLER, str(tmp_path / "app.log.lock"))
    children.wait_ready(p)
    need_pyspy(p.pid)
    f = wait_for(p.pid, "lock-self-wait", python=True)
    assert "its own stack is trying to take a lock again" in f.summary
    assert any("emit twice" in e and "re-entered" in e for e in f.evidence)
    r = wait_until(
        lambda: (
            (x := triage_box(ProcRoot(), python=True))
            and any(y.pid == p.pid and y.id == "lock-self-wait" for y in x.findings)
        ),
        40,
        what="the poller box-wide",
    )
    assert r


@pytest.mark.parametrize("panel", ["locks", "overview"])
def test_process_view_finds_the_lock_nb_poller_on_any_panel(children, tmp_path, panel):
    """The view's findings strip asks py-spy itself for a process that holds a lock: the
    finding does not depend on the Threads panel being on screen with Python stacks."""
    p = children.incident(*POLLER, str(tmp_path / "app.log.lock"))
    children.wait_ready(p)
    need_pyspy(p.pid)
    sampler = Sampler(ProcRoot())
    try:

        def seen() -> bool:
            snap = sampler.sample(
                SampleRequest(want_list=False, selected=(p.pid, None), panels=frozenset({panel}))
            )
            return any(f.id == "lock-self-wait" for f in snap.findings)

        wait_until(seen, timeout=40, interval=0.2, what="lock-self-wait in the process view")
    finally:
        sampler.close()


def test_lock_wait_names_the_holder_and_pollers(children, tmp_path):
    lock = tmp_path / "job.lock"
    lock.write_text("")
    code = "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
    holder = children.python(code + "fcntl.flock(fd, fcntl.LOCK_EX)\nready()\ntime.sleep(1000)\n", str(lock))
    children.wait_ready(holder)
    waiter = children.python(code + "ready()\nfcntl.flock(fd, fcntl.LOCK_EX)\n", str(lock))
    children.wait_ready(waiter)
    f = wait_for(waiter.pid, "lock-wait")
    assert f.summary.startswith(f"pid {waiter.pid} (") and f.severity == "warning"
    assert f"waits for the FLOCK WRITE lock on {lock}, held by pid {holder.pid} (" in f.summary
    poller = children.python(
        code + "def try_lock():\n    while True:\n        try:\n            fcntl.flock(fd, fcntl.LOCK_EX | "
        "fcntl.LOCK_NB)\n            return\n        except BlockingIOError:\n            time.sleep(0.05)\n"
        "ready()\ntry_lock()\n",
        str(lock),
    )
    children.wait_ready(poller)
    need_pyspy(poller.pid)
    f = wait_for(poller.pid, "lock-wait", python=True)
    assert f"trying to lock {lock}" in f.summary and f"held by pid {holder.pid}" in f.summary
    # the holder's side: asleep with a lock a process is blocked on (the poller only has it open)
    held = [x for x in findings(holder.pid) if x.id.startswith("lock")]
    assert [x.id for x in held] == ["lock-holder"] and held[0].severity == "warning"
    assert "1 process waits for it; 1 more process has it open and may be polling" in held[0].summary


NEAR_FD_LIMIT = """
import os, resource, time
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(62 - len(os.listdir("/proc/self/fd")) + 1)]
ready()
time.sleep(1000)
"""


def test_fd_exhaustion(children):
    p = children.python(NEAR_FD_LIMIT)
    children.wait_ready(p)
    f = wait_for(p.pid, "fd-exhaustion")
    assert f.severity == "critical" and "has 62 of its 64 file descriptors open (97%)" in f.summary


BACKLOG = """
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
clients = []
for _ in range(6):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(srv.getsockname())
    clients.append(c)
print(srv.fileno())
ready()
import time
while True:
    time.sleep(1000)   # never accept()s
"""


def test_listen_backlog_full(children):
    p = children.python(BACKLOG)
    (fd,) = map(int, ready_lines(p))
    f = wait_for(p.pid, "listen-backlog-full")
    assert f.fds == (fd,) and "has a full accept queue" in f.summary and "clock_nanosleep" in f.summary
    assert f.severity == "critical" and "no thread is in accept()" in f.summary


def test_listen_backlog_full_stalled_queue_is_told_from_a_busy_one(children):
    """The thread waits in select() (it could be accepting), so only time tells: the same
    connections still queued after ACCEPT_STALL seconds mean nobody accepts."""
    p = children.python(
        BACKLOG.replace("time.sleep(1000)", "import select; select.select([0], [], [], 1000)")
    )
    (fd,) = map(int, ready_lines(p))
    h = History()
    f = wait_for(p.pid, "listen-backlog-full", history=h, now=1000.0)
    assert f.severity == "warning" and "accepts slower than connections arrive" in f.summary
    f = wait_for(p.pid, "listen-backlog-full", history=h, now=1010.0)
    assert f.severity == "critical" and f.fds == (fd,)
    assert "the oldest connection has waited 10s in it: the process has stopped accepting" in f.summary


VFORK_IN_D = """
import os, sys
fifo = sys.argv[1]
ready()
# glibc's posix_spawn is a vfork: the parent sleeps uninterruptibly (D) until the child execs,
# and this child first opens a FIFO nobody writes to
opens = [(os.POSIX_SPAWN_OPEN, 5, fifo, os.O_RDONLY, 0)]
pid = os.posix_spawn("/bin/true", ["true"], os.environ, file_actions=opens)
os.waitpid(pid, 0)
import time
time.sleep(1000)
"""


def test_uninterruptible_after_a_while(children, tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    p = children.python(VFORK_IN_D, fifo)
    children.wait_ready(p)
    try:
        wait_until(lambda: _state(p.pid) == "D", 30, what="the parent in D while the vfork child waits")
        h = History()
        assert not [f for f in findings(p.pid, history=h, now=1000.0) if f.id == "uninterruptible"]
        (f,) = [f for f in findings(p.pid, history=h, now=1030.0) if f.id == "uninterruptible"]
        assert f.tids == (p.pid,) and "uninterruptible sleep (D) for 30s" in f.summary
    finally:
        # let the vfork child exec: it opens the FIFO once a writer appears, then exits
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


ZOMBIES = """
import os
kids = [os.fork() or os._exit(0) for _ in range(3)]   # children exit at once; never wait()ed
print(*kids)
ready()
import time
while True:
    time.sleep(1000)
"""


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_zombie_children_after_a_while(children):
    p = children.python(ZOMBIES)
    kids = list(map(int, ready_lines(p)))
    wait_until(lambda: all(_state(k) == "Z" for k in kids), 30, what="three zombies")
    h = History()
    assert not [f for f in findings(p.pid, history=h, now=1000.0) if f.id == "zombie-children"]
    (f,) = [f for f in findings(p.pid, history=h, now=1060.0) if f.id == "zombie-children"]
    assert "3 zombie children it has not reaped" in f.summary and all(str(k) in f.summary for k in kids)


HEALTHY = """
import fcntl, os, select, signal, socket, subprocess, sys, threading, time
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])          # blocked, nothing pending
lock = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(lock, fcntl.LOCK_EX)                                    # a lock held, opened once
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(16)
cli = socket.create_connection(srv.getsockname()); peer, _ = srv.accept()
ep = select.epoll(); ep.register(cli.fileno(), select.EPOLLIN)      # a live socket in epoll
reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
def pool():
    ev = threading.Event()
    ev.wait()                                                       # an idle worker (futex)
for _ in range(3):
    threading.Thread(target=pool, daemon=True).start()
def log():
    while True:
        reader.stdin.write(b"x" * 65536); reader.stdin.flush()     # a pipe that is drained
        time.sleep(0.2)
threading.Thread(target=log, daemon=True).start()
print(reader.pid)
ready()
while True:
    ep.poll(0.5)
"""


def test_healthy_process_has_no_findings(children, tmp_path):
    p = children.python(HEALTHY, str(tmp_path / "healthy.lock"))
    (cat,) = map(int, ready_lines(p))
    try:
        h = History()
        for now in (1000.0, 2000.0):  # and still none once stucktui has watched it a while
            assert findings(p.pid, cpu=True, history=h, now=now) == []
        if find_pyspy() is not None:
            assert [f for f in findings(p.pid, python=True) if f.severity != "info"] == []
        root = ProcRoot()
        detail = collect_detail(root, p.pid, cpu_percent=sample_cpu_percent(root, p.pid, 0.3))
        assert examine_process(root, detail, python=True) == []
        result = triage_box(ProcRoot(), history=History())
        assert [f for f in result.findings if f.pid in (p.pid, cat)] == []
    finally:
        kill_quietly(cat)


def test_triage_finds_them_across_the_box(children, tmp_path):
    """The cheap first pass picks each sick child out of the whole box."""
    leak = children.python(STDERR_LEAK)
    children.wait_ready(leak)
    fd = children.python(NEAR_FD_LIMIT)
    children.wait_ready(fd)
    zombies = children.python(ZOMBIES)
    kids = list(map(int, ready_lines(zombies)))
    backlog = children.python(BACKLOG)
    children.wait_ready(backlog)
    wait_until(lambda: all(_state(k) == "Z" for k in kids), 30, what="three zombies")
    root = ProcRoot()
    collector = ProcessListCollector(root)
    h = History()
    want = {
        (leak.pid, "pipe-writers-blocked"),
        (leak.pid, "workers-all-blocked"),
        (fd.pid, "fd-exhaustion"),
        (zombies.pid, "zombie-children"),
        (backlog.pid, "listen-backlog-full"),
    }
    triage_box(root, processes=collector.collect(), history=h, now=1000.0)

    def found():
        r = triage_box(root, processes=collector.collect(), history=h, now=1100.0)
        return want <= {(f.pid, f.id) for f in r.findings} and r

    r = wait_until(found, 40, interval=0.3, what="every planted finding in the triage")
    assert r.suspects < r.processes
    assert list(r.findings) == sorted(r.findings, key=lambda f: f.rank)


CHURN = """
import os, threading, time
def churn():
    while True:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
for _ in range(2):
    threading.Thread(target=churn, daemon=True).start()
ready()
while True:
    time.sleep(1000)
"""


def test_processes_vanishing_mid_scan_never_break_triage(children):
    """Hundreds of processes start and exit while the box is scanned: nothing escapes."""
    p = children.python(CHURN)
    children.wait_ready(p)
    root = ProcRoot()
    collector = ProcessListCollector(root)
    for _ in range(5):
        result = triage_box(root, processes=collector.collect(), history=History(), strict=True)
        assert result.processes > 0
    assert [f for f in findings(p.pid) if f.severity == "critical"] == []


SLOW_CONSUMER = """
import socket, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1])
ready()
conn, _ = srv.accept()
while True:
    time.sleep(1000)   # accepted, never reads: its receive window closes
"""

SHIPPER = """
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
ready()
while True:
    c.sendall(b"log line\\n" * 100_000)
"""


def test_socket_send_blocked_names_the_reader_that_stopped_reading(children):
    """A log shipper blocked in send() to a consumer on this box that stopped reading: the
    same shape as docs/incidents.md §1's pipe, over TCP. The finding names the consumer's pid and fd
    from the kernel's own socket lookup, and turns critical when the consumer is stopped."""
    reader = children.python(SLOW_CONSUMER)
    (port,) = map(int, ready_lines(reader))
    shipper = children.python(SHIPPER, str(port))
    ready_lines(shipper)
    f = wait_for(shipper.pid, "socket-send-blocked", what="the shipper blocked on a zero window")
    assert f"Thread {shipper.pid} of pid {shipper.pid} (python" in f.summary
    assert f"-> 127.0.0.1:{port}, ESTAB" in f.summary and "wait unsent in its send queue" in f.summary
    assert (
        f"the other end is pid {reader.pid} (python" in f.summary
        and "unread in its receive queue" in f.summary
    )
    assert any("zero window" in e for e in f.evidence)
    os.kill(reader.pid, signal.SIGSTOP)
    try:
        g = wait_until(
            lambda: next((x for x in findings(shipper.pid) if "it is stopped" in x.summary), None),
            30,
            what="the consumer seen stopped",
        )
        assert g.severity == "critical" and any(
            f"stucktui signal {reader.pid} CONT" in s for s in g.next_steps
        )
        # box-wide, with a History: silent at first (a slow reader passes), then it speaks
        h = History()
        first = triage_box(ProcRoot(), history=h, now=1000.0)
        assert not any(x.pid == shipper.pid and x.id == "socket-send-blocked" for x in first.findings)
        later = triage_box(ProcRoot(), history=h, now=1011.0)
        assert any(x.pid == shipper.pid and x.id == "socket-send-blocked" for x in later.findings)
    finally:
        os.kill(reader.pid, signal.SIGCONT)


COMPUTE_BESIDE_LOOP = """
import select, signal, socket, threading
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
cli = socket.create_connection(srv.getsockname())
srv.accept()[0].close()
ep = select.epoll()
ep.register(cli.fileno(), select.EPOLLIN)   # hung, level-triggered, but nobody waits on it
def burn():
    x = 0
    while True:
        x += 1
threading.Thread(target=burn, daemon=True).start()
print(ep.fileno(), cli.fileno())
ready()
signal.pause()                 # the loop thread waits elsewhere
"""


def _report_json(pid: int) -> dict:
    import json

    from stucktui.cli import run_report

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_report(pid, "json", python=False) == 0
    return json.loads(out.getvalue())


def test_epoll_spin_not_blamed_on_a_compute_thread(children):
    """A thread burning CPU in user space beside an epoll set that holds a CLOSE_WAIT socket
    nobody waits on: closing that fd would not lower the CPU, so no epoll-spin, in the
    one-shot view (lifetime kernel share) and in the report (per-thread window)."""
    p = children.python(COMPUTE_BESIDE_LOOP)
    ready_lines(p)
    root = ProcRoot()
    wait_until(lambda: (sample_cpu_percent(root, p.pid, 0.3) or 0) >= 30, 30, what="the thread computing")
    assert not [f for f in findings(p.pid, cpu=True) if f.id == "epoll-spin"]
    rep = _report_json(p.pid)
    assert not [f for f in rep["findings"] if f["id"] == "epoll-spin"]
    busy = [t for t in rep["threads"] if (t["cpu_percent"] or 0) >= 20]
    assert busy and all(t["sys_percent"] < 0.2 * t["cpu_percent"] for t in busy)


def test_epoll_spin_report_counts_the_loop_threads_cpu(children):
    p = children.python(SPIN)
    epfd, sock = map(int, ready_lines(p))

    def spun():
        rep = _report_json(p.pid)
        return next((f for f in rep["findings"] if f["id"] == "epoll-spin"), None)

    f = wait_until(spun, 40, interval=0.2, what="epoll-spin in the report")
    assert any(f"running or in epoll_wait on fd {epfd}" in e and "in the kernel" in e for e in f["evidence"])


def test_process_view_samples_thread_cpu_whatever_panel_is_on_screen(children):
    """The process view's findings see each thread's CPU over the last refresh on every tab,
    not only while the Threads panel is shown: the view keeps one thread collector."""
    p = children.python(SPIN)
    epfd, _ = map(int, ready_lines(p))
    s = Sampler()

    def windowed():
        snap = s.sample(SampleRequest(want_list=False, selected=(p.pid, None), panels=frozenset({"signals"})))
        f = next((x for x in snap.findings if x.id == "epoll-spin"), None)
        return f if f is not None and any("of the window" in e for e in f.evidence) else None

    f = wait_until(windowed, 40, interval=0.3, what="epoll-spin with the loop thread's own CPU")
    assert any(f"running or in epoll_wait on fd {epfd}" in e for e in f.evidence)
