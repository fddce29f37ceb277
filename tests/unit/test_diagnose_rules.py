"""Each rule on hand-built snapshots: it fires on its incident's facts, says them in the summary,
and stays silent on the near misses a healthy process shows."""

from __future__ import annotations

import signal
from dataclasses import replace

import pytest

from stucktui.diagnose.engine import evaluate, sort_findings
from stucktui.diagnose.rules.close_wait import close_wait_leak, close_wait_unanswered, close_wait_unread
from stucktui.diagnose.rules.listen import listen_backlog_full
from stucktui.diagnose.rules.locks import lock_self_wait, lock_wait
from stucktui.diagnose.rules.pipes import pipe_writers_blocked
from stucktui.diagnose.rules.process import fd_exhaustion, uninterruptible, zombie_children
from stucktui.diagnose.rules.send import socket_send_blocked
from stucktui.diagnose.rules.signals import signal_blocked_pending
from stucktui.diagnose.rules.spin import epoll_spin
from stucktui.diagnose.rules.workers import workers_all_blocked
from stucktui.diagnose.subject import Ages
from stucktui.model.context import ChildProcess, Context, ForeignLock, PeerProcess, SendPeer
from stucktui.model.files import PipeEnd
from stucktui.model.finding_groups import group_findings
from stucktui.model.locks import FileUser, LockEntry
from stucktui.model.net import TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_LISTEN
from stucktui.model.signals import ParentDiff
from stucktui.model.sockets import SocketRow
from stucktui.model.threads import ThreadRow
from tests.unit.diagnose_kit import (
    PID,
    epoll_row,
    file_row,
    files,
    lock_row,
    locks,
    pipe_row,
    signals,
    sockets,
    subject,
    tcp,
    thread,
    threads,
    watch,
)

PIPE = 5210641
ALRM = 1 << (signal.SIGALRM - 1)


# -- pipe-writers-blocked ----------------------------------------------------------------------
def _writers(n: int = 4, *, holders: tuple[PipeEnd, ...], main: str = "accept4", **kw: object):
    rows = [thread(PID, main, (4,), targets={4: "socket:[1]"})]
    rows += [thread(PID + 1 + i, "write", (2, 0, 48), targets={2: f"pipe:[{PIPE}]"}, wchan="anon_pipe_write")
             for i in range(n)]  # fmt: skip
    fd_rows = [pipe_row(2, "w", PIPE, holders), *(r for r in kw.pop("extra_fds", ()))]  # type: ignore[attr-defined]
    return subject(threads=threads(*rows), files=files(*fd_rows), **kw)


def test_pipe_read_end_leaked_into_the_writer_itself():
    holders = (PipeEnd(PID, "app", 2, "w"), PipeEnd(PID, "app", 3, "r"))
    extra = (pipe_row(3, "r", PIPE, holders),)
    (f,) = pipe_writers_blocked(_writers(holders=holders, extra_fds=extra))
    assert (f.id, f.severity, f.fds, f.panel) == ("pipe-writers-blocked", "critical", (2,), "files")
    assert f.tids == (PID + 1, PID + 2, PID + 3, PID + 4)
    assert "4 threads of pid 4242 (app) are blocked writing to fd 2, its stderr" in f.summary
    assert "only read end is fd 3 of this same process" in f.summary
    assert any("65,536 of 65,536 bytes queued (full)" in e for e in f.evidence)
    assert any(f"cat /proc/{PID}/fd/2" in s for s in f.next_steps)
    assert any("press c on fd 2" in s for s in f.next_steps)


def test_pipe_full_short_of_its_capacity_is_still_called_full():
    """Small writes take a page slot each: writers block with 5.6 KiB still 'free' (seen with
    a real sshd pipe); the blocked writers prove it full."""
    holders = (PipeEnd(PID, "app", 2, "w"), PipeEnd(PID, "app", 3, "r"))
    extra = (pipe_row(3, "r", PIPE, holders),)
    s = _writers(holders=holders, extra_fds=extra)
    short = replace(s, files=files(pipe_row(2, "w", PIPE, holders, queued=59890), *extra))
    (f,) = pipe_writers_blocked(short)
    assert any("59,890 of 65,536 bytes queued (full: its page slots are all taken" in e for e in f.evidence)


def test_pipe_no_read_end_anywhere():
    (f,) = pipe_writers_blocked(_writers(holders=(PipeEnd(PID, "app", 2, "w"),)))
    assert f.severity == "critical" and "no process holds its read end" in f.summary


def _peer(state: str, *rows, name: str = "sshd", pid: int = 77) -> Context:
    return Context(peers={pid: PeerProcess(pid, name, state, threads(*rows, pid=pid) if rows else None)})


HOLDERS = (PipeEnd(PID, "app", 2, "w"), PipeEnd(77, "sshd", 5, "r"))


def test_pipe_reader_stopped():
    ctx = _peer("T", thread(77, "read", (5,), state="T"))
    (f,) = pipe_writers_blocked(_writers(holders=HOLDERS, context=ctx))
    assert f.severity == "critical" and "pid 77 (sshd) holds its read end (fd 5) but is stopped" in f.summary
    # the lasting fix is the reader's, not the writer's start-up
    assert "resume the reader: `stucktui signal 77 CONT`" in f.next_steps[2]
    assert f.next_steps[3].startswith("fix the reader, pid 77 (sshd)")
    assert not any("close_fds" in step for step in f.next_steps)


def test_pipe_reader_waits_for_the_writer_deadlock():
    ctx = _peer("S", thread(77, "wait4", (PID,)), name="python3")
    (f,) = pipe_writers_blocked(_writers(holders=HOLDERS, context=ctx))
    assert f.severity == "critical" and "a deadlock" in f.summary and f"wait4(pid {PID})" in f.summary
    assert "communicate()" in f.next_steps[-1] and not any("CONT" in step for step in f.next_steps)


def test_pipe_reader_waiting_for_any_child_deadlocks_only_its_child():
    any_child = _peer("S", thread(77, "wait4", (0xFFFFFFFF,)), name="python3")
    (f,) = pipe_writers_blocked(_writers(holders=HOLDERS, context=any_child, ppid=77))
    assert f.severity == "critical" and "a deadlock" in f.summary
    (f,) = pipe_writers_blocked(_writers(holders=HOLDERS, context=any_child, ppid=1))
    assert f.severity == "warning" and "deadlock" not in f.summary  # not its child
    other = _peer("S", thread(77, "wait4", (PID + 1000,)), name="python3")
    (f,) = pipe_writers_blocked(_writers(holders=HOLDERS, context=other, ppid=77))
    assert f.severity == "warning" and "deadlock" not in f.summary  # waits for another child


def test_pipe_reader_busy_elsewhere_is_a_warning():
    ctx = _peer("S", thread(77, "clock_nanosleep", (1, 0)))
    (f,) = pipe_writers_blocked(_writers(holders=HOLDERS, context=ctx))
    assert f.severity == "warning" and "none of its threads reads it" in f.summary


@pytest.mark.parametrize(
    "reader",
    [
        thread(77, "read", (5,)),  # reading it: a slow consumer catching up
        thread(77, None, state="R"),  # running: may be about to read
        thread(77, "pselect6", (9,)),  # select(): may be waiting on it
    ],
)
def test_pipe_silent_while_a_reader_may_be_reading(reader):
    assert pipe_writers_blocked(_writers(holders=HOLDERS, context=_peer("S", reader))) == []


def test_pipe_reader_in_poll_that_read_nothing_while_the_pipe_is_full():
    """docs/incidents.md §1 with a live sshd: it sits in ppoll on its socket only (the ssh channel's
    window is used up) and never reads the pipe. Its fd set cannot be seen, but it read
    nothing in the window while writers wait on a full pipe; one that did read stays silent."""
    ppoll = thread(77, "pselect6", (9,))
    quiet = Context(
        peers={77: PeerProcess(77, "sshd", "S", threads(ppoll, pid=77), read_during=0, window=0.2)}
    )
    (f,) = pipe_writers_blocked(_writers(holders=HOLDERS, context=quiet))
    assert (
        f.severity == "warning" and "pid 77 (sshd) holds its read end (fd 5); it waits in poll" in f.summary
    )
    assert "read nothing in 0.2s while writers are blocked on the pipe" in f.summary
    busy = Context(
        peers={77: PeerProcess(77, "sshd", "S", threads(ppoll, pid=77), read_during=4096, window=0.2)}
    )
    assert pipe_writers_blocked(_writers(holders=HOLDERS, context=busy)) == []


def test_pipe_silent_when_the_reader_could_not_be_inspected():
    assert pipe_writers_blocked(_writers(holders=HOLDERS)) == []  # no peer facts: unknown


