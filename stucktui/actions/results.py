"""What an action returns: its outcome in one word, plain-words detail, and what was re-read after."""

from __future__ import annotations

from dataclasses import dataclass

# Outcomes, as the UI shows them and the audit log's "result" field records them.
DELIVERED = "delivered"  # a signal reached the process (pidfd_send_signal returned 0)
DONE = "done"  # a close method ran and the re-read proved it worked
NOT_VERIFIED = "not verified"  # it ran, but the re-read does not show the expected change
FAILED = "failed"
NO_PERMISSION = "no permission"
GONE = "process gone"  # exited, or its pid now names another process
READ_ONLY = "refused: read-only"
UNAVAILABLE = "refused: unavailable"  # the method cannot work here (see the reason)
BAD_REQUEST = "refused: invalid request"  # unknown signal name, fd that is not a number
NOT_CONFIRMED = "refused: not confirmed"  # no --yes and no terminal to ask on
DECLINED = "declined"  # the user answered no
AUDIT_FAILED = "refused: audit log not writable"

REFUSALS = frozenset({READ_ONLY, UNAVAILABLE, BAD_REQUEST, NOT_CONFIRMED, DECLINED, AUDIT_FAILED})


@dataclass(frozen=True, slots=True)
class ProcessState:
    """The target re-read after an action."""

    alive: bool
    state: str | None  # stat field 3: R, S, D, T, t, Z...; None when gone
    state_name: str | None
    pending: tuple[str, ...] = ()  # SigPnd of the main thread | ShdPnd, by name
    pending_blocked: tuple[str, ...] = ()  # of those, blocked in the main thread

    def describe(self) -> str:
        if not self.alive:
            return "the process has exited"
        text = f"state {self.state} ({self.state_name})"
        if self.pending:
            text += "; pending: " + ", ".join(self.pending)
        if self.pending_blocked:
            text += " (blocked: " + ", ".join(self.pending_blocked) + ")"
        return text


@dataclass(frozen=True, slots=True)
class FdAfter:
    """fd and socket re-read after a close method."""

    fd: int
    link_before: str
    link_after: str | None  # None: the fd is closed
    socket_before: str | None  # 'CLOSE_WAIT 127.0.0.1:5 -> 127.0.0.1:6', None if not a socket
    socket_after: str | None  # state now, 'gone from the socket table', or None if not a socket
    read_shut: bool | None = None  # shutdown methods: POLLRDHUP seen on the socket afterwards
    write_shut: bool | None = None  # shutdown-both: POLLHUP (both directions shut)

    @property
    def fd_open(self) -> bool:
        return self.link_after is not None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The answer to one action request. `ok` only when the effect was verified."""

    action: str  # 'signal' or 'close-fd'
    method: str | None  # 'pidfd_send_signal', 'gdb-null', ...
    outcome: str  # one of the constants above
    detail: str  # plain words, one or more sentences
    command_run: str | None = None  # the exact argv run, shell-quoted; None when none ran
    process: ProcessState | None = None  # re-read after the action
    fd: FdAfter | None = None  # close-fd only
    findings: tuple[str, ...] = ()  # what the re-read showed, one line each
    audit_error: str | None = None  # the audit line could not be written

    @property
    def ok(self) -> bool:
        return self.outcome in (DELIVERED, DONE)

    @property
    def refused(self) -> bool:
        return self.outcome in REFUSALS

    def lines(self) -> list[str]:
        """The result in plain words, for a dialog or a terminal."""
        out = [f"{self.outcome}: {self.detail}"]
        if self.command_run:
            out.append(f"ran: {self.command_run}")
        out.extend(self.findings)
        if self.process is not None:
            out.append("process now: " + self.process.describe())
        if self.audit_error:
            out.append("WARNING: " + self.audit_error)
        return out
