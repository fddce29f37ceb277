"""Socket rules: close-wait-unread (incident 1), close-wait-leak (incident 2), epoll-spin
(incident 4), listen-backlog-full, accept-queue-abandoned and socket-send-blocked."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from stucktui.diagnose.subject import (
    BLOCKED_STATES,
    EPOLL_WAITS,
    POLL_CALLS,
    Subject,
    call_name,
    id_list,
    plural,
    seen_for,
    thread_activity,
)
from stucktui.model.context import SEND_CALLS, SendPeer, blocked_socket_sends
from stucktui.model.files import EpollWatch, FdRow
from stucktui.model.findings import Finding, Severity
from stucktui.model.net import (
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    TCP_LISTEN,
    InetSocket,
    UnixSocket,
    format_endpoint,
)
from stucktui.model.sockets import SERVICES, SocketRow
from stucktui.model.text import human_age, human_bytes
from stucktui.model.threads import ThreadRow

_CLOSE_FD_SOCKET = "press c on fd {fd} in the Sockets panel (3) to close it (gdb or shutdown)"


def _close_wait(s: Subject) -> list[SocketRow]:
    if s.sockets is None:
        return []
    return [r for r in s.sockets.rows if isinstance(r.sock, InetSocket) and r.sock.state == TCP_CLOSE_WAIT]


def _listening_ports(s: Subject) -> set[int]:
    """Ports a listener serves, this process's own or another's that handed it connections (a
    forked backend): a CLOSE_WAIT socket on one was accepted, not opened."""
    if s.sockets is None:
        return set()
    own = {
        r.sock.local_port
        for r in s.sockets.rows
        if isinstance(r.sock, InetSocket) and r.sock.state == TCP_LISTEN
    }
    return own | s.sockets.served_ports


def _activity(s: Subject) -> str:
    act = thread_activity(s.threads, 2)
    return f"its threads: {act}" if act else "its threads could not be read"


def close_wait_unread(s: Subject) -> list[Finding]:
    """CLOSE_WAIT sockets holding data never read: the peer sent a request, waited, gave up
    and closed; the process stopped reading (incident 1: every worker blocked elsewhere)."""
    # Only connections accepted from its own listeners: requests its clients sent. A connection
    # it opened holding unread bytes is the server's goodbye (PostgreSQL's "terminating
    # connection due to idle-in-transaction timeout", MySQL's wait_timeout error) left in a
    # leaked pool connection: close-wait-leak's, with those bytes as evidence.
    listening = _listening_ports(s)
    rows = [
        r
        for r in _close_wait(s)
        if r.close_wait_unread and isinstance(r.sock, InetSocket) and r.sock.local_port in listening
    ]
    if not rows:
        return []
    unread = sum(r.unread_bytes or 0 for r in rows)
    age = s.ages.oldest("close_wait", [r.inode for r in rows])
    severity: Severity = "critical" if len(rows) >= 10 or (age or 0) >= 300 else "warning"
    first = rows[0]
    why = "the peers gave up waiting for an answer and closed, and the process never read their requests"
    summary = (
        f"{s.label} has {plural(len(rows), 'CLOSE_WAIT socket')} with unread data "
        f"({human_bytes(unread)} in all, {first.unread_bytes} bytes on fd {first.fd} from {first.remote}): "
        f"{why}; {_activity(s)}."
    )
    fds = tuple(r.fd for r in rows)
    evidence = [
        f"fds {id_list(list(fds))}: CLOSE_WAIT with unread bytes "
        + ", ".join(f"{r.unread_bytes}" for r in rows[:8])
        + " (Recv-Q counts the peer's FIN as one more)",
    ]
    evidence.append(_clients(rows))
    if (seen := seen_for(age)) is not None:
        evidence.append(f"the oldest {seen}")
    steps = [
        "press 2 for the Threads panel: what each thread waits on instead of reading (y adds Python stacks)",
        _CLOSE_FD_SOCKET.format(fd=first.fd) + ": frees the socket, not the stuck threads",
    ]
    return [s.finding("close-wait-unread", severity, summary, evidence, steps, panel="sockets", fds=fds)]


def _clients(rows: list[SocketRow]) -> str:
    """'from 3 peers: 10.0.0.5 ×40, ...' for accepted connections: clients connect from
    ephemeral ports, so one peer per client address."""
    by_peer = Counter(
        format_endpoint(r.sock.remote_addr, 0) if isinstance(r.sock, InetSocket) else r.remote for r in rows
    )
    top = sorted(by_peer.items(), key=lambda kv: (-kv[1], kv[0]))
    return (
        f"from {plural(len(top), 'peer')}: "
        + ", ".join(f"{peer} ×{n}" if n > 1 else peer for peer, n in top[:5])
        + (" ..." if len(top) > 5 else "")
    )


_UNANSWERED = 10  # accepted connections left in CLOSE_WAIT at once: a pile, not a close in progress
_UNANSWERED_MANY = 100  # ... critical from this many
_UNANSWERED_AGE = 300.0  # ... or once the oldest has been seen this long


def close_wait_unanswered(s: Subject) -> list[Finding]:
    """Connections accepted from the process's own listeners whose clients already closed,
    with nothing left unread: the process read each request and then never answered or
    closed it (incident 1 with a thread per connection: every thread read its request, then
    blocked). close-wait-unread counts the requests it never even read."""
    listening = _listening_ports(s)
    rows = [
        r
        for r in _close_wait(s)
        if not r.close_wait_unread and isinstance(r.sock, InetSocket) and r.sock.local_port in listening
    ]
    if not rows:
        return []
    age = s.ages.oldest("close_wait", [r.inode for r in rows])
    n = len(rows)
    if n < _UNANSWERED and (age is None or age < _UNANSWERED_AGE):
        return []
    # critical only for a pile: a client may half-close (shutdown SHUT_WR) and still wait for
    # its answer, so a few old ones alone are a warning
    piled = n >= _UNANSWERED_MANY or (n >= _UNANSWERED and (age or 0) >= _UNANSWERED_AGE)
    severity: Severity = "critical" if piled else "warning"
    ports = sorted({r.sock.local_port for r in rows if isinstance(r.sock, InetSocket)})
    fds = tuple(r.fd for r in rows)
    upstream = _upstream(s, listening, n)
    if upstream is not None:
        remote, count = upstream
        severity = "warning"
        summary = (
            f"{s.label} holds {plural(n, 'connection')} accepted on port {id_list(ports)} whose clients "
            f"already closed their side, while {plural(count, 'connection')} it opened to {remote} get "
            "no answer: a proxy waiting on a backend that does not answer; look at the backend."
        )
        steps = [
            f"look at whatever serves {remote}: the requests wait there (if it runs on this box, "
            "`stucktui report --all` shows why it does not answer)",
            "the proxy's own server timeout decides when it gives up",
        ]
    else:
        summary = (
            f"{s.label} holds {plural(n, 'connection')} accepted on port {id_list(ports)} whose clients "
            f"already closed their side (CLOSE_WAIT, nothing left unread): it read the requests but never "
            f"answered or closed them; {_activity(s)}."
        )
        steps = [
            "press 2 for the Threads panel: what the threads that took these requests wait on "
            "(y adds Python stacks); freeing them lets them answer and close",
            _CLOSE_FD_SOCKET.format(fd=rows[0].fd)
            + ": frees the socket, not the thread that holds it (a client that half-closed and still "
            "waits loses its answer)",
        ]
    evidence = [
        f"fds {id_list(list(fds), 8)}: CLOSE_WAIT, accepted from a listener on this box, Recv-Q holds only "
        "the client's FIN (a client that gave up, or one that half-closed and still waits)",
        _clients(rows),
    ]
    if (seen := seen_for(age)) is not None:
        evidence.append(f"the oldest {seen}")
    return [s.finding("close-wait-unanswered", severity, summary, evidence, steps, panel="sockets", fds=fds)]


# A proxy's connection to its backend that waits for an answer: still open, or half-closed by
# the proxy passing its client's close on (haproxy does: FIN_WAIT_1/2 until the backend closes).
_UPSTREAM_STATES = frozenset({TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2})


def _upstream(s: Subject, listening: set[int], n: int) -> tuple[str, int] | None:
    """(remote, count) when the process holds, for most of `n` abandoned client connections,
    a connection it opened to one remote that has sent nothing back, open or half-closed by
    the proxy: a proxy (haproxy, nginx with proxy_ignore_client_abort) waiting on its backend."""
    out = (
        Counter(
            r.remote
            for r in s.sockets.rows
            if isinstance(r.sock, InetSocket)
            and r.sock.state in _UPSTREAM_STATES
            and r.sock.local_port not in listening
            and not r.sock.recv_q
        )
        if s.sockets is not None
        else Counter()
    )
    if not out:
        return None
    remote, count = out.most_common(1)[0]
    return (remote, count) if count * 2 >= n else None


_CLOSED_ALONE = 20  # TCP sockets in no table held at once: a leak even without CLOSE_WAIT left
_CLOSED_AGE = 120.0  # ... or fewer, held this long (a socket never connected is in no table too)


def _closed_evidence(rows: list[SocketRow]) -> str:
    return (
        f"fds {id_list([r.fd for r in rows], 8)}: TCP sockets in state CLOSE (ss: UNCONN), in no "
        "socket table, so their remote is no longer known; the process never closed them"
    )


_LEAK_STEPS = (
    "closing the fds from outside frees the sockets, not the pool's slots (it still counts them "
    "in use): collect the evidence, then restart the process to recover",
    "look for a code path that takes a connection and returns early without releasing it "
    "(a transaction neither committed nor rolled back, a response body never closed)",
    "if the pool's connections are idle rather than leaked (its in-use count is low), set its idle "
    "timeout below the server's or balancer's",
)


def _closed_leak(s: Subject, rows: list[SocketRow], age: float | None) -> Finding:
    n = len(rows)
    fds = tuple(r.fd for r in rows)
    summary = (
        f"{s.label} holds {plural(n, 'TCP socket')} that are already reset or shut down and that it "
        f"never closed (fd {id_list(list(fds), 5)}): connections a pool does not release, after the "
        "peer closed them and a keepalive probe or a write got a reset (a close-fd shutdown leaves "
        "them so too)."
    )
    evidence = [_closed_evidence(rows)]
    if (seen := seen_for(age)) is not None:
        evidence.append(f"the oldest {seen}")
    steps = [_CLOSE_FD_SOCKET.format(fd=fds[0]), *_LEAK_STEPS]
    return s.finding(
        "close-wait-leak", _leak_severity(n, age), summary, evidence, steps, panel="sockets", fds=fds
    )


def _leak_severity(n: int, age: float | None) -> Severity:
    a = age or 0.0
    if n >= 100 or a >= 600:
        return "critical"
    if n >= 5 or a >= 60:
        return "warning"
    return "info"


def close_wait_leak(s: Subject) -> list[Finding]:
    """Outgoing connections left in CLOSE_WAIT, by remote endpoint: the server (or a balancer's
    idle timeout) closed them and the process never closed its side: a pool that does not
    release connections (incident 2). One such socket that stays is already a bug; severity
    grows with the count and with how long stucktui has seen them."""
    if s.sockets is None:
        return []
    listening = _listening_ports(s)
    groups: dict[tuple[str, int], list[SocketRow]] = {}
    for r in _close_wait(s):
        sock = r.sock
        assert isinstance(sock, InetSocket)
        if sock.local_port in listening:
            continue  # accepted from our own listener: a server-side socket, not a pool's
        groups.setdefault((sock.remote_addr, sock.remote_port), []).append(r)
    # A leaked connection does not stay in CLOSE_WAIT: a keepalive probe or a write gets a
    # reset once the peer's side is gone, and the socket leaves every table (state CLOSE) while
    # the process still holds its fd. Those are counted with the biggest group, or alone.
    closed = [r for r in s.sockets.rows if r.closed_tcp]
    closed_age = s.ages.oldest("close_wait", [r.inode for r in closed]) if closed else None
    out = []
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    if not ranked and closed and (len(closed) >= _CLOSED_ALONE or (closed_age or 0) >= _CLOSED_AGE):
        return [_closed_leak(s, closed, closed_age)]
    for i, ((addr, port), rows) in enumerate(ranked):
        remote = format_endpoint(addr, port)
        service = SERVICES.get(port)
        where = f"{remote} ({service})" if service else remote
        n = len(rows)
        age = s.ages.oldest("close_wait", [r.inode for r in rows])
        fds = tuple(r.fd for r in rows)
        conns = "CLOSE_WAIT connection" if n == 1 else "CLOSE_WAIT connections"
        dead = closed if i == 0 else []
        also = (
            f"; it also holds {plural(len(dead), 'TCP socket')} already reset or shut down "
            "(in no table any more): the same leak after a keepalive probe or a write got a reset, "
            "or sockets shut down by a close-fd action"
            if dead
            else ""
        )
        lead = f"{s.label} holds {n + len(dead)} leaked TCP connections: " if dead else f"{s.label} holds "
        summary = (
            f"{lead}{n} {conns} to {where} that the server closed and the process never "
            f"closed: a connection pool that does not release its connections (fd {id_list(list(fds), 5)})"
            f"{also}."
        )
        ports = sorted(r.sock.local_port for r in rows if isinstance(r.sock, InetSocket))
        evidence = [
            f"fds {id_list(list(fds))} to {remote}: CLOSE_WAIT, Recv-Q "
            + ", ".join(str(r.recv_q) for r in rows[:8]),
            f"local ports {id_list(ports, 5)}: no listener on this box serves them, so it opened these",
        ]
        goodbye = [r for r in rows if r.close_wait_unread]
        if goodbye:
            sizes = "/".join(map(str, sorted({r.unread_bytes or 0 for r in goodbye})[:3]))
            evidence.append(
                f"{plural(len(goodbye), 'of them holds', 'of them hold')} {sizes} unread "
                "bytes: what the server sent before it closed (often its reason: an idle or "
                "idle-in-transaction timeout), never read, as a pooled connection nobody uses"
            )
        if dead:
            evidence.append(_closed_evidence(dead))
            fds = fds + tuple(r.fd for r in dead)
            age = None if age is None and closed_age is None else max(age or 0.0, closed_age or 0.0)
            n += len(dead)
        if (seen := seen_for(age)) is not None:
            evidence.append(f"the oldest {seen}")
        steps = [
            _CLOSE_FD_SOCKET.format(fd=fds[0]),
            f"from a script: `stucktui close-fd {s.pid} {fds[0]} --method shutdown-both`",
            *_LEAK_STEPS,
        ]
        out.append(
            s.finding(
                "close-wait-leak", _leak_severity(n, age), summary, evidence, steps, panel="sockets", fds=fds
            )
        )
    return out


_WANTS_READ = frozenset({"IN", "PRI", "RDHUP", "RDNORM"})


def _hung(s: Subject, w: EpollWatch, row: SocketRow | None) -> str | None:
    """What makes the watched fd ready forever, as a phrase ('a socket in CLOSE_WAIT'), or None.
    A socket the peer closed (its FIN: readable) or reset or shut down (EPOLLHUP, which every
    registration gets); a pipe no process can write to any more (HUP); an eventfd whose counter
    or a timerfd whose expirations nobody reads. `row` is the watched socket's row, if any."""
    wants_read = bool(_WANTS_READ & set(w.event_names))
    peer = f" to {row.remote}" if row is not None and row.remote else ""
    if w.socket_state == "CLOSE_WAIT" and wants_read:
        return f"a socket in CLOSE_WAIT{peer}"
    if w.socket_state == "UNCONN" and row is not None and row.proto.startswith("tcp"):
        return f"a socket that is closed (reset or shut down){peer}"  # state CLOSE, or in no table
    p = w.pipe
    if (
        p is not None
        and p.end in ("r", "rw")
        and not p.partial
        and not any(h.end in ("w", "rw") for h in p.holders)
    ):
        return "a pipe that no process can write to any more (every read returns end-of-file, HUP)"
    fdrow = s.fd_row(w.fd) if w.fd is not None and not w.stale else None
    info = fdrow.info if fdrow is not None else None
    if info is not None and wants_read:
        if w.kind == "eventfd" and info.eventfd_count:
            return f"an eventfd whose count ({info.eventfd_count}) is never read"
        if w.kind == "timerfd" and info.timerfd is not None and info.timerfd.ticks:
            return f"a timerfd with {info.timerfd.ticks} expirations never read"
    return None


