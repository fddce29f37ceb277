"""What one refresh samples for the view on screen: plan_sample is pure (no Textual, no /proc),
so the cadences and the panels per tab are pinned here."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from stucktui.inspection.request import (
    PYTHON_EVERY,
    TRIAGE_EVERY,
    Cadence,
    SampleRequest,
    ViewState,
    panels_for_tab,
    plan_prefetch,
    plan_sample,
    triage_in,
)
from stucktui.model.panels import ALL_PANELS

SEEN = ViewState(have_snapshot=True, have_list=True)  # the list, after the first refresh
PROC1 = replace(SEEN, view="process", tab="overview", selected=(1, 10))


def plan(state: ViewState, cadence: Cadence | None = None) -> tuple[SampleRequest, Cadence]:
    out = plan_sample(state, cadence or Cadence())
    assert out is not None
    return out


def test_paused_samples_nothing_and_keeps_the_cadence():
    assert plan_sample(replace(SEEN, paused=True), Cadence(True, 0, 0)) is None


def test_first_refresh_on_the_list_reads_the_list_and_triages():
    req, cad = plan(ViewState())
    assert req == SampleRequest(want_list=True, triage=True)
    assert cad == Cadence(False, PYTHON_EVERY + 1, 0)


def test_the_list_triages_every_few_refreshes():
    """TRIAGE_EVERY refreshes between two triages."""
    cad, triaged = Cadence(), []
    for _ in range(2 * TRIAGE_EVERY + 4):
        req, cad = plan(SEEN, cad)
        triaged.append(req.triage)
    assert triaged == [True, *[False] * TRIAGE_EVERY, True, *[False] * TRIAGE_EVERY, True, False]


def test_triage_view_triages_too_but_a_process_view_does_not():
    assert plan(replace(SEEN, view="triage"))[0].triage
    req, cad = plan(PROC1)
    assert not req.triage and cad.since_triage == TRIAGE_EVERY + 1


def test_a_process_opened_at_start_still_gets_the_first_triage():
    """Started on a pid: no refresh arrived yet, so the box's triage runs with the first one."""
    req, _ = plan(replace(PROC1, have_snapshot=False, have_list=False))
    assert req.triage and req.want_list and req.selected == (1, 10)


@pytest.mark.parametrize("tab", ["overview", "threads", "sockets", "files", "locks", "signals"])
def test_each_tab_collects_only_its_panel(tab):
    req, _ = plan(replace(PROC1, tab=tab))
    assert req.panels == (frozenset({tab}) if tab in ALL_PANELS else frozenset())
    assert req.panels == panels_for_tab(tab)
    assert not req.want_list and not req.box_sockets  # the list is known: not re-read here


def test_panels_for_tab():
    assert panels_for_tab("overview") == panels_for_tab(None) == frozenset()
    assert {t for t in ALL_PANELS if panels_for_tab(t) == {t}} == ALL_PANELS


def test_views_that_show_the_list_read_it_and_box_sockets_builds_its_view():
    for view in ("list", "box_sockets", "triage"):
        assert plan(replace(PROC1, view=view))[0].want_list, view
    req, _ = plan(replace(SEEN, view="box_sockets"))
    assert req.box_sockets and req.panels == frozenset()
    assert not plan(replace(PROC1, view="other"))[0].want_list  # help over a process view
    assert plan(replace(SEEN, view="other"))[0].want_list  # ... nothing selected: the list


def test_no_list_yet_or_nothing_selected_reads_the_list():
    assert plan(replace(PROC1, have_list=False))[0].want_list
    assert plan(replace(PROC1, view="other", selected=None))[0].want_list


def test_python_stacks_every_few_refreshes_on_the_threads_tab_only():
    threads = replace(PROC1, tab="threads")
    cad, took = Cadence(), []  # the first look at Threads takes stacks, then PYTHON_EVERY between
    for _ in range(2 * PYTHON_EVERY + 4):
        req, cad = plan(threads, cad)
        took.append(req.python)
    assert took == [True, *[False] * PYTHON_EVERY, True, *[False] * PYTHON_EVERY, True, False]
    req, cad = plan(PROC1, Cadence(since_python=PYTHON_EVERY))  # Overview: no py-spy ...
    assert not req.python and cad.since_python == PYTHON_EVERY + 1