def test_pipe_own_reader_in_select_is_only_a_warning():
    holders = (PipeEnd(PID, "app", 2, "w"), PipeEnd(PID, "app", 3, "r"))
    (f,) = pipe_writers_blocked(_writers(holders=holders, main="pselect6"))
    assert f.severity == "warning" and "unless thread 4242's pselect6() is waiting on it" in f.summary


def test_pipe_silent_for_running_writers_and_sockets():
    holders = (PipeEnd(PID, "app", 2, "w"),)
    running = subject(
        threads=threads(thread(PID, None, state="R")), files=files(pipe_row(2, "w", PIPE, holders))
    )
    assert pipe_writers_blocked(running) == []
    to_socket = subject(threads=threads(thread(PID, "write", (7, 0, 10))), files=files(tcp_fd(7)))
    assert pipe_writers_blocked(to_socket) == []


def tcp_fd(fd: int):
    from stucktui.model.files import FdRow

    return FdRow(fd, "socket", "socket:[9]", "rw", (), 0, 9)


# -- workers-all-blocked -----------------------------------------------------------------------
def test_workers_all_blocked_in_one_write():
    holders = (PipeEnd(PID, "app", 2, "w"), PipeEnd(PID, "app", 3, "r"))
    (f,) = workers_all_blocked(_writers(n=10, holders=holders))
    assert (f.id, f.severity, f.fds) == ("workers-all-blocked", "critical", (2,))
    assert "All 10 worker threads of pid 4242 (app) are blocked in write on fd 2" in f.summary
    assert any("main thread 4242: accept4" in e for e in f.evidence)


def test_workers_silent_when_one_worker_is_free():
    rows = [thread(PID, "accept4", (4,))]
    rows += [thread(PID + 1 + i, "write", (2, 0, 48)) for i in range(3)]
    rows.append(thread(PID + 9, "futex", (0, 0x189)))
    assert workers_all_blocked(subject(threads=threads(*rows))) == []


@pytest.mark.parametrize(
    "call,args",
    [("accept4", (4,)), ("epoll_wait", (5, 0, 10, -1)), ("read", (6,)), ("flock", (7, 2 | 4))],
)
def test_workers_idle_pool_waits_are_not_stuck(call, args):
    rows = [thread(PID, "clock_nanosleep", (1, 0))] + [thread(PID + 1 + i, call, args) for i in range(4)]
    assert workers_all_blocked(subject(threads=threads(*rows))) == []


def test_workers_all_waiting_for_one_lock():
    rows = [thread(PID, "clock_nanosleep", (1, 0))]
    rows += [thread(PID + 1 + i, "flock", (7, 2), targets={7: "/var/lock/app"}) for i in range(3)]
    (f,) = workers_all_blocked(subject(threads=threads(*rows)))
    assert f.panel == "locks" and "blocked in flock on fd 7 (/var/lock/app)" in f.summary


LOGGING = "/usr/lib/python3.11/logging/__init__.py"
THREADING = "/usr/lib/python3.11/threading.py"
RUN = (("Thread.run", THREADING), ("Thread._bootstrap", THREADING))
LOG_WRITER = (("StreamHandler.emit", LOGGING), ("Handler.handle", LOGGING), ("Logger.info", LOGGING))
LOG_WAITER = (("Handler.acquire", LOGGING), ("Handler.handle", LOGGING), ("Logger.info", LOGGING))
PRINT_SITE = (("handle_request", "/srv/app.py"),)
IDLE = (
    ("Condition.wait", THREADING),
    ("Queue.get", "/usr/lib/python3.11/queue.py"),
    ("worker", "/srv/app.py"),
)


def _queued(writer_frames, waiter_frames, n_waiters: int = 3):
    """One worker blocked writing to the stderr pipe nobody drains, the others in futex."""
    holders = (PipeEnd(PID, "app", 2, "w"), PipeEnd(PID, "app", 3, "r"))
    rows = [thread(PID, "clock_nanosleep", (1, 0))]
    rows.append(
        thread(PID + 1, "write", (2, 0, 48), targets={2: f"pipe:[{PIPE}]"}, frames=writer_frames + RUN)
    )
    rows += [thread(PID + 2 + i, "futex", (0, 0x189), frames=waiter_frames + RUN) for i in range(n_waiters)]
    fd_rows = [pipe_row(2, "w", PIPE, holders), pipe_row(3, "r", PIPE, holders)]
    return subject(threads=threads(*rows), files=files(*fd_rows))


@pytest.mark.parametrize(
    "writer,waiter,site,how",
    [
        (
            LOG_WRITER,
            LOG_WAITER,
            "Handler.acquire (/usr/lib/python3.11/logging/__init__.py:1)",
            ", called from Handler.handle, where the blocked writer is too",
        ),
        (
            PRINT_SITE,
            PRINT_SITE,
            "handle_request (/srv/app.py:1)",
            ": the very line the blocked writer is on",
        ),
    ],
    ids=["logging", "print"],
)
def test_workers_queued_behind_the_blocked_writer_are_stuck_too(writer, waiter, site, how):
    """docs/incidents.md §1 as CPython runs it: one thread is inside write(2), the others wait (futex)
    for the lock it holds: the logging handler's, or the stderr buffer's of the same print()."""
    s = _queued(writer, waiter)
    (f,) = workers_all_blocked(s)
    assert f.summary.startswith(f"All 4 worker threads of pid {PID} (app) are stuck on fd 2")
    assert (
        f"thread {PID + 1} is blocked in write, 3 are waiting for a lock held across that call" in f.summary
    )
    assert any(
        f"3 threads ({PID + 2}, {PID + 3}, {PID + 4}) in futex" in e and f"at {site}{how}" in e
        for e in f.evidence
    )
    (p,) = pipe_writers_blocked(s)
    assert p.summary.startswith(f"Thread {PID + 1} of pid {PID} (app) is blocked writing to fd 2")
    assert f"3 more threads wait behind it in {site}, for a lock held across the blocked write" in p.summary
    assert p.tids == (PID + 1, PID + 2, PID + 3, PID + 4)


def test_a_main_thread_queued_behind_the_writer_is_counted_with_the_workers():
    """waitress: the event loop (main thread) logs too and waits behind the blocked write."""
    s = _queued(LOG_WRITER, LOG_WAITER)
    rows = list(s.threads.rows)
    rows[0] = thread(PID, "futex", (0, 0x189), frames=LOG_WAITER)
    s = subject(threads=threads(*rows), files=s.files)
    (f,) = workers_all_blocked(s)
    assert f.summary.startswith(f"All 5 threads of pid {PID} (app), the main thread too, are stuck on fd 2")
    assert "4 are waiting" in f.summary and f.tids == (PID + 1, PID + 2, PID + 3, PID + 4, PID)
    assert "4 more threads wait behind it" in pipe_writers_blocked(s)[0].summary


def test_an_idle_pool_next_to_a_blocked_writer_is_not_queued_behind_it():
    """Pool threads waiting for work (queue.get) are in futex too, but not at the writer's
    call site: the pool still has workers, and the pipe finding names only the writer."""
    s = _queued(LOG_WRITER, IDLE)
    assert workers_all_blocked(s) == []
    (p,) = pipe_writers_blocked(s)
    assert "wait behind" not in p.summary and p.tids == (PID + 1,)
    # without Python stacks nothing tells the two apart: no claim either way
    bare = _queued((), ())
    assert workers_all_blocked(bare) == [] and "wait behind" not in pipe_writers_blocked(bare)[0].summary


# -- sockets -----------------------------------------------------------------------------------
LISTEN = tcp(4, 10, TCP_LISTEN, ("0.0.0.0", 8080), ("0.0.0.0", 0), 0, 128)


def _unread(n: int):
    rows = [
        tcp(5 + i, 100 + i, TCP_CLOSE_WAIT, ("127.0.0.1", 8080), ("127.0.0.1", 40000 + i), 301)
        for i in range(n)
    ]
    return [LISTEN, *rows]


def test_close_wait_unread_names_threads_and_counts():
    t = threads(thread(PID, "write", (2, 0, 48), targets={2: "pipe:[1]"}))
    (f,) = close_wait_unread(subject(sockets=sockets(*_unread(3)), threads=t))
    assert (f.id, f.severity, f.fds) == ("close-wait-unread", "warning", (5, 6, 7))
    assert "3 CLOSE_WAIT sockets with unread data" in f.summary and "300 bytes on fd 5" in f.summary
    assert "1 thread: write(2 -> pipe:[1], 48 bytes)" in f.summary
    assert "from 1 peer: 127.0.0.1:* ×3" in f.evidence  # clients' ephemeral ports: one address
    (many,) = close_wait_unread(subject(sockets=sockets(*_unread(10))))
    assert many.severity == "critical" and "its threads could not be read" in many.summary


