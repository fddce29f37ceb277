"""Wait chains in a text or Markdown report: one line per chain, from the waiting threads to
the end, so a pasted report shows who waits on whom."""

from __future__ import annotations

from collections.abc import Callable

from stucktui.model.waits import WaitChain


def chain_text(c: WaitChain) -> str:
    """'pid 10 (api) threads 10, 11: write to fd 1 (pipe:[5]) -> pid 11 (tee): read from fd 0
    -> end stopped: pid 12 (sleep) stopped (state T)'."""
    parts = []
    for h in c.hops:
        tids = ", ".join(map(str, h.tids[:6])) + (", ..." if len(h.tids) > 6 else "")
        parts.append(f"pid {h.pid} ({h.name}) threads {tids}: {h.obj}")
    who = f"pid {c.end.pid} ({c.end.name}) " if c.end.pid is not None else ""
    parts.append(f"end {c.end.kind}: {who}{c.end.detail}")
    return " -> ".join(parts)


def chain_lines(
    chains: tuple[WaitChain, ...], esc: Callable[[object], str], heading: str, bullet: str
) -> list[str]:
    if not chains:
        return []
    return ["", heading, *(f"{bullet}{'STUCK ' if c.stuck else ''}{esc(chain_text(c))}" for c in chains)]
