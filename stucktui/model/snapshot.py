"""Immutable snapshots: what one refresh learned about the box and the selected process.

Built by stucktui.inspection (the sampler, in a worker), consumed by the UI and by stucktui.report;
never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stucktui.model.process import DetailGone, ProcessDetail, ProcessListSnapshot, Unavailable

if TYPE_CHECKING:
    from stucktui.model.findings import Finding, TriageResult
    from stucktui.model.panels import PanelData
    from stucktui.model.sockets import SocketSummary
    from stucktui.model.waits import WaitChain


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One refresh: the list, and the detail of the selected process if one is open."""

    processes: ProcessListSnapshot | None
    detail: ProcessDetail | DetailGone | None
    selected_pid: int | None
    panels: PanelData | None = None  # the selected process's panels that were asked for
    # the box-wide Sockets view, or why it could not be built; None when not asked for
    box_sockets: SocketSummary | Unavailable | None = None
    findings: tuple[Finding, ...] | None = None  # of the selected process, most severe first
    triage: TriageResult | None = None  # the box's findings, when a triage ran this refresh
    # the selected process's wait chains (stucktui.diagnose.chains), with its findings
    chains: tuple[WaitChain, ...] | None = None

    def without_process(self) -> Snapshot:
        """Only the box's part: a process refresh taken for a selection since changed."""
        return Snapshot(self.processes, None, None, box_sockets=self.box_sockets, triage=self.triage)

    def over(self, last: Snapshot | None) -> Snapshot:
        """The newest of each lane as one (the TUI's refreshes come from two lanes, the box's
        and the open process's): this one, with the process list and the selected process's
        detail of `last` where this one has none (the box lane reads no process, the process
        lane no list)."""
        if last is None:
            return self
        processes = self.processes if self.processes is not None else last.processes
        if self.detail is None and self.selected_pid is None:
            return Snapshot(processes, last.detail, last.selected_pid)
        return Snapshot(processes, self.detail, self.selected_pid)