# A level-triggered registration of a hung socket makes every epoll_wait return at once, so
# the loop cannot sleep: CPU confirms it. 50% of a core is certain; a spinner that shares its
# CPU with other busy processes (or runs under a cgroup quota) gets less, so from 20% it is
# reported as a warning.
SPIN_CERTAIN = 50.0
SPIN_LIKELY = 20.0
# A loop whose epoll_wait returns at once spends part of its CPU in the kernel (measured: 78%
# for a C loop, 24% for a bare Python one, 4-5% for asyncio or kombu callbacks doing work); a
# thread computing in user space 0-2% over its life.
SPIN_KERNEL_SHARE = 0.03
# A thread runnable this much of the window never sleeps: under CPU contention a spinning loop
# gets 8-16% of a CPU (measured with 14 busy processes on 2 cores) yet waits for nothing.
SPIN_RUNNABLE = 90.0


# Python event loops, by the file of a frame on the thread's stack: a thread inside one is the
# loop whatever its kernel share (an asyncio or kombu loop whose callbacks do much work per
# wakeup may spend under SPIN_KERNEL_SHARE of its CPU in the kernel).
_LOOP_FILES = (
    "/asyncio/base_events.py",
    "/selectors.py",
    "/kombu/asynchronous/hub.py",
    "/tornado/ioloop.py",
    "/twisted/internet/",
    "/gevent/hub.py",
    "/eventlet/hubs/",
)


