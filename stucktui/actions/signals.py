"""Send a signal by name through the target's pidfd, with what the process will do with it.

Names only: numbers differ between architectures (docs/incidents.md §1: `kill -30` meant a thread dump and
killed the service), so every number here comes from the local signal module (docs/kernel-notes.md §5).
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stucktui.actions import results as R
from stucktui.actions.audit import Policy
from stucktui.actions.results import ActionResult, ProcessState
from stucktui.actions.target import Target, TargetError, read_state, wait_for
from stucktui.collect.signals import collect_signals
from stucktui.model.signals import UNBLOCKABLE, SignalRow, is_libc_internal, sig_name, sig_number
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot

COMMON = (
    "SIGTERM",
    "SIGINT",
    "SIGHUP",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGSTOP",
    "SIGCONT",
    "SIGKILL",
)
# signal(7)'s action codes (procfs.signals.default_action) as words.
ACTION_WORDS = {"Term": "terminate", "Core": "core", "Ign": "ignore", "Stop": "stop", "Cont": "continue"}
_EFFECT_WORDS = {
    "terminate": "terminates it",
    "core": "terminates it and dumps core",
    "stop": "stops it until it gets SIGCONT",
}
_SETTLE = 1.0  # seconds to wait for an expected exit or stop to show in /proc
_MAX_TIDS = 5


@dataclass(frozen=True, slots=True)
class SignalChoice:
    """One entry of the signal picker."""

    name: str  # 'SIGUSR1', 'SIGRTMIN+3'
    number: int  # on this machine's architecture
    default_action: str  # terminate, core, ignore, stop, continue
    disposition: str  # caught, ignored, default, signalfd
    blocked_tids: tuple[int, ...]
    blocked_everywhere: bool
    common: bool
    handling: str  # what this process does with it, in words
    warnings: tuple[str, ...]  # plain words; empty when sending it is unsurprising
    effect: str | None  # 'exit', 'stop', 'continue' or None: what should show afterwards

    @property
    def warning(self) -> str | None:
        return "; ".join(self.warnings) or None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.number})"


def resolve_signal(name: str) -> tuple[int, str]:
    """(number here, canonical name) of 'TERM', 'sigterm', 'SIGIOT', 'RTMIN+2'. Raises ValueError,
    also for plain numbers: they differ between architectures."""
    text = name.strip().upper()
    if text.lstrip("-").isdigit():
        raise ValueError(f"give a signal name, not a number ({name}): numbers differ between architectures")
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        number = sig_number(text)
    except ValueError:
        raise ValueError(f"unknown signal name {name!r}") from None
    realtime = text.startswith(("SIGRTMIN+", "SIGRTMAX-"))
    lowest = int(signal.SIGRTMIN) if realtime else 1
    if not lowest <= number <= int(signal.SIGRTMAX) or text[3:].isdigit():
        raise ValueError(f"unknown signal name {name!r}")
    if is_libc_internal(number):
        raise ValueError(f"{name} is reserved by the C library for its own use")
    return number, sig_name(number)


def picker_order() -> list[int]:
    """Signal numbers in picker order: the common ones, the other standard signals by number,
    then SIGRTMIN..SIGRTMAX. The C library's internal 32 and 33 are left out."""
    common = [int(signal.Signals[n]) for n in COMMON]
    standard = sorted({int(s) for s in signal.Signals if int(s) < 32} - set(common))
    realtime = list(range(int(signal.SIGRTMIN), int(signal.SIGRTMAX) + 1))
    return common + standard + realtime


def describe_handling(row: SignalRow, signalfd: bool) -> tuple[str, str]:
    """(disposition, what the process does with the signal, in words)."""
    if row.number in UNBLOCKABLE:
        return "default", "cannot be caught, blocked or ignored"
    if row.disposition == "ignored":
        disposition, text = "ignored", "ignored"
    elif row.disposition == "caught":
        disposition, text = "caught", "caught (a handler is installed)"
    elif signalfd and row.blocked_tids:
        disposition, text = "signalfd", "read through a signalfd"
    else:
        disposition, text = "default", f"default action ({ACTION_WORDS[row.default_action]})"
    if row.blocked_everywhere:
        text += ", blocked in every thread"
    elif row.blocked_tids:
        tids = ", ".join(map(str, row.blocked_tids[:_MAX_TIDS]))
        more = len(row.blocked_tids) - _MAX_TIDS
        text += f", blocked in thread{'s' if len(row.blocked_tids) > 1 else ''} {tids}"
        text += f" and {more} more" if more > 0 else ""
    return disposition, text