def test_a_pool_connection_holding_the_servers_goodbye_is_a_leak_not_unread_requests():
    """PostgreSQL (idle_in_transaction_session_timeout) and MySQL (wait_timeout) send a last
    error message before they close: a leaked pool connection then holds unread bytes. That is
    close-wait-leak's, with the bytes as evidence, never close-wait-unread's stuck threads."""
    greeted = [
        tcp(10 + i, 200 + i, TCP_CLOSE_WAIT, ("10.0.0.1", 50000 + i), ("10.0.0.5", 5432), 124)
        for i in range(50)
    ]
    assert close_wait_unread(subject(sockets=sockets(*greeted))) == []
    (leak,) = close_wait_leak(subject(sockets=sockets(*greeted)))
    assert "50 CLOSE_WAIT connections to 10.0.0.5:5432 (postgresql)" in leak.summary
    assert any(
        "50 of them hold 123 unread bytes: what the server sent before it closed" in e for e in leak.evidence
    )
    # beside requests its own clients sent and gave up on: only those are unread requests
    (mixed,) = close_wait_unread(subject(sockets=sockets(*_unread(1), *greeted)))
    assert "has 1 CLOSE_WAIT socket with unread data" in mixed.summary


def _unanswered(n: int):
    """Accepted connections whose clients closed after sending a request the process read:
    Recv-Q 1, the FIN alone (ThreadingHTTPServer behind a stuck stderr pipe)."""
    rows = [
        tcp(5 + i, 100 + i, TCP_CLOSE_WAIT, ("127.0.0.1", 8080), ("10.0.0.9", 40000 + i), 1) for i in range(n)
    ]
    return [LISTEN, *rows]


def test_close_wait_unanswered_counts_requests_read_but_never_answered():
    t = threads(*(thread(PID + i, "futex", (0, 128, 2)) for i in range(3)))
    (f,) = close_wait_unanswered(subject(sockets=sockets(*_unanswered(12)), threads=t))
    assert (f.id, f.severity, f.panel, len(f.fds)) == ("close-wait-unanswered", "warning", "sockets", 12)
    assert "holds 12 connections accepted on port 8080 whose clients already closed" in f.summary
    assert "3 threads: futex(" in f.summary and "from 1 peer: 10.0.0.9:* ×12" in f.evidence
    assert close_wait_unread(subject(sockets=sockets(*_unanswered(12)))) == []  # nothing unread
    assert close_wait_leak(subject(sockets=sockets(*_unanswered(12)))) == []  # accepted, not opened
    (many,) = close_wait_unanswered(subject(sockets=sockets(*_unanswered(150))))
    assert many.severity == "critical"
    # a few closes in progress: nothing; the same few held for 5 minutes: a warning (a client
    # may half-close and still wait); a pile held that long: critical
    assert close_wait_unanswered(subject(sockets=sockets(*_unanswered(3)))) == []
    old = Ages({"close_wait": {100 + i: 400.0 for i in range(12)}}, tracked=True)
    (aged,) = close_wait_unanswered(subject(sockets=sockets(*_unanswered(2)), ages=old))
    assert aged.severity == "warning" and any("the oldest" in e for e in aged.evidence)
    (pile,) = close_wait_unanswered(subject(sockets=sockets(*_unanswered(12)), ages=old))
    assert pile.severity == "critical"
    # a proxy (haproxy) holding one connection to a silent backend per abandoned client
    backend = [
        tcp(50 + i, 500 + i, TCP_ESTABLISHED, ("127.0.0.1", 41000 + i), ("127.0.0.1", 8082), 0)
        for i in range(12)
    ]
    (proxy,) = close_wait_unanswered(subject(sockets=sockets(*_unanswered(12), *backend)))
    assert proxy.severity == "warning"
    assert "12 connections it opened to 127.0.0.1:8082 get no answer" in proxy.summary
    assert "look at the backend" in proxy.summary
    # haproxy passes its clients' close on to the backend: its side is FIN_WAIT_2, still waiting
    half = [r._replace(sock=r.sock._replace(state=5)) for r in backend]  # type: ignore[union-attr]
    (proxy,) = close_wait_unanswered(subject(sockets=sockets(*_unanswered(12), *half)))
    assert "12 connections it opened to 127.0.0.1:8082 get no answer" in proxy.summary
    # connections the process opened (no listener on their port) are close-wait-leak's
    opened = [r for r in _unanswered(12) if r is not LISTEN]
    assert close_wait_unanswered(subject(sockets=sockets(*opened))) == []


def test_close_wait_unread_silent_without_data_or_close_wait():
    fin_only = tcp(5, 100, TCP_CLOSE_WAIT, ("127.0.0.1", 8080), ("127.0.0.1", 4000), 1)
    estab = tcp(6, 101, TCP_ESTABLISHED, ("127.0.0.1", 8080), ("127.0.0.1", 4001), 500)
    assert close_wait_unread(subject(sockets=sockets(LISTEN, fin_only, estab))) == []


def _pool(n: int, port: int = 3306, addr: str = "10.0.0.5"):
    return [tcp(10 + i, 200 + i, TCP_CLOSE_WAIT, ("10.0.0.1", 50000 + i), (addr, port), 1) for i in range(n)]


@pytest.mark.parametrize("n,severity", [(1, "info"), (5, "warning"), (100, "critical")])
def test_close_wait_leak_fires_from_one_socket_and_grows_with_count(n, severity):
    (f,) = close_wait_leak(subject(sockets=sockets(*_pool(n))))
    assert (f.id, f.severity, f.panel) == ("close-wait-leak", severity, "sockets")
    assert "to 10.0.0.5:3306 (mysql)" in f.summary and "connection pool" in f.summary
    assert f.fds[0] == 10 and any("press c on fd 10 in the Sockets panel" in s for s in f.next_steps)


def test_close_wait_leak_grows_with_age():
    rows = _pool(1)
    young = Ages({"close_wait": {200: 30.0}}, tracked=True)
    old = Ages({"close_wait": {200: 700.0}}, tracked=True)
    assert close_wait_leak(subject(sockets=sockets(*rows), ages=young))[0].severity == "info"
    (f,) = close_wait_leak(subject(sockets=sockets(*rows), ages=old))
    assert f.severity == "critical" and any("seen by stucktui for 11m" in e for e in f.evidence)


def _reset(n: int, first_fd: int = 100):
    """TCP sockets the process holds that are in no table: the leak after a keepalive reset."""
    from stucktui.model.sockets import SocketRow

    return [SocketRow(first_fd + i, 900 + i, None, 1, "netlink", protocol="TCP") for i in range(n)]


def test_close_wait_leak_counts_connections_reset_after_the_close():
    """Go's keepalive probes get a reset once the balancer's side is gone: leaked sockets move
    from CLOSE_WAIT to CLOSE (in no table) while the pool still holds them."""
    (f,) = close_wait_leak(subject(sockets=sockets(*_pool(37, 6432, "127.0.0.1"), *_reset(311))))
    assert "holds 348 leaked TCP connections: 37 CLOSE_WAIT connections to 127.0.0.1:6432" in f.summary
    assert "it also holds 311 TCP sockets already reset or shut down" in f.summary
    assert f.severity == "critical" and len(f.fds) == 348  # 348 leaked in all: past 100
    assert any("state CLOSE (ss: UNCONN)" in e for e in f.evidence)
    # the age told is the oldest of all: the reset ones are the older part of the leak
    ages = Ages({"close_wait": {**{200 + i: 60.0 for i in range(37)}, 900: 270.0}}, tracked=True)
    (f,) = close_wait_leak(subject(sockets=sockets(*_pool(37, 6432, "127.0.0.1"), *_reset(311)), ages=ages))
    assert "the oldest seen by stucktui for 4m" in f.evidence
    assert any("restart the process" in step for step in f.next_steps)
    # none left in CLOSE_WAIT: the reset ones alone still make the finding
    (alone,) = close_wait_leak(subject(sockets=sockets(*_reset(288))))
    assert "holds 288 TCP sockets that are already reset or shut down" in alone.summary
    assert alone.severity == "critical"
    # a few, seen briefly (or never connected yet): nothing
    assert close_wait_leak(subject(sockets=sockets(*_reset(3)))) == []
    old = Ages({"close_wait": {900: 300.0, 901: 300.0, 902: 300.0}}, tracked=True)
    assert close_wait_leak(subject(sockets=sockets(*_reset(3)), ages=old))[0].severity == "warning"


def _pool_at(n: int, port: int, first_fd: int, addr: str = "127.0.0.1"):
    return [
        tcp(
            first_fd + i,
            5000 + first_fd + i,
            TCP_CLOSE_WAIT,
            ("127.0.0.1", 40000 + first_fd + i),
            (addr, port),
            1,
        )
        for i in range(n)
    ]


