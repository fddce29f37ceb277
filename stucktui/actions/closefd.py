"""Close (or neutralise) one fd inside the target: the methods that fit it, running one, proving it.

Five methods (docs/kernel-notes.md §7): gdb `close(N)`, gdb `dup2(<null device>, N)`, for sockets a
pidfd_getfd copy on which stucktui calls shutdown(SHUT_RD or SHUT_RDWR), and for an fd an epoll
set of the process watches, epoll_ctl(EPOLL_CTL_DEL) on pidfd_getfd copies (no ptrace: it stops
an epoll busy loop where gdb cannot call functions). gdb prints `$1 = N` and
exits 0 even when the call failed, so the value is parsed, and every method is then checked
against a fresh read of /proc/PID/fd and the socket table.
"""

from __future__ import annotations

import shlex
import socket
from collections.abc import Callable
from dataclasses import dataclass

from stucktui.actions import results as R
from stucktui.actions.audit import Policy
from stucktui.actions.denial import no_permission
from stucktui.actions.fdfacts import FdFacts, gather_fd_facts
from stucktui.actions.methods import EPOLL_DEL, GDB_CLOSE, GDB_NULL, METHOD_IDS, SHUTDOWN_BOTH, SHUTDOWN_READ
from stucktui.actions.results import ActionResult
from stucktui.actions.target import Target, TargetError
from stucktui.actions.verify import (
    poll_flags,
    run_epoll_del,
    run_gdb,
    run_shutdown,
    verify,
    verify_epoll_del,
)
from stucktui.procfs import fdtarget as ft
from stucktui.procfs import pidfd as pf
from stucktui.tools.gdb import DEFAULT_TIMEOUT, GDB_MISSING, call_canary, close_fd_argv, dup2_null_argv

Canary = Callable[[str], str | None]
SHUT_HOW = {SHUTDOWN_READ: ("SHUT_RD", socket.SHUT_RD), SHUTDOWN_BOTH: ("SHUT_RDWR", socket.SHUT_RDWR)}
_TITLES = {
    GDB_CLOSE: "gdb: close the fd",
    GDB_NULL: "gdb: replace the fd with /dev/null",
    SHUTDOWN_READ: "shutdown the read side (no ptrace stop)",
    SHUTDOWN_BOTH: "shutdown both directions (no ptrace stop)",
    EPOLL_DEL: "remove it from the epoll set watching it (no ptrace stop)",
}


@dataclass(frozen=True, slots=True)
class CloseMethod:
    id: str  # one of METHOD_IDS
    title: str
    effects: tuple[str, ...]  # known effects, plain words, one sentence each
    command: str  # the exact command (gdb argv, shell-quoted) or the syscalls stucktui makes
    argv: tuple[str, ...] | None  # what runs, for gdb methods
    available: bool
    reason: str | None  # why not, when not available
    default: bool = False


@dataclass(frozen=True, slots=True)
class CloseOptions:
    """What the confirmation shows: the fd described, and every method with its state."""

    facts: FdFacts
    methods: tuple[CloseMethod, ...]

    @property
    def default(self) -> CloseMethod | None:
        return next((m for m in self.methods if m.default), None)

    def method(self, method_id: str) -> CloseMethod | None:
        return next((m for m in self.methods if m.id == method_id), None)


def _shutdown_command(pid: int, fd: int, how: str) -> str:
    return f"pidfd_getfd(pidfd_open({pid}), {fd}, 0) -> shutdown(copy, {how}) -> close(copy); copy never read"


def common_blocker(f: FdFacts) -> tuple[str, str] | None:
    """(outcome, reason) when no method can work on this fd whatever it is; None otherwise."""
    if f.gone:
        return R.GONE, f.gone
    if f.kernel_thread:
        return R.UNAVAILABLE, f"process {f.pid} is a kernel thread: it has no fds to close"
    if f.denied or f.probe == pf.NOT_PERMITTED:
        return R.NO_PERMISSION, no_permission(f.pid)
    if f.link is None:
        return R.BAD_REQUEST, f"fd {f.fd} of process {f.pid} is not open"
    if f.probe == pf.CHANGED:
        return R.UNAVAILABLE, f"fd {f.fd} changed while it was being checked: look again"
    if f.probe == pf.GONE:
        return R.GONE, f"process {f.pid} has exited"
    return None


