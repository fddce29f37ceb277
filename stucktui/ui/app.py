"""The Textual app: owns the sampler loop and switches between the list and process views.

Attributes down, messages up: the app hands each snapshot to every SnapshotScreen on the stack
(ui/view.py); screens and widgets ask for things with messages (ui/messages.py), handled by the
on_* methods below. What one refresh reads is planned by stucktui.inspection.request.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from textual import events
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.constants import TEXTUAL_ANIMATIONS
from textual.css.query import NoMatches
from textual.screen import Screen

from stucktui.inspection.gcpause import IdlePasses
from stucktui.inspection.request import (
    LANES,
    TRIAGE_EVERY,
    Cadence,
    Lane,
    SampleRequest,
    ViewState,
    plan_lanes,
    plan_prefetch,
)
from stucktui.inspection.sampler import Sampler
from stucktui.model.findings import TriageResult
from stucktui.model.process import ProcessDetail
from stucktui.model.snapshot import Snapshot
from stucktui.ui import messages as M
from stucktui.ui.lanes import LaneState, next_triage, read_fd_details, start_lane, status_text
from stucktui.ui.screens.help import HelpScreen
from stucktui.ui.screens.process_list import ProcessListScreen, permission_banner
from stucktui.ui.screens.triage import TriageScreen
from stucktui.ui.view import SnapshotScreen, ViewContext, hand_over


class StuckApp(App[int]):
    CSS_PATH = "stucktui.tcss"
    TITLE = "stucktui"
    SUB_TITLE = "what is this process stuck on?"
    # Ctrl+C quits, as in any terminal program (Textual's only says "press Ctrl+Q"); with text
    # selected, the screen's binding copies it first
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, system=True)]

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
        # no tab underline slide nor smooth scroll (frames beside a tab key's refresh) unless asked
        self.animation_level = TEXTUAL_ANIMATIONS if "TEXTUAL_ANIMATIONS" in os.environ else "none"
        from stucktui.ui.action_flows import ActionFlows

        self.read_only = read_only
        self.actions = ActionFlows(self, read_only)
        if read_only:
            self.sub_title = "READ-ONLY: signals and fd closing are refused (and logged)"
            # the footer says so on every screen
            self.bind("f12", "read_only_info", description="READ-ONLY: actions refused", key_display="RO")
        self.monotonic, self.interval, self.start_pid, self.clock = monotonic, interval, start_pid, clock
        self.sampler = sampler or Sampler.for_path(proc, clock=clock, monotonic=monotonic)
        self.paused = False
        self.euid = os.geteuid() if euid is None else euid
        self.selected: tuple[int, int | None] | None = None
        self.last: Snapshot | None = None
        self.lanes: dict[Lane, LaneState] = {lane: LaneState() for lane in LANES}
        self._process_pinned = False  # the process lane holds a process (inspection.request)
        self._generation = 0  # bumped when the selection changes, so stale samples are dropped
        self._ahead_for: tuple[int, int | None] | None = None  # the process whose tabs were read ahead
        self.list_screen = ProcessListScreen(permission_banner(self.euid))
        self.last_triage: TriageResult | None = None
        self.cadence = Cadence()  # refreshes since the last py-spy dump and the last triage
        self.pyspy_blocking, self.triage_at_start = False, triage_at_start
        self.pyspy_native = False  # py-spy --native: C frames between the Python ones
        self.kernel_stacks = False  # read /proc/PID/task/TID/stack each refresh (root only)
        self.gc_passes = IdlePasses()  # full garbage collections while no key comes

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
        self.set_interval(1.0, self._tick_status)
        self.call_after_refresh(lambda: self.gc_passes.take_over(time.monotonic()))  # screens exist
        if self.start_pid is not None:
            self.open_process(self.start_pid, None, started_on=True)  # which starts both lanes
            return
        if self.triage_at_start:
            triage = TriageScreen()
            triage.started_on = True  # q quits there, Esc goes to the list
            self.push_screen(triage)
        self.request_sample()

    def on_unmount(self) -> None:
        self.sampler.close()
        self.gc_passes.give_back()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent) and (screen := self.current_screen) is not None:
            self.gc_passes.input(time.monotonic())  # full collections wait for a pause, and
            self.sampler.turns.input()  # the box lane for the frame (inspection/turns.py)
            screen.call_after_refresh(self.sampler.turns.painted)
        await super().on_event(event)

    # -- sampling -----------------------------------------------------------------------------
    def view_state(self) -> ViewState:
        """What is on screen and how it is set: all the sampler's plan needs."""
        screen = self.current_screen
        shown = screen if isinstance(screen, SnapshotScreen) else None
        return ViewState(
            view=shown.VIEW if shown is not None else "other",
            tab=shown.tab if shown is not None else None,
            selected=self.selected,
            have_snapshot=self.lanes["box"].last_done is not None,  # a box refresh came
            have_list=self.last is not None and self.last.processes is not None,
            have_panels=shown.panels_read if shown is not None else frozenset(),
            paused=self.paused,
            pyspy_blocking=self.pyspy_blocking,
            pyspy_native=self.pyspy_native,
            kernel_stacks=self.kernel_stacks,
            process_pinned=self._process_pinned,
            triage_rest=self.lanes["box"].triage_rest(self.monotonic()),
        )

    def request_sample(self, lanes: Iterable[Lane] = LANES) -> None:
        """Start the next refresh of each lane asked for, each in a thread of its own (a busy one
        runs again as soon as it ends). A /proc read that hangs holds up only its lane: the
        screen and keys stay live, the status line says so, and quitting does not wait for it."""
        idle = frozenset(n for n in lanes if self.lanes[n].since is None)
        if "process" in set(lanes) - idle:
            self.sampler.hurry()  # a read-ahead under way gives way to what is asked now
        self.lanes["process"].again |= "process" in set(lanes) - idle  # the box's timer is soon enough
        plan = plan_lanes(self.view_state(), self.cadence, idle) if idle else None
        if plan is None:  # paused, or nothing idle
            return
        self.cadence = plan.cadence
        if plan.process is not None:
            self._process_pinned = plan.process.selected is not None
            self._start("process", plan.process)
        elif "process" in idle:
            self._schedule_next("process")  # nothing to refresh now: look again later
        if plan.box is not None:
            self._start("box", plan.box)
        elif "box" in idle:
            self._schedule_next("box")

    def _start(self, lane: Lane, request: SampleRequest) -> None:
        state = self.lanes[lane]
        state.stop_timer()
        state.again = False
        state.since = self.monotonic()
        start_lane(self.sampler, lane, request, self.post_message, self.monotonic, self._generation)

    def _schedule_next(self, lane: Lane) -> None:
        state = self.lanes[lane]
        state.stop_timer()
        if state.again:  # asked for while it ran (a key press): now, not an interval later
            state.again = False
            self.request_sample((lane,))
            return
        # the timer is armed only after a refresh finished, so refreshes never pile up
        state.timer = self.set_timer(self.interval, lambda: self.request_sample((lane,)))

    sample_now = request_sample

    def on_snapshot_ready(self, msg: M.SnapshotReady) -> None:
        state = self.lanes[msg.lane]
        if msg.final:
            state.since = None
            state.last_done = msg.finished
            state.last_duration = msg.finished - msg.started
        # the selection changed meanwhile: its detail is stale, the box's triage is not
        snap = msg.snapshot if msg.generation == self._generation else msg.snapshot.without_process()
        self.last = snap.over(self.last)
        self._learn_identity(snap)
        if snap.triage is not None:  # its refresh's time sets when the next may run (TRIAGE_SHARE)
            self.last_triage = snap.triage
            state.triaged(msg.started, msg.finished)
        context = ViewContext(self.clock(), self.freshness(), self.kernel_stacks)
        hand_over(self.screen_stack, snap, context)  # each view takes what it shows
        if msg.shown is not None:
            self.call_after_refresh(msg.shown.set)  # the lane goes on once this is painted
        if not msg.final:
            return
        if snap.findings is not None and msg.lane == "process" and self._ahead_for != self.selected:
            self._ahead_for = self.selected  # its first findings: once painted, read the other tabs
            self.call_after_refresh(self._read_ahead)
        else:
            self._schedule_next(msg.lane)
        self._tick_status()  # the triage's header counts down from now

    def _read_ahead(self) -> None:
        """The tabs of the open process not shown yet, read once (plan_prefetch), unless a key
        asked for a refresh meanwhile; then the refreshes go on as timed."""
        state = self.lanes["process"]
        plan = plan_prefetch(self.view_state()) if self.selected == self._ahead_for else None
        if state.since is None and plan is not None and not state.again:
            self._start("process", plan)
        elif state.since is None:
            self._schedule_next("process")

    def _learn_identity(self, snap: Snapshot) -> None:
        """A process opened by pid alone (`--pid`) is, from its first refresh on, that process:
        (pid, start time). Once it exits, its pid never brings in the next process to get it."""
        d = snap.detail
        sel = self.selected
        if isinstance(d, ProcessDetail) and snap.selected_pid == d.pid and sel == (d.pid, None):
            self.selected = (d.pid, d.starttime_ticks)
            self.actions.pin(*self.selected)  # and actions go to that one, or are refused

    def on_sample_failed(self, msg: M.SampleFailed) -> None:
        self.lanes[msg.lane].since = None
        self.notify(msg.error, title="sampling failed", severity="error", markup=False)
        self._schedule_next(msg.lane)

    def freshness(self) -> str:
        """The status line: when the view's lane refreshed, what is slow and why (ui/lanes.py)."""
        if self.paused:
            return "PAUSED (p resumes)"
        from stucktui.ui.screens.process import ProcessScreen  # preloaded (ui/preload.py)

        on_box = self.selected is None or not isinstance(self.current_screen, ProcessScreen)
        return status_text(
            self.lanes,
            self.sampler,
            self.monotonic(),
            self.interval,
            (self.last.processes if self.last else None, self.last_triage) if on_box else None,
            process_view=self.selected is not None,
            read_only=self.read_only,
        )

    def _tick_status(self) -> None:
        self.gc_passes.tick(time.monotonic())
        screen = self.current_screen
        if not isinstance(screen, SnapshotScreen) or not screen.is_mounted:
            return  # a timer can fire while a screen is still being composed
        try:
            if isinstance(screen, TriageScreen):  # its header counts down to the next triage
                box, now = self.lanes["box"], self.monotonic()
                screen.show_next(next_triage(box, self.cadence, self.interval, now, self.paused))
            screen.update_status(self.freshness())
        except NoMatches:
            return  # ... or while it is being taken down (the app is exiting)

    def on_pause_toggled(self, _: M.PauseToggled) -> None:
        self.paused = not self.paused
        if self.paused:
            for lane in self.lanes.values():
                lane.stop_timer()
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
        pausing = "pausing (consistent stacks; stops the process briefly)"
        self.notify(f"py-spy mode: {pausing if self.pyspy_blocking else 'nonblocking'}", timeout=3)
        self._python_now()

    def on_pyspy_native_toggled(self, _: M.PyspyNativeToggled) -> None:
        self.pyspy_native = not self.pyspy_native
        native = "with native (C) frames; py-spy pauses the process briefly to read them"
        self.notify(f"py-spy stacks: {native if self.pyspy_native else 'Python frames only'}", timeout=4)
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
        self,
        pid: int,
        starttime: int | None,
        tab: str | None = None,
        *,
        replace: bool = False,
        started_on: bool = False,
    ) -> None:
        from stucktui.ui.screens.process import ProcessScreen  # preloaded (ui/preload.py)

        current = self.current_screen
        if replace and isinstance(current, ProcessScreen):
            started_on = current.started_on  # q still quits there
            self.pop_screen()  # the exited process's view gives way to the new one
        if self.selected is not None and (self.selected[0] != pid or replace):
            self.actions.unpin(self.selected[0])  # from a process's Why stuck?, or its successor
        self.selected = (pid, starttime)
        self._generation += 1
        self.actions.pin(pid, starttime)  # the pidfd every action on it will use
        screen = ProcessScreen(pid, starttime, tab)
        screen.started_on = started_on
        self.push_screen(screen)
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
        if read_fd_details(self.sampler, msg, starttime):  # every fd: only noted, for the refresh
            self.sample_now()

    def on_native_backtrace_requested(self, msg: M.NativeBacktraceRequested) -> None:
        """gdb stops the process while it reads the stacks: say so, and go only on y."""
        from stucktui.inspection.backtrace import take_backtrace
        from stucktui.ui.screens.backtrace import ask_backtrace

        ask_backtrace(self, msg.pid, msg.name, lambda: take_backtrace(msg.pid, self.sampler.root))

    def on_backtrace_ready(self, msg: M.BacktraceReady) -> None:
        from stucktui.ui.screens.backtrace import BacktraceScreen

        self.push_screen(BacktraceScreen(msg.result))

    def action_read_only_info(self) -> None:
        self.notify("stucktui runs --read-only: signals and fd closing are refused and logged", timeout=4)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from stucktui.ui.palette import key_commands

        yield from key_commands(screen, self.call_later)
        yield from super().get_system_commands(screen)
