"""The triage view: the box's findings, most severe first; Enter opens the process."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Input, Static

from stucktui.model.finding_groups import FindingGroup, group_findings, group_matches, group_tail
from stucktui.model.findings import SEVERITIES, Finding, Severity, TriageResult, worst
from stucktui.model.process import exited_line
from stucktui.model.snapshot import Snapshot
from stucktui.model.text import clock_time
from stucktui.ui.keys import TRIAGE_KEYS, bindings
from stucktui.ui.messages import HelpRequested, OpenProcessRequested, PauseToggled
from stucktui.ui.safe import safe_text
from stucktui.ui.triage_folds import Fold, Row, fold_findings, layout, root_words
from stucktui.ui.view import SnapshotScreen, ViewContext
from stucktui.ui.widgets import HEADER_ICON
from stucktui.ui.widgets.fold_table import FoldTable

SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan"}
COLUMNS = (("severity", "SEVERITY"), ("pid", "PID"), ("name", "NAME"), ("finding", "FINDING"))


def finding_key(i: int, f: Finding) -> str:
    return f"{f.pid}:{f.id}:{i}"


# the severity filter (s): the least severe finding shown, in turn
SEVERITY_STEPS: tuple[Severity, ...] = ("info", "warning", "critical")
ALSO_SHOWN = 2  # the other findings of a row's group told in its detail, one line each
SHOWING = {"info": "every finding", "warning": "warnings and worse", "critical": "critical only"}


def finding_text(f: Finding, *, detail: bool = False, also: Sequence[Finding] = ()) -> Text:
    """One finding: severity and summary; `also`, the other findings of its group, one line
    each; with detail, since when (a finding that depends on time), its evidence and next steps."""
    t = Text()
    t.append(f"{f.severity.upper():<8} ", style=SEVERITY_STYLE.get(f.severity, ""))
    t.append_text(safe_text(f.summary, max_len=600))
    t.append(f"  [{f.id}]", style="dim")
    for o in also[:ALSO_SHOWN]:
        t.append("\n    same cause: ", style="dim")
        t.append(f"{o.severity} ", style=SEVERITY_STYLE.get(o.severity, ""))
        t.append_text(safe_text(o.summary, max_len=160))
        t.append(f" [{o.id}]", style="dim")
    if len(also) > ALSO_SHOWN:
        t.append(f"\n    and {len(also) - ALSO_SHOWN} more of the same cause: ", style="dim")
        t.append("Enter opens the process, f there lists every finding", style="dim")
    if detail:
        if f.since is not None:
            t.append("\n    since: ", style="dim")
            t.append(f"{clock_time(f.since)} (first seen by stucktui)")
        for e in f.evidence:
            t.append("\n    evidence: ", style="dim")
            t.append_text(safe_text(e, max_len=600))
        for n in f.next_steps:
            t.append("\n    next: ", style="green")
            t.append_text(safe_text(n, max_len=600))
    return t


def as_of(taken_at: float, next_in: float | None, cpu_window: float | None = None) -> str:
    """The header of the box's findings: when they were taken, and when the next look comes
    ('next in 8 s'; None: paused), with the window their CPU% is from."""
    nxt = "next: paused" if next_in is None else "next: now" if next_in < 0.5 else f"next in {next_in:.0f} s"
    cpu = "" if cpu_window is None else f" · CPU% over {cpu_window:.1f} s"
    return f"as of {clock_time(taken_at)}, {nxt}{cpu}"


def waiting(n: int) -> str:
    return f"{n} process waits" if n == 1 else f"{n} processes wait"


def root_text(head: Finding, fold: Fold, *, open: bool) -> Text:
    """A chain root's row: what it is, how many processes wait on it, the key that shows them."""
    t = safe_text(f"pid {fold.root} ({head.name}) {root_words(fold.end)}", max_len=300)
    t.append(f" — {waiting(len(fold.waiters))} on it ", style="bold")
    t.append("(▾ ← to fold)" if open else "(▸ → to show)", style="dim")
    return t