def _in_event_loop(t: ThreadRow) -> bool:
    """Its Python stack (when py-spy read it) runs inside an event loop."""
    frames = t.python.frames if t.python is not None else ()
    return any(loop in f.file for f in frames for loop in _LOOP_FILES)


class _Spin(NamedTuple):
    cpu: float  # 100 = one core: of the threads that can be the loop, or of the process
    runnable: float | None  # the highest runnable share of those threads, when sampled
    tids: tuple[int, ...]  # those threads, when the Threads panel was read


def _waits_on(t: ThreadRow, epfd: int) -> bool:
    return t.call is not None and epfd in t.call.fds and "epoll" in (t.call.name or "")


def _elsewhere(t: ThreadRow, epfd: int, watched: set[int]) -> bool:
    """Caught doing something the loop around `epfd` does not do: asleep in another call (a
    spinning loop never sleeps, but a Python one may wait for the GIL in futex), or in a call
    on fds that are neither that epoll fd nor any fd it watches (an I/O thread, another loop)."""
    if _waits_on(t, epfd) or t.call is None:
        return False
    if t.state in ("S", "D") and t.call.name != "futex":
        return True
    return bool(t.call.fds) and not watched.intersection(t.call.fds)


def _spin(s: Subject, ep: FdRow) -> _Spin | None:
    """How busy the loop around epoll fd `ep` is, or None when it is not busy. Only threads that
    can be that loop count: not one caught elsewhere (_elsewhere), nor one that has hardly
    ever entered the kernel in its life (a compute thread: under SPIN_KERNEL_SHARE; a loop
    whose epoll_wait returns at once spends more there) unless its Python stack is inside an
    event loop. With a per-thread window the CPU is
    theirs; in a one-shot view it is the process's."""
    epfd = ep.fd
    watched = {epfd, *(w.fd if w.fd is not None else w.tfd for w in ep.epoll)}
    rows = s.threads.rows if s.threads is not None else ()
    if not rows:
        if s.cpu_percent is None or s.cpu_percent < SPIN_LIKELY:
            return None
        return _Spin(s.cpu_percent, None, ())
    windowed = any(t.cpu_percent is not None for t in rows)  # a thread born meanwhile has none
    loop = []
    for t in rows:
        if _waits_on(t, epfd) and t.state in ("S", "D") and t.wchan:
            return None  # asleep in epoll_wait on it: nothing in the set is ready
        if _elsewhere(t, epfd, watched):
            continue
        if windowed:
            if not t.cpu_percent and (t.runnable_percent or 0.0) < SPIN_RUNNABLE:
                continue  # idle over the window
        elif t.state != "R" and not _waits_on(t, epfd):
            continue
        share = t.lifetime_kernel_share
        if (
            share is not None
            and share < SPIN_KERNEL_SHARE
            and not _waits_on(t, epfd)
            and not _in_event_loop(t)
        ):
            continue  # computing in user space
        loop.append(t)
    if not loop:
        return None
    tids = tuple(t.tid for t in loop)
    if not windowed:
        if s.cpu_percent is None or s.cpu_percent < SPIN_LIKELY:
            return None
        return _Spin(s.cpu_percent, None, tids)
    cpu = sum(t.cpu_percent or 0.0 for t in loop)
    runnable = max((t.runnable_percent for t in loop if t.runnable_percent is not None), default=None)
    if cpu < SPIN_LIKELY and (runnable is None or runnable < SPIN_RUNNABLE):
        return None
    return _Spin(cpu, runnable, tids)


