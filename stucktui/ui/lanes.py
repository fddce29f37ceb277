"""The sampler's two lanes as the UI thread sees them, and the status line's words for them.

Each lane (stucktui.inspection.request.Lane) has its own worker thread and timer: the process
lane refreshes the open process, the box lane the process list, the triage and the box's
sockets. The status line says what is slow and why, with numbers, and that a read is blocked
only when one step of a lane has not returned for long (Progress.stalled): a box scan that
takes 11 s on a sick box is slow, not blocked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from textual.message import Message
from textual.timer import Timer

from stucktui.inspection.deadline import Progress
from stucktui.inspection.memory import limit_arenas, release_freed
from stucktui.inspection.request import Cadence, Lane, SampleRequest, triage_in, triage_rest
from stucktui.inspection.sampler import Sampler
from stucktui.model.findings import TriageResult
from stucktui.model.process import ProcessListSnapshot
from stucktui.model.snapshot import Snapshot
from stucktui.ui import messages as M

LATE_AFTER = 1.0  # seconds past the interval before one read of the open process is called blocked
SLOW_BOX = 1.0  # seconds: a box refresh this long is named on the status line
BOX_BLOCKED_AFTER = 10.0  # seconds one box step runs, at least, before it is called blocked
BOX_BLOCKED_FIRST = 30.0  # ... when no box refresh finished yet (a first scan of a sick box)


@dataclass
class LaneState:
    """One lane's refreshes (UI thread only): the one under way, the last one, the next."""

    since: float | None = None  # monotonic start of the refresh under way
    last_done: float | None = None
    last_duration: float = 0.0
    timer: Timer | None = None
    again: bool = False  # asked for while one ran: the next starts as soon as it ends
    triage_done: float | None = None  # the box lane's last triage refresh: when it ended
    triage_took: float = 0.0  # ... and how long it took

    def triaged(self, started: float, finished: float) -> None:
        """A refresh that brought a triage: it sets when the next may run (TRIAGE_SHARE)."""
        self.triage_done, self.triage_took = finished, finished - started

    def triage_rest(self, now: float) -> float:
        """Seconds the triages' share of the time still asks the next one to wait."""
        return triage_rest(self.triage_done, self.triage_took, now)

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None


def next_triage(box: LaneState, cadence: Cadence, interval: float, now: float, paused: bool) -> float | None:
    """Seconds until the box lane's next triage starts (the triage header's countdown)."""
    running = box.since is not None
    return triage_in(
        cadence, interval, box.last_done, now, running=running, paused=paused, rest=box.triage_rest(now)
    )


def blocked_line(progress: Progress, seconds: float) -> str:
    return f"waiting {seconds:.0f}s for /proc: {progress.now} (a hung filesystem?; keys still work, q quits)"


def process_blocked(lane: LaneState, progress: Progress, late_after: float) -> str | None:
    """The process lane's 'waiting Ns for ...' when one of its reads has not returned for
    late_after seconds, else None."""
    stalled = progress.stalled()
    if lane.since is None or stalled <= late_after:
        return None
    return blocked_line(progress, stalled)


def box_news(
    lane: LaneState,
    progress: Progress,
    now: float,
    plist: ProcessListSnapshot | None,
    triage: TriageResult | None,
    interval: float,
) -> str | None:
    """What the box lane is slow at, with numbers: blocked when one step has run far longer
    than the last whole box refresh took; running, when a refresh is late; else the last
    slow scan and triage ('box scan: 11.2 s for 5,140 processes'); None when quick."""
    if lane.since is not None:
        stalled = progress.stalled()
        limit = (
            BOX_BLOCKED_FIRST if lane.last_done is None else max(BOX_BLOCKED_AFTER, 3 * lane.last_duration)
        )
        if stalled > limit:
            return blocked_line(progress, stalled)
        running = now - lane.since
        if running > max(interval, SLOW_BOX):
            return f"box scan running {running:.0f} s: {progress.now}"
    parts = []
    if plist is not None and plist.duration >= SLOW_BOX:
        parts.append(f"box scan: {plist.duration:.1f} s for {len(plist.rows):,} processes")
    if triage is not None and triage.duration >= SLOW_BOX:
        parts.append(f"triage: {triage.duration:.0f} s, {triage.suspects:,} suspects looked at")
    return " · ".join(parts) or None