class TriageScreen(SnapshotScreen):
    BINDINGS = bindings(TRIAGE_KEYS, shown_when_able=frozenset({"quit_here"}))
    VIEW = "triage"

    def __init__(self) -> None:
        super().__init__(id="triage")
        self.result: TriageResult | None = None
        self._pending: TriageResult | None = None
        self._by_key: dict[str, Finding] = {}
        self._open: set[int] = set()  # the chain roots whose waiting processes are shown
        self._folded_for: TriageResult | None = None
        self._folds: tuple[Fold, ...] = ()
        self._heads: dict[str, Fold] = {}  # the key of each chain root's row -> its fold
        self._groups: tuple[FindingGroup, ...] = ()  # the findings grouped by process and cause
        self._row_group: dict[str, FindingGroup] = {}  # the key of each row -> its group
        self.least: Severity = "info"  # the severity filter: the least severe finding shown
        self.query_text = ""  # the / search
        self.rows_shown = 0
        # (pid, start time) of every process in the last process list: a finding whose process
        # is not among them exited since the triage (never shown as the new process's)
        self._alive: frozenset[tuple[int, int]] | None = None
        self._exited_at: dict[tuple[int, int], float] = {}
        self.next_in: float | None = 0.0  # seconds to the next triage, by the app's clock; None: paused
        self._title = Text()  # the header but its first line (as of, next in)

    def compose(self) -> ComposeResult:
        yield Header(icon=HEADER_ICON)
        looking = Text("Findings on this box: looking at every process…", style="bold")
        yield Static(looking, id="triage-title")
        yield Input(placeholder="search findings: pid, name, rule or words (Enter keeps it, Esc clears)",
                    id="triage-search")  # fmt: skip
        yield FoldTable(COLUMNS, id="triage-table")
        yield Static("", id="triage-detail")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#triage-search", Input).display = False
        self.query_one(FoldTable).focus()
        # is_mounted turns true only once every Mount handler has returned: a triage handed
        # over while the screen was being pushed is shown just after, not kept pending forever
        self.call_later(self._show_pending)

    def _show_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.update_triage(pending)

    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        super().show_snapshot(snap, context)
        if snap.processes is not None:
            alive = frozenset((r.pid, r.starttime_ticks) for r in snap.processes.rows)
            before = self._exited()
            self._alive = alive
            after = self._exited()
            for ident in after - before:
                self._exited_at.setdefault(ident, context.now)
            if after != before and snap.triage is None and self.result is not None and self.is_mounted:
                self._render_rows(select=self.query_one(FoldTable).selected_key)
        if snap.triage is not None:
            self.update_triage(snap.triage)

    def _exited(self) -> set[tuple[int, int]]:
        """The identities (pid, start time) of the findings' processes that the last process
        list no longer has: they exited since the triage."""
        alive, result = self._alive, self.result
        if alive is None or result is None:
            return set()
        return {
            (f.pid, f.starttime)
            for f in result.findings
            if f.starttime is not None and (f.pid, f.starttime) not in alive
        }

    def exited_at(self, f: Finding) -> float | None:
        """When the process list first lacked the finding's process, or None while it lives."""
        if f.starttime is None or (f.pid, f.starttime) not in self._exited():
            return None
        return self._exited_at.get((f.pid, f.starttime), self.now)

    def show_next(self, next_in: float | None) -> None:
        """Seconds to the next triage by the app's clock (None: paused): the header counts down."""
        self.next_in = next_in
        if self.result is not None and self.is_mounted:
            self._show_title()

    def _show_title(self) -> None:
        result = self.result
        assert result is not None
        head = Text("Findings on this box ", style="bold")
        head.append(as_of(result.taken_at, self.next_in, result.cpu_window), style="bold cyan")
        head.append_text(self._title)
        for w in self.query("#triage-title").results(Static):  # none while composing or closing
            w.update(head)

    def update_triage(self, result: TriageResult) -> None:
        if not self.is_mounted:
            self._pending = result
            return
        self.result = result
        self._title_for(result)
        self._by_key = {finding_key(i, f): f for i, f in enumerate(result.findings)}
        self._render_rows()

    def _title_for(self, result: TriageResult) -> None:
        """The header's lines under 'as of': the counts, the filter and search, what was not seen."""
        title = Text("\n")
        n = len(result.findings)
        title.append(
            f"{n} finding{'s' if n != 1 else ''} in {len({f.pid for f in result.findings})} processes"
            f" · {result.processes} looked at, {result.suspects} in depth · {result.duration * 1000:.0f} ms",
            style="dim",
        )
        if self.least != "info" or self.query_text:
            title.append(f" · {self.rows_shown} rows: ", style="dim")
            title.append(SHOWING[self.least], style="bold")
            if self.query_text:
                title.append(" matching ", style="bold")
                title.append_text(safe_text(repr(self.query_text), max_len=60))
        blind = result.visibility.lines() if result.visibility is not None else []
        if not n:
            nothing = "no process shows one of the known stuck patterns"
            if blind:  # not "healthy": only what could be read is
                title.append(f"\nnothing found in what stucktui could read: {nothing}", style="yellow")
            else:
                title.append(f"\nnothing found: {nothing}", style="green")
        for line in blind:
            title.append("\nnot seen: ", style="bold yellow")
            title.append(line, style="yellow")
        if self._folds_of(result):
            title.append(" · → shows who waits on a root", style="dim")
        self._title = title
        self._show_title()

    def _folds_of(self, result: TriageResult) -> tuple[Fold, ...]:
        if result is not self._folded_for:
            self._folded_for, self._folds = result, fold_findings(result.findings, result.chains)
            self._groups = group_findings(result.findings)
        return self._folds

    def _keep(self, g: FindingGroup) -> bool:
        findings = self.result.findings if self.result is not None else ()
        return SEVERITIES.index(g.severity) <= SEVERITIES.index(self.least) and group_matches(
            g, findings, self.query_text
        )

    def _rows(self, result: TriageResult) -> list[Row]:
        folds = self._folds_of(result)
        self._open &= {fold.root for fold in folds}
        filtered = self.least != "info" or bool(self.query_text.strip())
        return layout(self._groups, folds, self._open, self._keep if filtered else None)

    def _render_rows(self, select: str | None = None) -> None:
        """The findings as rows, each chain root's waiting processes folded under it unless
        it is open; then the cursor on `select` when given."""
        result = self.result
        if result is None:
            return
        findings = result.findings
        rows: list[tuple[str, list[Text]]] = []
        heads: dict[str, bool] = {}
        self._heads = {}
        self._row_group = {}
        parents: dict[str, str] = {}
        laid = self._rows(result)
        for row in laid:
            f = findings[row.index]
            k = finding_key(row.index, f)
            self._row_group[k] = row.group
            severity = row.group.severity
            summary = safe_text(f.summary, max_len=400)
            if tail := group_tail(row.group, findings):  # its count where 80 columns show it
                summary = Text(f"{len(row.group.members)} findings: ", style="bold").append_text(summary)
                summary.append(f"  ({tail})", style="dim")
            if row.fold is not None:
                fold = row.fold
                heads[k] = fold.root in self._open
                self._heads[k] = fold
                severity = worst([findings[i] for i in (fold.head, *fold.members)]) or severity
                summary = root_text(f, fold, open=heads[k])
            elif row.under is not None:
                parents[k] = finding_key(row.under.head, findings[row.under.head])
                summary = Text("  └ ", style="dim").append_text(summary)
            sev_cell = Text(severity, style=SEVERITY_STYLE.get(severity, ""))
            gone = self.exited_at(f)
            if gone is not None:  # its process exited: the finding is history, not its pid's now
                sev_cell = Text("exited", style="dim")
                summary = Text(f"[exited {clock_time(gone)}] ", style="bold").append_text(summary)
                summary.stylize("dim")
            rows.append(
                (k, [sev_cell, Text(str(f.pid), justify="right"), safe_text(f.name, max_len=32), summary])
            )
        table = self.query_one(FoldTable)
        table.set_folds(heads, parents)
        table.set_rows(rows)
        if len(laid) != self.rows_shown:
            self.rows_shown = len(laid)
            self._title_for(result)
        if select is not None:
            table.select_key(select)
        self._show(table.selected_key)

    def on_fold_table_toggled(self, event: FoldTable.Toggled) -> None:
        event.stop()
        f = self._by_key.get(event.key)
        if f is None:
            return
        if event.open:
            self._open.add(f.pid)
        else:
            self._open.discard(f.pid)
        self._render_rows(select=event.key)

    def _show(self, key: str | None) -> None:
        f = self._by_key.get(key or "")
        group = self._row_group.get(key or "")
        also = [self.result.findings[i] for i in group.members[1:]] if group and self.result else []
        text: Text | str = finding_text(f, detail=True, also=also) if f else ""
        gone = self.exited_at(f) if f is not None else None
        if f is not None and gone is not None:
            head = Text(
                f"{exited_line(f.pid, gone, None)}, after this finding: it is about that process, "
                f"not whatever has pid {f.pid} now\n",
                style="bold red",
            )
            text = head.append_text(finding_text(f, detail=True, also=also))
        fold = self._heads.get(key or "")
        if f is not None and fold is not None:
            keys = "← folds them" if fold.root in self._open else "→ shows them"
            hint = Text(f"{waiting(len(fold.waiters))} on pid {fold.root}: ")
            hint.append(f"{keys}, Enter opens pid {fold.root}\n", style="bold")
            text = hint.append_text(finding_text(f, detail=True, also=also))
        if f is None and self.result is not None and self.result.findings:
            text = Text("no finding matches: s shows more severities, / changes the search", style="yellow")
        self.query_one("#triage-detail", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        f = self._by_key.get(self.query_one(FoldTable).selected_key or "")
        if f is not None:
            self.post_message(OpenProcessRequested(f.pid, f.starttime, tab=f.panel))

    def update_status(self, freshness: str) -> None:
        super().update_status(freshness)
        for w in self.query("#status").results(Static):
            w.update(Text(freshness))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_severity(self) -> None:
        """s: every finding, warnings and worse, critical only, and round again."""
        self.least = SEVERITY_STEPS[(SEVERITY_STEPS.index(self.least) + 1) % len(SEVERITY_STEPS)]
        self._refilter()

    def _refilter(self) -> None:
        if self.result is not None:
            self._title_for(self.result)
            self._render_rows(select=self.query_one(FoldTable).selected_key)

    def action_search(self) -> None:
        inp = self.query_one("#triage-search", Input)
        inp.display = True
        inp.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value
        self._refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            event.input.display = False
        self.query_one(FoldTable).focus()

    def on_key(self, event: events.Key) -> None:
        """Esc in the search (or while one is set) clears it, and only that."""
        inp = self.query_one("#triage-search", Input)
        if event.key == "escape" and (inp.has_focus or inp.value):
            event.stop()
            event.prevent_default()
            inp.value = ""
            inp.display = False
            self.query_one(FoldTable).focus()

    def action_toggle_pause(self) -> None:
        self.post_message(PauseToggled())

    def action_help(self) -> None:
        self.post_message(HelpRequested())