def _common_blockers(f: FdFacts) -> str | None:
    found = common_blocker(f)
    return found[1] if found else None


def _gdb_blocker(f: FdFacts) -> str | None:
    if f.gdb is None:
        return GDB_MISSING
    if f.dynamic is False:
        return (
            "a static binary: gdb has no libc close() to call there (a stripped one has no symbols "
            "at all); for a socket, use a shutdown method"
        )
    if f.tracer_pid:
        return f"already traced by pid {f.tracer_pid} (a debugger or strace): gdb cannot attach"
    return f.gdb_canary


def _gdb_effects(f: FdFacts, method: str) -> tuple[str, ...]:
    out = [
        f"gdb attaches with ptrace and pauses all {f.threads} thread(s) for about 0.1 to 0.4 s; calls that "
        "do not restart on EINTR (epoll_wait, pause, C code that treats EINTR as fatal) return early",
        "closing any fd of a file drops every POSIX (fcntl/lockf) lock this process holds on that file, "
        "even locks taken through another fd",
    ]
    if method == GDB_CLOSE:
        out.insert(
            0,
            f"fd {f.fd} is freed: the program may later get number {f.fd} for another file, and its stale "
            "handle would then read, write or close that file",
        )
        out.append("a thread blocked on this fd gets EBADF when its call restarts after the attach")
    else:
        out.insert(
            0,
            f"fd {f.fd} is replaced by /dev/null: the {f.kind or 'file'} is released but the number stays "
            "taken, so the program's stale handle reads end-of-file and its writes are discarded",
        )
    if f.other_fds:
        listed = ", ".join(map(str, f.other_fds))
        out.append(
            f"the same {f.kind or 'file'} is also open as fd {listed} here: it stays open through those"
        )
    if f.dynamic is None:
        out.append("stucktui could not read the binary to check that it is dynamically linked")
    return tuple(out)


def _shutdown_effects(f: FdFacts, method: str) -> tuple[str, ...]:
    out = [
        "runs inside stucktui: no ptrace stop; the fd stays open in the process, so its number is not reused"
    ]
    state = f.socket_state
    if method == SHUTDOWN_READ:
        out.append("threads blocked reading the socket get end-of-file; the process can still send")
        if state == "CLOSE_WAIT":
            out.append(
                "this socket is in CLOSE_WAIT: the peer already closed and reads already return "
                "end-of-file, so SHUT_RD changes nothing visible; shutdown-both ends the connection"
            )
    else:
        out.append(
            "ends the connection both ways: the peer gets a FIN, or the socket closes at once when the "
            "peer already closed; the fd then holds a dead socket until the program closes it"
        )
        out.append("writers get EPIPE: a C program that does not ignore SIGPIPE dies of it")
        if f.watched_by:
            out.append(
                f"epoll fd {', '.join(map(str, f.watched_by))} keeps reporting the socket readable "
                "(end-of-file, HUP) until the program closes it"
            )
    if state == "LISTEN":
        out.append("a listening socket: accept() in the process fails with EINVAL from now on")
    return tuple(out)


def _epoll_del_command(f: FdFacts) -> str:
    regs = ", ".join(f"EPOLL_CTL_DEL of fd {t} from epoll fd {e}" for e, t in f.epoll_regs) or "nothing"
    return (
        f"a helper process takes pidfd_getfd copies of the epoll fd and of fd {f.fd}, puts the copy at "
        f"the registered number, then {regs}; the copies are closed, never read"
    )


def _epoll_del_effects(f: FdFacts) -> tuple[str, ...]:
    sets = ", ".join(sorted({str(e) for e, _ in f.epoll_regs}))
    out = [
        "runs outside the process: no ptrace stop; the fd stays open, so its number is not reused",
        f"epoll fd {sets} stops reporting fd {f.fd}: a loop that spun because it was always ready "
        "sleeps again; the program is never told about it, so it waits for nothing more from it",
        "if the program later removes or changes that fd in its epoll set, epoll_ctl fails with "
        "ENOENT: Python selectors, asyncio and libuv ignore that; C code may log it or give up",
    ]
    if f.socket_state in ("CLOSE_WAIT", "UNCONN"):
        out.append(
            "the socket itself stays as it is; shutdown-both as well ends the connection (or close "
            "it with gdb where gdb works)"
        )
    if f.socket_state == "LISTEN":
        out.append(
            "it is a listening socket: the process stops accepting on it; new connections wait in "
            "its queue until the backlog is full, then are refused"
        )
    if f.epoll_regs and not f.level_triggered:
        out.append(
            "every registration is edge-triggered (ET or ONESHOT): epoll reports it once, so it "
            "causes no busy loop and removing it changes little"
        )
    return tuple(out)


