"""Text and Markdown lines of each panel section, written from the report's JSON dict so the
three formats always carry the same facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stucktui.model.locks import waiter_text
from stucktui.model.signals import NSIG, mask_names
from stucktui.model.text import head_and_tail

Escape = Callable[[object], str]


@dataclass(frozen=True, slots=True)
class Fmt:
    """How one format writes a section: escaping, headings, list bullets."""

    esc: Escape
    heading: Callable[[str], str]
    bullet: str
    unavailable_sections: dict[str, str]

    def unavailable(self, name: str) -> str | None:
        return self.unavailable_sections.get(name)


def sockets_lines(data: dict[str, Any], fmt: Fmt) -> list[str]:
    """The Sockets section: TCP states, groups by remote, accept queues, the first 200 sockets."""
    esc, heading, bullet = fmt.esc, fmt.heading, fmt.bullet
    out: list[str] = []
    socks = data["sockets"]
    states = ", ".join(f"{k} {v:,}" for k, v in socks["states"].items())
    tcp = f"TCP states {states}" if states else "no TCP sockets"
    out += ["", heading(f"Sockets ({len(socks['items'])}; {tcp})")]
    unread = set(socks.get("close_wait_unread_fds") or ())
    for g in socks["by_remote"][:20]:
        count = str(g["count"]) if bullet else f"{g['count']:>6}"  # a padded list item is code in markdown
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
    for n in socks.get("notes") or []:
        out.append(f"{bullet}note: {esc(n)}")
    return out


def files_lines(data: dict[str, Any], fmt: Fmt) -> list[str]:
    """The Files section: the fds worth pasting, pipes with their other ends, epoll watches."""
    esc, heading, bullet = fmt.esc, fmt.heading, fmt.bullet
    out: list[str] = []
    fds = data["fds"]
    counts = ", ".join(f"{k} {v}" for k, v in (data.get("fd_counts") or {}).items())
    out += ["", heading(f"Files ({len(fds)} fds{': ' + counts if counts else ''})")]
    shown, left = _files_shown(fds, data.get("sockets") is not None and not fmt.unavailable("sockets"))
    for f in shown:
        line = f"{bullet}fd {f['fd']:>4} {f['kind']:<8} {f['mode'] or '?':<3} {esc(f['target'])}"
        p = f.get("pipe")
        if p:
            peers = ", ".join(f"{h['pid']} {h['name']} fd {h['fd']} ({h['end']})" for h in p["peers"]) or (
                "none seen" if p.get("partial") else "none"
            )
            verdict = " NO READER" if p["no_reader"] else " NO WRITER" if p["no_writer"] else ""
            if verdict and p.get("partial"):
                verdict += " SEEN (some processes could not be read)"
            fill = (
                f"; {p['queued']} of {p['capacity']} bytes queued"
                if p["queued"] is not None
                else f"; fill unknown ({p['fill_unknown']})"
                if p.get("fill_unknown")
                else ""
            )
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
    return out


def locks_lines(data: dict[str, Any], fmt: Fmt) -> list[str]:
    """The Locks section: held, waited for, or another's lock on a file open here."""
    esc, heading, bullet = fmt.esc, fmt.heading, fmt.bullet
    out: list[str] = []
    locks = data["locks"]
    out += ["", heading(f"Locks ({len(locks)})")]
    for lk in locks:
        who = {
            "held": f"held by {lk['holder_pid']}",
            "waiting": f"WAITING (holder {lk['holder_pid']})",
        }.get(lk["role"], f"open here, locked by {lk['holder_pid']}")
        waiters = f"; waiters {', '.join(map(waiter_text, lk['waiters']))}" if lk["waiters"] else ""
        where = lk["path"] or f"inode {lk['inode']}"
        meaning = f" ({lk['meaning']})" if lk.get("meaning") else ""
        line = f"{lk['type']} {lk['mode']} {lk['range']}{meaning} on {where}: {who}{waiters}"
        opened = lk.get("others_open") or []
        if opened:
            line += "; also open in " + ", ".join(f"{u['pid']} {u['name']} fd {u['fd']}" for u in opened[:8])
            line += f" and {len(opened) - 8} more" if len(opened) > 8 else ""
        out.append(bullet + esc(line))
        if lk.get("warning"):
            out.append(f"    warning: {esc(lk['warning'])}")
    for n in data.get("lock_notes") or []:
        out.append(f"{bullet}note: {esc(n)}")
    return out


def threads_lines(data: dict[str, Any], fmt: Fmt) -> list[str]:
    """The Threads section: groups, the busiest threads, Python stacks."""
    esc, heading, bullet = fmt.esc, fmt.heading, fmt.bullet
    out: list[str] = []
    groups = data["thread_groups"]
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
    for stack, same in _same_stacks(data.get("threads", [])):
        t = same[0]
        if len(same) == 1:
            who = f"thread {t['tid']} ({esc(t['name'])})"
        else:
            tids = ", ".join(str(x["tid"]) for x in same[:8]) + (", ..." if len(same) > 8 else "")
            who = f"{len(same)} threads ({esc(tids)})"
        out.append(f"{bullet}{who} Python stack, innermost first:")
        head, skipped, tail = head_and_tail(stack, 25)
        for f in head:
            out.append(f"    {esc(f['function'])} ({esc(f['file'])}:{f['line']})")
        if skipped:
            out.append(f"    ... {skipped} more frames (--format json has all) ...")
        for f in tail:
            out.append(f"    {esc(f['function'])} ({esc(f['file'])}:{f['line']})")
    return out


def _same_stacks(threads: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The threads' Python stacks, each printed once with the threads that share it (a pool of
    8 workers waiting on the same queue is one stack, '8 threads'), in first-thread order."""
    groups: dict[tuple[tuple[object, ...], ...], list[dict[str, Any]]] = {}
    stacks: dict[tuple[tuple[object, ...], ...], list[dict[str, Any]]] = {}
    for t in threads:
        stack = t.get("python_stack") or []
        if stack:
            key = tuple((f["function"], f["file"], f["line"]) for f in stack)
            groups.setdefault(key, []).append(t)
            stacks.setdefault(key, stack)
    return [(stacks[k], members) for k, members in groups.items()]


def signals_lines(data: dict[str, Any], fmt: Fmt) -> list[str]:
    """The Signals section: stuck signals, every mask, threads that differ, the parent."""
    esc, heading, bullet = fmt.esc, fmt.heading, fmt.bullet
    out: list[str] = []
    sig = data["signals"]
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
