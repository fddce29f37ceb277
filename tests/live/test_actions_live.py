"""Live: every close method on a child holding a CLOSE_WAIT socket (checked with `ss -tane` and
/proc afterwards), an epoll busy loop on such a socket, signals by name to children that catch
them or not, stale targets, read-only refusals, the script commands, and the audit lines each
of these leaves. Every child is ended by its pid; network traffic stays on loopback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

from stucktui.actions import results as R
from stucktui.actions.audit import ENV_AUDIT_LOG, AuditLog, Policy
from stucktui.actions.closefd import (
    EPOLL_DEL,
    GDB_CLOSE,
    GDB_NULL,
    SHUTDOWN_BOTH,
    SHUTDOWN_READ,
    close_fd,
    close_methods,
)
from stucktui.actions.command import add_subcommands, run_command
from stucktui.actions.signals import send_signal, signal_choices
from stucktui.actions.target import Target, TargetError
from stucktui.tools.gdb import CPU_STATE_FAILURE
from tests.helpers import wait_until

pytestmark = pytest.mark.live

FIELDS = [
    "time",
    "user",
    "pid",
    "starttime",
    "command",
    "action",
    "method",
    "command_run",
    "result",
    "detail",
]
_INODE = re.compile(r"\bino:(\d+)")
_ARROW = re.compile(r"\s([<-]-[>-])\s*$")

# The child's client socket is in CLOSE_WAIT with 300 unread bytes: the server end sent them
# and closed. It prints the client fd, then blocks reading stdin.
CLOSE_WAIT = """
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept()
a.sendall(b"x" * 300)
a.close()
srv.close()
print(c.fileno(), c.getsockname()[1], flush=True)
ready()
sys.stdin.read()
"""

# docs/incidents.md §4: a level-triggered epoll on a CLOSE_WAIT socket returns at once, forever. The
# child prints each new event mask it sees ("events MASK"), and "quiet" when a wait times out.
EPOLL_SPINNER = """
import select, socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept()
a.close()
srv.close()
ep = select.epoll()
ep.register(c.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
print(c.fileno(), flush=True)
ready()
last = None
while True:
    got = ep.poll(0.5)
    mask = got[0][1] if got else None
    if mask != last:
        print("quiet" if mask is None else f"events {mask}", flush=True)
        last = mask
"""

CATCHER = """
import signal, sys
n = 0
def on_usr1(sig, frame):
    global n
    n += 1
    print(f"got {signal.Signals(sig).name} {n}", flush=True)
signal.signal(signal.SIGUSR1, on_usr1)
ready()
while True:
    signal.pause()
"""


@pytest.fixture(autouse=True)
def audit(monkeypatch, tmp_path):
    """Every test logs to its own file; the real home is never written."""
    path = tmp_path / "state" / "audit.log"
    monkeypatch.setenv(ENV_AUDIT_LOG, str(path))
    return path


def records(path) -> list[dict]:
    """The audit lines, each checked to be one JSON object with the fields in order."""
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        assert list(rec)[: len(FIELDS)] == FIELDS, line
        assert rec["time"].endswith("Z") and rec["user"]["uid"] == os.getuid()
        out.append(rec)
    return out


class Out:
    """A child's stdout read without losing what follows 'ready' (bounded waits only)."""

    def __init__(self, p: subprocess.Popen[bytes]) -> None:
        self.p = p
        self.buf = b""
        self.port: int | None = None  # its socket's local port, when it printed one

    def lines(self) -> list[str]:
        return self.buf.decode().split("\n")[:-1]

    def wait_for(self, pred, timeout: float = 30.0, what: str = ""):
        assert self.p.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            v = pred(self.lines())
            if v:
                return v
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.lines()[-5:]}")
            r, _, _ = select.select([self.p.stdout], [], [], 0.1)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(
                        f"child ended (rc={self.p.poll()}) before {what}: {self.lines()[-5:]}"
                    )
                self.buf += chunk

    def after_ready(self) -> list[str]:
        self.wait_for(lambda ls: "ready" in ls, what="ready")
        return self.lines()[: self.lines().index("ready")]