def epoll_spin(s: Subject) -> list[Finding]:
    """An epoll interest list holds a socket in CLOSE_WAIT (or reset) registered
    level-triggered for reading, while the loop burns CPU: epoll_wait returns at once,
    forever, and the loop never notices (incident 4). Under CPU contention the loop gets
    little CPU but never sleeps: its runnable share tells it."""
    if s.files is None:
        return []
    out = []
    by_inode = {r.inode: r for r in s.sockets.rows} if s.sockets is not None else {}
    for ep in s.files.rows:
        spin = _spin(s, ep) if ep.epoll else None
        if spin is None:
            continue
        contended = spin.cpu < SPIN_CERTAIN and (spin.runnable or 0.0) >= SPIN_RUNNABLE
        severity: Severity = "critical" if spin.cpu >= SPIN_CERTAIN or contended else "warning"
        for w in ep.epoll:
            row = by_inode.get(w.ino)
            what = _hung(s, w, row)
            if what is None or "ET" in w.event_names or "ONESHOT" in w.event_names:
                continue
            fd = w.fd if w.fd is not None else w.tfd
            burns = (
                f"never sleeps (runnable {spin.runnable:.0f}% of the time, {spin.cpu:.0f}% of a CPU: "
                "the rest of the time it waits for a CPU)"
                if contended and spin.runnable is not None
                else f"burns {spin.cpu:.0f}% CPU"
            )
            summary = (
                f"{s.label} {burns} while epoll fd {ep.fd} watches fd {fd}, "
                f"{what}: it is ready forever, so epoll_wait returns at once and the loop spins."
            )
            evidence = [
                f"epoll fd {ep.fd} watches fd {w.tfd} for {' '.join(w.event_names) or 'nothing but HUP'}: "
                f"level-triggered; {w.describe()}",
                f"CPU {spin.cpu:.0f}% (100 = one core)"
                + ("" if severity == "critical" else ": less than a core, so it may share the CPU"),
            ]
            if spin.runnable is not None:
                evidence.append(f"runnable {spin.runnable:.0f}% of the window (on a CPU or waiting for one)")
            if spin.tids:
                evidence.append(_loop_evidence(s, spin.tids, ep.fd))
            if row is not None and row.recv_q is not None:
                evidence.append(f"fd {fd}: Recv-Q {row.recv_q}, Send-Q {row.send_q}")
            is_socket = row is not None or w.socket_state is not None
            panel = "sockets" if is_socket else "files"
            where = "Sockets panel (3)" if is_socket else "Files panel (4)"
            steps = [
                f"press c on fd {fd} in the {where}: gdb-close closes it inside the process (the fix "
                f"of incident 4); where gdb cannot call functions, epoll-del takes it out of epoll fd "
                f"{ep.fd} without ptrace and the loop sleeps again; stucktui then shows the CPU",
                f"from a script: `stucktui close-fd {s.pid} {fd} --method epoll-del` (or gdb-close)",
                "fix the program: on end-of-file (recv returns nothing), EPOLLHUP or EPOLLRDHUP, close "
                "the fd and remove it from the epoll set; read an eventfd or timerfd when it is ready",
            ]
            if is_socket:
                steps.insert(1, "then shutdown-both on the same fd ends the connection, if it is still open")
            out.append(
                s.finding("epoll-spin", severity, summary, evidence, steps, panel=panel, fds=(fd, ep.fd))
            )
    return out


