"""Running a close method and proving what it did: gdb's `$N = value` lines, the shutdown on a
pidfd_getfd copy, then /proc/PID/fd, the socket table and poll flags re-read afterwards."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from stucktui.actions import epoll_del_helper
from stucktui.actions import results as R
from stucktui.actions.fdfacts import FdFacts
from stucktui.actions.results import ActionResult, FdAfter
from stucktui.actions.target import Target, TargetError, read_state
from stucktui.collect.detail import sample_cpu_percent
from stucktui.collect.sockets import SocketCollector
from stucktui.model.net import InetSocket, UnixSocket, state_name
from stucktui.procfs import pidfd as pf
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import parse_fdinfo
from stucktui.procfs.net import parse_net_inet
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.statx import statx_cached
from stucktui.tools.gdb import CPU_STATE_FAILURE, GdbCall, run_calls
from stucktui.tools.runner import RunResult, run

# tcp_states.h: states a socket passes through on its way out; the re-read waits them out.
_CLOSING_STATES = frozenset({4, 9, 11})  # FIN_WAIT1, LAST_ACK, CLOSING
_GONE = "gone from the socket table"
_POLL_ALL = select.POLLIN | select.POLLOUT | select.POLLHUP | select.POLLRDHUP


@dataclass(frozen=True, slots=True)
class Ran:
    """What the method itself reported, before any re-read."""

    ok: bool
    detail: str


def run_gdb(
    target: Target,
    facts: FdFacts,
    method: str,
    argv: tuple[str, ...],
    timeout: float,
    runner: Callable[..., RunResult] = run,
) -> Ran:
    """Run the gdb argv of a close method and judge its `$N = value` lines."""
    return judge_gdb(method, facts.fd, facts.null_fd, run_calls(list(argv), timeout=timeout, runner=runner))


def judge_gdb(method: str, fd: int, null_fd: int | None, call: GdbCall) -> Ran:
    """Did the calls work? gdb exits 0 after a failing close (`$1 = -1`), so the values decide:
    close -> 0; dup2 onto fd -> fd; open("/dev/null") -> >= 0, then dup2 -> fd."""
    v = call.values
    if method == "gdb-close":
        good, what = v.get(1) == 0, "close"
    elif null_fd is not None:
        good, what = v.get(1) == fd, "dup2"
    else:
        good, what = v.get(1, -1) >= 0 and v.get(2) == fd, "open /dev/null + dup2"
    if good:
        return Ran(True, f"gdb ran {what} inside the process: {_values(v)}.")
    if call.cpu_state_failure:
        line = next(x for x in call.output.splitlines() if CPU_STATE_FAILURE in x).strip()
        return Ran(
            False,
            f"gdb could not make the call: {line!r} (it could not save the CPU's extended register "
            "state); the system call the process was blocked in may have failed with a "
            "kernel-internal error, so check that the process is healthy.",
        )
    if call.failure and not v:
        return Ran(False, f"gdb failed: {call.failure}.")
    if not v:
        return Ran(False, "gdb printed no $1 = N line: the call did not run.")
    return Ran(
        False, f"the {what} call failed inside the process ({_values(v)}; errno is not visible to gdb)."
    )


def _values(v: dict[int, int]) -> str:
    return ", ".join(f"${k} = {x}" for k, x in sorted(v.items()))


def _copy(target: Target, facts: FdFacts) -> int:
    """A pidfd_getfd copy of the fd, checked to be the same file. Raises OSError/TargetError."""
    with target.pidfd() as pidfd:
        dup = pf.pidfd_getfd(pidfd, facts.fd)
    try:
        if facts.inode is not None and statx_cached(dup, "").st_ino != facts.inode:
            raise OSError(0, f"fd {facts.fd} now refers to another file")
    except BaseException:
        os.close(dup)
        raise
    return dup


def run_shutdown(target: Target, facts: FdFacts, how: int) -> Ran:
    """shutdown(how) on a copy of the socket, which is closed at once and never read. The copy
    shares the target's open file description, so the shutdown acts on the target's socket."""
    name = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_RDWR: "SHUT_RDWR"}.get(how, str(how))
    try:
        dup = _copy(target, facts)
    except TargetError as exc:
        return Ran(False, str(exc))
    except OSError as exc:
        reason = exc.strerror if exc.errno == 0 else pf.failure_reason(exc)
        return Ran(False, f"pidfd_getfd failed: {reason}.")
    try:
        s = socket.socket(fileno=dup)
        try:
            s.shutdown(how)
        finally:
            s.detach()  # the fd is closed once, below, never by the socket object
    except OSError as exc:
        return Ran(False, f"shutdown({name}) failed: {exc.strerror or exc}.")
    finally:
        os.close(dup)
    return Ran(True, f"shutdown({name}) done on a pidfd_getfd copy of fd {facts.fd}; the copy is closed.")


def poll_flags(target: Target, facts: FdFacts) -> int | None:
    """poll() revents of the target's socket, through a copy never read; None if unreadable."""
    try:
        dup = _copy(target, facts)
    except (OSError, TargetError):
        return None
    try:
        p = select.poll()
        p.register(dup, _POLL_ALL)
        got = p.poll(0)
        return got[0][1] if got else 0
    finally:
        os.close(dup)


