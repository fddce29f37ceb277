"""Feature spec: a server whose clients wait because the thread(s) that should serve them wait
on something else. event-loop-blocked: an epoll set with queued connections that no thread
polls; workers-wait-on-peer: every worker reads a reply from one silent peer. And tcp_info as
the kernel sends it, decoded."""

from __future__ import annotations

import dataclasses
import struct

from stucktui.diagnose.rules.event_loop import event_loop_blocked
from stucktui.diagnose.rules.pool_peer import workers_wait_on_peer
from stucktui.diagnose.rules.silent_peer import silent_peer
from stucktui.diagnose.subject import Ages
from stucktui.model import clues
from stucktui.model import waits as W
from stucktui.model.context import Context
from stucktui.model.net import TCP_ESTABLISHED, TCP_LISTEN
from stucktui.procfs.netlink import message_attr
from stucktui.procfs.tcp_info import parse_tcp_info
from tests.unit.diagnose_kit import (
    NR,
    PID,
    epoll_row,
    files,
    sockets,
    subject,
    tcp,
    thread,
    threads,
    watch,
)

NR.update({"recvfrom": 45, "epoll_pwait": 281})
BACKEND = 777
LISTENER = tcp(6, 500, TCP_LISTEN, ("127.0.0.1", 8080), ("0.0.0.0", 0), recv_q=3, send_q=100)
TO_BACKEND = tcp(9, 501, TCP_ESTABLISHED, ("127.0.0.1", 40000), ("127.0.0.1", 5432))
EPOLL = epoll_row(3, (watch(6, 500, "LISTEN"),))


def _recv_wait(tids: tuple[int, ...], fd: int = 9, silent: float = 40.0, asked: bool = True) -> W.Wait:
    party = W.Party(BACKEND, "backend", "holds the other end (fd 4)")
    return W.Wait(W.SOCKET_RECV, tids, f"read from fd {fd} (tcp 127.0.0.1:5432)", fd, (party,), False,
                  silent_s=silent, asked=asked)  # fmt: skip


def _graph(*waits: W.Wait, backend_state: str = "S") -> W.WaitGraph:
    start = W.ProcessWaits(PID, "app", "S", "", waits, all_blocked=True)
    backend = W.ProcessWaits(BACKEND, "backend", backend_state, "", (), doing="1 thread: accept4(3)")
    return W.WaitGraph(PID, {PID: start, BACKEND: backend})


def _loop_subject(loop_call: str = "recvfrom", **kw: object) -> object:
    args = (9, 0, 100) if loop_call == "recvfrom" else (3, 0, 10, -1 & 0xFFFFFFFF)
    t = thread(PID, loop_call, args, targets={9: "socket:[501]", 3: "anon_inode:[eventpoll]"})
    base: dict[str, object] = {
        "threads": threads(t),
        "files": files(EPOLL),
        "sockets": sockets(LISTENER, TO_BACKEND),
        "context": Context(waits=_graph(_recv_wait((PID,)))),
    }
    base.update(kw)
    return subject(**base)


def test_a_loop_blocked_in_a_read_of_its_backend_names_the_loop_the_queue_and_the_backend():
    (f,) = event_loop_blocked(_loop_subject())  # type: ignore[arg-type]
    assert f.id == "event-loop-blocked" and f.severity == "critical"  # the backend is silent 40 s
    assert "no thread polls epoll fd 3" in f.summary and "3 connections wait to be accepted" in f.summary
    assert "read from fd 9 (tcp 127.0.0.1:5432)" in f.summary and f"pid {BACKEND} (backend)" in f.summary
    assert "nothing received from it for 40s after this side last sent" in f.summary
    assert f.tids == (PID,) and 3 in f.fds and 9 in f.fds
    assert any("run_in_executor" in s for s in f.next_steps)


def test_a_loop_that_polls_or_runs_or_has_nothing_waiting_is_healthy():
    assert event_loop_blocked(_loop_subject("epoll_wait")) == []  # type: ignore[arg-type]
    empty = LISTENER._replace(sock=LISTENER.sock._replace(recv_q=0))  # type: ignore[union-attr]
    idle = _loop_subject(sockets=sockets(empty, TO_BACKEND))
    assert event_loop_blocked(idle) == []  # type: ignore[arg-type]
    busy = thread(PID, "recvfrom", (9, 0, 100), cpu_percent=80.0)
    assert event_loop_blocked(_loop_subject(threads=threads(busy))) == []  # type: ignore[arg-type]
    running = thread(PID, None)
    assert event_loop_blocked(_loop_subject(threads=threads(running))) == []  # type: ignore[arg-type]


def test_a_loop_polled_by_another_thread_or_watched_only_for_output_is_not_blocked():
    poller = thread(PID + 1, "epoll_pwait", (3, 0, 10, 0))
    main = thread(PID, "recvfrom", (9, 0, 100))
    assert event_loop_blocked(_loop_subject(threads=threads(main, poller))) == []  # type: ignore[arg-type]
    out_only = files(epoll_row(3, (watch(6, 500, "LISTEN", ("OUT",)),)))
    assert event_loop_blocked(_loop_subject(files=out_only)) == []  # type: ignore[arg-type]


