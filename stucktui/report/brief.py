"""What `report` prints to paste into a channel: the findings a reader asked for (`--severity`,
`--limit`), `--brief` (each finding with its one-line wait chains and next steps, 25 lines at
most for one process), and `report --all` grouped by process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stucktui.model.findings import SEVERITIES, Finding, Severity
from stucktui.model.waits import WaitChain, chain_text
from stucktui.report.pasting import code, heading, prose, wrap
from stucktui.report.sections import _step
from stucktui.textsafe import printable

BRIEF_LINES = 25  # the most lines `report PID --brief` prints
_STEPS = 2  # next steps a brief finding lists (the report without --brief has them all)
_CHAINS = 2  # wait chains a brief finding lists


def select(
    findings: Sequence[Finding], severity: Severity | None = None, limit: int | None = None
) -> tuple[Finding, ...]:
    """The findings at `severity` or worse, the first `limit` of them (they come most severe
    first); every finding when neither is given."""
    keep = [f for f in findings if severity is None or f.rank <= SEVERITIES.index(severity)]
    return tuple(keep if limit is None else keep[:limit])


def by_process(items: list[dict[str, Any]]) -> list[tuple[int, str, list[dict[str, Any]]]]:
    """`report --all`'s findings grouped by pid, the process with the most severe finding first
    (the order they come in), each group's findings in their own order."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for it in items:
        groups.setdefault(it["pid"], []).append(it)
    return [(pid, its[0]["name"], its) for pid, its in groups.items()]


def group_head(pid: int, name: str, count: int, markdown: bool) -> str:
    what = f"{count} finding{'s' if count != 1 else ''}"
    if markdown:
        return f"{heading(f'pid {pid}')} ({prose(name)}): {what}"
    return f"pid {pid} ({printable(name)}): {what}"


def chains_of(f: Finding, chains: Sequence[WaitChain]) -> list[WaitChain]:
    """The wait chains a finding is about: those of its threads; for a finding that names no
    thread, the stuck chains that start in its process."""
    if f.tids:
        return [c for c in chains if set(c.tids) & set(f.tids)]
    return [c for c in chains if c.stuck and c.hops and c.hops[0].pid == f.pid]


def brief_block(f: Finding, chains: Sequence[WaitChain], markdown: bool, who: bool) -> list[str]:
    """One finding in a few lines: its head, its chains on one line each, its first next steps."""
    esc = prose if markdown else printable
    whose = f" pid {f.pid} ({esc(f.name)})" if who else ""
    mine = chains_of(f, chains)
    facts = [f"chain: {'STUCK ' if c.stuck else ''}{esc(chain_text(c))}" for c in mine[:_CHAINS]]
    if len(mine) > _CHAINS:
        facts.append(f"chain: ... and {len(mine) - _CHAINS} more")
    facts += [f"next: {esc(_step(s))}" for s in f.next_steps[:_STEPS]]
    sev = f.severity.upper()
    if markdown:
        return [f"- *{sev}* {code(f.id)}{whose}: {esc(f.summary)}", *(f"  - {x}" for x in facts)]
    return wrap([f"[{sev} {esc(f.id)}{whose}] {esc(f.summary)}", *(f"    {x}" for x in facts)])


def fit(blocks: list[list[str]], budget: int, markdown: bool, more: str) -> list[str]:
    """As many whole blocks as fit in `budget` lines, and a last line saying what was left out
    (`more` says where to see it)."""
    out: list[str] = []
    for i, block in enumerate(blocks):
        room = budget - len(out) - (1 if i < len(blocks) - 1 else 0)
        if len(block) > room:
            left = len(blocks) - i
            line = f"... {left} more finding{'s' if left != 1 else ''}: {more}"
            return [*out, f"- {line}" if markdown else line]
        out += block
    return out


def counts(items: Sequence[Finding]) -> str:
    per = {s: sum(1 for f in items if f.severity == s) for s in SEVERITIES}
    return ", ".join(f"{s} {n}" for s, n in per.items() if n)