def _inet_now(target: Target, before: InetSocket) -> InetSocket | None:
    name = before.proto + ("6" if before.family == socket.AF_INET6 else "")
    socks = parse_net_inet(target.piddir.read_text(f"net/{name}"), before.proto)
    same = next((s for s in socks if s.inode and s.inode == before.inode), None)
    if same is not None:
        return same
    # after the last close the kernel keeps finishing the connection with no inode attached
    key = (before.local_addr, before.local_port, before.remote_addr, before.remote_port)
    return next(
        (
            s
            for s in socks
            if not s.inode and (s.local_addr, s.local_port, s.remote_addr, s.remote_port) == key
        ),
        None,
    )


def socket_now(target: Target, facts: FdFacts, settle: float) -> tuple[str | None, bool]:
    """(the socket's state now in words, whether a file still holds it); waits up to `settle` s
    for FIN_WAIT1/LAST_ACK/CLOSING to pass. (None, False) when the fd was no socket we could
    see in a table."""
    sock = facts.socket.sock if facts.socket is not None else None
    if sock is None:
        return None, False
    deadline = time.monotonic() + settle
    try:
        while True:
            if isinstance(sock, UnixSocket):
                c = SocketCollector()
                found = c.table(c.netns_of(target.pid, target.piddir), target.pid).unix({sock.inode})
                return (found[sock.inode].state_name, True) if sock.inode in found else (_GONE, False)
            now = _inet_now(target, sock)
            if now is None:
                return _GONE, False
            if now.state not in _CLOSING_STATES or time.monotonic() >= deadline:
                orphan = "" if now.inode else " (no fd holds it any more: the kernel is finishing the close)"
                return state_name(now.state) + orphan, bool(now.inode)
            time.sleep(0.02)
    except (ProcessGone, AccessDenied, OSError):
        why = "the process has exited" if target.exited() else "the socket table was unreadable"
        return f"unknown: {why}", False


def _link_now(target: Target, fd: int) -> str | None:
    try:
        return target.piddir.readlink(f"fd/{fd}")
    except (FileNotFoundError, ProcessGone, AccessDenied):
        return None


def verify(
    target: Target,
    facts: FdFacts,
    method: str,
    command_run: str | None,
    ran: Ran,
    settle: float,
    *,
    flags_before: int | None = None,
) -> ActionResult:
    """The ActionResult of a close method: what it reported, checked against a fresh read."""
    fd, before = facts.fd, facts.link or ""
    link = _link_now(target, fd)
    sock_after, attached = socket_now(target, facts, settle)
    flags = poll_flags(target, facts) if method.startswith("shutdown") and link == before else None
    rdhup = None if flags is None else bool(flags & select.POLLRDHUP)
    hup = None if flags is None else bool(flags & select.POLLHUP)
    state = read_state(target)
    findings: list[str] = []
    if not state.alive:
        verified = False  # its fds went with it: nothing to tell about the one we acted on
    elif method == "gdb-close":
        verified = link != before
        findings.append(
            f"fd {fd} is closed (was {before})."
            if link is None
            else f"fd {fd} now refers to {link}: the number was reused already."
            if verified
            else f"fd {fd} is still open on {before}."
        )
    elif method == "gdb-null":
        verified = link == "/dev/null"
        findings.append(f"fd {fd} now refers to {link or 'nothing (closed)'} (was {before}).")
    else:
        verified = bool(hup if method == "shutdown-both" else rdhup)
        if method == "shutdown-read" and flags_before is not None and flags_before & select.POLLRDHUP:
            verified = False  # nothing changed that poll() can see
            findings.append(
                "poll() reported the read side shut before the action too (the peer had closed): "
                "SHUT_RD changed nothing visible; shutdown-both ends the connection."
            )
        findings.append(
            f"fd {fd} stays open ({link}): the program must close it itself."
            if link == before
            else f"fd {fd} now refers to {link or 'nothing'} (was {before})."
        )
        if rdhup is not None:
            shut = "both directions" if hup else "the read side" if rdhup else "nothing"
            findings.append(f"poll() on the socket now reports {shut} shut.")
        if link == before and facts.watched_by:
            findings.append(
                f"epoll fd {', '.join(map(str, facts.watched_by))} still watches fd {fd} and now reports "
                "it (end-of-file, HUP) at once: a loop that spun on it goes on spinning until the "
                "program closes the fd. Check the CPU: epoll-del (no ptrace) or a gdb method stops it."
            )
    if sock_after is not None:
        was = facts.socket.state if facts.socket is not None else "?"
        findings.append(f"The socket was {was}; now: {sock_after}.")
        if method.startswith("gdb") and link != before and attached:
            others = (
                f"fd {', '.join(map(str, facts.other_fds))} here" if facts.other_fds else "another process"
            )
            findings.append(f"The socket is still open: {others} holds it too.")
    if not state.alive:
        findings.append("The process has exited.")
    outcome = R.FAILED if not ran.ok else R.DONE if verified else R.NOT_VERIFIED
    fd_after = FdAfter(fd, before, link, facts.description if facts.socket else None, sock_after, rdhup, hup)
    return ActionResult(
        "close-fd", method, outcome, ran.detail, command_run, state, fd_after, tuple(findings)
    )


