"""Parsers of whole-box files: /proc/stat (boot time, CPU totals), /proc/uptime, /proc/meminfo,
/proc/loadavg."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CpuTimes:
    total: int  # clock ticks summed over every field of the "cpu" line
    idle: int


def parse_boot_time(proc_stat: str) -> int:
    """btime from /proc/stat: boot time in seconds since the epoch."""
    for line in proc_stat.splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    raise ValueError("no btime line in /proc/stat")


def parse_cpu_times(proc_stat: str) -> CpuTimes:
    for line in proc_stat.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]]
            # guest and guest_nice (fields 9, 10) are already counted in user and nice.
            total = sum(v[:8])
            idle = v[3] + (v[4] if len(v) > 4 else 0)
            return CpuTimes(total, idle)
    raise ValueError("no cpu line in /proc/stat")


def parse_uptime(text: str) -> float:
    return float(text.split()[0])


def parse_meminfo(text: str) -> dict[str, int]:
    """Values in bytes (the file says kB, meaning KiB)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        w = v.split()
        if w:
            out[k] = int(w[0]) * (1024 if len(w) > 1 and w[1] == "kB" else 1)
    return out


def parse_loadavg_tasks(text: str) -> int:
    """The number of tasks (threads, kernel threads included) on the whole box: the 4th field
    of /proc/loadavg, 'running/total'. /proc's hidepid does not hide it (nor does a pid
    namespace narrow it), so it tells how much a scan of /proc could not see."""
    fields = text.split()
    if len(fields) < 4 or "/" not in fields[3]:
        raise ValueError(f"not /proc/loadavg: {text[:60]!r}")
    return int(fields[3].partition("/")[2])
