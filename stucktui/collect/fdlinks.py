"""The fd links the fd owner index keeps (collect/fdindex.py), as integers: a link's key is
its kind in the low two bits and, above them, a pipe's or a socket's inode or a path's hash;
and owners_of, the one-off search for any other target."""

from __future__ import annotations

import os
from collections.abc import Iterable

from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot

FUSE_DEVICE = "/dev/fuse"

Owners = dict[str, list[tuple[int, int]]]  # link target -> [(pid, fd)]

PATH, PIPE, SOCKET, FUSE = 0, 1, 2, 3  # a key's low two bits; the inode (a path: its hash) above
HASH = (1 << 60) - 1


def link_key(target: str) -> int | None:
    """'pipe:[N]' -> N<<2|1, 'socket:[N]' -> N<<2|2, /dev/fuse -> 3, a path -> its hash<<2;
    None for anything else (an anonymous inode)."""
    if target[:6] == "pipe:[" and target[-1:] == "]":
        body, kind = target[6:-1], PIPE
    elif target[:8] == "socket:[" and target[-1:] == "]":
        body, kind = target[8:-1], SOCKET
    elif target == FUSE_DEVICE:
        return FUSE
    elif target[:1] == "/":
        return (hash(target) & HASH) << 2
    else:
        return None
    return int(body) << 2 | kind if body.isdigit() else None


def owners_of(root: ProcRoot, targets: set[str], pids: Iterable[int] | None = None) -> tuple[Owners, int]:
    """link target ('socket:[123]', 'pipe:[456]', a path) -> [(pid, fd)], and how many
    processes could not be read: one readlink of every fd on the box, nothing kept."""
    out: Owners = {}
    unreadable = 0
    for pid in root.pids() if pids is None else pids:
        try:
            with PidDir(root, pid) as d:
                for fd, target in d.fd_links():
                    if target in targets:
                        out.setdefault(target, []).append((pid, fd))
        except AccessDenied:
            unreadable += 1
        except (ProcessGone, OSError):
            continue
    return out, unreadable


def read_links(sub: int, names: Iterable[str | int]) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """(keys, fds, [(key, fd)]) of the kept links among these fd names, read through the open
    fd directory: pipes and /dev/fuse, then sockets and paths."""
    keys: list[int] = []
    fds: list[int] = []
    paths: list[tuple[int, int]] = []
    readlink = os.readlink
    for name in names:
        try:
            t = readlink(str(name), dir_fd=sub)
        except OSError:
            continue  # closed since the listing, or the process exited
        if t[:1] == "/" and t != FUSE_DEVICE:
            paths.append(((hash(t) & HASH) << 2, int(name)))
        elif t[:8] == "socket:[":
            try:
                paths.append((int(t[8:-1]) << 2 | SOCKET, int(name)))
            except ValueError:
                continue
        elif t[:5] == "pipe:" or t == FUSE_DEVICE:
            k = link_key(t)
            if k is not None:
                keys.append(k)
                fds.append(int(name))
    return keys, fds, paths
