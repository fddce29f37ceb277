"""A rule declared once: its id, its check, what it reads, what makes the triage look closer,
what its clocks follow, where it stands among causes and symptoms, and its severity ladder.

Every derived list (the engine's rule list, the panels each clue needs, the kinds History
tracks, the cause-before-symptom order) is computed from the specs in stucktui.diagnose.rules,
so adding a rule touches its own module (a rule function and a RuleSpec beside it), its tests
and one README line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from stucktui.diagnose.subject import Subject
from stucktui.model import clues
from stucktui.model.findings import Finding

# What a rule may read beyond the process's own detail: the panels inspection collects for it,
# and "python" for py-spy's stacks (taken only where a clue and the facts say they may matter).
PANELS: Final = frozenset({"threads", "files", "sockets", "signals", "locks", "python"})


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str  # 'pipe-writers-blocked': the finding id, a contract of `report --format json`
    check: Callable[[Subject], list[Finding]]
    # the first-pass clues (stucktui.model.clues) that make the triage give a process a full
    # look for this rule; the process view looks at every rule whatever the clues
    clues: frozenset[str]
    needs: frozenset[str]  # what it reads (PANELS); the context comes with the panels
    # 0 for a root cause ... higher for the symptoms it produces: within one severity and one
    # process, findings list causes first (blocked writers leave requests unread)
    cause_rank: int
    # how severity grows, in words (README, `stucktui rules`); the check decides
    ladder: str
    tracks: frozenset[str] = frozenset()  # History kinds (clues) whose age the rule reads

    def __call__(self, s: Subject) -> list[Finding]:
        return self.check(s)

    def __post_init__(self) -> None:
        unknown = (self.clues - clues.CLUES) | (self.tracks - clues.CLUES - clues.TRACKED_ONLY)
        if unknown or self.needs - PANELS:
            bad = sorted(unknown | (self.needs - PANELS))
            raise ValueError(f"rule {self.id}: unknown clues or needs {bad}")