def _registrations(target: Target, epfd: int, inode: int | None) -> list[int] | None:
    """The registered fd numbers of `inode` in epoll fd `epfd` now; None when unreadable."""
    try:
        info = parse_fdinfo(target.piddir.read_text(f"fdinfo/{epfd}"))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None
    return [e.tfd for e in info.epoll if e.ino == inode]


def run_epoll_del(target: Target, facts: FdFacts, timeout: float = 10.0) -> Ran:
    """EPOLL_CTL_DEL of every registration of the fd's file, in every epoll set of the process
    that has one, through pidfd_getfd copies held by a helper process (epoll_del_helper.py, run
    by path in isolated mode: a fresh process, so the copies can take the registered fd numbers
    without touching any fd of stucktui)."""
    if not pf.SYSCALL_NR:
        return Ran(False, "pidfd_getfd: unknown syscall number on this architecture.")
    by_epoll: dict[int, list[int]] = {}
    for e, t in facts.epoll_regs:
        by_epoll.setdefault(e, []).append(t)
    done: list[str] = []
    for epfd, tfds in sorted(by_epoll.items()):
        try:
            with target.pidfd() as pidfd:
                argv = [sys.executable, "-I", epoll_del_helper.__file__, str(pidfd), str(epfd), str(facts.fd),
                        str(facts.inode or 0), str(pf.SYSCALL_NR), ",".join(map(str, tfds))]  # fmt: skip
                proc = subprocess.run(
                    argv, pass_fds=(pidfd,), capture_output=True, timeout=timeout, check=False
                )
        except TargetError as exc:
            return Ran(False, str(exc))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Ran(False, f"the epoll-del helper could not run: {exc}.")
        try:
            res = json.loads(proc.stdout or b"{}")
        except ValueError:
            res = {}
        if not res.get("ok"):
            why = res.get("error") or proc.stderr.decode(errors="replace").strip()[-200:] or "no answer"
            errno_ = res.get("errno")
            reason = pf.failure_reason(OSError(errno_, why)) if errno_ else why
            return Ran(False, f"epoll fd {epfd}: {reason}.")
        for t, how in sorted(res["tfds"].items(), key=lambda kv: int(kv[0])):
            done.append(f"fd {t} from epoll fd {epfd}: {'removed' if how == 'removed' else how}")
    return Ran(
        True, "EPOLL_CTL_DEL " + "; ".join(done) + " (through pidfd_getfd copies, closed, never read)."
    )


def verify_epoll_del(
    target: Target, facts: FdFacts, method: str, command: str, ran: Ran, window: float = 0.5
) -> ActionResult:
    """epoll-del's result: each epoll set's interest list re-read, and the CPU of the process
    over `window` seconds afterwards (the spin stopping is the point)."""
    findings: list[str] = []
    left: list[str] = []
    for epfd in sorted({e for e, _ in facts.epoll_regs}):
        regs = _registrations(target, epfd, facts.inode)
        if regs is None:
            left.append(f"epoll fd {epfd}: unreadable")
        elif regs:
            left.append(f"epoll fd {epfd} still watches it as fd {', '.join(map(str, regs))}")
        else:
            findings.append(f"epoll fd {epfd} no longer watches fd {facts.fd}.")
    findings.extend(s + "." for s in left)
    cpu = sample_cpu_percent(ProcRoot(), target.pid, window) if ran.ok else None
    if cpu is not None:
        findings.append(f"CPU over {window:.1f} s afterwards: {cpu:.0f}% (100 = one core).")
    link = _link_now(target, facts.fd)
    findings.append(f"fd {facts.fd} stays open ({link or 'now closed'}): the program must close it itself.")
    if facts.socket_state in ("CLOSE_WAIT", "UNCONN"):
        findings.append(f"The socket is still {facts.socket_state}: shutdown-both on it ends the connection.")
    state = read_state(target)
    if not state.alive:
        findings.append("The process has exited.")
    verified = ran.ok and not left and state.alive
    outcome = R.FAILED if not ran.ok else R.DONE if verified else R.NOT_VERIFIED
    fd_after = FdAfter(facts.fd, facts.link or "", link, None, None, None, None)
    return ActionResult("close-fd", method, outcome, ran.detail, command, state, fd_after, tuple(findings))