def _loop_evidence(s: Subject, tids: tuple[int, ...], epfd: int) -> str:
    rows = [t for t in s.threads.rows if t.tid in tids] if s.threads is not None else []
    share = [t.kernel_share for t in rows if t.kernel_share is not None]
    text = f"threads {id_list(list(tids))} running or in epoll_wait on fd {epfd}"
    if share:
        text += f", up to {max(share) * 100:.0f}% of their CPU time in the kernel"
    return text


# A busy server takes each queued connection within milliseconds: one still queued after this
# many seconds means nobody takes connections from that listener.
ACCEPT_STALL = 5.0
_ACCEPT_CALLS = frozenset({"accept", "accept4"}) | POLL_CALLS | EPOLL_WAITS | {"io_uring_enter"}


def _could_accept(s: Subject, fd: int) -> bool | None:
    """Whether some thread may be about to accept on listener `fd`: running, in accept() or a
    call on that fd, or in a multiplexing wait (whose fd set is in its memory). None when the
    threads were not read."""
    if s.threads is None or not s.threads.rows:
        return None
    for t in s.threads.rows:
        if t.state not in BLOCKED_STATES or t.call is None:
            return True
        if fd in t.call.fds or (t.call.name or "") in _ACCEPT_CALLS:
            return True
    return False


