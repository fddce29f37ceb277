"""Report sections for the process panels (threads, signals, ...): JSON dicts from the
collectors' own report functions, and text/Markdown lines rendered from those same dicts so the
three formats always carry the same facts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stucktui.collect.panels import PanelData
from stucktui.collect.signals import SignalsSnapshot, signals_report
from stucktui.collect.threads import ThreadsSnapshot, thread_groups_report, threads_report
from stucktui.textsafe import markdown_escape, printable

Escape = Callable[[object], str]


def json_sections(panels: PanelData | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if panels is None:
        return out
    if isinstance(panels.threads, ThreadsSnapshot):
        out["threads"] = threads_report(panels.threads)
        out["thread_groups"] = thread_groups_report(panels.threads)
        py = panels.threads.python
        out["python"] = None if py is None else getattr(py, "line", "ok")
    elif isinstance(panels.threads, str):
        out["threads"] = []
        out["thread_groups"] = []
        out.setdefault("unavailable_sections", {})["threads"] = panels.threads
    if isinstance(panels.signals, SignalsSnapshot):
        out["signals"] = signals_report(panels.signals)
        out["signals"]["stuck"] = list(panels.signals.stuck)
    elif isinstance(panels.signals, str):
        out.setdefault("unavailable_sections", {})["signals"] = panels.signals
    return out


def _names(v: list[str]) -> str:
    return ", ".join(v) if v else "-"


def section_lines(data: dict[str, Any], esc: Escape, heading: Callable[[str], str], bullet: str) -> list[str]:
    """Lines for the panel sections of one report; `esc` escapes a value for the format."""
    out: list[str] = []
    groups = data.get("thread_groups")
    if groups is not None:
        out += ["", heading(f"Threads ({len(data.get('threads', []))})")]
        if data.get("python"):
            out.append(f"{bullet}python stacks: {esc(data['python'])}")
        for g in groups:
            out.append(f"{bullet}{esc(g['summary'])}  [tids {esc(', '.join(map(str, g['tids'][:20])))}]")
        for t in data.get("threads", []):
            stack = t.get("python_stack") or []
            if not stack:
                continue
            out.append(f"{bullet}thread {t['tid']} ({esc(t['name'])}) Python stack, innermost first:")
            for f in stack[:30]:
                out.append(f"    {esc(f['function'])} ({esc(f['file'])}:{f['line']})")
    sig = data.get("signals")
    if sig is not None:
        out += ["", heading("Signals")]
        if sig.get("stuck"):
            out.append(f"{bullet}PENDING BUT BLOCKED: {esc(_names(sig['stuck']))}")
        for key, label in (
            ("pending", "pending (thread)"),
            ("shared_pending", "pending (process)"),
            ("blocked", "blocked"),
            ("ignored", "ignored"),
            ("caught", "caught"),
        ):
            out.append(f"{bullet}{label}: {esc(_names(sig[key]))}")
        for tid, m in sig.get("threads", {}).items():
            out.append(
                f"{bullet}thread {esc(tid)}: blocked {esc(_names(m['blocked']))}; pending {esc(_names(m['pending']))}"
            )
        diff = sig.get("parent_diff") or {}
        if diff:
            extra = [f"blocked here, not in parent: {_names(diff['blocked_here_only'])}"]
            if diff.get("blocked_parent_only"):
                extra.append(f"blocked in parent only: {_names(diff['blocked_parent_only'])}")
            if diff.get("same_mask_parent_tid"):
                extra.append(f"same mask as parent thread {diff['same_mask_parent_tid']} (inherited)")
            out.append(f"{bullet}parent {diff['parent_pid']} ({esc(diff['parent_name'])}): {esc('; '.join(extra))}")
    for name, why in (data.get("unavailable_sections") or {}).items():
        out.append(f"{bullet}{esc(name)}: {esc(why)}")
    return out


def text_lines(data: dict[str, Any]) -> list[str]:
    return ["  " + line if line else line for line in section_lines(data, printable, lambda h: h + ":", "")]


def markdown_lines(data: dict[str, Any]) -> list[str]:
    return section_lines(data, markdown_escape, lambda h: f"#### {h}", "- ")