def test_asked_python_stacks_run_on_the_next_refresh_whatever_the_tab():
    req, cad = plan(replace(PROC1, tab="files"), Cadence(python_requested=True, since_python=0))
    assert req.python and cad == Cadence(False, 0, TRIAGE_EVERY + 1)
    req, _ = plan(replace(PROC1, tab="files"), cad)
    assert not req.python


def test_toggles_reach_the_request():
    threads = replace(PROC1, tab="threads", pyspy_blocking=True, pyspy_native=True, kernel_stacks=True)
    req, _ = plan(threads)
    assert not req.nonblocking and req.native and req.kernel_stacks
    req, _ = plan(replace(threads, tab="files"))  # kernel stacks only with the Threads panel
    assert not req.kernel_stacks and req.native and not req.nonblocking
    assert plan(PROC1)[0].nonblocking


def test_the_request_module_is_pure():
    code = (
        "import sys, stucktui.inspection.request; "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') "
        "or m.startswith(('stucktui.procfs', 'stucktui.collect', 'stucktui.tools')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_sampler_does_what_the_request_says():
    from stucktui.inspection.sampler import Sampler
    from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic

    s = Sampler.for_path(str(PROC), clock=frozen_clock(), monotonic=frozen_monotonic())
    try:
        by_request = s.sample(SampleRequest(want_list=False, selected=(1, None)))
        assert by_request.processes is None and by_request.selected_pid == 1
        assert by_request.detail is not None and by_request.panels is None
        listed = s.sample(SampleRequest())
        assert listed.processes is not None and listed.detail is None
    finally:
        s.close()


def test_triage_in_counts_the_refreshes_plan_sample_leaves_before_the_next_triage():
    """The triage view's 'next in N s': the next refresh's wait, then an interval for each
    refresh plan_sample lets pass without a triage (checked against plan_sample itself)."""
    cad = plan(SEEN)[1]  # just triaged
    assert triage_in(cad, 2.0, None, 50.0, running=True) == 0.0  # the refresh under way triages
    for _ in range(TRIAGE_EVERY + 1):
        quiet, probe = 0, cad
        while not (step := plan(SEEN, probe))[0].triage:
            quiet, probe = quiet + 1, step[1]
        # the last refresh ended at 100.0, it is 100.5: the next one starts in 1.5 s
        assert triage_in(cad, 2.0, 100.0, 100.5) == pytest.approx(1.5 + 2.0 * quiet)
        assert triage_in(cad, 2.0, 100.0, 100.5, paused=True) is None
        req, cad = plan(SEEN, cad)
        if not req.triage:  # one under way that does not triage: the next refresh an interval after it
            assert triage_in(cad, 2.0, 100.0, 100.5, running=True) == pytest.approx(2.0 + 2.0 * (quiet - 1))
        else:
            break
    assert triage_in(Cadence(), 2.0, 100.0, 110.0) == 0.0  # overdue: now
    assert triage_in(Cadence(), 2.0, None, 0.0) == 0.0  # before the first refresh


def test_a_read_ahead_reads_the_files_and_threads_tabs_not_shown_nor_read_yet():
    req = plan_prefetch(PROC1)
    assert req is not None and req.prefetch and req.selected == (1, 10)
    assert req.panels == frozenset({"files", "threads"}) and req.python and req.nonblocking
    assert not req.want_list and not req.triage and not req.box_sockets
    on_files = plan_prefetch(replace(PROC1, tab="files"))
    assert on_files is not None and on_files.panels == frozenset({"threads"})
    read = plan_prefetch(replace(PROC1, have_panels=frozenset({"threads"})))
    assert read is not None and read.panels == frozenset({"files"}) and not read.python  # no py-spy
    assert plan_prefetch(replace(PROC1, have_panels=frozenset({"files", "threads"}))) is None


def test_a_read_ahead_never_pauses_the_process_and_needs_an_open_process_view():
    # pausing py-spy, or native frames (which pause it too), only when asked for: never ahead
    toggled = replace(PROC1, pyspy_blocking=True, pyspy_native=True, kernel_stacks=True)
    req = plan_prefetch(toggled)
    assert req is not None and req.nonblocking and not req.native and req.kernel_stacks
    assert plan_prefetch(replace(PROC1, paused=True)) is None
    assert plan_prefetch(replace(PROC1, view="list")) is None
    assert plan_prefetch(replace(PROC1, selected=None)) is None


def test_a_read_ahead_reads_its_panels_and_no_findings_and_a_hurry_stops_it(monkeypatch):
    from stucktui.inspection.sampler import Sampler
    from stucktui.model.python import PySpyError, PySpyFailure
    from tests.fixture_proc import PROC, frozen_clock, frozen_monotonic

    dumps: list[tuple[int, dict[str, object]]] = []

    def start(pid, **kw):  # type: ignore[no-untyped-def]
        dumps.append((pid, kw))
        return lambda: PySpyError(pid, PySpyFailure.NOT_PYTHON, "not a Python process")

    monkeypatch.setattr("stucktui.collect.panels.start_dump", start)
    req = plan_prefetch(PROC1)
    assert req is not None
    s = Sampler.for_path(str(PROC), clock=frozen_clock(), monotonic=frozen_monotonic())
    try:
        ahead = s.sample_process(replace(req, selected=(1, None)))
        assert ahead.findings is None and ahead.chains is None  # no rules run ahead
        p = ahead.panels
        assert p is not None and p.read_ahead and p.files is not None and p.threads is not None
        assert p.sockets is None and p.locks is None and p.signals is None
        # py-spy nonblocking, and skipped for a while after it hung (auto: nobody pressed y)
        assert [(pid, kw.get("nonblocking"), kw.get("auto")) for pid, kw in dumps] == [(1, True, True)]
        # a key asked for a refresh: whatever the read-ahead has not read, it reads no more
        calls: list[frozenset[str]] = []
        inner = s.panels.collect

        def collect(d, want, **kw):  # type: ignore[no-untyped-def]
            calls.append(want)
            s.hurry()  # while the Files links are read
            return inner(d, want, **kw)

        monkeypatch.setattr(s.panels, "collect", collect)
        cut = s.sample_process(replace(req, selected=(1, None)))
        assert calls == [frozenset({"files"})] and len(dumps) == 1
        assert cut.panels is not None and cut.panels.files is not None and cut.panels.threads is None
        monkeypatch.setattr(s.panels, "collect", inner)
        whole = s.sample_process(replace(req, selected=(1, None)))  # the hurry was for that one only
        assert whole.panels is not None and whole.panels.threads is not None
    finally:
        s.close()


def test_the_triages_take_at_most_their_share_of_the_time():
    """After a triage refresh that took T seconds, the next triage waits (1 / TRIAGE_SHARE - 1) T
    even when its refresh count is due (a sick box's triage takes seconds of a pegged core);
    the first look triages whatever the rest says; the countdown shows the rest."""
    from stucktui.inspection.request import TRIAGE_SHARE, triage_rest

    assert triage_rest(None, 3.0, 100.0) == 0.0
    wait = 3.0 * (1 / TRIAGE_SHARE - 1)
    assert triage_rest(100.0, 3.0, 100.0) == pytest.approx(wait)
    assert triage_rest(100.0, 3.0, 100.0 + wait + 1) == 0.0
    due = Cadence(since_triage=TRIAGE_EVERY)
    on_list = ViewState(view="list", have_snapshot=True, have_list=True)
    resting = replace(on_list, triage_rest=4.0)
    assert plan_sample(on_list, due)[0].triage  # type: ignore[index]
    req, after = plan_sample(resting, due)  # type: ignore[misc]
    assert not req.triage and after.since_triage == TRIAGE_EVERY + 1  # due as soon as it may
    first = replace(resting, have_snapshot=False, have_list=False)
    assert plan_sample(first, due)[0].triage  # type: ignore[index]
    assert triage_in(due, 1.5, 10.0, 10.0, rest=4.0) == 4.0
    assert triage_in(Cadence(since_triage=0), 1.5, 10.0, 10.0, rest=1.0) == 1.5 + 1.5 * TRIAGE_EVERY