def listen_backlog_full(s: Subject) -> list[Finding]:
    """A listening socket whose accept queue is over its backlog: the kernel drops new
    connections. Critical when the process has stopped accepting: a queued connection has
    waited ACCEPT_STALL seconds, or no thread is where it could accept; otherwise a warning,
    for a busy server that accepts slower than connections arrive."""
    if s.sockets is None:
        return []
    queues = {q.fd: q for q in s.sockets.accept_queues}
    out = []
    for r in s.sockets.rows:
        if not r.accept_queue_full:
            continue
        q = queues.get(r.fd)
        waited = s.ages.oldest("accept_queued", [(r.fd, p) for p in q.peers]) if q is not None else None
        could = _could_accept(s, r.fd)
        stalled = waited is not None and waited >= ACCEPT_STALL
        if stalled:
            why = (
                f"the oldest connection has waited {human_age(waited or 0.0)} in it: "
                "the process has stopped accepting"
            )
        elif could is False:
            why = "no thread is in accept() or waiting for connections: the process has stopped accepting"
        else:
            why = "the process accepts slower than connections arrive (or stopped moments ago)"
        severity: Severity = "critical" if stalled or could is False else "warning"
        summary = (
            f"{s.label}'s listening socket {r.local} (fd {r.fd}) has a full accept queue "
            f"({r.recv_q} connections waiting, backlog {r.listen_backlog}), so new connections are "
            f"dropped; {why}; {_activity(s)}."
        )
        evidence = [f"fd {r.fd}: LISTEN {r.local}, accept queue {r.recv_q}, backlog {r.listen_backlog}"]
        if waited is not None and q is not None and q.peers:
            evidence.append(
                f"oldest queued connection seen for {human_age(waited)} "
                f"(a busy server takes each within milliseconds)"
            )
        act = thread_activity(s.threads, 3)
        if act:
            evidence.append(f"threads: {act}")
        steps = [
            "press 2 for the Threads panel: what the threads do instead of calling accept()",
            "raise the backlog (listen() and net.core.somaxconn) only if the process accepts, "
            "just slower than connections arrive: the backlog is only a buffer for bursts",
        ]
        out.append(
            s.finding("listen-backlog-full", severity, summary, evidence, steps, panel="sockets", fds=(r.fd,))
        )
    return out


