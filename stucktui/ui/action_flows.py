"""The action flows of the TUI: pick, confirm (naming the exact target), act in a worker
thread, show what the re-read found. Every step that touches the process runs off the UI
thread; every action, refusal and declined dialog lands in the audit log (stucktui.actions)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from stucktui.actions import results as R
from stucktui.actions.audit import Policy
from stucktui.ui.messages import RefreshRequested

# What acts, and its dialogs, load when first used: the actions in the worker threads below
# (before the UI thread needs their confirmations), the dialogs with the other views
# (ui/preload.py). The app builds ActionFlows at start-up, before its first paint.
if TYPE_CHECKING:
    from stucktui.actions.closefd import CloseMethod, CloseOptions
    from stucktui.actions.signals import SignalChoice
    from stucktui.actions.target import Target
    from stucktui.ui.app import StuckApp

_PIN_WAIT = 10.0  # seconds an action waits for the pidfd opened at selection


def _close_pinned(fut: Future[Target]) -> None:
    if fut.exception() is None:
        fut.result().close()


class ActionFlows:
    def __init__(self, app: StuckApp, read_only: bool) -> None:
        self.app = app
        self.policy = Policy(read_only=read_only)
        self._pins: dict[int, Future[Target]] = {}

    # -- the pidfd, opened when a process is selected -------------------------------------------
    def pin(self, pid: int, starttime: int | None) -> None:
        self.unpin(pid)
        fut: Future[Target] = Future()
        self._pins[pid] = fut

        def run() -> None:
            from stucktui.actions.target import Target

            try:
                fut.set_result(Target.open(pid, starttime, root=self.app.sampler.root))
            except BaseException as exc:  # TargetError, or anything unexpected: shown on use
                fut.set_exception(exc)

        threading.Thread(target=run, name="stucktui-pin", daemon=True).start()

    def unpin(self, pid: int) -> None:
        fut = self._pins.pop(pid, None)
        if fut is not None:
            fut.add_done_callback(_close_pinned)

    def _target(self, pid: int) -> Target:
        """In a worker: the pinned target, or TargetError saying why there is none."""
        from stucktui.actions.target import TargetError

        fut = self._pins.get(pid)
        if fut is None:
            raise TargetError(R.UNAVAILABLE, f"process {pid} is not selected")
        try:
            target = fut.result(timeout=_PIN_WAIT)
        except TimeoutError as exc:
            raise TargetError(R.UNAVAILABLE, f"process {pid}: opening a pidfd did not finish") from exc
        why = target.check()
        if why is not None:
            raise TargetError(R.GONE, why)
        return target

    # -- plumbing -------------------------------------------------------------------------------
    def _bg(self, work: Callable[[], Any], then: Callable[[Any], None], action: str, pid: int) -> None:
        def run() -> None:
            from stucktui.actions.target import TargetError

            try:
                out = work()
            except TargetError as exc:
                err = self.policy.record(
                    action=action, method=None, result=exc.outcome, detail=str(exc), pid=pid
                )
                lines = [str(exc), f"WARNING: {err}" if err else self._logged()]
                self.app.call_from_thread(self._show, f"{action}: nothing done", lines, False)
                return
            except Exception as exc:  # a bug must not take the UI down
                self.app.call_from_thread(
                    self._show, f"{action} failed", [f"{type(exc).__name__}: {exc}"], False
                )
                return
            self.app.call_from_thread(then, out)

        threading.Thread(target=run, name=f"stucktui-{action}", daemon=True).start()

    def _show(self, title: str, lines: list[str], ok: bool) -> None:
        from stucktui.ui.screens.actions import ResultScreen

        self.app.push_screen(ResultScreen(title, lines, ok))

    def _logged(self) -> str:
        return f"logged: one line in {self.policy.audit.path} and in syslog (authpriv)"

    def _done(self, result: R.ActionResult) -> None:
        title = f"{result.action}: {result.outcome}"
        logged = not result.audit_error and result.outcome != R.AUDIT_FAILED
        self._show(title, [*result.lines(), *([self._logged()] if logged else [])], result.ok)
        # re-read the process now, with the box's socket tables dumped again: a socket just shut
        # down must not stay on screen as it was until the kept dumps age out
        self.app.sampler.after_action()
        self.app.post_message(RefreshRequested())

    def _refuse_read_only(self, action: str, pid: int, key: str, fd: int | None = None) -> bool:
        """--read-only: the action's key is refused at once with one line, before any chooser
        or confirmation; the refusal is logged (off the UI thread). False when not read-only."""
        if not self.policy.read_only:
            return False
        what = "signals" if action == "signal" else "closing fds"
        line = f"{key}: refused, stucktui runs --read-only ({what} and every other action are refused)"

        def run() -> None:
            err = self.policy.record(
                action=action, method=None, result=R.READ_ONLY, detail=f"{key} pressed: {line}", pid=pid,
                extra={"fd": fd} if fd is not None else None,
            )  # fmt: skip
            where = f"; {err}" if err else f"; logged in {self.policy.audit.path}"
            self.app.call_from_thread(self.app.notify, line + where, title="read-only", severity="warning")

        threading.Thread(target=run, name="stucktui-refusal", daemon=True).start()
        return True

    # -- send a signal --------------------------------------------------------------------------
    def signal(self, pid: int) -> None:
        if self._refuse_read_only("signal", pid, "k"):
            return

        def load() -> tuple[Target, list[SignalChoice]]:
            from stucktui.actions.signals import signal_choices

            target = self._target(pid)
            return target, signal_choices(target)

        self._bg(load, self._pick_signal, "signal", pid)

    def _pick_signal(self, loaded: tuple[Target, list[SignalChoice]]) -> None:
        target, choices = loaded
        from stucktui.ui.screens.actions import SignalPickerScreen

        def picked(choice: SignalChoice | None) -> None:
            if choice is not None:
                self._confirm_signal(target, choice)

        self.app.push_screen(SignalPickerScreen(target.describe(), choices), picked)

    def _confirm_signal(self, target: Target, choice: SignalChoice) -> None:
        from stucktui.actions.signals import send_signal, signal_confirmation
        from stucktui.ui.screens.actions import lines_text
        from stucktui.ui.screens.confirm import ConfirmScreen

        lines = signal_confirmation(target, choice)
        if self.policy.read_only:
            lines.append("stucktui runs --read-only: this will be refused and logged")

        def answered(yes: bool | None) -> None:
            if yes:
                self._bg(
                    lambda: send_signal(target, choice.name, self.policy), self._done, "signal", target.pid
                )
            else:
                self.policy.declined(target, "signal", "pidfd_send_signal", extra={"signal": choice.name})

        title = f"Send {choice.name} ({choice.number}) to process {target.pid}?"
        confirm = ConfirmScreen(title, lines_text(lines), f"Send {choice.name}", danger=bool(choice.warnings))
        self.app.push_screen(confirm, answered)

    # -- close a fd inside the process ------------------------------------------------------------
    def close_fd(self, pid: int, fd: int) -> None:
        if self._refuse_read_only("close-fd", pid, "c", fd):
            return

        def load() -> tuple[Target, CloseOptions]:
            from stucktui.actions.closefd import close_methods

            target = self._target(pid)
            return target, close_methods(target, fd)

        self._bg(load, self._pick_method, "close-fd", pid)

    def _pick_method(self, loaded: tuple[Target, CloseOptions]) -> None:
        target, options = loaded
        from stucktui.ui.screens.actions import CloseFdScreen

        def picked(method_id: str | None) -> None:
            method = options.method(method_id) if method_id else None
            if method is not None:
                self._confirm_close(target, options, method)

        self.app.push_screen(CloseFdScreen(target.describe(), options), picked)

    def _confirm_close(self, target: Target, options: CloseOptions, method: CloseMethod) -> None:
        from stucktui.actions.closefd import close_confirmation, close_fd
        from stucktui.ui.screens.actions import lines_text
        from stucktui.ui.screens.confirm import ConfirmScreen

        fd = options.facts.fd
        lines = close_confirmation(target, options, method)
        if method.argv is not None:
            lines.append("gdb stops every thread of the process while it runs (usually under a second)")
        if self.policy.read_only:
            lines.append("stucktui runs --read-only: this will be refused and logged")

        def answered(yes: bool | None) -> None:
            if yes:
                self._bg(
                    lambda: close_fd(target, fd, method.id, self.policy, expect_link=options.facts.link),
                    self._done,
                    "close-fd",
                    target.pid,
                )
            else:
                self.policy.declined(target, "close-fd", method.id, extra={"fd": fd})

        verb = "Shut down" if method.id.startswith("shutdown") else "Close"  # shutdown leaves the fd open
        title = f"{verb} fd {fd} of process {target.pid} with {method.id}?"
        confirm = ConfirmScreen(title, lines_text(lines), f"Run {method.id}", danger=True)
        self.app.push_screen(confirm, answered)