def test_close_wait_leak_one_finding_for_every_remote_and_not_for_accepted_sockets():
    rows = [*_pool(3), *_pool_at(2, 6379, 20, "10.0.0.9"), *_unread(4)]
    (f,) = close_wait_leak(subject(sockets=sockets(*rows)))
    assert f.fds == (10, 11, 12, 20, 21) and f.severity == "warning"  # 5 in all: the count is the sum
    assert (
        "holds 5 CLOSE_WAIT connections to 2 remotes (10.0.0.5:3306 (mysql) ×3, 10.0.0.9:6379 (redis) ×2)"
        in (f.summary)
    )
    assert any(e.startswith("fds 20, 21 to 10.0.0.9:6379") for e in f.evidence)


def test_close_wait_leak_counts_every_remote_not_the_first_one():
    """Issue 19: 19,936 CLOSE_WAIT sockets to 16 server ports were reported as the 1,247 of the
    first port. Every count of the summary covers every remote."""
    rows, fd = [], 10
    for i in range(16):
        n = 1247 if i < 15 else 1231  # 19,936 in all
        rows += _pool_at(n, 7000 + i, fd)
        fd += n
    (f,) = close_wait_leak(subject(sockets=sockets(*rows, *_reset(64, first_fd=fd))))
    assert f.summary.startswith(
        "pid 4242 (app) holds 20,000 leaked TCP connections: 19,936 CLOSE_WAIT connections "
    )
    assert (
        "to 16 ports of 127.0.0.1 (7000 ×1,247, 7001 ×1,247, 7002 ×1,247, 7003 ×1,247 and 12 more)"
        in f.summary
    )
    assert "that the servers closed" in f.summary
    assert len(f.fds) == 20_000 and f.severity == "critical"
    assert "and 8 more remotes: the Sockets panel (3) lists them all" in f.evidence
    assert "1247 leaked" not in f.summary and "1,247 leaked" not in f.summary


def _spin(state: str | None, events=("IN",), cpu: float | None = 99.0, proto_state: int = TCP_CLOSE_WAIT):
    sock = tcp(30, 300, proto_state, ("10.0.0.1", 51000), ("10.0.0.7", 6379), 1)
    fs = files(epoll_row(5, (watch(30, 300, state, events),)))
    t = threads(thread(PID, "epoll_wait", (5, 0, 10, -1), state="R", targets={5: "epoll watching 1 fd"}))
    return subject(cpu_percent=cpu, files=fs, sockets=sockets(sock), threads=t)


def _loop_and_worker(loop: ThreadRow, worker: ThreadRow, cpu: float = 99.0):
    base = _spin("CLOSE_WAIT", cpu=cpu)
    return replace(base, threads=threads(loop, worker))


_EPOLL_WAIT = {"targets": {5: "epoll watching 1 fd"}}


def test_an_epoll_spinner_is_not_also_a_leaking_pool():
    """Issue 19: the socket an epoll loop spins on is epoll-spin's finding, not a pool's leak."""
    spinning = _spin("CLOSE_WAIT")
    assert [f.id for f in epoll_spin(spinning)] == ["epoll-spin"]
    assert close_wait_leak(spinning) == []
    idle = _spin("CLOSE_WAIT", cpu=1.0)  # the loop sleeps: the socket is a connection left behind
    assert epoll_spin(idle) == [] and [f.id for f in close_wait_leak(idle)] == ["close-wait-leak"]


def test_epoll_spin_not_blamed_on_a_thread_computing_elsewhere():
    """The loop thread waits in pause() (or sleeps in epoll_wait) while another thread burns
    the CPU in user space: closing the CLOSE_WAIT fd would change nothing, so no spin."""
    worker = thread(PID + 1, None, state="R", utime=8910, stime=4)  # lifetime: 0.04% in the kernel
    paused = thread(PID, "pause")
    assert epoll_spin(_loop_and_worker(paused, worker)) == []
    asleep = thread(PID, "epoll_wait", (5, 0, 10, -1), wchan="do_epoll_wait", **_EPOLL_WAIT)
    assert epoll_spin(_loop_and_worker(asleep, worker)) == []
    # the same with a window: the worker's CPU is all user time
    worker_w = worker._replace(cpu_percent=60.0, sys_percent=0.0)
    assert epoll_spin(_loop_and_worker(paused._replace(cpu_percent=0.0), worker_w)) == []
    # ... while a loop thread that spins is counted alone: its CPU, not the process's
    spinner = thread(PID, "epoll_wait", (5, 0, 10, -1), state="R", cpu_percent=45.0, sys_percent=35.0)
    (f,) = epoll_spin(_loop_and_worker(spinner, worker_w, cpu=105.0))
    assert "burns 45% CPU" in f.summary and f.severity == "warning"
    assert any(e.startswith(f"threads {PID} running or in epoll_wait on fd 5, up to 78%") for e in f.evidence)


def test_epoll_spin_counts_a_busy_python_loop_but_not_an_io_thread_or_sleepers():
    """Measured with real programs: an asyncio or kombu loop doing work in its callbacks spends
    only 4-5% of its CPU in the kernel, an I/O thread beside an idle registration much more,
    and forty threads sleeping 1 ms add up to 20% CPU without any of them spinning."""
    busy_loop = thread(
        PID, "epoll_wait", (5, 0, 10, 0), state="R", cpu_percent=90.0, sys_percent=0.0,
        utime=9500, stime=450, **_EPOLL_WAIT,
    )  # fmt: skip
    born = thread(PID + 1, "futex", (0, 128, 2))  # started during the window: no CPU figure
    (f,) = epoll_spin(replace(_spin("CLOSE_WAIT", cpu=95.0), threads=threads(busy_loop, born)))
    assert "burns 90% CPU" in f.summary and f.severity == "critical"
    # an I/O thread (read on fd 9, not in the epoll set) and a loop asleep elsewhere
    io = thread(
        PID + 1, "read", (9, 0, 4096), state="R", cpu_percent=98.0, sys_percent=70.0, utime=300, stime=700
    )
    paused = thread(PID, "pause", cpu_percent=0.0, sys_percent=0.0)
    assert epoll_spin(_loop_and_worker(paused, io)) == []
    sleepers = [
        thread(PID + i, "clock_nanosleep", (0, 0, 0, 0), cpu_percent=0.6, sys_percent=0.5, utime=10, stime=40)
        for i in range(1, 41)
    ]
    assert epoll_spin(replace(_spin("CLOSE_WAIT", cpu=23.0), threads=threads(paused, *sleepers))) == []


def test_epoll_spin_counts_a_loop_its_python_stack_shows_whatever_its_kernel_share():
    """A kombu hub doing heavy callbacks spends 1% of its CPU in the kernel, like a compute
    thread; py-spy's stack shows it inside the event loop, so it counts."""
    frames = (("on_readable", "/app/tasks.py"), ("create_loop", "/usr/lib/python3/kombu/asynchronous/hub.py"))
    hub = thread(
        PID, None, state="R", utime=9900, stime=100, cpu_percent=97.0, sys_percent=1.0, frames=frames
    )
    (f,) = epoll_spin(replace(_spin("CLOSE_WAIT", cpu=97.0), threads=threads(hub)))
    assert f.severity == "critical" and "burns 97% CPU" in f.summary
    compute = hub._replace(python=hub.python and replace(hub.python, frames=hub.python.frames[:1]))
    assert epoll_spin(replace(_spin("CLOSE_WAIT", cpu=97.0), threads=threads(compute))) == []


def test_epoll_spin_under_cpu_contention_never_sleeps():
    """Fourteen busy processes on two cores: a spinning loop gets 12% of a CPU, below the CPU
    cut-off, but schedstat shows it runnable the whole window: it never waits for anything."""
    starved = thread(
        PID, "epoll_wait", (5, 0, 10, -1), state="R", cpu_percent=12.0, sys_percent=3.0,
        utime=900, stime=2900, runnable_percent=98.0, **_EPOLL_WAIT,
    )  # fmt: skip
    (f,) = epoll_spin(replace(_spin("CLOSE_WAIT", cpu=12.0), threads=threads(starved)))
    assert f.severity == "critical"
    assert "never sleeps (runnable 98% of the time, 12% of a CPU: the rest of the time it waits" in f.summary
    # a thread that got 12% and slept the rest: no spin
    idle = starved._replace(runnable_percent=14.0)
    assert epoll_spin(replace(_spin("CLOSE_WAIT", cpu=12.0), threads=threads(idle))) == []


def test_epoll_spin_on_close_wait():
    (f,) = epoll_spin(_spin("CLOSE_WAIT"))
    assert (f.id, f.severity, f.fds) == ("epoll-spin", "critical", (30, 5))
    assert (
        "burns 99% CPU while epoll fd 5 watches fd 30, a socket in CLOSE_WAIT to 10.0.0.7:6379" in f.summary
    )
    assert any("gdb-close" in s for s in f.next_steps)


def test_epoll_spin_on_a_reset_tcp_socket():
    (f,) = epoll_spin(_spin("UNCONN", events=("OUT",), proto_state=TCP_CLOSE))
    assert "closed (reset or shut down)" in f.summary