def signal_warnings(
    name: str,
    action: str,
    disposition: str,
    blocked_everywhere: bool,
    *,
    stopped: bool = False,
    namespace_init: bool = False,
) -> tuple[tuple[str, ...], str | None]:
    """(plain-words warnings, expected effect) of sending `name` to a process that handles it
    as `disposition` (caught, ignored, default, signalfd); `action` is the default action word."""
    if name == "SIGKILL":
        return (
            "SIGKILL cannot be caught, blocked or ignored: it ends the process at once, with no cleanup",
        ), "exit"
    if name == "SIGSTOP":
        return ("SIGSTOP cannot be caught: it stops the process until it gets SIGCONT",), "stop"
    if name == "SIGCONT":
        return (), "continue"
    out: list[str] = []
    effect: str | None = None
    if disposition == "ignored":
        out.append(f"{name} is ignored by this process: sending it has no effect")
    elif disposition == "default" and namespace_init and action != "ignore":
        out.append(
            f"{name} is not caught and this process is PID 1 of its pid namespace: the kernel "
            "drops it (only SIGKILL and SIGSTOP work)"
        )
    elif disposition == "default" and action == "ignore":
        out.append(
            f"{name} is not caught by this process: its default action ignores it, so it has no effect"
        )
    elif disposition == "default":
        out.append(f"{name} is not caught by this process: its default action {_EFFECT_WORDS[action]}")
        effect = "stop" if action == "stop" else "exit"
    if blocked_everywhere and disposition != "signalfd" and disposition != "ignored":
        out.append(f"{name} is blocked in every thread: it will stay pending until a thread unblocks it")
        effect = None
    if stopped and disposition in ("caught", "signalfd"):
        out.append("the process is stopped (state T): it handles the signal only after SIGCONT")
    return tuple(out), effect


def choices_from_rows(
    rows: Iterable[SignalRow],
    *,
    signalfd_mask: int = 0,
    stopped: bool = False,
    namespace_init: bool = False,
) -> list[SignalChoice]:
    """The picker's entries from the signal table of collect.signals, in picker order."""
    by_number = {r.number: r for r in rows}
    common = set(COMMON)
    out = []
    for n in picker_order():
        row = by_number.get(n)
        if row is None:
            continue
        disposition, handling = describe_handling(row, bool(signalfd_mask >> (n - 1) & 1))
        action = ACTION_WORDS[row.default_action]
        warnings, effect = signal_warnings(
            row.name,
            action,
            disposition,
            row.blocked_everywhere,
            stopped=stopped,
            namespace_init=namespace_init,
        )
        out.append(
            SignalChoice(
                name=row.name,
                number=n,
                default_action=action,
                disposition=disposition,
                blocked_tids=row.blocked_tids,
                blocked_everywhere=row.blocked_everywhere,
                common=row.name in common,
                handling=handling,
                warnings=warnings,
                effect=effect,
            )
        )
    return out


def signal_choices(target: Target) -> list[SignalChoice]:
    """Every signal this process can be sent, common first, with what it does here. Raises
    TargetError when the process is gone."""
    try:
        with target.in_use():
            snap = collect_signals(ProcRoot(), target.piddir, with_parent=False)
            stopped = read_state(target).state == "T"
    except ProcessGone:
        raise TargetError(R.GONE, f"process {target.pid} has exited") from None
    except (AccessDenied, OSError, ValueError) as exc:
        raise TargetError(R.FAILED, f"cannot read the signal state of {target.pid}: {exc}") from None
    sfd = 0
    for s in snap.signalfds:
        sfd |= s.mask
    return choices_from_rows(
        snap.rows, signalfd_mask=sfd, stopped=stopped, namespace_init=target.namespace_init
    )