def accept_queue_abandoned(s: Subject) -> list[Finding]:
    """Connections waiting in a listener's accept queue that their clients already closed
    (CLOSE_WAIT, no fd yet): the process stopped calling accept(), and requests pile up where
    no fd, lsof or CLOSE_WAIT count of the process shows them (incident 1 when the thread that
    accepts is the one stuck; ss shows them under the listening port)."""
    if s.sockets is None:
        return []
    out = []
    for q in s.sockets.accept_queues:
        if not q.close_wait:
            continue
        severity: Severity = "critical" if q.close_wait >= 10 else "warning"
        states = ", ".join(f"{n} {st}" for st, n in q.states) or "none found in the table"
        summary = (
            f"{s.label} has not accepted {plural(q.queued, 'connection')} waiting on {q.local} (fd {q.fd}); "
            f"{q.close_wait} of them were closed by their clients while they waited, "
            f"{human_bytes(q.unread_bytes)} of requests never read: the process stopped calling "
            f"accept(); {_activity(s)}."
        )
        evidence = [
            f"fd {q.fd}: LISTEN {q.local}, accept queue {q.queued}"
            + (f", backlog {q.backlog}" if q.backlog is not None else "")
            + f"; queued connections: {states}",
            "queued connections have no fd yet: they count in no process's CLOSE_WAIT column "
            f"(`ss -tan state close-wait '( sport = :{q.local.rsplit(':', 1)[-1]} )'` lists them)",
        ]
        act = thread_activity(s.threads, 3)
        if act:
            evidence.append(f"threads: {act}")
        steps = [
            "press 2 for the Threads panel (y adds Python stacks): the thread that should call "
            "accept() and what it waits on instead",
        ]
        out.append(
            s.finding(
                "accept-queue-abandoned", severity, summary, evidence, steps, panel="sockets", fds=(q.fd,)
            )
        )
    return out


_SEND_WAIT = 10.0  # seconds a send stays blocked before the live view speaks (a slow reader passes)
_SEND_LONG = 300.0  # ... and before it is critical


def _senders(s: Subject, fd: int) -> list[ThreadRow]:
    assert s.threads is not None
    return [
        t
        for t in s.threads.rows
        if t.state in BLOCKED_STATES
        and call_name(t) in SEND_CALLS
        and t.fd_args[:1]
        and t.fd_args[0].fd == fd
    ]


def _other_end(s: Subject, row: SocketRow, peer: SendPeer | None) -> tuple[str, list[str], bool | None]:
    """(what the summary says about the other end, evidence, stuck): stuck is True when it
    surely takes no data (zero window, no ACKs, stopped), False when data still flows (a slow
    receiver: flow control, not a hang), None when stucktui cannot tell."""
    if peer is None:
        return "", [], None
    if peer.note:
        return f" (the other end: {peer.note})", [], None
    if peer.retransmits >= 3:
        return (
            f"; the other end acknowledges nothing ({peer.retransmits} retransmission timeouts in a "
            "row): its host or the network to it is gone",
            [f"fd {row.fd}: retransmission timer, {peer.retransmits} timeouts without an ACK"],
            True,
        )
    if peer.zero_window is False:
        return "", [], False
    stuck: bool | None = True if peer.zero_window else None
    evidence = ["the receiver advertises a zero window (the zero-window probe timer runs)"] if stuck else []
    if peer.on_box is False:
        where = f"; the receiver at {row.remote}, not on this box, "
        return where + ("has stopped reading" if stuck else "does not take it"), evidence, stuck
    unread = f", with {human_bytes(peer.recv_q)} unread in its receive queue" if peer.recv_q else ""
    if peer.pid is None:
        text = f"; the other end is a socket of this box{unread}, held by a process stucktui could not read"
        return (
            text,
            evidence + ([f"other end: socket:[{peer.inode}], Recv-Q {peer.recv_q}"] if peer.inode else []),
            stuck,
        )
    who = "this process itself" if peer.pid == s.pid else f"pid {peer.pid} ({peer.name})"
    text = f"; the other end is {who} fd {peer.peer_fd}{unread}"
    evidence.append(f"other end: pid {peer.pid} ({peer.name}) fd {peer.peer_fd}, Recv-Q {peer.recv_q} bytes")
    pp = s.context.peers.get(peer.pid)
    if pp is not None and pp.state in ("T", "t"):
        text += f", and it is stopped (state {pp.state})"
        stuck = True
    elif pp is not None and (act := thread_activity(pp.threads, 2)):
        evidence.append(f"pid {peer.pid}'s threads: {act}")
    return text, evidence, stuck