def test_a_refreshing_view_tells_a_blocked_loop_once_it_has_lasted():
    key = (3, PID)
    young = Ages({clues.LOOP_BLOCKED: {key: 0.5}}, tracked=True)
    assert event_loop_blocked(_loop_subject(ages=young)) == []  # type: ignore[arg-type]
    old = Ages({clues.LOOP_BLOCKED: {key: 5.0}}, tracked=True)
    assert len(event_loop_blocked(_loop_subject(ages=old))) == 1  # type: ignore[arg-type]


def _pool_subject(silent: float = 40.0, *, asked: bool = True, dispatcher: str = "accept4") -> object:
    main = thread(PID, dispatcher, (6, 0, 0, 0))
    w1 = thread(PID + 1, "recvfrom", (9, 0, 100))
    w2 = thread(PID + 2, "recvfrom", (10, 0, 100))
    client = tcp(11, 503, TCP_ESTABLISHED, ("127.0.0.1", 8080), ("127.0.0.1", 50000), recv_q=20)
    socks = sockets(LISTENER, TO_BACKEND, TO_BACKEND._replace(fd=10, inode=502), client)
    socks = dataclasses.replace(socks, served_ports=frozenset({8080}))
    waits = (_recv_wait((PID + 1,), 9, silent, asked), _recv_wait((PID + 2,), 10, silent, asked))
    return subject(threads=threads(main, w1, w2), sockets=socks, context=Context(waits=_graph(*waits)))


def test_every_worker_waiting_on_one_silent_backend_is_the_cause_of_the_queue():
    (f,) = workers_wait_on_peer(_pool_subject())  # type: ignore[arg-type]
    assert f.id == "workers-wait-on-peer" and f.severity == "critical"
    assert "both worker threads wait for a reply from pid 777 (backend)" in f.summary
    assert "has sent nothing for 40s" in f.summary and "3 connections wait to be accepted" in f.summary
    assert "1 connection hold" in f.summary  # the accepted client's request, unread
    assert set(f.tids) == {PID + 1, PID + 2}
    (warn,) = workers_wait_on_peer(_pool_subject(5.0))  # type: ignore[arg-type]
    assert warn.severity == "warning"


def test_workers_reading_replies_that_are_not_late_or_not_asked_for_are_healthy():
    assert workers_wait_on_peer(_pool_subject(0.5)) == []  # type: ignore[arg-type]
    # the peer spoke last: a connection pool idle between requests, not a request unanswered
    assert workers_wait_on_peer(_pool_subject(asked=False)) == []  # type: ignore[arg-type]
    # a worker idle on the job queue: the pool is not used up
    assert workers_wait_on_peer(_pool_subject(dispatcher="futex")) == []  # type: ignore[arg-type]


def _tcp_info(sent: int, recv: int, ack: int, size: int = 280, wnd: int = 65536) -> bytes:
    raw = bytearray(size)
    raw[3], raw[4] = 2, 5  # probes, backoff
    struct.pack_into("=I", raw, 24, 7)  # unacked
    struct.pack_into("=IIII", raw, 44, sent, 0, recv, ack)
    if size >= 232:
        struct.pack_into("=I", raw, 228, wnd)
    return bytes(raw)


def test_tcp_info_is_decoded_at_the_offsets_ss_uses_and_an_old_short_struct_has_no_window():
    info = parse_tcp_info(_tcp_info(200, 9000, 150))
    assert info is not None
    assert (info.last_data_sent_ms, info.last_data_recv_ms, info.last_ack_recv_ms) == (200, 9000, 150)
    assert (info.probes, info.backoff, info.unacked, info.snd_wnd) == (2, 5, 7, 65536)
    assert info.awaits_reply  # this side sent after the peer's last byte
    old = parse_tcp_info(_tcp_info(9000, 200, 150, size=104))
    assert old is not None and old.snd_wnd is None and not old.awaits_reply
    assert parse_tcp_info(b"\0" * 40) is None


def test_the_tcp_info_attribute_is_found_after_the_message_and_other_attributes():
    body = bytearray(72)
    other = struct.pack("=HH", 8, 5) + b"\1\2\3\4"  # an attribute before it, aligned
    info = _tcp_info(1, 2, 3)
    attr = struct.pack("=HH", 4 + len(info), 2) + info
    msg = body + other + attr
    buf = struct.pack("=IHHII", 16 + len(msg), 20, 0, 1, 0) + bytes(msg)
    assert message_attr(buf, 0, 2) == info
    assert message_attr(buf, 0, 9) is None


def test_a_lone_reply_that_never_comes_is_information_not_an_alarm():
    def one(silent: float, asked: bool = True) -> list:  # type: ignore[type-arg]
        t = thread(PID, "recvfrom", (9, 0, 100), frames=(("fetch", "/srv/app/client.py"),))
        ctx = Context(waits=_graph(_recv_wait((PID,), 9, silent, asked)))
        return silent_peer(subject(threads=threads(t), sockets=sockets(TO_BACKEND), context=ctx))

    (f,) = one(300.0)
    assert f.id == "silent-peer" and f.severity == "info"
    assert "and pid 777 (backend) has sent nothing for 5m since this side last sent" in f.summary
    assert "fetch (/srv/app/client.py:1)" in f.summary
    assert one(20.0) == [] and one(300.0, asked=False) == []
