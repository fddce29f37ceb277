"""The help texts of `stucktui report` and `stucktui demo`, and the options that choose which
findings a report prints (kept apart from cli.py, which builds the parsers)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stucktui.model.findings import Severity

# wrapped by hand: textwrap's import (its patterns compiled) cost every start 10+ ms
REPORT_DESCRIPTION = (
    "Print what stucktui finds about one process (its findings, most severe first, then its facts:\n"
    "sockets, files, locks, threads, signals), or with --all the findings of every process on the\n"
    "box, grouped by process. Text lines are at most 100 columns; markdown uses code spans and fenced\n"
    "blocks, so it pastes into GitHub and Slack alike."
)

DEMO_DESCRIPTION = (
    "Start one live example of each incident stucktui is built for, as children of "
    "this command on loopback only (writers blocked on a pipe nobody reads, a pool leaking "
    "CLOSE_WAIT sockets, a signal blocked and pending, a busy epoll loop, a lock self-wait, "
    "and a wait chain two processes long), open the TUI on them, and end exactly those children "
    "when you quit. Nothing on the box is touched: it is the safe way to learn the keys. "
    "--no-tui prints the children's pids and findings instead (exit status 0 when every "
    "finding showed up within --timeout, 1 otherwise)."
)

REPORT_EXIT_CODES = """exit status:
  0  the report was printed (findings or not: --format json's "findings" says which)
  1  no such process, it could not be read, or it exited during the report (nothing printed)
  2  a bad argument (one line on stderr)
  4  --timeout passed first: what was read is printed, and stderr says what could not be

formats: text (default), markdown (a chat channel, an issue), json (a script: keys are added,
never renamed); with --all also openmetrics (node_exporter's textfile collector) and jsonl."""

SEVERITIES = ("critical", "warning", "info")


def count_arg(s: str) -> int:
    if not s.isdigit() or not 1 <= int(s) <= 10_000:
        raise argparse.ArgumentTypeError(f"limit must be a whole number from 1 to 10000, not {s!r}")
    return int(s)


@dataclass(frozen=True)
class Shown:
    """Which findings a report prints, and how: --severity, --limit, --brief."""

    severity: Severity | None = None
    limit: int | None = None
    brief: bool = False
