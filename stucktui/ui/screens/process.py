"""The process view: facts about one process, then one tab per panel (ui/panels.py)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from stucktui.model.findings import Finding
from stucktui.model.panels import PanelData, unreadable
from stucktui.model.process import DetailGone, ProcessDetail
from stucktui.model.snapshot import Snapshot
from stucktui.model.waits import WaitChain
from stucktui.ui.keys import DETAIL_KEYS, FOOTER_WHEN_ABLE, bindings
from stucktui.ui.messages import (
    CloseProcessRequested,
    HelpRequested,
    PauseToggled,
    PyspyBlockingToggled,
    PythonStacksRequested,
    RefreshRequested,
    ShowSocketRequested,
    SignalRequested,
)
from stucktui.ui.panels import DETAIL_PANELS, DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.screens.triage import finding_text
from stucktui.ui.view import SnapshotScreen, ViewContext

_Shown = tuple[ProcessDetail | DetailGone, PanelData | None, tuple[Finding, ...] | None]


class ProcessScreen(SnapshotScreen):
    # w shows in the footer only while a thread of it waits on another process (check_action)
    BINDINGS = bindings(DETAIL_KEYS, shown_when_able=frozenset({"why_stuck"}))
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
        self.panels: PanelData | None = None  # the last panels: what could not be read
        self.chains: tuple[WaitChain, ...] | None = None  # its wait chains, once sampled

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"process {self.pid}: loading…"), id="process-title")
        yield Static(Text("findings: looking…", style="dim"), id="findings")
        with TabbedContent(id="panels", initial=f"tab-{self.active_panel}"):
            for spec in DETAIL_PANELS:
                with TabPane(spec.title, id=f"tab-{spec.id}"):
                    panel = spec.factory()
                    panel.pid = self.pid
                    yield panel
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.update_detail(*pending)

    @property
    def tab(self) -> str | None:
        return self.active_panel

    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        super().show_snapshot(snap, context)
        if snap.detail is not None and snap.selected_pid == self.pid:
            if snap.chains is not None:
                offered = bool(self.chains)
                self.chains = snap.chains
                if bool(self.chains) != offered:
                    self.refresh_bindings()  # the footer offers w, or no longer
            self.update_detail(snap.detail, snap.panels, snap.findings)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "why_stuck" and parameters == (FOOTER_WHEN_ABLE,):
            return bool(self.chains)  # else the key falls through to its hidden binding
        return super().check_action(action, parameters)

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
        if panels is not None:
            self.panels = panels
        if findings is not None:
            self.findings = findings
            self._show_findings()
        title = self.query_one("#process-title", Static)
        if isinstance(detail, DetailGone):
            self.gone = True
            name = self.detail.name if self.detail else "?"
            t = Text(f"process {self.pid} ", style="bold")
            t.append_text(safe_text(f"({name})"))
            t.append("  has exited: the facts below are the last ones seen", style="bold red")
            title.update(t)
            return
        self.detail = detail
        t = Text(f"process {detail.pid} ", style="bold")
        t.append_text(safe_text(f"({detail.name})", "bold"))
        t.append(f"  {detail.state} {detail.state_name}", style="")
        title.update(t)
        for panel in self.query(DetailPanel):
            panel.kernel_stacks = self.kernel_stacks
            panel.update_detail(detail, self.now)
            if panels is not None:
                panel.update_panels(panels)
        self.update_status(self.freshness)

    def _show_findings(self) -> None:
        t = Text()
        if not self.findings:
            blind = unreadable(self.panels, self.detail)
            if blind:
                t.append(
                    f"findings: none in what stucktui could read ({', '.join(blind)}: no permission, "
                    "run stucktui as root)",
                    style="yellow",
                )
            else:
                t.append("findings: none (no known stuck pattern in this process)", style="dim green")
        for i, f in enumerate(self.findings[:5]):
            if i:
                t.append("\n")
            t.append_text(finding_text(f))
        if len(self.findings) > 5:
            t.append(f"\n… {len(self.findings) - 5} more", style="dim")
        if self.findings:
            t.append("\nf: evidence and next steps", style="dim")
        self.query_one("#findings", Static).update(t)

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
        for w in self.query("#status").results(Static):  # none while composing or closing
            w.update(Text(freshness))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # the panel's keys (filter, order, group) work only with the focus inside it
        tables = [t for t in event.pane.query(DataTable) if t.display]
        if tables:
            tables[0].focus()
        pane = event.pane.id or ""
        if pane.removeprefix("tab-") != self.active_panel:
            self.active_panel = pane.removeprefix("tab-")
            self.post_message(RefreshRequested())

    def action_tab(self, n: int) -> None:
        if 0 < n <= len(DETAIL_PANELS):
            self.query_one(TabbedContent).active = f"tab-{DETAIL_PANELS[n - 1].id}"

    def on_show_socket_requested(self, msg: ShowSocketRequested) -> None:
        """From a socket fd elsewhere (Files): the Sockets panel, cursor on that fd."""
        from stucktui.ui.widgets.sockets_panel import SocketsPanel

        msg.stop()
        self.query_one(SocketsPanel).focus_fd(msg.fd)
        self.query_one(TabbedContent).active = "tab-sockets"

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