def build_methods(f: FdFacts) -> tuple[CloseMethod, ...]:
    """The five methods for an fd, available or not with the reason; pure."""
    blocker = _common_blockers(f)
    gdb_blocker = blocker or _gdb_blocker(f)
    gdb = f.gdb or "gdb"
    out: list[CloseMethod] = []
    for mid in (GDB_CLOSE, GDB_NULL):
        if mid == GDB_CLOSE:
            argv = close_fd_argv(f.pid, f.fd, gdb=gdb)
        else:
            argv = dup2_null_argv(f.pid, f.fd, null_fd=f.null_fd, gdb=gdb)
        out.append(
            CloseMethod(
                mid,
                _TITLES[mid],
                _gdb_effects(f, mid),
                shlex.join(argv),
                tuple(argv),
                gdb_blocker is None,
                gdb_blocker,
            )
        )
    not_socket = None if f.kind == ft.SOCKET else "not a socket: shutdown works on sockets only"
    if not_socket is None and f.socket is not None and f.socket.closed_tcp:
        not_socket = "already reset or shut down (TCP state CLOSE): nothing is left to shut down"
    sock_blocker = blocker or not_socket or (pf.UNSUPPORTED if f.probe == pf.UNSUPPORTED else None)
    for mid in (SHUTDOWN_READ, SHUTDOWN_BOTH):
        how = SHUT_HOW[mid][0]
        out.append(
            CloseMethod(
                mid,
                _TITLES[mid],
                _shutdown_effects(f, mid),
                _shutdown_command(f.pid, f.fd, how),
                None,
                sock_blocker is None,
                sock_blocker,
            )
        )
    not_watched = None if f.epoll_regs else f"no epoll set of process {f.pid} watches fd {f.fd}"
    ep_blocker = blocker or not_watched or (pf.UNSUPPORTED if f.probe == pf.UNSUPPORTED else None)
    out.append(
        CloseMethod(
            EPOLL_DEL,
            _TITLES[EPOLL_DEL],
            _epoll_del_effects(f),
            _epoll_del_command(f),
            None,
            ep_blocker is None,
            ep_blocker,
        )
    )
    return tuple(_with_default(m, m.id == _default(f, out)) for m in out)


def _default(f: FdFacts, methods: list[CloseMethod]) -> str | None:
    """The method offered first. gdb-null where gdb works. Otherwise, for an fd a level-
    triggered epoll set reports forever (docs/incidents.md §4's busy loop), taking it out of epoll; for
    any other socket, shutdown-both, which ends the connection (a pool's CLOSE_WAIT socket: an
    edge-triggered set, as Go's, does not spin, and epoll-del would change nothing). A
    listening socket gets no default: every method stops the process accepting on it."""
    if f.socket_state == "LISTEN":
        return None
    order = (
        (GDB_NULL, EPOLL_DEL, SHUTDOWN_BOTH) if f.level_triggered else (GDB_NULL, SHUTDOWN_BOTH, EPOLL_DEL)
    )
    available = {m.id for m in methods if m.available}
    return next((i for i in order if i in available), None)


def _with_default(m: CloseMethod, default: bool) -> CloseMethod:
    if not default:
        return m
    return CloseMethod(m.id, m.title, m.effects, m.command, m.argv, m.available, m.reason, True)


def close_methods(
    target: Target, fd: int, *, gdb: str | None = "", canary: Canary = call_canary
) -> CloseOptions:
    """The fd described and the methods that fit it. Blocks up to a few tenths of a second (and
    once per run, gdb's test call): call it from a worker thread. Never raises. `gdb` "" finds
    gdb on PATH, None means none; `canary(gdb)` says why gdb cannot call functions here."""
    try:
        with target.in_use():
            facts = gather_fd_facts(target, fd, gdb=gdb, canary=canary)
    except TargetError as exc:
        facts = FdFacts(target.pid, fd, None, None, None, str(exc), gone=str(exc))
    return CloseOptions(facts, build_methods(facts))


