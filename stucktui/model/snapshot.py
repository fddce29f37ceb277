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
