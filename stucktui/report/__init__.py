"""Text, Markdown and JSON renderings of a process snapshot, for incident channels and scripts.

The JSON keys are a contract (scripts depend on them): add keys, never rename or drop them.
Every user-controlled string is escaped in text and Markdown (textsafe); JSON is emitted with
ensure_ascii so no raw control or bidi character can reach a terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stucktui.model.findings import Finding
from stucktui.model.panels import PanelData, unreadable
from stucktui.model.process import ProcessDetail, Unavailable, Visibility
from stucktui.model.text import clock_time, human_age, human_bytes
from stucktui.model.waits import WaitChain, chain_text
from stucktui.report.brief import BRIEF_LINES, brief_block, by_process, counts, fit, group_head
from stucktui.report.chains import chain_lines
from stucktui.report.pasting import code, fenced, heading, prose, wrap
from stucktui.report.sections import (
    finding_lines,
    findings_json,
    findings_markdown,
    findings_text,
    iso_time,
    json_sections,
    markdown_lines,
    text_lines,
)
from stucktui.textsafe import printable, printable_argv

FORMATS = ("text", "markdown", "json")


def _v(x: Any) -> Any:
    return None if isinstance(x, Unavailable) else x


@dataclass(frozen=True)
class Report:
    """Everything one report holds: the process facts, the panels collected for it, and its
    findings (stucktui.inspection.examine's: the report only renders them)."""

    detail: ProcessDetail
    panels: PanelData | None = None
    findings: tuple[Finding, ...] = ()
    chains: tuple[WaitChain, ...] = ()  # the waits of its blocked threads, followed to their ends
    # what could not be read before the report's deadline, and why ('could not read the open
    # files of pid N (...): timed out after 20 s (a hung filesystem?)'); empty when complete
    incomplete: tuple[str, ...] = ()

    def finding_items(self) -> list[dict[str, Any]]:
        return findings_json(self.findings)


def to_json_dict(rep: Report) -> dict[str, Any]:
    d = rep.detail
    unavailable = {
        k: str(v)
        for k, v in (
            ("exe", d.exe),
            ("cwd", d.cwd),
            ("num_fds", d.num_fds),
            ("fd_limit", d.fd_limit),
            ("cgroup", d.cgroup),
        )
        if isinstance(v, Unavailable)
    }
    fd_limit = None if isinstance(d.fd_limit, Unavailable) else d.fd_limit[0]
    out: dict[str, Any] = {
        "findings": rep.finding_items(),
        "pid": d.pid,
        "ppid": d.ppid,
        "name": d.name,
        "cmdline": list(d.cmdline),
        "exe": _v(d.exe),
        "cwd": _v(d.cwd),
        "user": d.user,
        "uid": d.uid,
        "state": d.state,
        "state_name": d.state_name,
        "start_time": iso_time(d.start_time),
        "cpu_percent": None if d.cpu_percent is None else round(d.cpu_percent, 1),
        "rss_bytes": d.rss_bytes,
        "num_threads": d.num_threads,
        "num_fds": _v(d.num_fds),
        "fd_limit": fd_limit,
        "fd_limit_hard": None if isinstance(d.fd_limit, Unavailable) else d.fd_limit[1],
        "parents": [{"pid": a.pid, "name": a.name} for a in d.parents],
        "cgroup": _v(d.cgroup),
        "container": d.container_hint,
        "nspid": list(d.nspid),
        "kernel_thread": d.is_kernel_thread,
        "taken_at": iso_time(d.taken_at),
        "unavailable": unavailable,
        # what could not be read at all: no finding can come from these ("findings": [] then
        # means "none in what stucktui could read")
        "unreadable": unreadable(rep.panels, rep.detail),
        "notes": list(d.notes),
        "wait_chains": [c.to_json() for c in rep.chains],
        "incomplete": list(rep.incomplete),
    }
    out.update(json_sections(rep.panels))
    return out


def exited_json(pid: int, error: str) -> str:
    """`report PID --format json` when the process exited (or its pid went to another
    process) while it was read: no facts, only that."""
    doc = {"pid": pid, "exited_during_report": True, "error": error, "findings": []}
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def render_json(rep: Report) -> str:
    return json.dumps(to_json_dict(rep), indent=2, ensure_ascii=True) + "\n"


def _fd_usage(d: ProcessDetail) -> str:
    if isinstance(d.num_fds, Unavailable):
        return f"{d.num_fds}"
    if isinstance(d.fd_limit, Unavailable) or d.fd_limit[0] is None:
        return (
            f"{d.num_fds} (limit unknown)"
            if isinstance(d.fd_limit, Unavailable)
            else f"{d.num_fds} (no limit)"
        )
    soft, hard = d.fd_limit
    pct = 100.0 * d.num_fds / soft if soft else 0.0
    hard_s = "unlimited" if hard is None else str(hard)
    return f"{d.num_fds} of {soft} ({pct:.0f}% of RLIMIT_NOFILE; hard limit {hard_s})"


def fact_lines(d: ProcessDetail, now: float | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs shared by the text and Markdown reports and the detail view.
    Values are raw: each renderer escapes them its own way."""
    now = d.taken_at if now is None else now
    chain = " <- ".join(f"{a.pid} {a.name}" for a in d.parents) or "-"
    cmd = " ".join(d.cmdline) if d.cmdline else f"[{d.name}]"
    cpu = "-" if d.cpu_percent is None else f"{d.cpu_percent:.1f}%"
    kind = " (kernel thread)" if d.is_kernel_thread else ""
    lines = [
        ("pid", f"{d.pid}{kind}"),
        ("name", d.name),
        ("command", cmd),
        ("state", f"{d.state} ({d.state_name})"),
        ("user", f"{d.user} (uid {d.uid})"),
        ("parents", chain),
        ("started", f"{iso_time(d.start_time)} ({human_age(now - d.start_time)} ago)"),
        ("exe", str(d.exe)),
        ("cwd", str(d.cwd)),
        ("cgroup", str(d.cgroup)),
        ("container", d.container_hint or "-"),
        ("cpu", cpu),
        ("memory", f"{human_bytes(d.rss_bytes)} resident"),
        ("threads", str(d.num_threads)),
        ("open fds", _fd_usage(d)),
    ]
    if d.tracer_pid:
        lines.append(("traced by", f"pid {d.tracer_pid}"))
    return lines


def render_text(rep: Report) -> str:
    d = rep.detail
    sections = json_sections(rep.panels)
    out = [f"stucktui report: pid {d.pid} ({printable(d.name)}) at {iso_time(d.taken_at)}"]
    out.extend(f"  INCOMPLETE: {printable(line)}" for line in rep.incomplete)
    out.extend(findings_text(rep.finding_items(), unreadable(rep.panels, rep.detail)))
    out.append("")
    out.extend(_facts(d, "  "))
    out.extend(
        "  " + line if line else line for line in chain_lines(rep.chains, printable, "Wait chains:", "")
    )
    out.extend(text_lines(sections))
    return "\n".join(wrap(out)) + "\n"


def _facts(d: ProcessDetail, indent: str) -> list[str]:
    """The process's facts as 'label: value' lines, printable (text, and a Markdown block)."""
    out = []
    for label, value in fact_lines(d):
        v = printable_argv(d.cmdline) if label == "command" and d.cmdline else printable(value)
        out.append(f"{indent}{label + ':':<11} {v}")
    return out + [f"{indent}note: {printable(n)}" for n in d.notes]


def render_markdown(rep: Report) -> str:
    d = rep.detail
    sections = json_sections(rep.panels)
    out = [heading(f"stucktui report: pid {d.pid} ({code(d.name)})")]
    out.extend(f"\n{heading('Incomplete:')} {prose(line)}" for line in rep.incomplete)
    out.extend(findings_markdown(rep.finding_items(), unreadable(rep.panels, rep.detail)))
    out += ["", heading("Process"), "", *fenced(_facts(d, ""))]
    out.extend(chain_lines(rep.chains, prose, heading("Wait chains"), "- "))
    out.extend(markdown_lines(sections))
    out.append("")
    out.append(f"_taken at {iso_time(d.taken_at)} by stucktui_")
    return "\n".join(out) + "\n"


def render_brief(rep: Report, fmt: str) -> str:
    """`report PID --brief`: the findings, each with its one-line wait chains and first next
    steps, in at most 25 lines (text or Markdown)."""
    d, md = rep.detail, fmt == "markdown"
    esc = prose if md else printable
    n = len(rep.findings)
    found = f"{n} finding{'s' if n != 1 else ''} ({counts(rep.findings)})" if n else "no findings"
    head = f"stucktui report: pid {d.pid} ({esc(d.name)}) at {iso_time(d.taken_at)}: {found}"
    out = [heading(head) if md else head]
    out += [f"INCOMPLETE: {esc(line)}" for line in rep.incomplete]
    if not rep.findings:
        blind = unreadable(rep.panels, rep.detail)
        out += [f"none in what stucktui could read ({', '.join(blind)}: not readable)" if blind else ""]
        stuck = [c for c in rep.chains if c.stuck]
        out += [f"{'- ' if md else ''}chain: STUCK {esc(chain_text(c))}" for c in stuck[:3]]
        out = [x for x in out if x]
    blocks = [brief_block(f, rep.chains, md, False) for f in rep.findings]
    more = f"`stucktui report {d.pid}` has them all" if md else f"stucktui report {d.pid} has them all"
    out += fit(blocks, BRIEF_LINES - len(out), md, more)
    return "\n".join(out if md else wrap(out)) + "\n"


@dataclass(frozen=True)
class BoxReport:
    """`stucktui report --all`: the findings of every process on the box."""

    findings: tuple[Finding, ...]
    processes: int
    examined: int  # processes the first pass found suspect and looked at in full
    taken_at: float
    duration: float
    title: str = "stucktui report --all"
    chains: tuple[WaitChain, ...] = ()  # the stuck wait chains, grouped by the process they end at
    visibility: Visibility | None = None  # how much of the box could be read
    cpu_window: float | None = None  # seconds CPU% was measured over (None: CPU unknown)


def as_of_line(taken_at: float, cpu_window: float | None) -> str:
    """The time of day a one-shot triage was taken, and the window its CPU% is from."""
    cpu = "CPU unknown" if cpu_window is None else f"CPU% over {cpu_window:.2f} s"
    return f"as of {clock_time(taken_at)} ({cpu})"


def box_json(rep: BoxReport) -> dict[str, Any]:
    seen = rep.visibility
    return {
        "taken_at": iso_time(rep.taken_at),
        "processes": rep.processes,
        "examined": rep.examined,
        # processes whose fds, sockets and threads could not be read: no finding comes from them
        "unreadable_processes": seen.unreadable if seen is not None else 0,
        "hidden_processes": seen.hidden if seen is not None else 0,
        "visibility_notes": seen.lines() if seen is not None else [],
        "duration_ms": round(rep.duration * 1000, 1),
        # seconds the CPU% that epoll-spin reads was measured over (null: not measured)
        "cpu_window_s": None if rep.cpu_window is None else round(rep.cpu_window, 3),
        "findings": findings_json(rep.findings, with_pid=True),
        "wait_chains": [c.to_json() for c in rep.chains],
    }


def render_box(rep: BoxReport, fmt: str, *, brief: bool = False) -> str:
    """`report --all` in text or Markdown (or JSON): its findings grouped by process, the
    process with the most severe finding first; `brief`: each finding in a few lines."""
    data = box_json(rep)
    items = data["findings"]
    pids = len({f.pid for f in rep.findings})
    head = f"{rep.title}: {len(items)} findings in {pids} of {rep.processes} processes at {data['taken_at']}"
    blind = data["visibility_notes"]
    none = "no known stuck pattern" + (" in what stucktui could read" if blind else "")
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=True) + "\n"
    md = fmt == "markdown"
    as_of = as_of_line(rep.taken_at, rep.cpu_window)
    esc = prose if md else printable
    if md:
        lines = [heading(prose(head)), ""]
        lines += [f"- *not seen*: {prose(n)}" for n in blind] + ([""] if blind else [])
        lines += [f"_{as_of}_"]
    else:
        lines = [printable(head)] + [f"not seen: {printable(n)}" for n in blind] + [as_of]
    findings = {id(it): f for it, f in zip(items, rep.findings, strict=True)}
    for pid, name, its in by_process(items):
        lines += ["", group_head(pid, name, len(its), md), *([""] if md else [])]
        if brief:
            body = [x for it in its for x in brief_block(findings[id(it)], rep.chains, md, False)]
        else:
            body = finding_lines(its, md, who=False)
        lines += body if md else ["    " + x for x in body]  # past a continuation's two
    if not items:
        lines += ["", f"No findings: {none} on this box." if md else f"no findings: {none}"]
    if not brief:
        title = heading("Stuck wait chains, by root") if md else "Stuck wait chains, by root:"
        lines += chain_lines(rep.chains, esc, title, "- " if md else "  ")
    return "\n".join(lines if md else wrap(lines)) + "\n"


def render(rep: Report, fmt: str, *, brief: bool = False) -> str:
    if brief and fmt != "json":
        return render_brief(rep, fmt)
    if fmt == "json":
        return render_json(rep)
    if fmt == "markdown":
        return render_markdown(rep)
    return render_text(rep)