def close_confirmation(target: Target, options: CloseOptions, method: CloseMethod) -> list[str]:
    """The confirmation text: process, fd, method, the exact command, and the effects."""
    lines = [*target.describe(), f"fd {options.facts.fd}: {options.facts.description}"]
    if options.facts.watched_by:
        lines.append("watched by epoll fd " + ", ".join(map(str, options.facts.watched_by)))
    lines.append(f"method: {method.id} ({method.title})")
    lines.append(f"command: {method.command}")
    lines.extend("effect: " + e for e in method.effects)
    if not method.available:
        lines.append(f"NOT AVAILABLE: {method.reason}")
    return lines


def close_fd(
    target: Target,
    fd: int,
    method: str,
    policy: Policy,
    *,
    expect_link: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    settle: float = 1.0,
    gdb: str | None = "",
    canary: Canary = call_canary,
) -> ActionResult:
    """Run `method` on fd `fd` of the target, then re-read the fd and its socket. With
    `expect_link` (the /proc/PID/fd/N text the user confirmed), an fd that now names another file
    is left alone. Logs one audit line; never raises for a vanished process."""
    try:
        with target.in_use():
            return _close_fd(target, fd, method, policy, expect_link, timeout, settle, gdb, canary)
    except TargetError as exc:  # closed before we began
        res = ActionResult("close-fd", method, exc.outcome, f"{exc}: nothing was done")
        return policy.conclude(res, target=target, extra={"fd": fd})


def _close_fd(
    target: Target,
    fd: int,
    method: str,
    policy: Policy,
    expect_link: str | None,
    timeout: float,
    settle: float,
    gdb: str | None,
    canary: Canary,
) -> ActionResult:
    extra: dict[str, object] = {"fd": fd}

    def done(res: ActionResult) -> ActionResult:
        return policy.conclude(res, target=target, extra=extra)

    if method not in METHOD_IDS:
        return done(ActionResult("close-fd", method, R.BAD_REQUEST, f"unknown method {method!r}"))
    if fd < 0:
        return done(ActionResult("close-fd", method, R.BAD_REQUEST, f"{fd} is not an fd number"))
    if policy.read_only:
        return done(
            ActionResult("close-fd", method, R.READ_ONLY, f"stucktui runs read-only: fd {fd} was left open")
        )
    if (why := policy.audit.check_writable()) is not None:
        return ActionResult("close-fd", method, R.AUDIT_FAILED, f"{why}: fd {fd} was left open")
    if (why := target.check()) is not None:
        return done(ActionResult("close-fd", method, R.GONE, f"{why}: nothing was done"))
    options = close_methods(target, fd, gdb=gdb, canary=canary)
    facts = options.facts
    m = options.method(method)
    assert m is not None
    extra["fd_target"] = facts.link
    if facts.gone:
        return done(ActionResult("close-fd", method, R.GONE, f"{facts.gone}: nothing was done"))
    if expect_link is not None and facts.link != expect_link:
        now = facts.link or "nothing (closed)"
        return done(
            ActionResult(
                "close-fd",
                method,
                R.UNAVAILABLE,
                f"fd {fd} now refers to {now}, not {expect_link}: nothing was done",
            )
        )
    if not m.available:
        return done(ActionResult("close-fd", method, R.UNAVAILABLE, f"{m.id}: {m.reason}"))
    assert facts.link is not None
    if m.id == EPOLL_DEL:
        ran = run_epoll_del(target, facts)
        return done(verify_epoll_del(target, facts, m.id, m.command, ran))
    if m.argv is None:
        before = poll_flags(target, facts)  # a CLOSE_WAIT socket reports its read side shut already
        ran = run_shutdown(target, facts, SHUT_HOW[method][1])
        return done(verify(target, facts, m.id, None, ran, settle, flags_before=before))
    # gdb attaches by pid number: make the window in which that pid could name another
    # process as small as possible (it would take an exit, a reap and a pid wrap-around)
    if (why := target.check()) is not None:
        return done(ActionResult("close-fd", method, R.GONE, f"{why}: nothing was done"))
    ran = run_gdb(target, facts, m.id, m.argv, timeout)
    return done(verify(target, facts, m.id, m.command, ran, settle))
