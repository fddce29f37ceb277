"""Wait chains in a text or Markdown report: one line per chain, from the waiting threads to
the end, so a pasted report shows who waits on whom."""

from __future__ import annotations

from collections.abc import Callable

from stucktui.model.waits import WaitChain, chain_text


def chain_lines(
    chains: tuple[WaitChain, ...], esc: Callable[[object], str], heading: str, bullet: str
) -> list[str]:
    if not chains:
        return []
    return ["", heading, *(f"{bullet}{'STUCK ' if c.stuck else ''}{esc(chain_text(c))}" for c in chains)]