def test_epoll_spin_on_a_tcp_socket_in_no_table():
    """After shutdown(SHUT_RDWR) of a CLOSE_WAIT socket it reaches CLOSE and leaves every
    table; sockfs still names it TCP, so the spin is still seen (the loop now gets HUP)."""
    closed = SocketRow(30, 300, None, 1, "netlink", protocol="TCP")
    assert (closed.proto, closed.state, closed.closed_tcp) == ("tcp", "UNCONN", True)
    fs = files(epoll_row(5, (watch(30, 300, "UNCONN", ("IN",)),)))
    (f,) = epoll_spin(subject(cpu_percent=99.0, files=fs, sockets=sockets(closed)))
    assert "a socket that is closed (reset or shut down)" in f.summary
    netlink = SocketRow(30, 300, None, 1, "netlink", protocol="NETLINK")
    assert (netlink.proto, netlink.state, netlink.closed_tcp) == ("netlink", "", False)
    assert SocketRow(30, 300, None, 1, "netlink").proto == "other"


def _watched(kind: str, target: str, *, info=None, pipe=None):
    from stucktui.model.files import EpollWatch, FdRow

    w = EpollWatch(30, 1, ("IN",), 800, 30, kind, target, False, None, pipe)
    return files(epoll_row(5, (w,)), FdRow(30, kind, target, "rw", (), 0, 800, info, None, pipe))


def test_epoll_spin_on_fds_that_are_always_ready_without_a_socket():
    """A pipe nobody can write to any more (HUP forever), an eventfd whose count and a timerfd
    whose expirations nobody reads: the same busy loop as docs/incidents.md §4, named for what it is."""
    from stucktui.model.fdinfo import FdInfo, TimerFd
    from stucktui.model.files import PipeFill, PipeView

    alone = (PipeEnd(PID, "app", 30, "r"),)
    dead = PipeView(800, "r", alone, (), False, True, PipeFill(0, 65536), False, (5,))
    (f,) = epoll_spin(subject(cpu_percent=90.0, files=_watched("pipe", "pipe:[800]", pipe=dead)))
    assert "watches fd 30, a pipe that no process can write to any more" in f.summary and f.panel == "files"
    assert any("epoll-del" in s for s in f.next_steps) and any("Files panel (4)" in s for s in f.next_steps)
    counted = FdInfo(0, 2, eventfd_count=1)
    (g,) = epoll_spin(
        subject(cpu_percent=90.0, files=_watched("eventfd", "anon_inode:[eventfd]", info=counted))
    )
    assert "an eventfd whose count (1) is never read" in g.summary
    expired = FdInfo(0, 2, timerfd=TimerFd(1, 3, 0, (0, 0), (0, 0)))
    (h,) = epoll_spin(
        subject(cpu_percent=90.0, files=_watched("timerfd", "anon_inode:[timerfd]", info=expired))
    )
    assert "a timerfd with 3 expirations never read" in h.summary
    # a wake-up pipe with a writer, an eventfd at 0: nothing is ready, no finding
    live = PipeView(
        800, "r", (*alone, PipeEnd(PID, "app", 31, "w")), (), False, False, PipeFill(0, 65536), False, (5,)
    )
    assert epoll_spin(subject(cpu_percent=90.0, files=_watched("pipe", "pipe:[800]", pipe=live))) == []
    zero = FdInfo(0, 2, eventfd_count=0)
    assert (
        epoll_spin(subject(cpu_percent=90.0, files=_watched("eventfd", "anon_inode:[eventfd]", info=zero)))
        == []
    )


def test_epoll_spin_sharing_the_cpu_is_a_warning():
    (f,) = epoll_spin(_spin("CLOSE_WAIT", cpu=34.0))
    assert f.severity == "warning" and any("less than a core" in e for e in f.evidence)


@pytest.mark.parametrize(
    "kw",
    [
        {"cpu": 10.0},  # idle: a CLOSE_WAIT socket alone is close-wait-leak's business
        {"cpu": None},  # CPU unknown (first sample)
        {"events": ("IN", "ET")},  # edge-triggered: reported once
        {"events": ("IN", "ONESHOT")},
        {"state": "ESTAB"},
    ],
)
def test_epoll_spin_silent(kw):
    state = kw.pop("state", "CLOSE_WAIT")
    assert epoll_spin(_spin(state, **kw)) == []


def test_listen_backlog_full():
    full = tcp(4, 10, TCP_LISTEN, ("0.0.0.0", 8080), ("0.0.0.0", 0), 129, 128)
    (f,) = listen_backlog_full(subject(sockets=sockets(full)))
    # nothing says whether it still accepts: a busy server that accepts slower than they arrive
    assert f.severity == "warning" and "0.0.0.0:8080 (fd 4) has a full accept queue (129" in f.summary
    assert "accepts slower than connections arrive" in f.summary
    assert listen_backlog_full(subject(sockets=sockets(LISTEN))) == []
    at_limit = tcp(4, 10, TCP_LISTEN, ("0.0.0.0", 8080), ("0.0.0.0", 0), 128, 128)
    assert listen_backlog_full(subject(sockets=sockets(at_limit))) == []


def test_listen_backlog_full_critical_once_the_process_stopped_accepting():
    from dataclasses import replace

    from stucktui.diagnose.subject import Ages
    from stucktui.model.sockets import AcceptQueue

    full = tcp(4, 10, TCP_LISTEN, ("127.0.0.1", 8080), ("0.0.0.0", 0), 6, 5)
    peers = tuple(f"127.0.0.1:{p}" for p in range(40000, 40006))
    q = AcceptQueue(4, "127.0.0.1:8080", 6, 5, (("ESTAB", 6),), 0, 0, peers)
    socks = replace(sockets(full), accept_queues=(q,))
    blocked = threads(thread(PID, "write", (2, 0, 100)), thread(PID + 1, "futex", (0, 0x189)))
    (f,) = listen_backlog_full(subject(sockets=socks, threads=blocked))
    assert f.severity == "critical" and "no thread is in accept() or waiting for connections" in f.summary
    # the main thread in poll may accept: a busy server, unless a connection has sat in the queue
    polling = threads(thread(PID, "pselect6", (5,)), thread(PID + 1, "write", (2, 0, 100)))
    turning = Ages({"accept_queue": {(4, p): 0.4 for p in peers}}, tracked=True)
    (f,) = listen_backlog_full(subject(sockets=socks, threads=polling, ages=turning))
    assert f.severity == "warning" and any("seen for 0s" in e for e in f.evidence)
    stuck = Ages({"accept_queue": {(4, peers[0]): 12.0}}, tracked=True)
    (f,) = listen_backlog_full(subject(sockets=socks, threads=polling, ages=stuck))
    assert f.severity == "critical" and "the oldest connection has waited 12s in it" in f.summary
    running = threads(thread(PID, None, state="R"), thread(PID + 1, "write", (2, 0, 100)))
    assert listen_backlog_full(subject(sockets=socks, threads=running))[0].severity == "warning"


def test_accept_queue_abandoned_counts_connections_no_fd_holds():
    from dataclasses import replace

    from stucktui.diagnose.rules.listen import accept_queue_abandoned
    from stucktui.model.sockets import AcceptQueue

    q = AcceptQueue(4, "0.0.0.0:8080", 651, 1024, (("CLOSE_WAIT", 650), ("ESTAB", 1)), 650, 650 * 167)
    t = threads(thread(PID, "futex", (0, 0x189)))
    (f,) = accept_queue_abandoned(subject(sockets=replace(sockets(LISTEN), accept_queues=(q,)), threads=t))
    assert (f.id, f.severity, f.fds, f.panel) == ("accept-queue-abandoned", "critical", (4,), "sockets")
    assert f.summary.startswith(
        "pid 4242 (app) has not accepted 651 connections waiting on 0.0.0.0:8080 (fd 4)"
    )
    assert "650 of them were closed by their clients while they waited" in f.summary
    assert "stopped calling accept(); its threads: 1 thread: futex" in f.summary
    assert any("650 CLOSE_WAIT, 1 ESTAB" in e for e in f.evidence)
    # a queue that is only busy (nobody gave up yet) is not this finding
    busy = replace(q, states=(("ESTAB", 3),), queued=3, close_wait=0, unread_bytes=0)
    assert accept_queue_abandoned(subject(sockets=replace(sockets(LISTEN), accept_queues=(busy,)))) == []


# -- signals -----------------------------------------------------------------------------------
def _parent(here_only: int, tid: int | None) -> ParentDiff:
    return ParentDiff(1000, "uwsgi", here_only, 0, 0, 0, (tid,) if tid is not None else ())


