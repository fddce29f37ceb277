"""The Textual app: owns the sampler loop and switches between the list and process views.

Attributes down, messages up: the app hands each snapshot to every SnapshotScreen on the stack
(ui/view.py); screens and widgets ask for things with messages (ui/messages.py), handled by the
on_* methods below. What one refresh reads is planned by stucktui.inspection.request.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from textual.app import App, ScreenStackError, SystemCommand
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer

from stucktui.inspection.deadline import Progress
from stucktui.inspection.memory import release_freed
from stucktui.inspection.request import TRIAGE_EVERY, Cadence, ViewState, plan_sample
from stucktui.inspection.sampler import Sampler
from stucktui.model.findings import TriageResult
from stucktui.model.process import ProcessDetail
from stucktui.model.snapshot import Snapshot
from stucktui.ui import messages as M
from stucktui.ui.screens.help import HelpScreen
from stucktui.ui.screens.process_list import ProcessListScreen
from stucktui.ui.screens.triage import TriageScreen
from stucktui.ui.view import SnapshotScreen, ViewContext

LATE_AFTER = 1.0  # seconds past the interval before the status line says the sampler is late


class StuckApp(App[int]):
    CSS_PATH = "stucktui.tcss"
    TITLE = "stucktui"
    SUB_TITLE = "what is this process stuck on?"

    def __init__(
        self,
        *,
        interval: float = 2.0,
        start_pid: int | None = None,
        proc: str = "/proc",
        sampler: Sampler | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        euid: int | None = None,
        read_only: bool = False,
        triage_at_start: bool = False,
    ) -> None:
        """proc: the /proc to read (the sampler is built on it), unless a sampler is given."""
        super().__init__()
        from stucktui.ui.action_flows import ActionFlows

        self.read_only = read_only
        self.actions = ActionFlows(self, read_only)
        if read_only:
            self.sub_title = "READ-ONLY: signals and fd closing are refused (and logged)"
            # the footer says so on every screen
            self.bind("f12", "read_only_info", description="READ-ONLY: actions refused", key_display="RO")
        self.monotonic = monotonic
        self.interval = interval
        self.start_pid = start_pid
        self.clock = clock
        self.sampler = sampler or Sampler.for_path(proc, clock=clock, monotonic=monotonic)
        self.paused = False
        self.euid = os.geteuid() if euid is None else euid
        self.selected: tuple[int, int | None] | None = None
        self.last: Snapshot | None = None
        self._sampling_since: float | None = None
        self._last_done: float | None = None
        self._last_duration = 0.0
        self._timer: Timer | None = None
        self._generation = 0  # bumped when the selection changes, so stale samples are dropped
        self.list_screen = ProcessListScreen(self.permission_banner)
        self.last_triage: TriageResult | None = None
        self.cadence = Cadence()  # refreshes since the last py-spy dump and the last triage
        self.pyspy_blocking = False
        self.triage_at_start = triage_at_start
        self.pyspy_native = False  # py-spy --native: C frames between the Python ones
        self.kernel_stacks = False  # read /proc/PID/task/TID/stack each refresh (root only)

    @property
    def permission_banner(self) -> str:
        if self.euid == 0:
            return ""
        return (
            "Not running as root: other users' processes show no open fds, exe, cwd, syscalls or "
            "stacks, and actions on them are refused. Run `sudo stucktui` to see everything."
        )

    @property
    def current_screen(self) -> Screen[Any] | None:
        """The active screen, or None while the app starts or shuts down (timers and sampler
        messages can arrive then)."""
        try:
            return self.screen
        except ScreenStackError:
            return None

    # -- lifecycle ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.push_screen(self.list_screen)
        if self.start_pid is not None:
            self.open_process(self.start_pid, None)
        elif self.triage_at_start:
            self.push_screen(TriageScreen())
        self.request_sample()
        self.set_interval(1.0, self._tick_status)

    def on_unmount(self) -> None:
        self.sampler.close()

    # -- sampling -----------------------------------------------------------------------------
    def view_state(self) -> ViewState:
        """What is on screen and how it is set: all the sampler's plan needs."""
        screen = self.current_screen
        shown = screen if isinstance(screen, SnapshotScreen) else None
        return ViewState(
            view=shown.VIEW if shown is not None else "other",
            tab=shown.tab if shown is not None else None,
            selected=self.selected,
            have_snapshot=self.last is not None,
            have_list=self.last is not None and self.last.processes is not None,
            paused=self.paused,
            pyspy_blocking=self.pyspy_blocking,
            pyspy_native=self.pyspy_native,
            kernel_stacks=self.kernel_stacks,
        )

    def request_sample(self) -> None:
        """Start one sample in a daemon thread unless one is already running. A /proc read that
        hangs holds up only that thread: the screen and keys stay live, the status line says so,
        and quitting does not wait for it."""
        if self._sampling_since is not None:
            return
        plan = plan_sample(self.view_state(), self.cadence)
        if plan is None:  # paused
            return
        request, self.cadence = plan
        generation = self._generation
        self._sampling_since = self.monotonic()

        def run() -> None:
            started = self.monotonic()
            try:
                # by keyword: wrappers that pass **kw through (bench/proclist_tui.py) keep working
                snap = self.sampler.sample(request=request)
            except Exception as exc:  # never let a sampler bug kill the UI
                self.post_message(M.SampleFailed(f"{type(exc).__name__}: {exc}"))
                return
            self.post_message(M.SnapshotReady(snap, started, self.monotonic(), generation))
            release_freed()  # what the refresh allocated and dropped: RSS does not stay at its peak

        threading.Thread(target=run, name="stucktui-sampler", daemon=True).start()

    def _schedule_next(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        # the timer is armed only after a sample finished, so samples never pile up
        self._timer = self.set_timer(self.interval, self.request_sample)

    def sample_now(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.request_sample()

    def on_snapshot_ready(self, msg: M.SnapshotReady) -> None:
        self._sampling_since = None
        self._last_done = msg.finished
        self._last_duration = msg.finished - msg.started
        snap = msg.snapshot
        if msg.generation != self._generation:
            # the selection changed meanwhile: its detail is stale, the box's triage is not
            snap = Snapshot(snap.processes, None, None, triage=snap.triage)
        self.last = Snapshot(
            snap.processes or (self.last.processes if self.last else None), snap.detail, snap.selected_pid
        )
        self._learn_identity(snap)
        if snap.triage is not None:
            self.last_triage = snap.triage
        context = ViewContext(self.clock(), self.freshness(), self.kernel_stacks)
        for screen in self.screen_stack:  # each view takes what it shows
            if isinstance(screen, SnapshotScreen):
                screen.show_snapshot(snap, context)
        self._schedule_next()

    def _learn_identity(self, snap: Snapshot) -> None:
        """A process opened by pid alone (`--pid`) is, from its first refresh on, that process:
        (pid, start time). Once it exits, its pid never brings in the next process to get it."""
        d = snap.detail
        sel = self.selected
        if isinstance(d, ProcessDetail) and snap.selected_pid == d.pid and sel == (d.pid, None):
            self.selected = (d.pid, d.starttime_ticks)
            self.actions.pin(*self.selected)  # and actions go to that one, or are refused

    def on_sample_failed(self, msg: M.SampleFailed) -> None:
        self._sampling_since = None
        self.notify(msg.error, title="sampling failed", severity="error", markup=False)
        self._schedule_next()

    def freshness(self) -> str:
        if self.paused:
            return "PAUSED (p resumes)"
        if self._sampling_since is not None:
            waited = self.monotonic() - self._sampling_since
            if waited > self.interval + LATE_AFTER:
                progress = getattr(self.sampler, "progress", None)  # what the blocked refresh reads
                what = f": {progress.now}" if isinstance(progress, Progress) else ""
                return f"waiting {waited:.0f}s for /proc{what} (a hung filesystem?; keys still work, q quits)"
        if self._last_done is None:
            return "collecting…"
        ago = self.monotonic() - self._last_done
        ro = "READ-ONLY · " if self.read_only else ""
        took = self._last_duration * 1000
        return f"{ro}refreshed {ago:.0f}s ago in {took:.0f} ms, every {self.interval:g}s"

    def _tick_status(self) -> None:
        screen = self.current_screen
        if not isinstance(screen, SnapshotScreen) or not screen.is_mounted:
            return  # a timer can fire while a screen is still being composed
        try:
            screen.update_status(self.freshness())
        except NoMatches:
            return  # ... or while it is being taken down (the app is exiting)

    def on_pause_toggled(self, _: M.PauseToggled) -> None:
        self.paused = not self.paused
        if self.paused:
            if self._timer is not None:
                self._timer.stop()
        else:
            self.request_sample()
        self._tick_status()

    def on_refresh_requested(self, _: M.RefreshRequested) -> None:
        self.sample_now()

    def on_python_stacks_requested(self, _: M.PythonStacksRequested) -> None:
        self._python_now()

    def _python_now(self) -> None:
        self.cadence = replace(self.cadence, python_requested=True)
        self.notify("taking Python stacks with py-spy…", timeout=2)
        self.sample_now()

    def on_pyspy_blocking_toggled(self, _: M.PyspyBlockingToggled) -> None:
        self.pyspy_blocking = not self.pyspy_blocking
        mode = (
            "pausing (consistent stacks; stops the process briefly)" if self.pyspy_blocking else "nonblocking"
        )
        self.notify(f"py-spy mode: {mode}", timeout=3)
        self._python_now()

    def on_pyspy_native_toggled(self, _: M.PyspyNativeToggled) -> None:
        self.pyspy_native = not self.pyspy_native
        state = (
            "with native (C) frames; py-spy pauses the process briefly to read them"
            if self.pyspy_native
            else "Python frames only"
        )
        self.notify(f"py-spy stacks: {state}", timeout=4)
        self._python_now()

    def on_kernel_stacks_toggled(self, _: M.KernelStacksToggled) -> None:
        self.kernel_stacks = not self.kernel_stacks
        if self.kernel_stacks and self.euid != 0:
            self.notify("kernel stacks need root: /proc/PID/task/TID/stack is root-only", severity="warning")
        else:
            self.notify(f"kernel stacks {'on' if self.kernel_stacks else 'off'}", timeout=2)
        self.sample_now()

    # -- navigation ---------------------------------------------------------------------------
    def open_process(
        self, pid: int, starttime: int | None, tab: str | None = None, *, replace: bool = False
    ) -> None:
        from stucktui.ui.screens.process import ProcessScreen  # preloaded (ui/preload.py)

        if replace and isinstance(self.current_screen, ProcessScreen):
            self.pop_screen()  # the exited process's view gives way to the new one
        if self.selected is not None and (self.selected[0] != pid or replace):
            self.actions.unpin(self.selected[0])  # from a process's Why stuck?, or its successor
        self.selected = (pid, starttime)
        self._generation += 1
        self.actions.pin(pid, starttime)  # the pidfd every action on it will use
        self.push_screen(ProcessScreen(pid, starttime, tab))
        self.sample_now()

    def on_open_process_requested(self, msg: M.OpenProcessRequested) -> None:
        self.open_process(msg.pid, msg.starttime, msg.tab, replace=msg.replace)

    def on_open_pid_requested(self, msg: M.OpenPidRequested) -> None:
        """From a view that knows only the pid: its start time comes from the last process
        list, so a pid reused since then reads as gone."""
        rows = self.last.processes.by_pid() if self.last and self.last.processes else {}
        row = rows.get(msg.pid)
        self.open_process(msg.pid, row.starttime_ticks if row else None, msg.tab)

    def on_triage_requested(self, _: M.TriageRequested) -> None:
        if not isinstance(self.current_screen, TriageScreen):
            screen = TriageScreen()
            self.push_screen(screen)
            if self.last_triage is not None:
                screen.update_triage(self.last_triage)
            else:  # none yet (the view opened on a process): run one now, not refreshes later
                self.cadence = replace(self.cadence, since_triage=TRIAGE_EVERY)
                self.sample_now()

    def on_box_sockets_requested(self, _: M.BoxSocketsRequested) -> None:
        from stucktui.ui.screens.box_sockets import BoxSocketsScreen  # preloaded (ui/preload.py)

        if not isinstance(self.current_screen, BoxSocketsScreen):
            self.push_screen(BoxSocketsScreen())
            self.sample_now()

    def on_close_process_requested(self, _: M.CloseProcessRequested) -> None:
        from stucktui.ui.screens.process import ProcessScreen

        if self.selected is not None:
            self.actions.unpin(self.selected[0])
        self.selected = None
        self._generation += 1
        if isinstance(self.current_screen, ProcessScreen):
            self.pop_screen()
        under = [s for s in self.screen_stack if isinstance(s, ProcessScreen)]
        if under:  # it was opened from another process's Why stuck?: back to that one
            s = under[-1]
            self.selected = (s.pid, s.detail.starttime_ticks if s.detail else s.starttime)
            self.actions.pin(*self.selected)
        self.sample_now()

    def on_help_requested(self, _: M.HelpRequested) -> None:
        if not isinstance(self.current_screen, HelpScreen):
            self.push_screen(HelpScreen())

    # -- actions on the open process ----------------------------------------------------------
    def on_signal_requested(self, msg: M.SignalRequested) -> None:
        self.actions.signal(msg.pid)

    def on_close_fd_requested(self, msg: M.CloseFdRequested) -> None:
        self.actions.close_fd(msg.pid, msg.fd)

    def on_fd_details_wanted(self, msg: M.FdDetailsWanted) -> None:
        """The Files table scrolled to rows not read yet: read them in a thread of their own (a
        refresh may be under way); every fd: the next refresh reads them, now."""
        if self.selected is None or self.selected[0] != msg.pid:
            return
        starttime = self.selected[1]
        if msg.fds is None:  # only noted (no /proc read here): the refresh reads them
            self.sampler.fd_details(msg.pid, starttime, None)
            self.sample_now()
            return

        def run() -> None:
            files = self.sampler.fd_details(msg.pid, starttime, msg.fds)
            if files is not None:
                msg.reply_to.post_message(M.FdDetailsReady(msg.pid, files))

        threading.Thread(target=run, name="stucktui-fds", daemon=True).start()

    def on_native_backtrace_requested(self, msg: M.NativeBacktraceRequested) -> None:
        """gdb stops the process while it reads the stacks: say so, and go only on y."""
        from stucktui.ui.screens.backtrace import confirm_backtrace

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_backtrace(msg.pid)

        self.push_screen(confirm_backtrace(msg.pid, msg.name), answered)

    def _run_backtrace(self, pid: int) -> None:
        from stucktui.inspection.backtrace import take_backtrace

        self.notify(f"gdb is reading the stacks of {pid}…", timeout=3)

        def run() -> None:
            self.post_message(M.BacktraceReady(take_backtrace(pid, self.sampler.root)))

        threading.Thread(target=run, name="stucktui-gdb", daemon=True).start()

    def on_backtrace_ready(self, msg: M.BacktraceReady) -> None:
        from stucktui.ui.screens.backtrace import BacktraceScreen

        self.push_screen(BacktraceScreen(msg.result))

    def action_read_only_info(self) -> None:
        self.notify("stucktui runs --read-only: signals and fd closing are refused and logged", timeout=4)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from stucktui.ui.keys import BOX_SOCKET_KEYS, DETAIL_KEYS, LIST_KEYS, WHY_STUCK_KEYS
        from stucktui.ui.screens.box_sockets import BoxSocketsScreen
        from stucktui.ui.screens.why_stuck import WhyStuckScreen

        keys = (
            LIST_KEYS
            if isinstance(screen, ProcessListScreen)
            else BOX_SOCKET_KEYS
            if isinstance(screen, BoxSocketsScreen)
            else WHY_STUCK_KEYS
            if isinstance(screen, WhyStuckScreen)
            else DETAIL_KEYS
        )
        for k in keys:
            if not k.palette or k.action == "quit":
                continue
            yield SystemCommand(
                k.help, f"key: {k.keys.split(',')[0]}", self._palette_action(screen, k.action)
            )
        yield from super().get_system_commands(screen)

    def _palette_action(self, screen: Screen[Any], action: str) -> Callable[[], None]:
        def run() -> None:
            self.call_later(screen.run_action, action)

        return run