def socket_send_blocked(s: Subject) -> list[Finding]:
    """Threads blocked sending on a stream socket whose send buffer stays full: the other end
    does not read (incident 1's pipe, as a socket: a log shipper or a stopped consumer)."""
    out: list[Finding] = []
    if s.threads is None or s.sockets is None:
        return out
    rows = {r.fd: r for r in s.sockets.rows}
    for fd, inode in sorted(blocked_socket_sends(s.threads, s.sockets).items()):
        row = rows[fd]
        age = s.ages.oldest("socket_send", [(fd, inode)])
        if age is not None and age < _SEND_WAIT:
            continue  # live view: a slow reader drains it within seconds
        senders = _senders(s, fd)
        if not senders:
            continue
        peer = s.context.send_peers.get(fd)
        about, peer_evidence, stuck = _other_end(s, row, peer)
        if stuck is False:
            continue  # the receiver still opens its window: slower than the sender, not stuck
        pp = s.context.peers.get(peer.pid) if peer is not None and peer.pid is not None else None
        severity: Severity
        if (pp is not None and pp.state in ("T", "t")) or (age or 0) >= _SEND_LONG:
            severity = "critical"
        elif age is not None or stuck:
            severity = "warning"
        else:
            severity = "info"  # one look (a report) at a unix socket: it may pass in a moment
        queued = row.send_q or 0
        tids = tuple(t.tid for t in senders)
        who = f"Thread {tids[0]}" if len(tids) == 1 else f"{len(tids)} threads"
        how_long = f" for {human_age(age)}" if age is not None and age >= 1 else ""
        if isinstance(row.sock, InetSocket):
            what = f"{row.proto} {row.local} -> {row.remote}, {row.state}"
            backlog = f"{human_bytes(queued)} wait unsent in its send queue"
        else:
            sock = row.sock
            assert isinstance(sock, UnixSocket)
            what = f"unix {sock.type_name} socket, peer {row.peer_path or f'socket:[{sock.peer_inode}]'}"
            backlog = "its send buffer is full"
        summary = (
            f"{who} of {s.label} {'is' if len(tids) == 1 else 'are'} blocked sending on fd {fd} ({what})"
            f"{how_long}: {backlog}, because the other end does not read{about}."
        )
        first = senders[0]
        evidence = [
            f"{plural(len(tids), 'thread')} ({id_list(list(tids))}) in {first.call_text}, state {first.state}"
            + (f", wchan {first.wchan}" if first.wchan else ""),
            f"fd {fd}: {what}, Send-Q {queued:,}"
            + (" bytes" if isinstance(row.sock, InetSocket) else " (memory)"),
            *peer_evidence,
        ]
        if first.python is not None and first.python.frames:
            evidence.append(
                f"Python stack of thread {first.tid}: "
                + " <- ".join(f"{f.function} ({f.short_file}:{f.line})" for f in first.python.frames[:4])
            )
        if (seen := seen_for(age)) is not None:
            evidence.append(seen)
        steps: list[str] = []
        if peer is not None and peer.pid is not None and peer.pid != s.pid:
            if pp is not None and pp.state in ("T", "t"):
                steps.append(
                    f"pid {peer.pid} is stopped: `stucktui signal {peer.pid} CONT` lets it read again"
                )
            steps.append(
                f"open pid {peer.pid} in stucktui: its Threads panel shows what it does instead of reading"
            )
        elif peer is not None and peer.on_box is False and isinstance(row.sock, InetSocket):
            steps.append(
                f"`ss -tnoi dst {row.sock.remote_addr}` here: timer:(persist,...) means the receiver "
                "advertises a zero window; look at the receiving host"
            )
        steps.append(
            f"press c on fd {fd} in the Sockets panel (3) and choose a shutdown: the blocked send fails "
            "(EPIPE) and the thread goes on; the connection and its unsent data are lost"
        )
        out.append(s.finding("socket-send-blocked", severity, summary, evidence, steps,
                             panel="sockets", fds=(fd,), tids=tids))  # fmt: skip
    return out
