"""The fixture /proc tree (tests/fixtures/proc, real files captured by capture_proc.py) and a
clock frozen at the moment it was captured."""

from __future__ import annotations

from pathlib import Path

from stucktui.procfs.root import ProcRoot
from stucktui.procfs.stat import parse_stat
from stucktui.procfs.system import parse_boot_time, parse_uptime

PROC = Path(__file__).parent / "fixtures" / "proc"


def fixture_root() -> ProcRoot:
    return ProcRoot(str(PROC))


def frozen_now() -> float:
    return parse_boot_time((PROC / "stat").read_text()) + parse_uptime((PROC / "uptime").read_text())


def frozen_clock():
    t = frozen_now()
    return lambda: t


def frozen_monotonic():
    return lambda: 1000.0


def pid_where(pred) -> int:
    for d in sorted(PROC.iterdir()):
        if d.is_dir() and d.name.isdigit() and pred(parse_stat((d / "stat").read_text())):
            return int(d.name)
    raise LookupError("no such fixture process")
