"""Parser of /proc/PID/cgroup, and a hint about the container or service a process runs in."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CgroupEntry:
    hierarchy: int
    controllers: tuple[str, ...]
    path: str


def parse_cgroup(text: str) -> tuple[CgroupEntry, ...]:
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        h, ctl, path = parts
        out.append(CgroupEntry(int(h), tuple(c for c in ctl.split(",") if c), path))
    return tuple(out)


_HINTS = (
    (re.compile(r"/docker[-/]([0-9a-f]{12,64})"), "docker container {0:.12}"),
    (re.compile(r"libpod-(?:conmon-)?([0-9a-f]{12,64})"), "podman container {0:.12}"),
    (re.compile(r"cri-containerd-([0-9a-f]{12,64})"), "containerd container {0:.12}"),
    (re.compile(r"crio-([0-9a-f]{12,64})"), "cri-o container {0:.12}"),
    (re.compile(r"kubepods.*?pod([0-9a-f_-]{36})"), "kubernetes pod {0}"),
    (re.compile(r"/lxc(?:\.payload)?[./]([^/]+)"), "lxc container {0}"),
    (re.compile(r"/([^/]+\.service)"), "systemd service {0}"),
    (re.compile(r"/([^/]+\.scope)"), "systemd scope {0}"),
)


def cgroup_hint(entries: tuple[CgroupEntry, ...]) -> str | None:
    """A short human hint: 'docker container 0123456789ab', 'systemd service nginx.service'.
    Prefers the unified (v2, hierarchy 0) path; None when the process sits at the root."""
    paths = [e.path for e in sorted(entries, key=lambda e: e.hierarchy)]
    for pattern, fmt in _HINTS:
        for p in paths:
            m = pattern.search(p)
            if m:
                return fmt.format(m.group(1).replace("_", "-"))
    for p in paths:
        if p not in ("", "/"):
            return f"cgroup {p}"
    return None
