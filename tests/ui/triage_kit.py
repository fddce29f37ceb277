"""A busy box's triage for the triage screen's tests: one pool leaking to 16 ports, one finding
per port (as before issue 19), a pipe with its symptoms, and more processes than an 80x24
screen has rows for."""

from __future__ import annotations

from stucktui.diagnose.engine import sort_findings
from stucktui.model.findings import Finding, TriageResult

LEAKER, PIPE = 3100, 3200
WORKERS = tuple(range(3201, 3209))


def finding(id: str, severity, pid: int, name: str, summary: str, **kw) -> Finding:
    return Finding(id, severity, pid, name, summary, ("evidence",), ("next",), "sockets", **kw)


def busy_findings() -> list[Finding]:
    out = [
        finding("close-wait-leak", "critical", LEAKER, "orders-api",
                f"pid {LEAKER} (orders-api) holds 1,247 CLOSE_WAIT connections to 127.0.0.1:{7000 + i}",
                fds=tuple(range(100 + 2000 * i, 100 + 2000 * i + 1247)))
        for i in range(16)
    ]  # fmt: skip
    out += [
        finding("pipe-writers-blocked", "critical", PIPE, "api-service",
                "8 threads of pid 3200 (api-service) are blocked writing to fd 2", fds=(2,), tids=WORKERS),
        finding("workers-all-blocked", "critical", PIPE, "api-service",
                "All 8 worker threads of pid 3200 (api-service) are blocked", tids=WORKERS),
        finding("close-wait-unread", "critical", PIPE, "api-service",
                "pid 3200 (api-service) has 13 CLOSE_WAIT sockets with unread data", fds=tuple(range(5, 18))),
        finding("epoll-spin", "critical", 3300, "celery-worker", "pid 3300 (celery-worker) burns 89% CPU",
                fds=(3, 4)),
        finding("lock-self-wait", "critical", 3400, "log-worker",
                "pid 3400 (log-worker) waits for a lock it holds"),
    ]  # fmt: skip
    out += [
        finding("zombie-children", "warning", 3500 + i, f"worker-{i}",
                f"pid {3500 + i} (worker-{i}) has 3 zombie children")
        for i in range(8)
    ]  # fmt: skip
    out += [
        finding("fd-limit", "info", 3600 + i, f"cron-{i}", f"pid {3600 + i} (cron-{i}) uses 80% of its fds")
        for i in range(4)
    ]
    return sort_findings(out)


BUSY = TriageResult(tuple(busy_findings()), 5000, 40, 0.31, 0.0)


def blind(result: TriageResult) -> TriageResult:
    """The same triage with a 'not seen' line in the header (a process not readable as root)."""
    from dataclasses import replace

    from stucktui.model.process import Visibility

    return replace(result, visibility=Visibility(5000, 1, 0, None, 9000, True))