def start(children, code: str) -> tuple[subprocess.Popen[bytes], Out, int]:
    """A child printing its fd (and, for `ss_rows`, its socket's local port) before 'ready'."""
    p = children.python(code, stdin=subprocess.PIPE)
    out = Out(p)
    (first,) = out.after_ready()
    fd, *port = map(int, first.split())
    out.port = port[0] if port else None
    return p, out, fd


def ss_rows(out: Out) -> dict[int, tuple[str, str]]:
    """fd -> (state, shutdown arrow) of the child's TCP sockets to or from its port, from
    `ss -Htane` filtered on that port (never the box's whole table) and matched by inode (no
    -p, which reads the fds of every process)."""
    assert out.port is not None, "the child prints its socket's port after its fd"
    flt = f"sport = :{out.port} or dport = :{out.port}"
    res = subprocess.run(["ss", "-Htane", flt], capture_output=True, text=True, timeout=30, check=True)
    fds = {}
    for name in os.listdir(f"/proc/{out.p.pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{out.p.pid}/fd/{name}")
            if link.startswith("socket:["):
                fds[int(link[8:-1])] = int(name)
    rows = {}
    for line in res.stdout.splitlines():
        ino = _INODE.search(line)
        if ino and int(ino.group(1)) in fds:
            m = _ARROW.search(line)
            rows[fds[int(ino.group(1))]] = (line.split()[0], m.group(1) if m else "")
    return rows


