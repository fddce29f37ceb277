"""The waits of threads asleep in the kernel, for the wait graph: uninterruptible sleep (D) on
a file, a mount or a device, and FUSE requests. A wait on a FUSE mount goes on to the daemon
serving it (the process holding its /dev/fuse connection), whose own threads the graph then
follows; any other ends the chain in the kernel, naming the mount and the device
(docs/kernel-notes.md §A.6).

Cost, for a process with such threads: its mountinfo, the fdinfo of the fd each call names (or
one bounded read of its memory for a path argument), the kernel stack of one thread per object
(root only); for a FUSE mount, one readlink of every fd on the box per graph to find the
daemons, and the connection's `waiting` count.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from stucktui.collect.mounts import FuseLookup, kernel_waits_of
from stucktui.model import waits as W
from stucktui.model.mounts import KernelWait, object_text

if TYPE_CHECKING:
    from stucktui.inspection.waits import Facts

_FANOUT = 6  # daemons named for one FUSE connection


def _fuse_wait(kw: KernelWait, fuse: FuseLookup) -> W.Wait:
    mount = kw.mount
    if mount is None or not mount.fuse:
        # in a FUSE request on a file stucktui could not name: which daemon is not known
        return W.Wait(W.FUSE, kw.tids, object_text(kw), kw.fd, (), False, kernel=kw)
    server = fuse.server(mount.fuse_connection)
    kw = replace(kw, fuse=server)
    role = f"serves {mount.fstype} mount {mount.point} (connection {server.connection}"
    parties = tuple(W.Party(d.pid, d.name, f"{role}, /dev/fuse fd {d.fd})") for d in server.daemons[:_FANOUT])
    # one daemon process: only its answer ends the wait; none, with every process read: nobody
    # can (a connection whose last /dev/fuse fd closed is aborted, so this is rare)
    pids = {d.pid for d in server.daemons}
    certain = len(pids) == 1 or (not pids and not server.unreadable)
    return W.Wait(W.FUSE, kw.tids, object_text(kw), kw.fd, parties, certain, kernel=kw)


def kernel_waits(f: Facts, fuse: FuseLookup, others: list[W.Wait]) -> list[W.Wait]:
    """The process's threads asleep in the kernel, one wait per object they sleep on; threads
    already in one of `others` (a pipe, a lock) are told there."""
    if f.threads is None:
        return []
    taken = {tid for w in others for tid in w.tids}
    rows = [t for t in f.threads.rows if t.tid not in taken]
    out = []
    for kw in kernel_waits_of(fuse.root, f.pid, rows, f.threads.rows):
        if kw.on_fuse:
            out.append(_fuse_wait(kw, fuse))
        else:
            out.append(W.Wait(W.UNINTERRUPTIBLE, kw.tids, object_text(kw), kw.fd, (), True, kernel=kw))
    return out
