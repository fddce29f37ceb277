"""Report sections for the process panels (threads, signals, ...): JSON dicts from the
collectors' own report functions, and text/Markdown lines rendered from those same dicts so the
three formats always carry the same facts."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stucktui.model.findings import Finding
from stucktui.model.panels import PanelData
from stucktui.model.process import Unavailable
from stucktui.report.panels_json import (
    files_keys,
    locks_keys,
    signals_keys,
    sockets_keys,
    threads_keys,
)
from stucktui.report.panels_text import (
    Escape,
    Fmt,
    files_lines,
    locks_lines,
    signals_lines,
    sockets_lines,
    threads_lines,
)
from stucktui.report.pasting import code, fenced, heading, prose
from stucktui.textsafe import printable


@dataclass(frozen=True, slots=True)
class PanelSection:
    """One panel in the report: the PanelData field, the key the JSON keeps its reason under
    when it could not be read, the text/Markdown title, the JSON key that says it was
    collected, and how its lines are written."""

    panel: str
    reason_key: str
    title: str
    present_key: str
    lines: Callable[[dict[str, Any], Fmt], list[str]]
    to_json: Callable[[Any], dict[str, Any]]
    empty: dict[str, Any]  # the JSON keys it keeps, empty, when it could not be read


# the report's panel sections, in the order they print
PANEL_SECTIONS: tuple[PanelSection, ...] = (
    PanelSection(
        "sockets",
        "sockets",
        "Sockets",
        "sockets",
        sockets_lines,
        sockets_keys,
        {"sockets": {"states": {}, "items": [], "by_remote": []}},
    ),
    PanelSection("files", "fds", "Files", "fds", files_lines, files_keys, {"fds": []}),
    PanelSection("locks", "locks", "Locks", "locks", locks_lines, locks_keys, {"locks": []}),
    PanelSection(
        "threads",
        "threads",
        "Threads",
        "thread_groups",
        threads_lines,
        threads_keys,
        {"threads": [], "thread_groups": []},
    ),
    PanelSection("signals", "signals", "Signals", "signals", signals_lines, signals_keys, {}),
)


def json_sections(panels: PanelData | None) -> dict[str, Any]:
    """The panels' JSON keys (PANEL_SECTIONS order); a panel that could not be read keeps its
    keys, empty, and says why under `unavailable_sections`."""
    out: dict[str, Any] = {}
    if panels is None:
        return out
    for sec in PANEL_SECTIONS:
        value = getattr(panels, sec.panel)
        if isinstance(value, Unavailable):
            out.update({k: copy.deepcopy(v) for k, v in sec.empty.items()})
            out.setdefault("unavailable_sections", {})[sec.reason_key] = str(value)
        elif value is not None:
            out.update(sec.to_json(value))
            unlisted = getattr(value, "unlisted", None)  # ProcessFiles: the fd table was refused
            if unlisted is not None:
                out.setdefault("unavailable_sections", {})[sec.reason_key] = str(unlisted)
    return out


def section_lines(data: dict[str, Any], esc: Escape, heading: Callable[[str], str], bullet: str) -> list[str]:
    """Lines for the panel sections of one report; `esc` escapes a value for the format. A
    section that could not be read gets its reason under its heading, not '0 items'."""
    f = Fmt(esc, heading, bullet, data.get("unavailable_sections") or {})
    out: list[str] = []
    for sec in PANEL_SECTIONS:
        why = f.unavailable(sec.reason_key)
        if why is not None:
            out += ["", heading(sec.title), f"{bullet}not available: {esc(why)}"]
        elif data.get(sec.present_key) is not None:
            out += sec.lines(data, f)
    return out


def text_lines(data: dict[str, Any]) -> list[str]:
    return ["  " + line if line else line for line in section_lines(data, printable, lambda h: h + ":", "")]


_TITLE = "\x00"  # marks a section's title among its lines (printable() escapes any NUL of theirs)


def markdown_lines(data: dict[str, Any]) -> list[str]:
    """The panel sections in Markdown: each title a heading line, its lines one fenced block
    (the text report's, so columns stay aligned and nothing in them is markup)."""
    out: list[str] = []
    block: list[str] = []
    for line in [*section_lines(data, printable, lambda h: _TITLE + h, ""), _TITLE]:
        if not line.startswith(_TITLE):
            block += [line] if line else []
            continue
        out += fenced(block) if block else []
        block = []
        if line != _TITLE:
            out += [*([""] if out[-1:] != [""] else []), heading(prose(line[1:])), ""]
    return out


def _step(step: str) -> str:
    """A next step as a pasted report reads it: key presses happen in `stucktui PID`."""
    return "in stucktui, " + step if step.startswith("press ") else step


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def findings_json(findings: Iterable[Finding], *, with_pid: bool = False) -> list[dict[str, Any]]:
    """The `findings` of `stucktui report`: id, severity, summary, evidence, next_steps (a
    contract), since (when stucktui first saw what a finding that depends on time rests on;
    null otherwise); `report --all` adds pid and name."""
    out = []
    for f in findings:
        item = {**f.to_json(), "since": None if f.since is None else iso_time(f.since)}
        if with_pid:
            item = {"pid": f.pid, "name": f.name, **item}
        out.append(item)
    return out


def finding_lines(
    items: list[dict[str, Any]], markdown: bool, *, who: bool = True, evidence: bool = True
) -> list[str]:
    """One block per finding, most severe first; raw strings escaped for the format. `who`:
    name the process in the head (a box report not grouped by process)."""
    esc = prose if markdown else printable
    out: list[str] = []
    for it in items:
        whose = f" pid {it['pid']} ({esc(it['name'])})" if who and "pid" in it else ""
        since = [f"since: {esc(it['since'])} (first seen by stucktui)"] if it.get("since") else []
        facts = since + [f"evidence: {esc(e)}" for e in it["evidence"]] if evidence else []
        facts += [f"next: {esc(_step(s))}" for s in it["next_steps"]]
        if markdown:
            out.append(f"- *{it['severity'].upper()}* {code(it['id'])}{whose}: {esc(it['summary'])}")
            out.extend(f"  - {x}" for x in facts)
        else:
            out.append(f"[{it['severity'].upper()} {esc(it['id'])}{whose}] {esc(it['summary'])}")
            out.extend(f"    {x}" for x in facts)
    return out


def _none(blind: list[str]) -> str:
    if not blind:
        return "none (no known stuck pattern)"
    return (
        f"none in what stucktui could read ({', '.join(blind)}: not readable; run stucktui as "
        "root to see them)"
    )


def findings_text(items: list[dict[str, Any]], blind: list[str] | None = None) -> list[str]:
    head = f"Findings ({len(items)}, most severe first):" if items else f"Findings: {_none(blind or [])}"
    return ["", "  " + head, *("  " + line for line in finding_lines(items, False))]


def findings_markdown(items: list[dict[str, Any]], blind: list[str] | None = None) -> list[str]:
    head = (
        heading(f"Findings ({len(items)}, most severe first)")
        if items
        else f"{heading('Findings:')} {prose(_none(blind or []))}"
    )
    return ["", head, *([""] if items else []), *finding_lines(items, True)]
