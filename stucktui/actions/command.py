"""`stucktui signal PID NAME` and `stucktui close-fd PID FD`: the actions for scripts.

The same checks as the TUI (pidfd, start time, read-only, audit log); without --yes the
confirmation is printed and answered on the terminal. Exit status: 0 only when the effect was
verified; 1 failed or not verified (process gone, no permission, gdb failed); 2 invalid
request (unknown signal name, bad fd); 3 refused (read-only, declined, no terminal to ask on,
method unavailable, audit log not writable).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TYPE_CHECKING, TextIO

from stucktui.actions import results as R
from stucktui.actions.audit import ENV_AUDIT_LOG, ROOT_AUDIT_LOG, Policy, default_audit_path
from stucktui.actions.methods import METHOD_IDS
from stucktui.actions.results import ActionResult
from stucktui.textsafe import printable

if TYPE_CHECKING:  # what acts loads when a command runs, not for every `stucktui` (the parser)
    from stucktui.actions.target import Target

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_REFUSED = 0, 1, 2, 3


def audit_help() -> str:
    return (
        f"Every action and every refused attempt is appended as one JSON line to {default_audit_path()} "
        f"(${ENV_AUDIT_LOG} overrides it; otherwise root's log is {ROOT_AUDIT_LOG}, a user's "
        "$XDG_STATE_HOME/stucktui/audit.log; a path other users could write to is refused) and "
        "sent to syslog (authpriv)."
    )


FD_LIMIT = 2**31 - 1  # fds are C ints


def pid_arg(text: str) -> int:
    """argparse type: a pid, 1 to PID_LIMIT."""
    try:
        pid = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"pid must be a whole number, not {text!r}") from None
    from stucktui.actions.target import pid_problem

    if (why := pid_problem(pid)) is not None:
        raise argparse.ArgumentTypeError(why)
    return pid


def fd_arg(text: str) -> int:
    """argparse type: an fd number, 0 to 2**31-1."""
    try:
        fd = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fd must be a whole number, not {text!r}") from None
    if not 0 <= fd <= FD_LIMIT:
        raise argparse.ArgumentTypeError(f"fd must be a whole number from 0 to {FD_LIMIT}, not {fd}")
    return fd


_EXITS = """exit status:
  0  done and verified by re-reading /proc
  1  failed or not verified (process gone, no permission, gdb failed)
  2  an invalid request ({what})
  3  refused: --read-only, declined, no terminal to ask on (use --yes),
     {refused}the audit log not writable"""

CLOSE_METHODS = """methods (the chooser in the TUI offers the same five):
  gdb-null       gdb attaches and calls dup2(/dev/null, FD): the number stays taken, reads get
                 end-of-file, writes succeed and go nowhere (the process stops for a moment)
  gdb-close      gdb attaches and calls close(FD): the number is freed and may be reused by the
                 process's next open, which code still holding the old number then reads
  shutdown-both  a socket only, no ptrace: pidfd_getfd copies it, shutdown(SHUT_RDWR) ends the
                 connection (the peer gets a FIN); the fd stays open on a dead socket
  shutdown-read  a socket only: shutdown(SHUT_RD); blocked readers get end-of-file, sends go on
  epoll-del      an fd a level-triggered epoll set of the process keeps reporting (a busy loop):
                 EPOLL_CTL_DEL from outside, no ptrace; the fd stays open