def starttime(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def close_wait_child(children):
    if shutil.which("ss") is None:
        pytest.skip("ss is not installed")
    p, out, fd = start(children, CLOSE_WAIT)
    wait_until(lambda: ss_rows(out).get(fd, ("",))[0] == "CLOSE-WAIT", timeout=30, what="CLOSE_WAIT in ss")
    return p, out, fd


def gdb_method_or_skip(target: Target, fd: int, method: str):
    opts = close_methods(target, fd)
    m = opts.method(method)
    assert m is not None
    if not m.available:
        if opts.facts.gdb is None:
            pytest.skip("gdb is not installed")
        if CPU_STATE_FAILURE in (m.reason or ""):
            pytest.skip(m.reason)
    assert m.available, m.reason
    return opts


def skip_on_cpu_state_failure(result) -> None:
    if result.outcome == R.FAILED and CPU_STATE_FAILURE in result.detail:
        pytest.skip(result.detail)


# -- close methods on a CLOSE_WAIT socket -------------------------------------------------------
def test_shutdown_both_ends_the_close_wait_socket(children, audit):
    p, out, fd = close_wait_child(children)
    link = os.readlink(f"/proc/{p.pid}/fd/{fd}")
    with Target.open(p.pid, starttime(p.pid)) as t:
        opts = close_methods(t, fd)
        assert "CLOSE_WAIT" in opts.facts.description and "Recv-Q 301" in opts.facts.description
        assert opts.facts.link == link and opts.method(SHUTDOWN_BOTH).available
        r = close_fd(t, fd, SHUTDOWN_BOTH, Policy(), expect_link=link)
    assert r.outcome == R.DONE and r.ok, r.lines()
    assert r.fd is not None and r.fd.link_after == link and r.fd.write_shut and r.fd.read_shut
    assert any("stays open" in f for f in r.findings) and r.command_run is None
    wait_until(lambda: fd not in ss_rows(out), timeout=30, what="the socket to leave ss")
    assert os.readlink(f"/proc/{p.pid}/fd/{fd}") == link  # the fd itself stays
    assert p.poll() is None
    (rec,) = records(audit)
    assert (rec["action"], rec["method"], rec["result"], rec["fd"], rec["fd_target"]) == (
        "close-fd",
        SHUTDOWN_BOTH,
        R.DONE,
        fd,
        link,
    )
    assert (rec["pid"], rec["starttime"], rec["command_run"]) == (p.pid, starttime(p.pid), None)


def test_shutdown_read_on_close_wait_changes_nothing_visible(children, audit):
    p, out, fd = close_wait_child(children)
    link = os.readlink(f"/proc/{p.pid}/fd/{fd}")
    assert ss_rows(out)[fd] == ("CLOSE-WAIT", "-->")  # the peer's FIN shut our read side
    with Target.open(p.pid) as t:
        opts = close_methods(t, fd)
        assert "changes nothing visible" in " ".join(opts.method(SHUTDOWN_READ).effects)
        r = close_fd(t, fd, SHUTDOWN_READ, Policy())
    # poll() said the read side was shut before the action too: nothing to prove, not "done"
    assert r.outcome == R.NOT_VERIFIED and r.fd.read_shut and not r.fd.write_shut
    assert any("SHUT_RD changed nothing visible" in x for x in r.findings), r.findings
    assert r.fd.socket_after == "CLOSE_WAIT"
    assert ss_rows(out)[fd] == ("CLOSE-WAIT", "-->")
    assert os.readlink(f"/proc/{p.pid}/fd/{fd}") == link
    assert [x["result"] for x in records(audit)] == [R.NOT_VERIFIED]


def test_shutdown_read_wakes_a_blocked_reader(children, audit):
    if shutil.which("ss") is None:
        pytest.skip("ss is not installed")
    code = """
        import socket, sys, threading
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        c = socket.create_connection(srv.getsockname())
        a, _ = srv.accept()
        def reader():
            print("recv", c.recv(10), flush=True)
            c.sendall(b"still can send")
        threading.Thread(target=reader).start()
        print(c.fileno(), c.getsockname()[1], flush=True)
        ready()
        print("peer got", a.recv(100), flush=True)
        sys.stdin.read()
        """
    p, out, fd = start(children, code)
    wait_until(lambda: ss_rows(out).get(fd) == ("ESTAB", "<->"), timeout=30, what="ESTAB in ss")
    with Target.open(p.pid) as t:
        r = close_fd(t, fd, SHUTDOWN_READ, Policy())
    assert r.outcome == R.DONE and r.fd.read_shut and not r.fd.write_shut
    out.wait_for(lambda ls: "recv b''" in ls, what="the reader to get end-of-file")
    out.wait_for(lambda ls: "peer got b'still can send'" in ls, what="the send after SHUT_RD")
    assert ss_rows(out)[fd] == ("ESTAB", "-->")


@pytest.mark.parametrize("method", [GDB_CLOSE, GDB_NULL])
def test_gdb_methods_close_the_close_wait_socket(children, audit, method):
    p, out, fd = close_wait_child(children)
    link = os.readlink(f"/proc/{p.pid}/fd/{fd}")
    with Target.open(p.pid) as t:
        gdb_method_or_skip(t, fd, method)
        r = close_fd(t, fd, method, Policy(), expect_link=link)
    skip_on_cpu_state_failure(r)
    assert r.outcome == R.DONE, r.lines()
    assert r.command_run is not None and r.command_run.startswith(shutil.which("gdb") or "gdb")
    wait_until(lambda: fd not in ss_rows(out), timeout=30, what="the socket to leave ss")
    if method == GDB_CLOSE:
        assert not os.path.lexists(f"/proc/{p.pid}/fd/{fd}")
    else:
        assert os.readlink(f"/proc/{p.pid}/fd/{fd}") == "/dev/null"
    (rec,) = records(audit)
    assert rec["command_run"] == r.command_run and rec["result"] == R.DONE


# -- docs/incidents.md §4: epoll spinning on a CLOSE_WAIT socket ------------------------------------------
def test_epoll_busy_loop_stops_after_gdb_close(children, audit):
    p, out, fd = start(children, EPOLL_SPINNER)
    spinning = f"events {select.EPOLLIN | select.EPOLLRDHUP}"
    out.wait_for(lambda ls: spinning in ls, what="the busy loop")
    with Target.open(p.pid) as t:
        opts = gdb_method_or_skip(t, fd, GDB_CLOSE)
        assert opts.facts.watched_by, "the epoll fd watching the socket is named"
        r = close_fd(t, fd, GDB_CLOSE, Policy())
    skip_on_cpu_state_failure(r)
    assert r.outcome == R.DONE, r.lines()
    out.wait_for(lambda ls: ls[-1] == "quiet", what="epoll_wait to block again")


def test_shutdown_both_changes_what_the_epoll_spinner_sees(children, audit):
    p, out, fd = start(children, EPOLL_SPINNER)
    before = select.EPOLLIN | select.EPOLLRDHUP
    out.wait_for(lambda ls: f"events {before}" in ls, what="the busy loop")
    with Target.open(p.pid) as t:
        opts = close_methods(t, fd)
        assert opts.facts.watched_by and "keeps reporting the socket readable" in " ".join(
            opts.method(SHUTDOWN_BOTH).effects
        )
        r = close_fd(t, fd, SHUTDOWN_BOTH, Policy())
    assert r.outcome == R.DONE, r.lines()
    assert any("goes on spinning until the program closes the fd" in x for x in r.findings), r.findings
    with Target.open(p.pid) as t:  # the fd now holds a TCP socket in no table: said so
        assert "TCP, state CLOSE (reset or shut down" in close_methods(t, fd).facts.description
    after = f"events {before | select.EPOLLHUP}"
    out.wait_for(lambda ls: ls[-1] == after, what="EPOLLHUP in the spinner's events")


def test_epoll_del_stops_the_busy_loop_without_ptrace(children, audit):
    """Where gdb cannot call functions (some CPUs), the spin of docs/incidents.md §4 still stops: the
    registration is removed with EPOLL_CTL_DEL through pidfd_getfd copies, the fd stays."""
    p, out, fd = start(children, EPOLL_SPINNER)
    out.wait_for(lambda ls: f"events {select.EPOLLIN | select.EPOLLRDHUP}" in ls, what="the busy loop")
    link = os.readlink(f"/proc/{p.pid}/fd/{fd}")
    with Target.open(p.pid, starttime(p.pid)) as t:
        opts = close_methods(t, fd)
        m = opts.method(EPOLL_DEL)
        assert m is not None and m.available, m.reason if m else None
        (epfd,) = opts.facts.watched_by
        assert opts.facts.epoll_regs == ((epfd, fd),)
        assert f"EPOLL_CTL_DEL of fd {fd} from epoll fd {epfd}" in m.command
        r = close_fd(t, fd, EPOLL_DEL, Policy(), expect_link=link)
    assert r.outcome == R.DONE and r.ok, r.lines()
    assert any(f"epoll fd {epfd} no longer watches fd {fd}" in x for x in r.findings), r.findings
    assert any(x.startswith("CPU over 0.5 s afterwards") for x in r.findings), r.findings
    out.wait_for(lambda ls: ls[-1] == "quiet", what="epoll_wait to block again")
    assert os.readlink(f"/proc/{p.pid}/fd/{fd}") == link  # the fd itself stays open
    with open(f"/proc/{p.pid}/fdinfo/{epfd}") as f:
        assert "tfd:" not in f.read()
    (rec,) = records(audit)
    assert (rec["action"], rec["method"], rec["result"], rec["fd"]) == ("close-fd", EPOLL_DEL, R.DONE, fd)
    # nothing watches it any more: the method is refused with the reason
    with Target.open(p.pid) as t:
        again = close_methods(t, fd).method(EPOLL_DEL)
    assert again is not None and not again.available and "no epoll set" in (again.reason or "")


def test_static_binary_is_refused_for_gdb(children, audit, tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "p.c"
    src.write_text('#include <unistd.h>\nint main(void){write(1,"ready\\n",6);for(;;)pause();}\n')
    exe = tmp_path / "p"
    built = subprocess.run(
        ["gcc", "-static", "-O0", "-o", str(exe), str(src)], capture_output=True, timeout=120
    )
    if built.returncode != 0:
        pytest.skip("no static libc to build a static test binary: " + built.stderr.decode()[-200:])
    p = children.spawn([str(exe)])
    children.wait_ready(p)
    with Target.open(p.pid) as t:
        opts = close_methods(t, 1)
    assert opts.facts.dynamic is False
    for mid in (GDB_CLOSE, GDB_NULL):
        assert not opts.method(mid).available and opts.method(mid).reason.startswith("a static binary")


# -- signals ------------------------------------------------------------------------------------
def test_signal_by_name_to_a_child_that_catches_it(children, audit):
    p = children.python(CATCHER)
    out = Out(p)
    out.after_ready()
    with Target.open(p.pid, starttime(p.pid)) as t:
        choices = {c.name: c for c in signal_choices(t)}
        usr1 = choices["SIGUSR1"]
        assert (usr1.disposition, usr1.warnings, usr1.number) == ("caught", (), int(signal.SIGUSR1))
        assert "not caught by this process: its default action terminates it" in choices["SIGUSR2"].warning
        r = send_signal(t, "usr1", Policy())
    assert r.outcome == R.DELIVERED and r.process is not None and r.process.alive
    out.wait_for(lambda ls: "got SIGUSR1 1" in ls, what="the handler")
    (rec,) = records(audit)
    assert (rec["action"], rec["signal"], rec["number"], rec["result"]) == (
        "signal",
        "SIGUSR1",
        int(signal.SIGUSR1),
        R.DELIVERED,
    )


def test_uncaught_signal_ends_the_process_and_says_so(children, audit):
    p = children.python(CATCHER)
    Out(p).after_ready()
    with Target.open(p.pid) as t:
        r = send_signal(t, "SIGUSR2", Policy())
    assert r.outcome == R.DELIVERED and not r.process.alive and "The process has exited." in r.findings
    assert p.wait(timeout=30) == -signal.SIGUSR2


def test_stop_and_continue(children, audit):
    p = children.python(CATCHER)
    Out(p).after_ready()
    with Target.open(p.pid) as t:
        stopped = send_signal(t, "STOP", Policy())
        assert stopped.outcome == R.DELIVERED and stopped.process.state == "T"
        assert "SIGCONT resumes it" in " ".join(stopped.findings)
        resumed = send_signal(t, "CONT", Policy())
        assert resumed.outcome == R.DELIVERED and resumed.process.state != "T"
    assert [x["signal"] for x in records(audit)] == ["SIGSTOP", "SIGCONT"]


def test_thread_id_is_not_a_target(children):
    p = children.python(
        """
        import threading, time
        def worker():
            print(threading.get_native_id(), flush=True)
            ready()
            time.sleep(600)
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        """
    )
    (tid,) = (int(x) for x in Out(p).after_ready())
    with pytest.raises(TargetError, match=f"^{tid} is a thread of process {p.pid}, not a process") as exc:
        Target.open(tid)
    assert exc.value.outcome == R.BAD_REQUEST


def test_kernel_thread_is_refused(audit):
    try:
        t = Target.open(2)
    except TargetError as exc:
        pytest.skip(f"pid 2 cannot be pinned here: {exc}")
    with t:
        if not t.kernel_thread:
            pytest.skip("pid 2 is not a kernel thread in this pid namespace")
        r = send_signal(t, "CONT", Policy())
    assert r.outcome == R.UNAVAILABLE and "kernel thread" in r.detail


# -- stale targets ------------------------------------------------------------------------------
def test_exited_child_is_refused(children, audit):
    p, _, fd = start(children, CLOSE_WAIT)
    t = Target.open(p.pid)
    children.end(p)  # SIGKILL by pid and reaped
    assert t.check() is not None and t.exited()
    r = send_signal(t, "TERM", Policy())
    assert r.outcome == R.GONE and "has exited" in r.detail
    c = close_fd(t, fd, SHUTDOWN_BOTH, Policy())
    assert c.outcome == R.GONE
    t.close()
    assert send_signal(t, "TERM", Policy()).outcome == R.GONE
    assert [x["result"] for x in records(audit)] == [R.GONE] * 3


def test_wrong_start_time_is_refused(children):
    p = children.python(CATCHER)
    Out(p).after_ready()
    with pytest.raises(TargetError, match="now belongs to another process") as exc:
        Target.open(p.pid, starttime(p.pid) + 1)
    assert exc.value.outcome == R.GONE


def test_pid_reused_by_a_new_process_is_never_hit(children, audit):
    """Forces pid reuse through /proc/sys/kernel/ns_last_pid (root only), as in docs/kernel-notes.md §6.1."""
    ns_last = "/proc/sys/kernel/ns_last_pid"
    if os.geteuid() != 0 or not os.access(ns_last, os.W_OK):
        pytest.skip("forcing pid reuse needs root and a writable /proc/sys/kernel/ns_last_pid")
    victim = children.python(CATCHER)
    Out(victim).after_ready()
    pid, born = victim.pid, starttime(victim.pid)
    t = Target.open(pid, born)
    children.end(victim)
    imposter = None
    for _ in range(50):  # another process on the box may take the pid first: try again
        with open(ns_last, "w") as f:
            f.write(str(pid - 1))
        q = children.spawn(["sleep", "600"])
        if q.pid == pid:
            imposter = q
            break
        children.end(q)
    if imposter is None:
        t.close()
        pytest.skip("the pid was taken by another process every time")
    with t:
        why = t.check()
        assert why is not None and "now belongs to another process" in why
        r = send_signal(t, "KILL", Policy())
        assert r.outcome == R.GONE
    assert imposter.poll() is None, "the imposter was signalled"
    if starttime(pid) != born:  # born in another clock tick: the start time alone tells too
        with pytest.raises(TargetError, match="now belongs to another process"):
            Target.open(pid, born)
    assert [x["result"] for x in records(audit)] == [R.GONE]


# -- read-only ----------------------------------------------------------------------------------
def test_read_only_refuses_and_logs(children, audit):
    p, out, fd = close_wait_child(children)
    os.kill(p.pid, 0)
    ro = Policy(read_only=True, audit=AuditLog())
    with Target.open(p.pid) as t:
        assert send_signal(t, "KILL", ro).outcome == R.READ_ONLY
        c = close_fd(t, fd, SHUTDOWN_BOTH, ro)
        assert c.outcome == R.READ_ONLY and c.refused
        assert not t.exited()
    assert ss_rows(out)[fd][0] == "CLOSE-WAIT"
    assert [(x["action"], x["result"]) for x in records(audit)] == [
        ("signal", R.READ_ONLY),
        ("close-fd", R.READ_ONLY),
    ]


def test_read_only_signal_is_not_delivered(children, audit):
    p = children.python(CATCHER)
    out = Out(p)
    out.after_ready()
    with Target.open(p.pid) as t:
        assert send_signal(t, "USR1", Policy(read_only=True)).outcome == R.READ_ONLY
        assert send_signal(t, "USR1", Policy()).outcome == R.DELIVERED
    out.wait_for(lambda ls: any(x.startswith("got SIGUSR1") for x in ls), what="the handler")
    assert [x for x in out.lines() if x.startswith("got")] == ["got SIGUSR1 1"]  # one, not two


# -- script commands ----------------------------------------------------------------------------
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def cli(argv: list[str], stdin: io.StringIO | None = None) -> tuple[int, str]:
    import argparse

    parser = argparse.ArgumentParser(prog="stucktui")
    add_subcommands(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    code = run_command(parser.parse_args(argv), stdin=stdin or io.StringIO(""), stdout=out, stderr=out)
    return code, out.getvalue()


def test_signal_command(children, audit):
    p = children.python(CATCHER)
    out = Out(p)
    out.after_ready()
    code, text = cli(["signal", str(p.pid), "USR1"])  # stdin is no terminal: refused
    assert code == 3 and "not a terminal" in text and f"process {p.pid}" in text and "SIGUSR1" in text
    code, _ = cli(["signal", str(p.pid), "USR1"], Tty("n\n"))
    assert code == 3
    code, _ = cli(["signal", str(p.pid), "USR1", "--read-only", "--yes"])
    assert code == 3
    code, _ = cli(["signal", str(p.pid), "30", "--yes"])
    assert code == 2
    code, text = cli(["signal", str(p.pid), "USR1"], Tty("y\n"))
    assert code == 0 and "delivered" in text
    out.wait_for(lambda ls: "got SIGUSR1 1" in ls, what="the handler")
    code, _ = cli(["signal", str(p.pid), "SIGUSR1", "--yes"])
    assert code == 0
    out.wait_for(lambda ls: "got SIGUSR1 2" in ls, what="the handler again")
    assert [x["result"] for x in records(audit)] == [
        R.NOT_CONFIRMED,
        R.DECLINED,
        R.READ_ONLY,
        R.BAD_REQUEST,
        R.DELIVERED,
        R.DELIVERED,
    ]


def test_close_fd_command(children, audit):
    p, out, fd = close_wait_child(children)
    code, text = cli(["close-fd", str(p.pid), str(fd), "--method", SHUTDOWN_BOTH, "--yes"])
    assert code == 0, text
    assert "SIGPIPE" in text and "pidfd_getfd" in text and "CLOSE_WAIT" in text
    wait_until(lambda: fd not in ss_rows(out), timeout=30, what="the socket to leave ss")
    code, text = cli(["close-fd", str(p.pid), "999", "--yes"])  # one line: an invalid request
    assert (code, text) == (2, f"stucktui: refused: invalid request: fd 999 of process {p.pid} is not open\n")
    (done, refused) = records(audit)
    assert (done["result"], refused["result"], refused["fd"]) == (R.DONE, R.BAD_REQUEST, 999)


LISTENER = """
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
print(srv.fileno(), flush=True)
ready()
sys.stdin.read()
"""


def test_close_fd_on_a_listener_needs_a_chosen_method(children, audit):
    """Every method stops a listener accepting: nothing is picked for the user."""
    p, _, fd = start(children, LISTENER)
    code, text = cli(["close-fd", str(p.pid), str(fd), "--yes"])
    assert code == 2 and "it is a listening socket" in text and "--method" in text, text
    assert os.readlink(f"/proc/{p.pid}/fd/{fd}").startswith("socket:[")  # left open
    (refused,) = records(audit)
    assert refused["result"] == R.BAD_REQUEST


def test_gdb_result_comes_from_its_output_not_its_exit_status(children, audit):
    """gdb runs even where the test call says it cannot work (the canary is bypassed here, on a
    child of ours): its failure must be read from its output and reported, never taken as done."""
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    p, out, fd = close_wait_child(children)
    with Target.open(p.pid) as t:
        r = close_fd(t, fd, GDB_CLOSE, Policy(), canary=lambda gdb: None)
    assert r.command_run is not None and "call (int)close(" in r.command_run
    (rec,) = records(audit)
    assert rec["command_run"] == r.command_run and rec["result"] == r.outcome
    if CPU_STATE_FAILURE in r.detail:  # this machine: the call never ran
        assert r.outcome == R.FAILED and not r.ok and "check that the process is healthy" in r.detail
    else:
        assert r.outcome == R.DONE and not os.path.lexists(f"/proc/{p.pid}/fd/{fd}")