def test_signal_inherited_from_the_forking_thread():
    sig = signals(
        shared=ALRM, blocked=ALRM | 1 << (signal.SIGTERM - 1), caught=ALRM, parent=_parent(ALRM, 1007)
    )
    (f,) = signal_blocked_pending(subject(signals=sig, name="hping3"))
    assert (f.id, f.severity, f.panel) == ("signal-blocked-pending", "warning", "signals")
    assert f.summary.startswith("SIGALRM is blocked and pending in pid 4242 (hping3): this process will wait")
    assert (
        "inherited from its parent pid 1000 (uwsgi), whose thread 1007 blocks the same signals" in f.summary
    )
    assert any("SIGTERM is blocked too" in s for s in f.next_steps)
    assert any(f"number {int(signal.SIGALRM)} here" in e for e in f.evidence)


def test_signal_inherited_from_one_of_many_threads_with_the_same_mask():
    """uWSGI blocks signals alike in every worker thread: which one forked the child is not in
    /proc, so no single thread is named as the one that started it."""
    pool = ParentDiff(1000, "uwsgi", ALRM, 0, 0, 0, (3729, 3730, 3731))
    (f,) = signal_blocked_pending(subject(signals=signals(shared=ALRM, blocked=ALRM, parent=pool)))
    assert "whose threads 3729, 3730, 3731 block the same signals (one of them started it" in f.summary
    assert "the thread that started it" not in f.summary


def test_signal_origin_from_parent_threads_that_block_it_though_the_masks_differ():
    """coreutils timeout, started by a uWSGI worker thread, changes its own mask: no parent
    thread's mask is equal to it, but 63 of 64 block the stuck signal."""
    from dataclasses import replace

    masks = ((1000, 0), *((1000 + i, 0xFFFFFFFE7FFBFEFF) for i in range(1, 64)))
    pool = replace(ParentDiff(1000, "uwsgi", ALRM, 0, 0, 0), parent_blocked=masks)
    (f,) = signal_blocked_pending(subject(signals=signals(shared=ALRM, blocked=ALRM, parent=pool)))
    assert "inherited from its parent pid 1000 (uwsgi), whose threads 1001, 1002" in f.summary
    assert "(63 of 64) block it" in f.summary and "does not block it" not in f.summary


def test_an_ignored_signal_pending_and_blocked_is_waited_for_by_nobody():
    """timeout ignores the SIGTERM it sends its own process group: it stays pending, harmlessly."""
    from dataclasses import replace

    snap = signals(shared=ALRM, blocked=ALRM)
    ignored = replace(snap, rows=tuple(replace(r, disposition="ignored") for r in snap.rows))
    assert signal_blocked_pending(subject(signals=ignored)) == []


def test_signal_origin_variants():
    same = signals(shared=ALRM, blocked=ALRM, parent=_parent(0, None))
    assert (
        "inherited: its parent pid 1000 (uwsgi) blocks it too"
        in signal_blocked_pending(subject(signals=same))[0].summary
    )
    own = signals(shared=ALRM, blocked=ALRM, parent=_parent(ALRM, None))
    assert "does not block it" in signal_blocked_pending(subject(signals=own))[0].summary
    unread = signals(shared=ALRM, blocked=ALRM)
    assert "could not be read" in signal_blocked_pending(subject(signals=unread))[0].summary
    reparented = signals(shared=ALRM, blocked=ALRM, parent=ParentDiff(1, "systemd", ALRM, 0, 0, 0))
    (f,) = signal_blocked_pending(subject(signals=reparented, ppid=1))
    assert "its parent is pid 1 (systemd)" in f.summary and "reparented to pid 1" in f.summary
    aged = Ages({"stuck_signal": {signal.SIGALRM: 30.0}}, tracked=True)
    assert signal_blocked_pending(subject(signals=same, ages=aged))[0].severity == "critical"


def test_signal_pending_sigchld_of_a_shell_reaping_in_wait4_is_how_it_works():
    """bash waiting for its pipeline: SIGCHLD blocked and pending while it sits in wait4(-1)."""
    chld = 1 << (signal.SIGCHLD - 1)
    sig = signals(shared=chld, blocked=chld, caught=chld, parent=_parent(0, None))
    waiting = threads(thread(PID, "wait4", (0xFFFFFFFF, 0, 0, 0)))
    assert signal_blocked_pending(subject(signals=sig, threads=waiting, name="bash")) == []
    # not reaping: a blocked, pending SIGCHLD is stuck as any other signal
    asleep = threads(thread(PID, "pause"))
    assert signal_blocked_pending(subject(signals=sig, threads=asleep))[0].summary.startswith("SIGCHLD is")
    # reaping does not excuse another signal pending and blocked beside it
    both = signals(shared=chld | ALRM, blocked=chld | ALRM, parent=_parent(0, None))
    (f,) = signal_blocked_pending(subject(signals=both, threads=waiting))
    assert f.summary.startswith("SIGALRM is blocked and pending")


def test_a_signal_ignored_by_default_is_stuck_only_for_a_process_that_waits_for_it():
    """Issue 19: SIGWINCH blocked and pending after a terminal resize was 'will wait forever'.
    Its default action is to ignore it: nothing waits for it unless a handler is installed for
    it and a thread waits for signals."""
    winch, cont = 1 << (signal.SIGWINCH - 1), 1 << (signal.SIGCONT - 1)
    running = threads(thread(PID, "read", (0, 0, 4096)))
    resized = signals(shared=winch | cont, blocked=winch | cont, caught=winch, parent=_parent(0, None))
    assert signal_blocked_pending(subject(signals=resized, threads=running)) == []
    assert signal_blocked_pending(subject(signals=resized)) == []  # threads unknown: no wait seen
    # a handler for it and a thread in sigsuspend: the process does wait for that signal
    waiting = threads(thread(PID, "rt_sigsuspend"))
    (f,) = signal_blocked_pending(subject(signals=resized, threads=waiting))
    assert f.summary.startswith("SIGWINCH is blocked and pending")  # SIGCONT: no handler, not waited for
    # no handler: even a thread in pause does not wait for a signal that does nothing
    bare = signals(shared=winch, blocked=winch, parent=_parent(0, None))
    assert signal_blocked_pending(subject(signals=bare, threads=threads(thread(PID, "pause")))) == []
    # a signal whose default action ends the process is stuck whatever the threads do
    both = signals(shared=winch | ALRM, blocked=winch | ALRM, parent=_parent(0, None))
    (f,) = signal_blocked_pending(subject(signals=both, threads=running))
    assert f.summary.startswith("SIGALRM is blocked and pending")


def test_signal_silent_when_not_both_pending_and_blocked():
    assert signal_blocked_pending(subject(signals=signals(shared=ALRM))) == []
    assert signal_blocked_pending(subject(signals=signals(blocked=ALRM))) == []


# -- locks -------------------------------------------------------------------------------------
LOCKFILE = "/var/log/app.log.lock"
ME = FileUser(PID, "app", 3)


def test_lock_self_wait_blocked_in_flock():
    row = lock_row("waiting", 77, LOCKFILE, (ME,))
    t = threads(thread(PID, "flock", (4, 2), targets={4: LOCKFILE}))
    (f,) = lock_self_wait(subject(locks=locks(row), threads=t))
    assert (f.id, f.severity) == ("lock-self-wait", "critical")
    assert (
        "holds the FLOCK WRITE lock on /var/log/app.log.lock (fd 3) and waits for that same lock" in f.summary
    )
    assert any("flock(4 -> /var/log/app.log.lock, LOCK_EX)" in e for e in f.evidence)


def _poller(frames=(), call=("clock_nanosleep", (1, 0))):
    held = lock_row("held", 77, LOCKFILE, (ME,))
    own = LockEntry(1, 0, "FLOCK", "ADVISORY", "WRITE", PID, 254, 0, 77, 0, None)
    fs = files(file_row(3, LOCKFILE, 77, locks=(own,)), file_row(4, LOCKFILE, 77))
    t = threads(thread(PID, call[0], call[1], targets={4: LOCKFILE}, frames=frames))
    return subject(locks=locks(held), files=fs, threads=t)


def test_lock_self_wait_poller_seen_in_its_python_stack():
    frames = (("acquire", "log.py"), ("emit", "log.py"), ("on_term", "app.py"), ("emit", "log.py"))
    (f,) = lock_self_wait(_poller(frames))
    assert "through fd 3 and keeps trying to take it again through fd 4" in f.summary
    assert f.fds == (3, 4)
    assert any("Python stack is in acquire" in e for e in f.evidence)
    assert any("stack emit twice (4 frames): re-entered" in e for e in f.evidence)


def _filelock(frames, lock_type: str = "FLOCK"):
    """The filelock library: it closes the lock file's fd after each failed LOCK_NB try and
    sleeps, so at any moment only the holding fd is open; the stack shows the re-entry."""
    held = lock_row("held", 77, LOCKFILE, (ME,))
    if lock_type != "FLOCK":
        from dataclasses import replace

        held = replace(held, type=lock_type)
    own = LockEntry(1, 0, lock_type, "ADVISORY", "WRITE", PID, 254, 0, 77, 0, None)
    fs = files(file_row(3, LOCKFILE, 77, locks=(own,)))
    t = threads(thread(PID, "clock_nanosleep", (1, 0), frames=frames))
    return subject(locks=locks(held), files=fs, threads=t)