default: gdb-null where gdb can work on the process (a test call proves it); where it cannot,
epoll-del for an fd a level-triggered epoll set watches, else shutdown-both for a socket; a
listening socket has no default (every method stops the process accepting on it)."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="act without asking for confirmation")
    # SUPPRESS: a global --read-only on the main parser must not be reset by this default
    p.add_argument(
        "--read-only", action="store_true", default=argparse.SUPPRESS, help="refuse (and log) the action"
    )


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `signal` and `close-fd` to a parser's subcommands."""
    s = subparsers.add_parser(
        "signal",
        help="send a signal by name through a pidfd, confirmed and logged",
        description="Send a signal by name (numbers differ between architectures) through a pidfd, "
        "so a process whose pid was reused is never hit.",
        epilog=_EXITS.format(what="unknown signal name", refused="a kernel thread, ")
        + "\n\n"
        + textwrap.fill(audit_help(), 96),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("pid", type=pid_arg)
    s.add_argument("name", help="signal name: TERM, SIGUSR1, RTMIN+2 (never a number)")
    _common(s)
    s.set_defaults(action_command="signal")
    c = subparsers.add_parser(
        "close-fd",
        help="close or neutralise an fd inside a process, confirmed, verified and logged",
        description="Close an fd inside a process (gdb) or shut its socket down (pidfd_getfd + "
        "shutdown), then re-read /proc to prove it.",
        epilog=CLOSE_METHODS
        + "\n\n"
        + _EXITS.format(what="an fd that is not open", refused="the method unavailable, ")
        + "\n\n"
        + textwrap.fill(audit_help(), 96),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("pid", type=pid_arg)
    c.add_argument("fd", type=fd_arg)
    c.add_argument(
        "--method",
        choices=METHOD_IDS,
        help="how to close it (see methods below); default: gdb-null where gdb works, else "
        "epoll-del or shutdown-both",
    )
    _common(c)
    c.set_defaults(action_command="close-fd")


class _Console:
    def __init__(self, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr

    def say(self, line: str) -> None:
        print(printable(line), file=self.stdout, flush=True)

    def err(self, line: str) -> None:
        print("stucktui: " + printable(line), file=self.stderr, flush=True)

    def confirm(self, lines: list[str], yes: bool) -> str | None:
        """None when confirmed; else the refusal outcome (NOT_CONFIRMED or DECLINED)."""
        for line in lines:
            self.say(line)
        if yes:
            return None
        if not self.stdin.isatty():
            self.err("not confirmed: stdin is not a terminal (pass --yes to act without asking)")
            return R.NOT_CONFIRMED
        self.stdout.write("Proceed? [y/N] ")
        self.stdout.flush()
        answer = self.stdin.readline()
        if answer.strip().lower() in ("y", "yes"):
            return None
        self.say("declined: nothing was done")
        return R.DECLINED


def _exit_code(outcome: str) -> int:
    if outcome in (R.DELIVERED, R.DONE):
        return EXIT_OK
    if outcome == R.BAD_REQUEST:
        return EXIT_INVALID
    return EXIT_REFUSED if outcome in R.REFUSALS else EXIT_FAILED


def _report(out: _Console, result: ActionResult) -> int:
    """What was done goes to stdout; a refusal, or a failure before anything was done, to stderr
    as one line (plus the audit log's warning if that could not be written either)."""
    nothing_done = result.process is None and result.fd is None and result.command_run is None
    for line in result.lines():
        (out.err if result.refused or (nothing_done and not result.ok) else out.say)(line)
    return _exit_code(result.outcome)


def run_command(
    args: argparse.Namespace,
    *,
    policy: Policy | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the `signal` or `close-fd` subcommand parsed by add_subcommands."""
    from stucktui.actions.target import Target, TargetError

    out = _Console(stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    if policy is None:
        policy = Policy(read_only=bool(getattr(args, "read_only", False)))
    command = args.action_command
    method = "pidfd_send_signal" if command == "signal" else args.method
    extra: dict[str, object] = {"signal": args.name} if command == "signal" else {"fd": args.fd}
    proc = getattr(args, "proc", "/proc")
    if proc != "/proc":
        out.err(f"actions need the live /proc, not {proc}")
        return EXIT_INVALID
    if (why := policy.audit.check_writable()) is not None:
        policy.record(
            action=command, method=method, result=R.AUDIT_FAILED, detail=why, pid=args.pid, extra=extra
        )
        out.err(f"nothing was done: {why}")  # the record above still reaches syslog
        return EXIT_REFUSED
    try:
        target = Target.open(args.pid)
    except TargetError as exc:
        err = policy.record(
            action=command, method=method, result=exc.outcome, detail=str(exc), pid=args.pid, extra=extra
        )
        out.err(str(exc))
        if err:
            out.err(err)
        return _exit_code(exc.outcome)
    with target:
        if command == "signal":
            return _signal(args, target, policy, out)
        return _close(args, target, policy, out)


def _declined(
    policy: Policy,
    target: Target,
    out: _Console,
    action: str,
    method: str | None,
    why: str,
    extra: dict[str, object],
) -> int:
    if why == R.NOT_CONFIRMED:
        detail = "no --yes and stdin is not a terminal"
        err = policy.record(
            action=action, method=method, result=why, detail=detail, target=target, extra=extra
        )
    else:
        err = policy.declined(target, action, method, extra=extra)
    if err:
        out.err(err)
    return EXIT_REFUSED


def _signal(args: argparse.Namespace, target: Target, policy: Policy, out: _Console) -> int:
    from stucktui.actions.signals import resolve_signal, send_signal, signal_choices, signal_confirmation
    from stucktui.actions.target import TargetError

    def send() -> ActionResult:
        return send_signal(target, args.name, policy)

    if policy.read_only:
        return _report(out, send())
    try:
        number, name = resolve_signal(args.name)
        choice = next((c for c in signal_choices(target) if c.number == number), None)
    except (ValueError, TargetError):
        return _report(out, send())  # logs and explains the refusal
    if choice is None or target.kernel_thread:
        return _report(out, send())  # logs and explains the refusal
    why = out.confirm(signal_confirmation(target, choice), args.yes)
    if why is not None:
        extra: dict[str, object] = {"signal": name, "number": number}
        return _declined(policy, target, out, "signal", "pidfd_send_signal", why, extra)
    return _report(out, send())


def _close(args: argparse.Namespace, target: Target, policy: Policy, out: _Console) -> int:
    from stucktui.actions.closefd import close_confirmation, close_fd, close_methods, common_blocker

    fd: int = args.fd
    if policy.read_only:
        refused = ActionResult(
            "close-fd", args.method, R.READ_ONLY, f"stucktui runs read-only: fd {fd} was left open"
        )
        return _report(out, policy.conclude(refused, target=target, extra={"fd": fd}))
    if fd < 0:
        invalid = ActionResult("close-fd", args.method, R.BAD_REQUEST, f"{fd} is not an fd number")
        return _report(out, policy.conclude(invalid, target=target, extra={"fd": fd}))
    options = close_methods(target, fd)
    if (blocked := common_blocker(options.facts)) is not None:  # no method could work: say why once
        result = ActionResult("close-fd", args.method, blocked[0], blocked[1])
        return _report(
            out, policy.conclude(result, target=target, extra={"fd": fd, "fd_target": options.facts.link})
        )
    method = options.method(args.method) if args.method else options.default
    usable = [m.id for m in options.methods if m.available]
    if method is None and usable:
        out.say(f"fd {fd}: {options.facts.description}")
        no_default = (
            f"no method is chosen for fd {fd} by default: it is a listening socket, and every "
            f"method stops the process accepting on it; choose one with --method ({', '.join(usable)})"
        )
        result = ActionResult("close-fd", None, R.BAD_REQUEST, no_default)
        return _report(out, policy.conclude(result, target=target, extra={"fd": fd}))
    if method is None:
        out.say(f"fd {fd}: {options.facts.description}")
        for m in options.methods:
            out.say(f"{m.id}: not available: {m.reason}")
        reasons = "; ".join(f"{m.id}: {m.reason}" for m in options.methods)
        result = ActionResult("close-fd", None, R.UNAVAILABLE, f"no method can work on fd {fd}: {reasons}")
        return _report(out, policy.conclude(result, target=target, extra={"fd": fd}))
    if not method.available:
        return _report(out, close_fd(target, fd, method.id, policy, expect_link=options.facts.link))
    why = out.confirm(close_confirmation(target, options, method), args.yes)
    if why is not None:
        extra: dict[str, object] = {"fd": fd, "fd_target": options.facts.link}
        return _declined(policy, target, out, "close-fd", method.id, why, extra)
    return _report(out, close_fd(target, fd, method.id, policy, expect_link=options.facts.link))
