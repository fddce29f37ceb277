"""Report sections for the process panels (threads, signals, ...): JSON dicts from the
collectors' own report functions, and text/Markdown lines rendered from those same dicts so the
three formats always carry the same facts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from stucktui.model.files import ProcessFiles
from stucktui.model.findings import Finding
from stucktui.model.locks import ProcessLocks, waiter_text
from stucktui.model.panels import PanelData
from stucktui.model.process import Unavailable
from stucktui.model.signals import NSIG, SignalsSnapshot, mask_names
from stucktui.model.sockets import ProcessSockets
from stucktui.model.text import head_and_tail
from stucktui.model.threads import ThreadsSnapshot
from stucktui.report.panels_json import (
    fds_json,
    locks_json,
    signals_report,
    sockets_report,
    thread_groups_report,
    threads_report,
)
from stucktui.textsafe import markdown_escape, printable

Escape = Callable[[object], str]


def json_sections(panels: PanelData | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if panels is None:
        return out
    if isinstance(panels.sockets, ProcessSockets):
        out["sockets"] = sockets_report(panels.sockets)
        unread = [r.fd for r in panels.sockets.rows if r.close_wait_unread]
        out["sockets"]["close_wait_unread_fds"] = unread
    elif isinstance(panels.sockets, Unavailable):
        out["sockets"] = {"states": {}, "items": [], "by_remote": []}
        out.setdefault("unavailable_sections", {})["sockets"] = str(panels.sockets)
    if isinstance(panels.files, ProcessFiles):
        if panels.files.unlisted:
            out.setdefault("unavailable_sections", {})["fds"] = str(panels.files.unlisted)
        out["fds"] = fds_json(panels.files)
        out["fd_counts"] = dict(panels.files.counts)
        if panels.files.notes:
            out["fd_notes"] = list(panels.files.notes)
    elif isinstance(panels.files, Unavailable):
        out["fds"] = []
        out.setdefault("unavailable_sections", {})["fds"] = str(panels.files)
    if isinstance(panels.locks, ProcessLocks):
        out["locks"] = locks_json(panels.locks)
    elif isinstance(panels.locks, Unavailable):
        out["locks"] = []
        out.setdefault("unavailable_sections", {})["locks"] = str(panels.locks)
    if isinstance(panels.threads, ThreadsSnapshot):
        out["threads"] = threads_report(panels.threads)
        out["thread_groups"] = thread_groups_report(panels.threads)
        py = panels.threads.python
        out["python"] = None if py is None else getattr(py, "line", "ok")
    elif isinstance(panels.threads, Unavailable):
        out["threads"] = []
        out["thread_groups"] = []
        out.setdefault("unavailable_sections", {})["threads"] = str(panels.threads)
    if isinstance(panels.signals, SignalsSnapshot):
        out["signals"] = signals_report(panels.signals)
        out["signals"]["stuck"] = list(panels.signals.stuck)
    elif isinstance(panels.signals, Unavailable):
        out.setdefault("unavailable_sections", {})["signals"] = str(panels.signals)
    return out


def _names(v: list[str]) -> str:
    return ", ".join(v) if v else "-"


# every signal a mask can hold but SIGKILL and SIGSTOP, which the kernel never blocks
_BLOCKABLE = tuple(n for n in mask_names((1 << NSIG) - 1) if n not in ("SIGKILL", "SIGSTOP"))


def _mask(v: list[str]) -> str:
    """A blocked mask in a line: a thread that blocks nearly everything (a signal-handling
    thread's sigfillset) reads 'all except SIGINT', not sixty names."""
    if len(v) <= len(_BLOCKABLE) // 2:
        return _names(v)
    missing = [n for n in _BLOCKABLE if n not in v]
    return "all" + (f" except {', '.join(missing)}" if missing else "")


def section_lines(data: dict[str, Any], esc: Escape, heading: Callable[[str], str], bullet: str) -> list[str]:
    """Lines for the panel sections of one report; `esc` escapes a value for the format."""
    out: list[str] = []
    unavailable = data.get("unavailable_sections") or {}

    def blind(name: str, title: str) -> bool:
        """A section that could not be read gets its reason as heading, not '0 items'."""
        if name not in unavailable:
            return False
        out.extend(["", heading(title), f"{bullet}not available: {esc(unavailable[name])}"])
        return True

    socks = data.get("sockets")
    if not blind("sockets", "Sockets") and socks is not None:
        states = ", ".join(f"{k} {v:,}" for k, v in socks["states"].items())
        tcp = f"TCP states {states}" if states else "no TCP sockets"
        out += ["", heading(f"Sockets ({len(socks['items'])}; {tcp})")]
        unread = set(socks.get("close_wait_unread_fds") or ())
        for g in socks["by_remote"][:20]:
            count = (
                str(g["count"]) if bullet else f"{g['count']:>6}"
            )  # a padded list item is code in markdown
            out.append(f"{bullet}{count} x {g['state']:<12} to {esc(g['remote'])}")
        for q in socks.get("accept_queues") or ():
            states = ", ".join(f"{n} {st}" for st, n in q["states"].items())
            out.append(
                f"{bullet}accept queue of fd {q['fd']} ({esc(q['local'])}): {q['queued']} not accepted"
                + (f" ({states})" if states else "")
                + (f", {q['close_wait']} closed by their clients, UNREAD" if q["close_wait"] else "")
            )
        for it in socks["items"][:200]:
            peer = f" peer pid {it['peer_pid']}" if it.get("peer_pid") else ""
            flag = "  UNREAD DATA" if it["fd"] in unread else ""
            if it["recv_q"] is None and it["send_q"] is None:
                queues = " (in no socket table: reset or shut down)" if it["state"] == "UNCONN" else ""
            else:
                queues = f" recv-q {_q(it['recv_q'])} send-q {_q(it['send_q'])}"
            remote = f" -> {esc(it['remote'])}" if it["remote"] else ""
            out.append(
                f"{bullet}fd {it['fd']:>5} {it['proto']:<5} {esc(it['local']) or '-'}{remote} "
                f"{it['state'] or '-'}{queues}{peer}{flag}"
            )
        if len(socks["items"]) > 200:
            out.append(f"{bullet}... {len(socks['items']) - 200} more (use --format json for all)")
    fds = data.get("fds")
    if not blind("fds", "Files") and fds is not None:
        counts = ", ".join(f"{k} {v}" for k, v in (data.get("fd_counts") or {}).items())
        out += ["", heading(f"Files ({len(fds)} fds{': ' + counts if counts else ''})")]
        shown, left = _files_shown(fds, socks is not None and "sockets" not in unavailable)
        for f in shown:
            line = f"{bullet}fd {f['fd']:>4} {f['kind']:<8} {f['mode'] or '?':<3} {esc(f['target'])}"
            p = f.get("pipe")
            if p:
                peers = ", ".join(
                    f"{h['pid']} {h['name']} fd {h['fd']} ({h['end']})" for h in p["peers"]
                ) or ("none seen" if p.get("partial") else "none")
                verdict = " NO READER" if p["no_reader"] else " NO WRITER" if p["no_writer"] else ""
                if verdict and p.get("partial"):
                    verdict += " SEEN (some processes could not be read)"
                fill = "" if p["queued"] is None else f"; {p['queued']} of {p['capacity']} bytes queued"
                line += esc(f"; other end: {peers}{fill}") + verdict
            out.append(line)
            watches = f.get("epoll") or []
            for w in watches[:_WATCHES_SHOWN]:
                out.append(f"    watches fd {w['fd']} [{esc(' '.join(w['events']))}]: {esc(w['target'])}")
            if len(watches) > _WATCHES_SHOWN:
                out.append(
                    f"    ... and {len(watches) - _WATCHES_SHOWN} more watched fds (--format json has all)"
                )
        if left:
            out.append(f"{bullet}... {left}")
        for n in data.get("fd_notes") or []:
            out.append(f"{bullet}note: {esc(n)}")
    locks = data.get("locks")
    if not blind("locks", "Locks") and locks is not None:
        out += ["", heading(f"Locks ({len(locks)})")]
        for lk in locks:
            who = {
                "held": f"held by {lk['holder_pid']}",
                "waiting": f"WAITING (holder {lk['holder_pid']})",
            }.get(lk["role"], f"open here, locked by {lk['holder_pid']}")
            waiters = f"; waiters {', '.join(map(waiter_text, lk['waiters']))}" if lk["waiters"] else ""
            where = lk["path"] or f"inode {lk['inode']}"
            line = f"{lk['type']} {lk['mode']} {lk['range']} on {where}: {who}{waiters}"
            opened = lk.get("others_open") or []
            if opened:
                line += "; also open in " + ", ".join(
                    f"{u['pid']} {u['name']} fd {u['fd']}" for u in opened[:8]
                )
                line += f" and {len(opened) - 8} more" if len(opened) > 8 else ""
            out.append(bullet + esc(line))
            if lk.get("warning"):
                out.append(f"    warning: {esc(lk['warning'])}")
    groups = data.get("thread_groups")
    if not blind("threads", "Threads") and groups is not None:
        out += ["", heading(f"Threads ({len(data.get('threads', []))})")]
        if data.get("python"):
            out.append(f"{bullet}python stacks: {esc(data['python'])}")
        for g in groups:
            tids = ", ".join(map(str, g["tids"][:20])) + (", …" if len(g["tids"]) > 20 else "")
            kernel = f"state {g['state']}" + (f", wchan {g['wchan']}" if g.get("wchan") else "")
            out.append(f"{bullet}{esc(g['summary'])}  [{esc(kernel)}; tids {esc(tids)}]")
        busy = _busiest(data.get("threads", []))
        if busy:
            out.append(f"{bullet}CPU over the sampled window: {esc(busy)}")
        for t in data.get("threads", []):
            stack = t.get("python_stack") or []
            if not stack:
                continue
            out.append(f"{bullet}thread {t['tid']} ({esc(t['name'])}) Python stack, innermost first:")
            head, skipped, tail = head_and_tail(stack, 25)
            for f in head:
                out.append(f"    {esc(f['function'])} ({esc(f['file'])}:{f['line']})")
            if skipped:
                out.append(f"    ... {skipped} more frames (--format json has all) ...")
            for f in tail:
                out.append(f"    {esc(f['function'])} ({esc(f['file'])}:{f['line']})")
    sig = data.get("signals")
    if not blind("signals", "Signals") and sig is not None:
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
            out.append(f"{bullet}{label}: {esc(_mask(sig[key]) if key == 'blocked' else _names(sig[key]))}")
        same: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
        for tid, m in sig.get("threads", {}).items():
            same.setdefault((tuple(m["blocked"]), tuple(m["pending"])), []).append(tid)
        for (blocked, pending), members in same.items():
            who = f"thread {members[0]}" if len(members) == 1 else f"threads {', '.join(members)}"
            masks = f"blocked {_mask(list(blocked))}; pending {_names(list(pending))}"
            out.append(f"{bullet}{esc(who)}: {esc(masks)}")
        diff = sig.get("parent_diff") or {}
        if diff:
            extra = [f"blocked here, not in parent: {_names(diff['blocked_here_only'])}"]
            if diff.get("blocked_parent_only"):
                extra.append(f"blocked in parent only: {_names(diff['blocked_parent_only'])}")
            alike = diff.get("same_mask_parent_tids") or []
            if len(alike) > 1:
                extra.append(f"same mask as parent threads {', '.join(map(str, alike[:6]))} (inherited)")
            elif diff.get("same_mask_parent_tid"):
                extra.append(f"same mask as parent thread {diff['same_mask_parent_tid']} (inherited)")
            out.append(
                f"{bullet}parent {diff['parent_pid']} ({esc(diff['parent_name'])}): {esc('; '.join(extra))}"
            )
    return out


_BUSY_CPU = 5.0  # percent of a core: a thread below it is not named as busy
_BUSY_SHOWN = 8


def _busiest(threads: list[dict[str, Any]]) -> str:
    """The threads that used CPU during the report's window, busiest first, with their share
    in the kernel and, under contention, how long they waited for a CPU: '4321 (python) 97%
    (sys 61%)'. Empty without a window or when every thread was idle."""
    busy = sorted(
        (t for t in threads if (t.get("cpu_percent") or 0.0) >= _BUSY_CPU),
        key=lambda t: (-t["cpu_percent"], t["tid"]),
    )
    parts = []
    for t in busy[:_BUSY_SHOWN]:
        extra = []
        if t.get("sys_percent") is not None:
            extra.append(f"sys {t['sys_percent']:.0f}%")
        if t.get("runnable_percent") is not None and t["runnable_percent"] >= t["cpu_percent"] + 10:
            extra.append(f"runnable {t['runnable_percent']:.0f}%")
        parts.append(
            f"{t['tid']} ({t['name']}) {t['cpu_percent']:.0f}%" + (f" ({', '.join(extra)})" if extra else "")
        )
    if len(busy) > _BUSY_SHOWN:
        parts.append(f"and {len(busy) - _BUSY_SHOWN} more")
    return ", ".join(parts)


_FILES_SHOWN = 200  # fds a text or markdown report lists: one to paste, not 20,000 lines
_WATCHES_SHOWN = 20  # watched fds listed under each epoll fd


def _files_shown(fds: list[dict[str, Any]], sockets_listed: bool) -> tuple[list[dict[str, Any]], str]:
    """The fds the Files section lists, in fd order, and a line for the rest ('' when none).
    Sockets the Sockets section already lists are left out unless an epoll set watches them;
    pipes, epoll and other special fds come before plain files and devices."""
    watched = {w["fd"] for f in fds for w in f.get("epoll") or ()}
    rest = [f for f in fds if not (sockets_listed and f["kind"] == "socket" and f["fd"] not in watched)]
    sockets = len(fds) - len(rest)
    ranked = sorted(rest, key=lambda f: (f["kind"] in ("file", "dir", "device", "socket"), f["fd"]))
    keep = {f["fd"] for f in ranked[:_FILES_SHOWN]}
    shown = [f for f in rest if f["fd"] in keep]
    parts = []
    if sockets:
        parts.append(f"{sockets} socket fds listed under Sockets")
    if len(rest) > len(shown):
        parts.append(f"{len(rest) - len(shown)} more fds not listed")
    return shown, ("; ".join(parts) + " (--format json has every fd)") if parts else ""


def _q(n: int | None) -> str:
    return "-" if n is None else str(n)


def text_lines(data: dict[str, Any]) -> list[str]:
    return ["  " + line if line else line for line in section_lines(data, printable, lambda h: h + ":", "")]


def markdown_lines(data: dict[str, Any]) -> list[str]:
    return section_lines(data, markdown_escape, lambda h: f"#### {h}", "- ")


def _step(step: str) -> str:
    """A next step as a pasted report reads it: key presses happen in `stucktui PID`."""
    return "in stucktui, " + step if step.startswith("press ") else step


def findings_json(findings: Iterable[Finding], *, with_pid: bool = False) -> list[dict[str, Any]]:
    """The `findings` of `stucktui report`: id, severity, summary, evidence, next_steps (a
    contract); `report --all` adds pid and name."""
    out = []
    for f in findings:
        item = f.to_json()
        if with_pid:
            item = {"pid": f.pid, "name": f.name, **item}
        out.append(item)
    return out


def finding_lines(items: list[dict[str, Any]], esc: Escape, markdown: bool) -> list[str]:
    """One block per finding, most severe first; raw strings escaped for the format."""
    out: list[str] = []
    for it in items:
        who = f" pid {it['pid']} ({esc(it['name'])})" if "pid" in it else ""
        head = f"{it['severity'].upper()} {esc(it['id'])}{who}"
        if markdown:
            out.append(f"- **{head}**: {esc(it['summary'])}")
            out.extend(f"  - evidence: {esc(e)}" for e in it["evidence"])
            out.extend(f"  - next: {esc(_step(s))}" for s in it["next_steps"])
        else:
            out.append(f"[{head}] {esc(it['summary'])}")
            out.extend(f"    evidence: {esc(e)}" for e in it["evidence"])
            out.extend(f"    next: {esc(_step(s))}" for s in it["next_steps"])
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
    return ["", "  " + head, *("  " + line for line in finding_lines(items, printable, False))]


def findings_markdown(items: list[dict[str, Any]], blind: list[str] | None = None) -> list[str]:
    head = (
        f"#### Findings ({len(items)}, most severe first)"
        if items
        else f"#### Findings: {markdown_escape(_none(blind or []))}"
    )
    return ["", head, *([""] if items else []), *finding_lines(items, markdown_escape, True)]
