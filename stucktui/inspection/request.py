"""What one refresh samples, decided from what the UI shows: a small frozen request, built by a
pure function (no Textual, no I/O) so the cadences and the panels per tab are unit-tested.

The UI describes its state in a ViewState (which view is on screen, which tab, the toggles) and
keeps a Cadence (refreshes since the last py-spy dump and the last triage); plan_sample turns
both into the SampleRequest that Sampler.sample takes, and the Cadence for the next refresh.
The TUI runs it in two lanes (Sampler.sample_process, Sampler.sample_box): plan_lanes splits
the plan into each idle lane's share; a lane not started keeps its counters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from stucktui.model.panels import ALL_PANELS

PYTHON_EVERY = 5  # refreshes between py-spy dumps while the Threads panel is open
TRIAGE_EVERY = 5  # refreshes between two box-wide triages (findings of every process)
# the share of the time the box's triages may take, at most: after a triage refresh that took
# T seconds the next waits (1 / share - 1) T, so on a sick box, where one takes seconds of a
# pegged core, stucktui does not add a core's tenth of its own for the FIND column
TRIAGE_SHARE = 0.1

# the sampler's two lanes: the open process, and the box (the list, the triage, its sockets)
Lane = Literal["process", "box"]
LANES: frozenset[Lane] = frozenset({"process", "box"})

# the view on screen: the process list, one process, the box-wide Sockets view, the box's
# findings, or anything else (help, a dialog over a view)
View = Literal["list", "process", "box_sockets", "triage", "other"]

_LIST_VIEWS: frozenset[str] = frozenset({"list", "box_sockets", "triage"})  # show the list's data
_TRIAGE_VIEWS: frozenset[str] = frozenset({"list", "triage"})  # show the triage's verdicts


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """One refresh's work. selected = (pid, starttime ticks or None); panels = the panel ids to
    collect for it; python = run py-spy this time (slow); nonblocking = py-spy without pausing
    the process; box_sockets = build the box-wide Sockets view; kernel_stacks = read each
    thread's kernel stack (root only); native = py-spy with native frames; triage = the
    findings of every process (slow)."""

    want_list: bool = True
    selected: tuple[int, int | None] | None = None
    panels: frozenset[str] = frozenset()
    python: bool = False
    nonblocking: bool = True
    box_sockets: bool = False
    kernel_stacks: bool = False
    native: bool = False
    triage: bool = False
    python_asked: bool = False  # y (or B, n) asked for stacks now: py-spy runs even after a hang
    # a read-ahead of tabs not yet shown (plan_prefetch): its panels only, no findings
    prefetch: bool = False


@dataclass(frozen=True, slots=True)
class ViewState:
    """What the UI shows and how it is set, as far as sampling cares."""

    view: View = "list"
    tab: str | None = None  # the process view's active panel
    selected: tuple[int, int | None] | None = None  # the open process: (pid, starttime)
    have_snapshot: bool = False  # a refresh has arrived
    have_list: bool = False  # ... and a process list with it
    have_panels: frozenset[str] = frozenset()  # the process view's panels whose data came
    paused: bool = False
    pyspy_blocking: bool = False  # py-spy pauses the process (consistent stacks)
    pyspy_native: bool = False  # py-spy --native
    kernel_stacks: bool = False  # /proc/PID/task/TID/stack each refresh
    # the process lane still holds a process that is no longer selected: one more process
    # refresh with no selection lets it go
    process_pinned: bool = False
    triage_rest: float = 0.0  # seconds the triage's share of the time still asks to wait


@dataclass(frozen=True, slots=True)
class Cadence:
    """The every-N counters; the first look at Threads takes stacks, the first refresh triages."""

    python_requested: bool = False  # y was pressed: py-spy on the next refresh
    since_python: int = PYTHON_EVERY
    since_triage: int = TRIAGE_EVERY


def triage_in(
    cadence: Cadence,
    interval: float,
    last_done: float | None,
    now: float,
    *,
    running: bool = False,
    paused: bool = False,
    rest: float = 0.0,
) -> float | None:
    """Seconds until the refresh that triages starts, by the UI's clock, while a view showing
    the triage is on screen; None while paused. The next refresh starts `interval` after the
    last one ended (`last_done`), or after the one `running` now (which triages when it reset
    since_triage); then one every `interval` (the time refreshes take is not counted), and
    not before `rest` seconds (triage_rest: the triages' share of the time)."""
    if paused:
        return None
    if running and cadence.since_triage == 0:
        return 0.0
    wait = interval if running else 0.0 if last_done is None else last_done + interval - now
    return max(rest, max(0.0, wait) + max(0, TRIAGE_EVERY - cadence.since_triage) * interval)


def triage_rest(done: float | None, took: float, now: float) -> float:
    """Seconds before the triage's share of the time (TRIAGE_SHARE) allows the next one, after
    the last triage refresh ended at `done` having taken `took` seconds (None: none yet)."""
    if done is None:
        return 0.0
    return max(0.0, done + took * (1 / TRIAGE_SHARE - 1) - now)


def panels_for_tab(tab: str | None) -> frozenset[str]:
    """The panel data a process view tab needs (only that is collected each refresh; the
    findings read what else their rules need). The Overview needs none."""
    return frozenset({tab}) if tab in ALL_PANELS else frozenset()


def plan_sample(state: ViewState, cadence: Cadence) -> tuple[SampleRequest, Cadence] | None:
    """The request for the next refresh and the cadence after it, or None while paused."""
    if state.paused:
        return None
    on_process = state.view == "process"
    panels = panels_for_tab(state.tab) if on_process else frozenset()
    on_threads = on_process and state.tab == "threads"
    python = cadence.python_requested or (on_threads and cadence.since_python >= PYTHON_EVERY)
    since_python = 0 if python else cadence.since_python + 1
    # the box's findings: at start, then every few refreshes while the list or triage shows
    triage = (state.view in _TRIAGE_VIEWS or not state.have_snapshot) and cadence.since_triage >= TRIAGE_EVERY
    triage = triage and (state.triage_rest <= 0 or not state.have_snapshot)
    since_triage = 0 if triage else cadence.since_triage + 1
    want_list = state.view in _LIST_VIEWS or not state.have_list or state.selected is None
    request = SampleRequest(
        want_list=want_list,
        selected=state.selected,
        panels=panels,
        python=python,
        nonblocking=not state.pyspy_blocking,
        box_sockets=state.view == "box_sockets",
        kernel_stacks=state.kernel_stacks and "threads" in panels,
        native=state.pyspy_native,
        triage=triage,
        python_asked=cadence.python_requested,
    )
    return request, Cadence(python_requested=False, since_python=since_python, since_triage=since_triage)


@dataclass(frozen=True, slots=True)
class LanePlan:
    """Each lane's next refresh (None: that lane has nothing to do, or was not asked), and the
    cadence after them."""

    process: SampleRequest | None
    box: SampleRequest | None
    cadence: Cadence


def plan_lanes(state: ViewState, cadence: Cadence, lanes: frozenset[Lane] = LANES) -> LanePlan | None:
    """plan_sample split into the lanes asked for (the idle ones), or None while paused. The
    process lane gets the selection, its panels and py-spy; the box lane the list, the triage
    and the box's sockets. The py-spy counters move only when the process lane runs, the
    triage's only when the box lane is asked, so work a busy lane could not take is planned
    again for it."""
    plan = plan_sample(state, cadence)
    if plan is None:
        return None
    request, after = plan
    process = None
    if "process" in lanes and (request.selected is not None or state.process_pinned):
        process = replace(request, want_list=False, triage=False, box_sockets=False)
    else:
        after = replace(after, python_requested=cadence.python_requested, since_python=cadence.since_python)
    box = None
    if "box" not in lanes:
        after = replace(after, since_triage=cadence.since_triage)
    elif request.want_list or request.triage or request.box_sockets:
        box = SampleRequest(
            want_list=request.want_list, triage=request.triage, box_sockets=request.box_sockets
        )
    return LanePlan(process, box, after)


# the tabs read ahead once a process view painted its first findings (plan_prefetch); the
# collector reads them one at a time, py-spy last (PanelCollector.read_ahead)
PREFETCH_PANELS = ("files", "threads")


def plan_prefetch(state: ViewState) -> SampleRequest | None:
    """One read-ahead of the tabs of the open process not on screen and not yet read, so that
    their key shows data at once (labelled with its age) while the key's own refresh runs: the
    Files links (the rows on screen get their fdinfo once shown, as on a first visit), the
    threads with py-spy's stacks, always nonblocking (never pausing a process nobody asked to
    pause). None when nothing is left, while paused, or off the process view."""
    if state.paused or state.view != "process" or state.selected is None:
        return None
    panels = frozenset(p for p in PREFETCH_PANELS if p != state.tab and p not in state.have_panels)
    if not panels:
        return None
    return SampleRequest(
        want_list=False,
        selected=state.selected,
        panels=panels,
        python="threads" in panels,
        nonblocking=True,  # native frames would pause it too: not read ahead
        kernel_stacks=state.kernel_stacks and "threads" in panels,
        prefetch=True,
    )
