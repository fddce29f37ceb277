"""`stucktui report --all --format openmetrics`: the box's findings as metrics, for
node_exporter's textfile collector (or any scraper of OpenMetrics text).

One text serves both readers. It is OpenMetrics 1.0 (closing `# EOF`, `# UNIT` for the
`_seconds` gauges) using only what the Prometheus text format 0.0.4 shares with it: gauges
only, no timestamps (node_exporter refuses a file that has any), names and label names of the
legacy charset, HELP texts without backslash or double quote (the two formats escape those
differently). The Prometheus text parser (node_exporter's, prometheus/common expfmt) takes the
`# EOF` and `# UNIT` lines as comments.

Cardinality stays bounded on a sick box: per-process series only for processes with findings,
at most MAX_PROCESSES of them (the most severe first), and the CLOSE_WAIT holders up to
fleet.CLOSE_WAIT_HOLDERS; gauges say how many were left out. Label values (process names are
chosen by whoever started the process) are made printable first (control characters, bidi
marks and invalid UTF-8 as visible escapes), then escaped for the exposition format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from stucktui import __version__
from stucktui.model.findings import SEVERITIES
from stucktui.report.fleet import FleetBox
from stucktui.textsafe import printable

MAX_PROCESSES = 50  # processes with findings given their own series
NAME_MAX = 64  # characters of a process name label (comm is 15 bytes; escapes make it longer)

_Labels = tuple[tuple[str, str], ...]
_Sample = tuple[_Labels, float | int]


def label_value(value: object) -> str:
    """A label value safe to show and to parse: printable, then the exposition escapes."""
    s = printable(value, NAME_MAX)
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: float | int) -> str:
    return str(v) if isinstance(v, int) else repr(float(v))


def _family(name: str, help_text: str, samples: Iterable[_Sample], unit: str | None = None) -> list[str]:
    rows = list(samples)
    if not rows:
        return []
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    if unit:
        out.append(f"# UNIT {name} {unit}")
    for labels, value in rows:
        inner = ",".join(f'{k}="{label_value(v)}"' for k, v in labels)
        out.append(f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}")
    return out


def _one(v: float | int) -> list[_Sample]:
    return [((), v)]


def families(box: FleetBox, rules: Iterable[str] = (), max_processes: int = MAX_PROCESSES) -> list[list[str]]:
    """The metric families, each a list of lines (HELP, TYPE, [UNIT], samples)."""
    rep = box.report
    fams = [
        _family(
            "stucktui_build_info",
            "the stucktui version that wrote these metrics",
            [((("version", __version__),), 1)],
        ),
        _family(
            "stucktui_scan_complete",
            "1 when the scan of the box finished within its timeout; 0 when it was cut short "
            "(a hung file system?), and then no finding metrics follow",
            _one(int(rep is not None)),
        ),
        _family(
            "stucktui_scan_timestamp_seconds",
            "when the scan started, seconds since the epoch",
            _one(round(box.taken_at, 3)),
            "seconds",
        ),
        _family(
            "stucktui_scan_duration_seconds",
            "how long the scan took (its timeout when cut short)",
            _one(round(box.duration, 6)),
            "seconds",
        ),
    ]
    if rep is None:
        return [f for f in fams if f]
    seen = rep.visibility
    fams += [
        _family("stucktui_processes", "processes listed on the box", _one(rep.processes)),
        _family(
            "stucktui_examined_processes",
            "processes the first pass found suspect and examined in full",
            _one(rep.examined),
        ),
        _family(
            "stucktui_unreadable_processes",
            "processes whose fds, sockets and threads could not be read: no finding can come from them",
            _one(seen.unreadable if seen is not None else 0),
        ),
        _family(
            "stucktui_hidden_processes",
            "processes listed but hidden by /proc (hidepid)",
            _one(seen.hidden if seen is not None else 0),
        ),
    ]
    fams += _findings(box, rules, max_processes)
    fams += _close_wait(box)
    return [f for f in fams if f]


def _findings(box: FleetBox, rules: Iterable[str], max_processes: int) -> list[list[str]]:
    findings = box.report.findings if box.report is not None else ()
    by_rule = Counter((f.id, f.severity) for f in findings)
    ids = sorted(set(rules) | {f.id for f in findings})
    totals = [((("rule", r), ("severity", s)), by_rule[(r, s)]) for r in ids for s in SEVERITIES]
    pids: list[int] = []
    for f in findings:  # most severe first: the processes kept are the worst
        if f.pid not in pids:
            pids.append(f.pid)
    kept = set(pids[:max_processes])
    per = Counter((f.pid, f.name, f.id, f.severity) for f in findings if f.pid in kept)
    order = {pid: i for i, pid in enumerate(pids)}
    per_process = [
        ((("pid", str(pid)), ("name", name), ("rule", rule), ("severity", sev)), n)
        for (pid, name, rule, sev), n in sorted(per.items(), key=lambda kv: (order[kv[0][0]], kv[0][2:]))
    ]
    return [
        _family("stucktui_findings", "findings on the box by rule and severity", totals),
        _family("stucktui_processes_with_findings", "processes with at least one finding", _one(len(pids))),
        _family(
            "stucktui_process_findings",
            f"findings of one process by rule and severity (the {max_processes} processes with the "
            "most severe findings)",
            per_process,
        ),
        _family(
            "stucktui_process_findings_left_out_processes",
            "processes with findings left out of stucktui_process_findings (bounded cardinality)",
            _one(max(0, len(pids) - max_processes)),
        ),
    ]


def _close_wait(box: FleetBox) -> list[list[str]]:
    cw = box.close_wait
    if cw is None:
        return []
    holders = [((("pid", str(pid)), ("name", name)), n) for pid, name, n in cw.holders]
    return [
        _family(
            "stucktui_close_wait_sockets",
            "CLOSE_WAIT connections held on the box: fds on CLOSE_WAIT sockets and closed "
            "connections in the accept queues of listeners, summed over the processes readable",
            _one(cw.total),
        ),
        _family(
            "stucktui_process_close_wait_sockets",
            "CLOSE_WAIT connections held by one process (the top holders)",
            holders,
        ),
        _family(
            "stucktui_close_wait_left_out_processes",
            "processes holding CLOSE_WAIT connections left out of stucktui_process_close_wait_sockets",
            _one(cw.left_out),
        ),
        _family(
            "stucktui_close_wait_unknown_processes",
            "processes whose fds could not be read: their CLOSE_WAIT connections are not counted",
            _one(cw.unknown),
        ),
    ]


def render_openmetrics(box: FleetBox, rules: Iterable[str] = (), max_processes: int = MAX_PROCESSES) -> str:
    """OpenMetrics text, ending in `# EOF`. `rules`: every rule id, so a rule with no finding
    is a 0 (not an absent series)."""
    lines = [line for fam in families(box, rules, max_processes) for line in fam]
    return "\n".join([*lines, "# EOF"]) + "\n"