PAINT_WAIT = 1.0  # seconds a lane waits for the UI to paint the panels it posted


def start_lane(
    sampler: Sampler,
    lane: Lane,
    request: SampleRequest,
    post_message: Callable[[Message], object],
    monotonic: Callable[[], float],
    generation: int,
) -> None:
    """One refresh of `lane` in a daemon thread of its own; its snapshots (the process lane's
    partial ones first) and failure come back as messages."""
    started = monotonic()

    def post(snap: Snapshot, final: bool = False) -> None:
        if final or snap.panels is None:
            post_message(M.SnapshotReady(snap, started, monotonic(), generation, lane, final))
            return
        # the panels a key asked for: the lane's next work (the findings, pure Python) would
        # share the interpreter with the UI thread painting them, so it waits for that frame
        shown = threading.Event()
        post_message(M.SnapshotReady(snap, started, monotonic(), generation, lane, final, shown))
        shown.wait(PAINT_WAIT)

    def run() -> None:
        try:
            # by keyword: wrappers that pass **kw through (bench/sick_tui.py) keep working
            if lane == "process":
                snap = sampler.sample_process(request=request, post=post)
            else:
                snap = sampler.sample_box(request=request)
        except Exception as exc:  # never let a sampler bug kill the UI
            post_message(M.SampleFailed(f"{type(exc).__name__}: {exc}", lane))
            return
        post(snap, final=True)
        release_freed()  # what the refresh allocated and dropped: RSS does not stay at its peak

    limit_arenas()  # before the first worker allocates: its garbage stays in a shared arena
    threading.Thread(target=run, name=f"stucktui-{lane}-lane", daemon=True).start()


def read_fd_details(sampler: Sampler, msg: M.FdDetailsWanted, starttime: int | None) -> bool:
    """The Files table scrolled to rows not read yet: read them in a thread of their own (a
    refresh may be under way), the rows posted back to the table. Every fd (msg.fds None):
    only noted, no /proc read here; True: the caller asks for a refresh, which reads them."""
    if msg.fds is None:
        sampler.fd_details(msg.pid, starttime, None)
        return True
    fds = msg.fds

    def run() -> None:
        files = sampler.fd_details(msg.pid, starttime, fds)
        if files is not None:
            msg.reply_to.post_message(M.FdDetailsReady(msg.pid, files))

    threading.Thread(target=run, name="stucktui-fds", daemon=True).start()
    return False


def status_text(
    lanes: Mapping[Lane, LaneState],
    sampler: Sampler,
    now: float,
    interval: float,
    box_shown: tuple[ProcessListSnapshot | None, TriageResult | None] | None,
    *,
    process_view: bool,
    read_only: bool,
) -> str:
    """'refreshed 1s ago in 40 ms, every 2s' of the lane the view shows (the process lane
    while a process is open), then the box lane's news: its last slow scan and triage when
    box_shown (the list, the triage of a list view), and while one runs late, what it reads."""
    lane, box = lanes["process" if process_view else "box"], lanes["box"]
    if process_view:
        blocked = process_blocked(lane, sampler.progress, interval + LATE_AFTER)
        if blocked is not None:
            return blocked
    plist, triage = box_shown if box_shown is not None else (None, None)
    news = box_news(box, sampler.box_progress, now, plist, triage, interval)
    if news is not None and news.startswith("waiting"):
        return news
    if lane.last_done is None:
        line = "collecting…"
    else:
        ro = "READ-ONLY · " if read_only else ""
        took = lane.last_duration * 1000
        line = f"{ro}refreshed {now - lane.last_done:.0f}s ago in {took:.0f} ms, every {interval:g}s"
    return f"{line} · {news}" if news else line
