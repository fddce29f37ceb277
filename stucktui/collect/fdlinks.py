"""The fd links the fd owner index keeps (collect/fdindex.py), as integers: a link's key is
its kind in the low two bits and, above them, a pipe's or a socket's inode or a path's hash;
and owners_of, the one-off search for any other target."""

from __future__ import annotations

import os
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import and_, rshift
from typing import cast

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


_HEAD = 6  # Seen's header: the fd directory's inode, size and mtime; how many fds, pipes, paths


class Seen(array):  # type: ignore[type-arg]  # of int ('q')
    """A process's kept links as the index read them, packed in one array of 64-bit integers:
    the signature of its fd directory when opened to be read (inode, size, mtime: the inode is
    the process's identity, docs/kernel-notes.md §A.9), then every fd number it had open, its
    pipes' and /dev/fuse's keys and their fds, its sockets' and paths' keys (sorted) and their
    fds. One object a process instead of seven (a tuple, its signature and five arrays): the
    index of a box of 5,000 processes is ~1 MB, not 4."""

    __slots__ = ()

    def __new__(
        cls,
        sig: tuple[int, int, int],
        fds: Sequence[int] | None,
        keys: Sequence[int] = (),
        kfds: Sequence[int] = (),
        paths: Sequence[tuple[int, int]] = (),
    ) -> Seen:
        """`fds` None: its fds are not ours to list. `paths`: (key, fd), in any order."""
        ordered = sorted(paths)
        ints = [*sig, -1 if fds is None else len(fds), len(keys), len(paths), *(fds or ()), *keys, *kfds]
        ints += [k for k, _ in ordered]
        ints += [fd for _, fd in ordered]
        return cast(Seen, super().__new__(cls, "q", ints))  # its exact size, allocated once

    @property
    def sig(self) -> tuple[int, int, int]:
        return self[0], self[1], self[2]

    @property
    def listed(self) -> bool:
        """Its fds were ours to list (fds is not None, without copying them)."""
        return bool(self[3] >= 0)

    @property
    def fds(self) -> array[int] | None:
        """Every fd number it had open; None: its fds are not ours to list."""
        n = self[3]
        return None if n < 0 else self[_HEAD : _HEAD + n]

    def pipes(self) -> zip[tuple[int, int]]:
        """(key, fd) of its pipes and /dev/fuse."""
        lo = _HEAD + max(self[3], 0)
        n = self[4]
        return zip(self[lo : lo + n], self[lo + n : lo + 2 * n], strict=True)

    def span(self) -> tuple[int, int]:
        """Where its sockets' and paths' sorted keys are: self[lo:hi]; fd of self[i]: self[i + hi - lo]."""
        n = self[3]
        lo = _HEAD + (n if n > 0 else 0) + 2 * self[4]
        return lo, lo + self[5]

    def paths(self) -> zip[tuple[int, int]]:
        """(key, fd) of its sockets and paths, by key."""
        lo, hi = self.span()
        return zip(self[lo:hi], self[hi : 2 * hi - lo], strict=True)

    def sockets(self) -> list[tuple[int, int]]:
        """(fd, socket inode) of each of its sockets, picked and shifted at C speed (a leaking
        pool's 20,000 sockets, read every refresh)."""
        lo, hi = self.span()
        keys = self[lo:hi]
        mine = map(SOCKET.__eq__, map(and_, keys, repeat(3)))
        return list(compress(zip(self[hi : 2 * hi - lo], map(rshift, keys, repeat(2)), strict=True), mine))

    def holding(self, key: int, lo: int, hi: int) -> list[int]:
        """The fds whose socket or path key is `key`, (lo, hi) its span() (a bisect)."""
        i = bisect_left(self, key, lo, hi)
        out = []
        while i < hi and self[i] == key:
            out.append(self[i + hi - lo])
            i += 1
        return out


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