FILELOCK_STACK = (
    ("sleep", "time.py"),
    ("BaseFileLock._poll_until_acquired", "filelock/_api.py"),
    ("BaseFileLock.acquire", "filelock/_api.py"),
    ("LockedHandler.emit", "app.py"),
    *(("on_term", "app.py"), ("LockedHandler.emit", "app.py")) * 31,
    ("RotatingFileHandler.doRollover", "logging/handlers.py"),
    ("LockedHandler.emit", "app.py"),
    ("child", "app.py"),
)


def test_lock_self_wait_without_a_second_fd_from_the_reentered_stack():
    (f,) = lock_self_wait(_filelock(FILELOCK_STACK))
    assert (f.id, f.severity, f.fds, f.tids) == ("lock-self-wait", "critical", (3,), (PID,))
    assert "holds the FLOCK WRITE lock on /var/log/app.log.lock through fd 3" in f.summary
    assert "its own stack is trying to take a lock again" in f.summary
    assert any("is in BaseFileLock._poll_until_acquired" in e for e in f.evidence)
    assert any(
        "LockedHandler.emit 33 times, on_term 31 times (69 frames): re-entered" in e for e in f.evidence
    )
    # never re-entered: an ordinary wait for the lock, not this rule; a POSIX lock never blocks its owner
    assert lock_self_wait(_filelock(FILELOCK_STACK[:4] + FILELOCK_STACK[-1:])) == []
    assert lock_self_wait(_filelock(FILELOCK_STACK, "POSIX")) == []


@pytest.mark.parametrize(
    "frame",
    [("serve_blocking_requests", "server.py"), ("Semaphore.acquire", "/usr/lib/python3.11/threading.py"),
     ("tick", "clock.py"), ("LockedRotatingHandler.emit", "handlers.py")],
)  # fmt: skip
def test_lock_frames_are_whole_names_of_file_lock_calls(frame):
    stack = (frame, ("on_term", "app.py"), ("emit", "app.py"), ("on_term", "app.py"), ("emit", "app.py"))
    assert lock_self_wait(_filelock(stack)) == []


def test_lock_self_wait_poller_caught_in_the_syscall():
    (f,) = lock_self_wait(_poller(call=("flock", (4, 2 | 4))))
    assert any("flock(4 -> /var/log/app.log.lock, LOCK_EX|LOCK_NB)" in e for e in f.evidence)


def test_lock_held_and_file_open_twice_but_nobody_trying_is_silent():
    assert lock_self_wait(_poller(frames=(("serve", "app.py"),))) == []


def test_lock_self_wait_blocked_waiter_is_one_finding_not_two():
    """Blocked in flock(4) on a lock held through fd 3: /proc/locks lists the wait, so the
    LOCK_NB poller test must not report it again as 'keeps trying'."""
    held = lock_row("held", 77, LOCKFILE, (ME,), waiters=(PID,))
    waiting = lock_row("waiting", 77, LOCKFILE, (ME,))
    own = LockEntry(1, 0, "FLOCK", "ADVISORY", "WRITE", PID, 254, 0, 77, 0, None)
    fs = files(file_row(3, LOCKFILE, 77, locks=(own,)), file_row(4, LOCKFILE, 77))
    t = threads(thread(PID, "flock", (4, 2), targets={4: LOCKFILE}))
    (f,) = lock_self_wait(subject(locks=locks(held, waiting), files=fs, threads=t))
    assert "waits for that same lock" in f.summary and "keeps trying" not in f.summary
    assert not any("waiting for it" in e for e in f.evidence)  # never itself as another waiter


def test_lock_wait_blocked_waiter_is_not_also_a_poller():
    row = lock_row("waiting", 77, LOCKFILE, (FileUser(77, "cron", 5),), listed=77)
    ctx = Context(foreign_locks=(ForeignLock(3, LOCKFILE, "FLOCK", "WRITE", 77, "cron"),))
    t = threads(thread(PID, "flock", (3, 1), targets={3: LOCKFILE}))
    (f,) = lock_wait(subject(locks=locks(row), context=ctx, threads=t))
    assert "waits for the FLOCK WRITE lock" in f.summary


def test_lock_wait_names_the_holder():
    row = lock_row("waiting", 77, LOCKFILE, (FileUser(77, "cron", 5),), listed=77)
    (f,) = lock_wait(subject(locks=locks(row)))
    assert (f.id, f.severity) == ("lock-wait", "warning")
    assert (
        f.summary == f"pid {PID} (app) waits for the FLOCK WRITE lock on {LOCKFILE}, held by pid 77 (cron)."
    )
    aged = Ages({"lock_wait": {1: 400.0}}, tracked=True)
    assert lock_wait(subject(locks=locks(row), ages=aged))[0].severity == "critical"
    assert lock_self_wait(subject(locks=locks(row))) == []


def test_lock_wait_poller_of_another_process_lock():
    ctx = Context(foreign_locks=(ForeignLock(4, LOCKFILE, "FLOCK", "WRITE", 77, "cron"),))
    frames = (("_acquire", "filelock/_unix.py"),)
    t = threads(thread(PID, "clock_nanosleep", (1, 0), frames=frames))
    (f,) = lock_wait(subject(context=ctx, threads=t))
    assert (
        "keeps trying to lock /var/log/app.log.lock (fd 4), whose FLOCK WRITE lock is held by pid 77"
        in f.summary
    )
    idle = threads(thread(PID, "clock_nanosleep", (1, 0), frames=(("serve", "app.py"),)))
    assert lock_wait(subject(context=ctx, threads=idle)) == []


def test_lock_wait_one_finding_per_locked_file_naming_the_fd_being_locked():
    """A poller with the file open through many fds (opened anew for each try): one finding,
    naming the fd a thread is caught locking through."""
    many = tuple(ForeignLock(fd, LOCKFILE, "FLOCK", "WRITE", 77, "cron") for fd in (3, 4, 6, 8))
    t = threads(thread(PID, "flock", (4, 6), targets={4: LOCKFILE}))  # LOCK_EX|LOCK_NB on fd 4
    (f,) = lock_wait(subject(context=Context(foreign_locks=many), threads=t))
    assert f.fds == (4,) and f"keeps trying to lock {LOCKFILE} (fd 4)" in f.summary
    assert f"fds 3, 4, 6, 8 have {LOCKFILE} open and hold no lock on it" in f.evidence[0]
    frames = (("_acquire", "filelock/_unix.py"),)
    sleeping = threads(thread(PID, "clock_nanosleep", (1, 0), frames=frames))
    (f,) = lock_wait(subject(context=Context(foreign_locks=many), threads=sleeping))
    assert f.fds == (3, 4, 6, 8) and "(fds 3, 4, 6, 8)" in f.summary


# -- whole process -----------------------------------------------------------------------------
@pytest.mark.parametrize("n,severity", [(880, "warning"), (1000, "critical"), (1024, "critical")])
def test_fd_exhaustion(n, severity):
    (f,) = fd_exhaustion(subject(num_fds=n, fd_soft_limit=1024))
    assert f.severity == severity and f"has {n} of its 1024 file descriptors open" in f.summary


def test_fd_exhaustion_from_a_close_wait_leak_is_one_group_with_it():
    """A pool leaking CLOSE_WAIT sockets up to its fd limit: the limit names the leaked fds,
    so the two findings are one cause (the leak) and one group, not two incidents."""
    leak_rows = _pool(900)
    s = subject(num_fds=950, fd_soft_limit=1024, sockets=sockets(*leak_rows))
    (exh,) = fd_exhaustion(s)
    (leak,) = close_wait_leak(s)
    assert exh.fds == tuple(r.fd for r in leak_rows) == leak.fds
    assert "900 of them are CLOSE_WAIT sockets" in exh.evidence
    (group,) = group_findings(sort_findings([exh, leak]))
    assert len(group.members) == 2
    (alone,) = fd_exhaustion(subject(num_fds=950, fd_soft_limit=1024))
    assert alone.fds == ()  # nothing to share: its own group


def test_fd_exhaustion_silent():
    assert fd_exhaustion(subject(num_fds=500, fd_soft_limit=1024)) == []
    assert fd_exhaustion(subject(num_fds=5000, fd_soft_limit=None)) == []
    assert fd_exhaustion(subject(num_fds=None, fd_soft_limit=1024)) == []


