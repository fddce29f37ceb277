"""`stucktui report --all --format jsonl`: one JSON object a line, for ad-hoc runs across a
fleet (Ansible, Salt, pssh), where each box's answer is mixed with the others'.

A line per finding (`"kind": "finding"`: the keys of `report --all --format json`'s findings,
pid, name, id, severity, summary, evidence, next_steps), most severe first, then always one
line for the box itself (`"kind": "box"`): so a box that answered with no finding (healthy, in
what it could read) differs from one that did not answer at all. Every line carries `host`,
`time` (ISO 8601, UTC), `epoch` (seconds) and `rank` (0 critical, 1 warning, 2 info, 3 the box
line), which sorts a fleet's lines most severe first.

Strings are escaped as the text report shows them (control characters, bidi marks and invalid
UTF-8 as visible `\\x1b`-style escapes), so `jq -r` cannot put a hostile process name's escape
sequence on the operator's terminal; JSON's own escapes (ensure_ascii) come on top.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from stucktui.model.findings import SEVERITIES, worst
from stucktui.report.fleet import FleetBox
from stucktui.report.sections import findings_json
from stucktui.textsafe import printable

BOX_RANK = len(SEVERITIES)


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def render_jsonl(box: FleetBox) -> str:
    stamp = {
        "host": printable(box.host),
        "time": datetime.fromtimestamp(box.taken_at, UTC).isoformat(timespec="seconds"),
        "epoch": round(box.taken_at, 3),
    }
    rep = box.report
    findings = rep.findings if rep is not None else ()
    lines = [
        _line({**stamp, "kind": "finding", "rank": f.rank, **{k: _safe(v) for k, v in item.items()}})
        for f, item in zip(findings, findings_json(findings, with_pid=True), strict=True)
    ]
    seen = rep.visibility if rep is not None else None
    cw = box.close_wait
    summary: dict[str, Any] = {
        **stamp,
        "kind": "box",
        "rank": BOX_RANK,
        "severity": worst(findings),  # the most severe finding's; null when none
        "complete": rep is not None,
        "counts": box.by_severity(),
        "processes": rep.processes if rep is not None else None,
        "examined": rep.examined if rep is not None else None,
        "unreadable_processes": seen.unreadable if seen is not None else 0,
        "hidden_processes": seen.hidden if seen is not None else 0,
        "visibility_notes": _safe(seen.lines()) if seen is not None else [],
        "close_wait_sockets": cw.total if cw is not None else None,
        "duration_ms": round(box.duration * 1000, 1),
        "incomplete": _safe(list(box.incomplete)),
    }
    lines.append(_line(summary))
    return "\n".join(lines) + "\n"