def signal_confirmation(target: Target, choice: SignalChoice) -> list[str]:
    """The confirmation text: pid, command line, start time, signal, and the warnings."""
    lines = [*target.describe(), f"signal: {choice.label}, default action {choice.default_action}"]
    lines.append(f"this process: {choice.handling}")
    lines.append(f"sent with pidfd_send_signal on the pidfd opened when process {target.pid} was selected")
    lines.extend("WARNING: " + w for w in choice.warnings)
    return lines


def _choice(target: Target, number: int) -> SignalChoice | None:
    try:
        return next((c for c in signal_choices(target) if c.number == number), None)
    except TargetError:
        return None


def _settled(effect: str | None) -> Callable[[ProcessState], bool]:
    if effect == "exit":
        return lambda s: not s.alive
    if effect == "stop":
        return lambda s: not s.alive or s.state == "T"
    if effect == "continue":
        return lambda s: not s.alive or s.state != "T"
    return lambda s: True


def send_signal(target: Target, name: str, policy: Policy, *, settle: float = _SETTLE) -> ActionResult:
    """Deliver signal `name` through the pinned pidfd, log it, and re-read the process (waiting
    up to `settle` seconds for an expected exit or stop). Never raises for a vanished process."""
    try:
        with target.in_use():
            return _send(target, name, policy, settle)
    except TargetError as exc:  # closed before we began
        res = ActionResult("signal", "pidfd_send_signal", exc.outcome, str(exc))
        return policy.conclude(res, target=target, extra={"signal": name})


def _send(target: Target, name: str, policy: Policy, settle: float) -> ActionResult:
    method = "pidfd_send_signal"
    try:
        number, canon = resolve_signal(name)
    except ValueError as exc:
        return policy.conclude(ActionResult("signal", method, R.BAD_REQUEST, str(exc)), target=target)
    extra = {"signal": canon, "number": number}

    def done(
        outcome: str, detail: str, process: ProcessState | None = None, findings: tuple[str, ...] = ()
    ) -> ActionResult:
        res = ActionResult("signal", method, outcome, detail, process=process, findings=findings)
        return policy.conclude(res, target=target, extra=extra)

    if policy.read_only:
        return done(R.READ_ONLY, f"stucktui runs read-only: {canon} was not sent")
    if (why := policy.audit.check_writable()) is not None:
        return ActionResult("signal", method, R.AUDIT_FAILED, f"{why}: {canon} was not sent")
    if (why := target.check()) is not None:
        return done(R.GONE, f"{why}: {canon} was not sent")
    if target.kernel_thread:
        return done(
            R.UNAVAILABLE,
            f"process {target.pid} ({target.comm}) is a kernel thread: stucktui does not signal those",
        )
    choice = _choice(target, number)
    try:
        with target.pidfd() as pidfd:
            signal.pidfd_send_signal(pidfd, number)
    except TargetError as exc:
        return done(exc.outcome, str(exc))
    except ProcessLookupError:
        return done(R.GONE, f"process {target.pid} has exited: {canon} was not sent")
    except PermissionError:
        return done(
            R.NO_PERMISSION,
            f"not permitted to signal process {target.pid} (user {target.user}): run as its owner or root",
        )
    except OSError as exc:
        reason = "not supported by this kernel" if exc.errno == errno.ENOSYS else exc.strerror
        return done(R.FAILED, f"pidfd_send_signal failed: {reason}")
    state = wait_for(target, _settled(choice.effect if choice else None), settle)
    return done(
        R.DELIVERED,
        f"{canon} ({number}) delivered to process {target.pid} through its pidfd.",
        process=state,
        findings=_findings(canon, choice, state, settle),
    )


def _findings(name: str, choice: SignalChoice | None, state: ProcessState, settle: float) -> tuple[str, ...]:
    if not state.alive:
        return ("The process has exited.",)
    out = []
    if name in state.pending_blocked:
        out.append(f"{name} is pending and blocked: the process has not taken it yet.")
    elif choice is not None and choice.effect == "exit":
        out.append(f"The process is still running after {settle:g} s.")
    if state.state == "T":
        out.append("The process is stopped (state T); SIGCONT resumes it.")
    return tuple(out)