def test_uninterruptible_needs_time():
    t = threads(thread(PID, "read", (3,), state="D", wchan="nfs_wait_bit_killable"))
    assert uninterruptible(subject(threads=t)) == []  # no history: brief or long, unknown
    assert uninterruptible(subject(threads=t, ages=Ages({"dstate": {PID: 5.0}}, tracked=True))) == []
    (f,) = uninterruptible(subject(threads=t, ages=Ages({"dstate": {PID: 30.0}}, tracked=True)))
    assert (
        f.severity == "warning" and "uninterruptible sleep (D) for 30s in nfs_wait_bit_killable" in f.summary
    )
    (f,) = uninterruptible(subject(threads=t, ages=Ages({"dstate": {PID: 200.0}}, tracked=True)))
    assert f.severity == "critical"
    # without the Threads panel, the process state (its main thread) is enough
    (f,) = uninterruptible(subject(state="D", ages=Ages({"dstate": {PID: 30.0}}, tracked=True)))
    assert f.tids == (PID,)


def _kids(n: int) -> Context:
    return Context(children=tuple(ChildProcess(5000 + i, "worker", "Z", 900 + i) for i in range(n)))


def test_zombie_children():
    assert zombie_children(subject(context=_kids(1))) == []  # just exited: its parent will reap it
    aged = Ages({"zombies": {(5000, 900): 60.0}}, tracked=True)
    (f,) = zombie_children(subject(context=_kids(1), ages=aged))
    assert (
        f.severity == "warning"
        and "has 1 zombie child it has not reaped (pid 5000), the oldest for 1m" in f.summary
    )
    (f,) = zombie_children(subject(context=_kids(12)))
    assert "12 zombie children" in f.summary
    assert zombie_children(subject()) == []  # children unknown


# -- a healthy process: no rule says anything --------------------------------------------------
def test_healthy_process_has_no_findings():
    holders = (PipeEnd(PID, "app", 1, "w"), PipeEnd(77, "log", 0, "r"))
    t = threads(
        thread(PID, "epoll_wait", (5, 0, 10, -1)),
        thread(PID + 1, "futex", (0, 0x189)),
        thread(PID + 2, "read", (6,)),
        thread(PID + 3, "clock_nanosleep", (1, 0)),
    )
    fs = files(
        pipe_row(1, "w", PIPE, holders, queued=10),
        epoll_row(5, (watch(7, 400, "ESTAB"),)),
        file_row(
            8, LOCKFILE, 77, locks=(LockEntry(1, 0, "FLOCK", "ADVISORY", "WRITE", PID, 254, 0, 77, 0, None),)
        ),
        soft=1024,
    )
    socks = sockets(LISTEN, tcp(7, 400, TCP_ESTABLISHED, ("10.0.0.1", 8080), ("10.0.0.2", 4000), 0))
    s = subject(
        cpu_percent=3.0,
        num_fds=9,
        fd_soft_limit=1024,
        threads=t,
        files=fs,
        sockets=socks,
        signals=signals(blocked=1 << (signal.SIGCHLD - 1)),
        locks=locks(lock_row("held", 77, LOCKFILE, (FileUser(PID, "app", 8),))),
        context=Context(
            peers={77: PeerProcess(77, "log", "S", threads(thread(77, "read", (0,)), pid=77))}, children=()
        ),
        ages=Ages({}, tracked=True),
    )
    assert evaluate(s, strict=True) == []


# -- conditions that can pass by themselves wait for a second sighting when tracked ---------------
def test_transient_conditions_wait_while_lasting_ones_fire_at_once():
    just_seen = Ages({}, tracked=True)  # a History is given, nothing seen before: age 0
    sig = signals(shared=ALRM, blocked=ALRM)
    assert signal_blocked_pending(subject(signals=sig, ages=just_seen)) == []
    later = Ages({"stuck_signal": {signal.SIGALRM: 2.0}}, tracked=True)
    assert signal_blocked_pending(subject(signals=sig, ages=later))[0].severity == "warning"

    wait = lock_row("waiting", 77, LOCKFILE, (FileUser(77, "cron", 5),), listed=77)
    assert lock_wait(subject(locks=locks(wait), ages=just_seen)) == []
    assert lock_wait(subject(locks=locks(wait), ages=Ages({"lock_wait": {1: 3.0}}, tracked=True)))

    slow = _peer("S", thread(77, "clock_nanosleep", (1, 0)))  # a live reader sleeping: maybe slow
    assert pipe_writers_blocked(_writers(holders=HOLDERS, context=slow, ages=just_seen)) == []
    aged = Ages({"pipe_write": {(2, PIPE): 10.0}}, tracked=True)
    assert pipe_writers_blocked(_writers(holders=HOLDERS, context=slow, ages=aged))[0].severity == "warning"
    # nobody can ever drain it: said at the first sighting
    (f,) = pipe_writers_blocked(_writers(holders=(PipeEnd(PID, "app", 2, "w"),), ages=just_seen))
    assert f.severity == "critical"


# -- socket-send-blocked -----------------------------------------------------------------------
def _sender(peer: SendPeer | None, *, peers: dict[int, PeerProcess] | None = None, ages: Ages | None = None):
    conn = tcp(7, 555, TCP_ESTABLISHED, ("127.0.0.1", 41000), ("127.0.0.1", 5140), 0, 3_791_494)
    rows = [
        thread(PID, "sendto", (7, 0, 50_000_000), targets={7: "socket:[555]"}, wchan="wait_woken"),
        thread(PID + 1, "clock_nanosleep", (1, 1)),
    ]
    ctx = Context(peers=peers or {}, send_peers={7: peer} if peer else {})
    extra = {"ages": ages} if ages is not None else {}
    return subject(threads=threads(*rows), sockets=sockets(conn), context=ctx, **extra)


def test_send_blocked_on_a_zero_window_names_the_local_reader():
    peer = SendPeer(7, True, 556, 127_973, 77, "logd", 9, zero_window=True)
    reader = PeerProcess(77, "logd", "S", threads(thread(77, "clock_nanosleep", (1, 1)), pid=77))
    (f,) = socket_send_blocked(_sender(peer, peers={77: reader}))
    assert (f.id, f.severity, f.fds, f.tids, f.panel) == (
        "socket-send-blocked",
        "warning",
        (7,),
        (PID,),
        "sockets",
    )
    assert (
        "Thread 4242 of pid 4242 (app) is blocked sending on fd 7 (tcp 127.0.0.1:41000 -> 127.0.0.1:5140"
        in f.summary
    )
    assert (
        "3.6M wait unsent" in f.summary
        and "the other end is pid 77 (logd) fd 9, with 125K unread" in f.summary
    )
    assert any("zero window" in e for e in f.evidence) and any(
        "pid 77's threads: 1 thread: clock_nanosleep" in e for e in f.evidence
    )
    assert any("open pid 77 in stucktui" in s for s in f.next_steps)
    assert any("press c on fd 7 in the Sockets panel" in s for s in f.next_steps)


def test_send_blocked_on_a_stopped_reader_is_critical_and_says_how_to_resume_it():
    peer = SendPeer(7, True, 556, 127_973, 77, "logd", 9, zero_window=True)
    (f,) = socket_send_blocked(_sender(peer, peers={77: PeerProcess(77, "logd", "T", None)}))
    assert f.severity == "critical" and "and it is stopped (state T)" in f.summary
    assert any("`stucktui signal 77 CONT`" in s for s in f.next_steps)


def test_send_blocked_to_a_remote_receiver():
    zero = SendPeer(7, False, zero_window=True)
    (f,) = socket_send_blocked(_sender(zero))
    assert (
        f.severity == "warning"
        and "the receiver at 127.0.0.1:5140, not on this box, has stopped reading" in f.summary
    )
    assert any("`ss -tnoi dst 127.0.0.1`" in s for s in f.next_steps)
    gone = SendPeer(7, False, zero_window=False, retransmits=6)
    (g,) = socket_send_blocked(_sender(gone))
    assert "acknowledges nothing (6 retransmission timeouts in a row)" in g.summary


def test_send_blocked_silent_while_data_flows_or_before_it_lasted():
    # the window is open: a receiver slower than the sender is flow control, not a hang
    assert socket_send_blocked(_sender(SendPeer(7, False, zero_window=False))) == []
    zero = SendPeer(7, False, zero_window=True)
    young = Ages({"socket_send": {(7, 555): 3.0}}, tracked=True)
    assert socket_send_blocked(_sender(zero, ages=young)) == []
    old = Ages({"socket_send": {(7, 555): 400.0}}, tracked=True)
    (f,) = socket_send_blocked(_sender(zero, ages=old))
    assert f.severity == "critical" and "for 6m" in f.summary
    # not in a send, or sending on a pipe: not this rule
    idle = subject(threads=threads(thread(PID, "read", (7, 0, 10))), sockets=sockets(
        tcp(7, 555, TCP_ESTABLISHED, ("127.0.0.1", 41000), ("127.0.0.1", 5140), 0, 10)))  # fmt: skip
    assert socket_send_blocked(idle) == []
