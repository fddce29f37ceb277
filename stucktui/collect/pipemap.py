"""The box-wide pipe map: who holds which end of every pipe (and of the FIFOs asked for).

It lists /proc/*/fd and reads one lstat per pipe fd, never fdinfo: the end comes from the
mode of the /proc/PID/fd/N link itself (see link_access_mode).
"""

from __future__ import annotations

import os
import time
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field

from stucktui.model.fdinfo import access_mode
from stucktui.model.files import PipeEnd
from stucktui.procfs import fdtarget as ft
from stucktui.procfs.errors import DENIED_ERRNOS, AccessDenied, ProcessGone
from stucktui.procfs.fdinfo import fdinfo_flags, link_access_mode, parse_fdinfo
from stucktui.procfs.root import ProcRoot


@dataclass(frozen=True, slots=True)
class PipeMap:
    """Every holder of every pipe on the box, as far as this user can see. Holders found by a
    scan without `names` carry an empty name, read from comm the first time `holders` or
    `fifo_holders` returns them (the panel asks for a handful of pipes; the scan sees
    thousands), so a name is read moments after the scan, or "?" if the process has gone."""

    pipes: Mapping[int, tuple[PipeEnd, ...]]  # pipe inode -> holders
    fifos: Mapping[str, tuple[PipeEnd, ...]]  # FIFO path -> holders (only the paths asked for)
    unreadable: int  # processes whose fds could not be listed: their ends are unknown
    duration: float
    root: ProcRoot | None = None  # where the empty names are read from
    # the pipe inodes the scan looked for (None: every pipe of the box); another pipe's
    # holders here are unknown, not absent
    only: Container[int] | None = None
    _names: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    def holders(self, inode: int) -> tuple[PipeEnd, ...]:
        return self._named(self.pipes.get(inode, ()))

    def fifo_holders(self, path: str) -> tuple[PipeEnd, ...]:
        return self._named(self.fifos.get(path, ()))

    def _named(self, ends: tuple[PipeEnd, ...]) -> tuple[PipeEnd, ...]:
        if self.root is None or all(e.name for e in ends):
            return ends
        out = []
        for e in ends:
            if not e.name:
                name = self._names.get(e.pid)
                if name is None:
                    name = self._names[e.pid] = _comm(self.root, e.pid)
                e = e._replace(name=name)
            out.append(e)
        return tuple(out)


def _comm(root: ProcRoot, pid: int) -> str:
    try:
        return root.read_text(pid, "comm", pid=pid).rstrip("\n")
    except (ProcessGone, AccessDenied, OSError):
        return "?"


def fd_end(root: ProcRoot, pid: int, fd: int | str, link: str | None = None) -> str:
    """'r', 'w', 'rw' or 'path': how fd N of pid was opened, from the mode of its /proc link
    (one lstat; see link_access_mode), or from fdinfo's flags where the link is not a procfs
    one (a fixture tree). `link` is the link's path when the caller has built it already.
    Raises OSError, ProcessGone, AccessDenied or ValueError."""
    end = link_access_mode(os.lstat(link or root.join(pid, "fd", fd)).st_mode)
    if end is None:
        end = access_mode(fdinfo_flags(root.read_text(pid, "fdinfo", fd, pid=pid)))
    return end


def scan_pipes(
    root: ProcRoot,
    *,
    names: Mapping[int, str] | None = None,
    fifos: Mapping[str, int] | None = None,
    pids: Iterable[int] | None = None,
) -> PipeMap:
    """Who holds which end of every pipe. `names` (pid -> comm, e.g. from the process list)
    names the holders; without it they are named when asked for (PipeMap.holders).
    `fifos` (path -> inode) also collects the holders of those FIFOs.

    This runs on every refresh of a Files panel, over every process on the box, so it costs
    one listdir per process, one readlink per fd and one lstat per pipe fd: the end comes
    from the mode of the /proc/PID/fd/N link itself (see link_access_mode), not fdinfo."""
    t0 = time.perf_counter()
    pipes: dict[str, list[PipeEnd]] = {}  # by link text; one int() per pipe at the end
    fifo_holders: dict[str, list[PipeEnd]] = {}
    unreadable = 0
    readlink, listdir = os.readlink, os.listdir
    for pid in root.pids() if pids is None else pids:
        base = f"{root.path}/{pid}/fd/"
        try:
            fds = listdir(base)
        except OSError as exc:
            if exc.errno in DENIED_ERRNOS:
                unreadable += 1
            continue  # or gone
        name = (names.get(pid) or "") if names else ""
        for n in fds:
            try:
                target = readlink(base + n)
            except OSError:
                continue  # closed between listdir and readlink, or the process exited
            if target[:6] == "pipe:[":
                bucket = pipes.get(target)
                if bucket is None:
                    bucket = pipes[target] = []
            elif fifos and target in fifos:
                try:  # its inode from fdinfo: a stat() would enter the FIFO's file system
                    if parse_fdinfo(root.read_text(pid, "fdinfo", n, pid=pid)).ino != fifos[target]:
                        continue
                except (ProcessGone, AccessDenied, OSError, ValueError):
                    continue
                bucket = fifo_holders.setdefault(target, [])
            else:
                continue
            try:
                end = fd_end(root, pid, n, base + n)
            except (ProcessGone, AccessDenied, OSError, ValueError):
                continue
            bucket.append(PipeEnd(pid, name, int(n), end))
    by_inode = {}
    for target, ends in pipes.items():
        inode = ft.bracket_inode(target)
        if inode is not None:
            by_inode[inode] = tuple(ends)
    return PipeMap(
        pipes=by_inode,
        fifos={k: tuple(v) for k, v in fifo_holders.items()},
        unreadable=unreadable,
        duration=time.perf_counter() - t0,
        root=root,
    )
