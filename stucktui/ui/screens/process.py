"""The process view: facts about one process, then one tab per panel (ui/panels.py).

The view is of one process, (pid, start time), never of a pid: once a refresh finds it gone
the facts freeze, the title, a banner over every panel and the status line say when it exited,
and if another process got its pid meanwhile, O opens that one (nothing of it is shown here)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from stucktui.model.findings import Finding
from stucktui.model.panels import PanelData, unreadable
from stucktui.model.process import DetailGone, ProcessDetail, exited_line
from stucktui.model.snapshot import Snapshot
from stucktui.model.text import clock_time
from stucktui.ui.keys import DETAIL_KEYS, FOOTER_WHEN_ABLE, bindings
from stucktui.ui.messages import (
    CloseProcessRequested,
    HelpRequested,
    OpenProcessRequested,
    PauseToggled,
    PyspyBlockingToggled,
    PythonStacksRequested,
    RefreshRequested,
    ShowSocketRequested,
    SignalRequested,
)
from stucktui.ui.panels import DETAIL_PANELS, DetailPanel, show_text
from stucktui.ui.safe import safe_text
from stucktui.ui.screens.triage import finding_text
from stucktui.ui.view import SnapshotScreen, ViewContext
from stucktui.ui.widgets import HEADER_ICON

if TYPE_CHECKING:
    from stucktui.model.waits import WaitChain

_Shown = tuple[ProcessDetail | DetailGone, PanelData | None, tuple[Finding, ...] | None]


def fit_findings(findings: list[Text], width: int, rows: int) -> Text:
    """The findings, wrapped to `width`, in at most `rows` lines with the last one for what is
    left: '… N more · f: …'. A finding that does not fit whole is left for f, never cut
    mid-sentence; only a first finding longer than the whole header is cut, and says so."""
    console = Console(width=width, no_color=True, legacy_windows=False)
    lines: list[Text] = []
    shown = 0
    for f in findings:
        f = f.copy()
        f.no_wrap = False
        wrapped = list(f.wrap(console, width))
        if len(lines) + len(wrapped) > rows - 1:
            if shown == 0:  # the first alone is too long: its first lines, visibly cut
                lines = wrapped[: rows - 1]
                lines[-1].rstrip()
                lines[-1].right_crop(max(0, lines[-1].cell_len + 1 - width))
                lines[-1].append("…", style="bold")
                shown = 1
            break
        lines += wrapped
        shown += 1
    for line in lines:
        line.rstrip()
    out = Text("\n").join(lines)
    left = len(findings) - shown
    more = f"… {left} more · " if left else ""
    out.append(f"\n{more}f: every finding with its evidence and next steps", style="dim")
    return out


class ProcessScreen(SnapshotScreen):
    # w shows in the footer only while a thread of it waits on another process, O once it
    # exited and another process has its pid (check_action)
    BINDINGS = bindings(DETAIL_KEYS, shown_when_able=frozenset({"why_stuck", "open_successor", "quit_here"}))
    VIEW = "process"

    def __init__(self, pid: int, starttime: int | None, tab: str | None = None) -> None:
        super().__init__()  # no id: one may open over another (from Why stuck?)
        self.pid = pid
        self.starttime = starttime
        self.detail: ProcessDetail | None = None
        self.gone = False
        self.active_panel = tab if tab in {p.id for p in DETAIL_PANELS} else DETAIL_PANELS[0].id
        self._pending: (
            tuple[ProcessDetail | DetailGone, PanelData | None, tuple[Finding, ...] | None] | None
        ) = None
        self.findings: tuple[Finding, ...] = ()
        self.examined = False  # its findings have come (the process lane sends them last)
        self.have: set[str] = set()  # the panels whose data has come
        self.data_at: dict[str, float] = {}  # ... when (the app's clock at its hand-over)
        self.stale: set[str] = set()  # shown with data from before, labelled, a refresh asked for
        self.panels: PanelData | None = None  # the last panels: what could not be read
        self.chains: tuple[WaitChain, ...] | None = None  # its wait chains, once sampled
        self.gone_at: float | None = None  # when a refresh first found it gone
        self.successor: DetailGone | None = None  # the last refresh's news of a new process on the pid

    def compose(self) -> ComposeResult:
        yield Header(icon=HEADER_ICON)
        yield Static(Text(f"process {self.pid}: loading…"), id="process-title")
        yield Static(Text(self._working_out(), style="dim"), id="findings")
        yield Static("", id="gone")  # over every panel, once the process exited
        with TabbedContent(id="panels", initial=f"tab-{self.active_panel}"):
            for n, spec in enumerate(DETAIL_PANELS, 1):  # the key of each panel on its tab
                with TabPane(f"{n} {spec.title}", id=f"tab-{spec.id}"):
                    panel = spec.factory()
                    panel.pid = self.pid
                    if spec.waits_for:  # until its data comes: what it waits for, not empty headers
                        waits = spec.waits_for.format(pid=self.pid)
                        yield Static(Text(f"reading… {waits}", style="dim"), id=f"reading-{spec.id}")
                        panel.display = False
                        yield Static("", id=f"asof-{spec.id}", classes="asof")  # data from before
                    yield panel
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#gone", Static).display = False
        for label in self.query(".asof").results(Static):
            label.display = False
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.update_detail(*pending)

    @property
    def tab(self) -> str | None:
        return self.active_panel

    @property
    def panels_read(self) -> frozenset[str]:
        return frozenset(self.have)

    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        super().show_snapshot(snap, context)
        if snap.detail is None or snap.selected_pid != self.pid:
            return
        detail = snap.detail
        if isinstance(detail, ProcessDetail):
            if self.starttime is None:
                self.starttime = detail.starttime_ticks  # opened by pid alone: now it is this one
            if self.gone or detail.starttime_ticks != self.starttime:
                # another process under this pid: never its facts here, only the offer to open it
                detail = DetailGone(
                    self.pid, context.now, self.starttime, detail.starttime_ticks, detail.name
                )
        if isinstance(detail, DetailGone):
            self.update_detail(detail)
            return
        if snap.chains is not None:
            offered = bool(self.chains)
            self.chains = snap.chains
            if bool(self.chains) != offered:
                self.refresh_bindings()  # the footer offers w, or no longer
        self.update_detail(detail, snap.panels, snap.findings)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if parameters == (FOOTER_WHEN_ABLE,):  # else the key falls through to its hidden binding
            if action == "why_stuck":
                return bool(self.chains)
            if action == "open_successor":
                return self.successor is not None
        return super().check_action(action, parameters)

    def action_open_successor(self, _shown: str = "") -> None:
        new = self.successor
        if new is None or new.successor is None:
            why = "it has not exited" if not self.gone else "no process has its pid now"
            self.app.notify(f"process {self.pid}: {why}", timeout=3)
            return
        self.post_message(OpenProcessRequested(self.pid, new.successor, self.active_panel, replace=True))

    def action_why_stuck(self, _shown: str = "") -> None:
        from stucktui.ui.screens.why_stuck import WhyStuckScreen

        name = self.detail.name if self.detail is not None else "?"
        self.app.push_screen(WhyStuckScreen(self.pid, name, self.chains))

    def update_detail(
        self,
        detail: ProcessDetail | DetailGone,
        panels: PanelData | None = None,
        findings: tuple[Finding, ...] | None = None,
    ) -> None:
        if not self.is_mounted or not self.query("#process-title"):
            self._pending = (detail, panels, findings)  # arrived before the screen was composed
            return
        if panels is not None and not panels.read_ahead:  # what the findings line says was unread
            self.panels = panels
        if findings is not None:
            self.findings = findings
            self.examined = True
            self._show_findings()
        title = self.query_one("#process-title", Static)
        if isinstance(detail, DetailGone):
            self._show_gone(detail)
            return
        if self.gone:
            return  # frozen: nothing read after it exited is shown
        self.detail = detail
        t = Text(f"process {detail.pid} ", style="bold")
        t.append_text(safe_text(f"({detail.name})", "bold"))
        t.append(f"  {detail.state} {detail.state_name}", style="")
        show_text(title, t)
        for panel in self.query(DetailPanel):
            panel.kernel_stacks = self.kernel_stacks
            panel.update_detail(detail, self.now)
            if panels is not None:
                panel.update_panels(panels)
                came = getattr(panels, panel.data_key or "", None) is not None
                self._shown(panel, came)
                if came and panel.data_key:
                    self._dated(panel.data_key, panels.read_ahead)
        self.update_status(self.freshness)

    def _dated(self, key: str, read_ahead: bool) -> None:
        """A panel's data came: read ahead, it is labelled with its age if its tab is on screen
        (a refresh for it is on its way); from a refresh for its tab, the label goes."""
        self.data_at[key] = self.now
        if not read_ahead:
            self.stale.discard(key)
        elif key == self.active_panel:
            self.stale.add(key)
        self._label(key)

    def _label(self, key: str) -> None:
        """'as of 14:03:27 (refreshing…)' over a panel shown with data from before its tab was."""
        for label in self.query(f"#asof-{key}").results(Static):
            at = self.data_at.get(key)
            label.display = key in self.stale and at is not None and not self.gone
            if at is not None:
                show_text(label, Text(f"as of {clock_time(at)} (refreshing…)", style="bold yellow"))

    def _shown(self, panel: DetailPanel, came: bool) -> None:
        """A panel's data came: the panel takes the place of its 'reading…' line."""
        key = panel.data_key
        if key is None or key in self.have or not came:
            return
        self.have.add(key)
        panel.display = True
        for line in self.query(f"#reading-{key}").results(Static):
            line.display = False

    def _working_out(self) -> str:
        return f"findings: being worked out (what the threads of pid {self.pid} wait on)…"

    def _show_gone(self, gone: DetailGone) -> None:
        """Freeze: the title, a banner over every panel and the status line say it exited;
        the banner offers the process that now has the pid, if any."""
        self.gone = True
        if self.gone_at is None:
            self.gone_at = gone.taken_at
            self._show_findings()
        offered = self.successor is not None
        self.successor = gone if gone.successor is not None else None
        if offered != (self.successor is not None):
            self.refresh_bindings()  # the footer offers O, or no longer
        name = self.detail.name if self.detail else "?"
        line = self.exited_line or ""
        t = Text(f"process {self.pid} ", style="bold")
        t.append_text(safe_text(f"({name})"))
        t.append(f"  {line}: its last facts, frozen", style="bold red")
        self.query_one("#process-title", Static).update(t)
        banner = Text(f"{line}. ", style="bold")
        banner.append("Every panel shows the facts last seen; actions on it are refused.")
        if self.successor is not None:
            banner.append_text(safe_text(f"\nA new process now has pid {self.pid} ({gone.successor_name}): "))
            banner.append("O opens it", style="bold")
        for spec in DETAIL_PANELS:
            if spec.waits_for and spec.id not in self.have:
                for w in self.query(f"#reading-{spec.id}").results(Static):
                    w.update(Text("not read: the process exited first", style="dim"))
        for key in self.stale:
            self._label(key)  # no refresh comes: not "refreshing…"
        gone_box = self.query_one("#gone", Static)
        gone_box.update(banner)
        gone_box.display = True
        self.update_status(self.freshness)

    @property
    def exited_line(self) -> str | None:
        """'pid 123 exited at 14:03:27 (last seen 14:03:25)', once it exited."""
        if self.gone_at is None:
            return None
        return exited_line(self.pid, self.gone_at, self.detail.taken_at if self.detail else None)

    def _show_findings(self) -> None:
        t = Text()
        if self.gone_at is not None:
            t.append("when last seen: ", style="bold")
        if not self.examined:
            t.append("findings: not worked out (the process exited first)", style="dim")
        elif not self.findings:
            blind = unreadable(self.panels, self.detail)
            if blind:
                t.append(
                    f"findings: none in what stucktui could read ({', '.join(blind)}: no permission; "
                    + (
                        "run stucktui as root)"
                        if os.geteuid() != 0
                        else "refused even to root, see the panels)"
                    ),
                    style="yellow",
                )
            else:
                t.append("findings: none (no known stuck pattern in this process)", style="dim green")
        box = self.query_one("#findings", Static)
        if self.findings:
            width = max(20, (box.content_region.width or self.size.width - 2) or 78)
            shown = fit_findings([finding_text(f) for f in self.findings], width, self.header_rows())
            t.append_text(shown)
        show_text(box, t)

    def header_rows(self) -> int:
        """The rows the findings may take over the panels: a sixth of the screen, 3 at least."""
        return max(3, (self.size.height or 24) // 6)

    def on_resize(self) -> None:
        if self.examined:
            self._show_findings()  # the lines wrap again at the new width

    def action_show_findings(self) -> None:
        from stucktui.ui.screens.actions import ResultScreen

        if not self.findings:
            self.app.notify("no findings for this process", timeout=2)
            return
        body = Text()
        for i, f in enumerate(self.findings):
            if i:
                body.append("\n\n")
            body.append_text(finding_text(f, detail=True))
        self.app.push_screen(ResultScreen(f"Findings of process {self.pid}", body, False))

    def update_status(self, freshness: str) -> None:
        super().update_status(freshness)
        line = self.exited_line
        status = Text(f"{line} · ", style="bold red") if line else Text()
        status.append(freshness)
        for w in self.query("#status").results(Static):  # none while composing or closing
            show_text(w, status)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # the panel's keys (filter, order, group) work only with the focus inside it
        tables = [t for t in event.pane.query(DataTable) if t.display]
        if tables:
            tables[0].focus()
        self._ask_for((event.pane.id or "").removeprefix("tab-"))  # a click on a tab

    def _ask_for(self, panel: str) -> None:
        """The refresh of a panel coming on screen is asked for before its tab switches, so its
        reads run while the switch is drawn; its data from before shows meanwhile, dated."""
        if panel == self.active_panel:
            return
        self.active_panel = panel
        if panel in self.have:
            self.stale.add(panel)
            self._label(panel)
        self.app.post_message(RefreshRequested())

    def _switch(self, panel: str) -> None:
        self._ask_for(panel)
        self.query_one(TabbedContent).active = f"tab-{panel}"

    def action_tab(self, n: int) -> None:
        if 0 < n <= len(DETAIL_PANELS):
            self._switch(DETAIL_PANELS[n - 1].id)

    def on_show_socket_requested(self, msg: ShowSocketRequested) -> None:
        """From a socket fd elsewhere (Files): the Sockets panel, cursor on that fd."""
        from stucktui.ui.widgets.sockets_panel import SocketsPanel

        msg.stop()
        self.query_one(SocketsPanel).focus_fd(msg.fd)
        self._switch("sockets")

    def action_send_signal(self) -> None:
        self.post_message(SignalRequested(self.pid))

    def action_python_stacks(self) -> None:
        self.post_message(PythonStacksRequested())

    def action_toggle_pyspy_mode(self) -> None:
        self.post_message(PyspyBlockingToggled())

    def action_back(self) -> None:
        self.post_message(CloseProcessRequested())

    def action_toggle_pause(self) -> None:
        self.post_message(PauseToggled())

    def action_help(self) -> None:
        self.post_message(HelpRequested())
