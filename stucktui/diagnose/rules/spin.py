"""epoll-spin: an event loop that never sleeps, woken forever by a registration nobody drains."""

from __future__ import annotations

from typing import NamedTuple

from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject, id_list
from stucktui.model import clues
from stucktui.model.files import EpollWatch, FdRow
from stucktui.model.findings import Finding, Severity
from stucktui.model.sockets import SocketRow
from stucktui.model.threads import ThreadRow

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
    forever, and the loop never notices (docs/incidents.md §4). Under CPU contention the loop gets
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
                f"press c on fd {fd} in the {where}: gdb-close closes it inside the process (what "
                "the program should have done); where gdb cannot call functions, epoll-del takes it "
                f"out of epoll fd {ep.fd} without ptrace and the loop sleeps again; stucktui then "
                "shows the CPU",
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


EPOLL_SPIN = RuleSpec(
    "epoll-spin",
    epoll_spin,
    clues=frozenset({clues.BUSY}),
    needs=frozenset({"threads", "sockets", "files"}),
    cause_rank=30,
    ladder=(
        "critical from half a core (or a loop runnable all the time under contention); warning from 20% "
        "of a core"
    ),
    tracks=frozenset(),
)
