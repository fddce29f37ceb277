"""Threads asleep in the kernel on a mount, in words (pure): what they wait on, and what ends
it. A FUSE mount ends when its daemon answers, or when root aborts the connection; a network
mount when its server answers; a disk when the device does (docs/kernel-notes.md §A.6). Shared
by the uninterruptible rule and the wait-chain rule.
"""

from __future__ import annotations

import shlex

from stucktui.diagnose.chains import follow
from stucktui.model import waits as W
from stucktui.model.mounts import KernelWait, object_text, server_text

FUSECTL = "/sys/fs/fuse/connections"


def kernel_waits(graph: W.WaitGraph | None, pid: int) -> list[KernelWait]:
    """What the threads of `pid` asleep in the kernel wait on, as its wait graph tells."""
    node = graph.nodes.get(pid) if graph is not None else None
    return [w.kernel for w in node.waits if w.kernel is not None] if node is not None else []


def told_by_chains(graph: W.WaitGraph | None) -> set[int]:
    """Threads of the graph's first process whose FUSE wait is a stuck chain through another
    process: the wait-chain finding tells them (and names the daemon that holds them)."""
    if graph is None:
        return set()
    out: set[int] = set()
    for c in follow(graph):
        if c.stuck and c.hops and c.hops[0].wait == W.FUSE and len(c.processes) > 1:
            out.update(c.tids)
    return out


def describe(kw: KernelWait) -> str:
    """'reading fd 3 (/mnt/x/f) on fuse.sshfs mount /mnt/x (host:, 0:41), served by pid 9
    (sshfs), 1 request waiting for an answer' (what the wait channel does not say already)."""
    text = object_text(kw, ing=True)
    return f"{text}, {server_text(kw.fuse)}" if kw.fuse is not None else text


def fuse_steps(kw: KernelWait) -> list[str]:
    """What ends a wait on a FUSE mount, most gentle first."""
    m = kw.mount
    if m is None or not m.fuse:
        return []
    steps = []
    daemons = kw.fuse.daemons if kw.fuse is not None else ()
    if daemons:
        d = daemons[0]
        steps.append(
            f"the daemon must answer: see what the threads of pid {d.pid} ({d.name}) do (`stucktui "
            f"report {d.pid}`); a handler blocked on something else holds every caller"
        )
    abort = (
        "as root, fail every request of that mount, which lets its waiting threads return "
        f"(ENOTCONN): `echo 1 > {FUSECTL}/{m.fuse_connection}/abort`"
    )
    if kw.fuse is None or not kw.fuse.control:
        abort += f" (mount the control file system first: `mount -t fusectl none {FUSECTL}`)"
    steps.append(abort)
    point = shlex.quote(m.point)
    steps.append(
        f"detach the mount so that nothing new waits on it: `fusermount -u -z {point}` (fusermount3 "
        f"with FUSE 3; `umount -l {point}` as root), then start the daemon again"
    )
    return steps


def mount_steps(kw: KernelWait) -> list[str]:
    """What ends a wait in D on any other mount: its server or its device."""
    m = kw.mount
    if m is None or m.fuse:
        return []
    point = shlex.quote(m.point)
    if m.remote:
        return [
            f"it waits for the server of {m.fstype} mount {m.point} ({m.source}): bring it back or "
            "check the network to it",
            f"as root, `umount -f -l {point}` detaches a dead network mount (-f aborts what it can)",
        ]
    return [
        f"it waits for the device under {m.fstype} mount {m.point} ({m.source}, {m.device}): a slow or "
        "failing disk; `dmesg` shows I/O errors"
    ]


def chain_steps(graph: W.WaitGraph, c: W.WaitChain) -> list[str]:
    """For a chain through a FUSE wait: the steps that end it from the mount's side."""
    for h in c.hops:
        node = graph.nodes.get(h.pid)
        if h.wait != W.FUSE or node is None:
            continue
        w = next((w for w in node.waits if w.kind == W.FUSE and w.tids == h.tids), None)
        if w is not None and w.kernel is not None:
            return [s for s in fuse_steps(w.kernel) if not s.startswith("the daemon must answer")]
    return []
