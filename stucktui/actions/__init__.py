"""Actions on a target process: signals by name through a pidfd, closing an fd inside it, and the
audit log every action and refusal is written to. No textual, no rich: the UI and the CLI call
these from worker threads."""

from stucktui.actions.audit import AuditLog, Policy, default_audit_path
from stucktui.actions.closefd import (
    METHOD_IDS,
    CloseMethod,
    CloseOptions,
    close_confirmation,
    close_fd,
    close_methods,
)
from stucktui.actions.fdfacts import FdFacts
from stucktui.actions.results import ActionResult, FdAfter, ProcessState
from stucktui.actions.signals import (
    SignalChoice,
    resolve_signal,
    send_signal,
    signal_choices,
    signal_confirmation,
)
from stucktui.actions.target import Target, TargetError, read_state

__all__ = [
    "METHOD_IDS",
    "ActionResult",
    "AuditLog",
    "CloseMethod",
    "CloseOptions",
    "FdAfter",
    "FdFacts",
    "Policy",
    "ProcessState",
    "SignalChoice",
    "Target",
    "TargetError",
    "close_confirmation",
    "close_fd",
    "close_methods",
    "default_audit_path",
    "read_state",
    "resolve_signal",
    "send_signal",
    "signal_choices",
    "signal_confirmation",
]
