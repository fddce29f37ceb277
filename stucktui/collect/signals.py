"""Signal state of one process: masks per process and per thread, the full signal table,
pending-but-blocked signals, the difference from the parent's masks, and signalfd readers.

A process-directed signal (ShdPnd) waits until some thread unblocks it, so it is stuck only if
every thread blocks it; a thread-directed one (SigPnd) only if that thread blocks it
(docs/kernel-notes.md §5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from stucktui.model.signals import (
    NSIG,
    UNBLOCKABLE,
    ParentDiff,
    SignalfdInfo,
    SignalRow,
    SignalsSnapshot,
    ThreadMasks,
    default_action,
    is_libc_internal,
    sig_name,
    stuck_process_directed,
)
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.procfs.signals import parse_mask
from stucktui.procfs.stat import parse_stat
from stucktui.procfs.status import Status, parse_status

_MAX_PARENT_THREADS = 4096  # reading every thread of a huge parent to find the forker: cap it


def signal_table(
    status: Status, threads: tuple[ThreadMasks, ...], signalfd_mask: int = 0
) -> tuple[SignalRow, ...]:
    """One row per signal 1..64 from the masks; pure. A signal read through a signalfd is
    blocked on purpose (signalfd(2)), so it is not counted as stuck."""
    all_blocked = (
        stuck_process_directed(~0 & ((1 << NSIG) - 1), (t.blocked for t in threads)) if threads else 0
    )
    rows = []
    for n in range(1, NSIG + 1):
        bit = 1 << (n - 1)
        blocked = tuple(t.tid for t in threads if t.blocked & bit)
        pending_tids = tuple(t.tid for t in threads if t.pending & bit)
        proc_pending = bool(status.shd_pnd & bit)
        if status.sig_ign & bit:
            disposition = "ignored"
        elif status.sig_cgt & bit:
            disposition = "caught"
        else:
            disposition = "default"
        stuck_thread = any(t.pending & t.blocked & bit for t in threads)
        stuck = (stuck_thread or (proc_pending and bool(all_blocked & bit))) and not signalfd_mask & bit
        rows.append(
            SignalRow(
                number=n,
                name=sig_name(n),
                default_action=default_action(n),
                disposition=disposition,
                blocked_tids=blocked,
                blocked_everywhere=bool(threads) and bool(all_blocked & bit) and n not in UNBLOCKABLE,
                pending_process=proc_pending,
                pending_tids=pending_tids,
                stuck=stuck,
                libc_internal=is_libc_internal(n),
            )
        )
    return tuple(rows)


def parent_diff(status: Status, parent: Status, parent_threads: tuple[ThreadMasks, ...] = ()) -> ParentDiff:
    """Pure: our main thread's masks against the parent's (and its threads')."""
    alike = tuple(t.tid for t in parent_threads if t.blocked == status.sig_blk)
    return ParentDiff(
        parent_pid=parent.pid,
        parent_name=parent.name,
        blocked_here_only=status.sig_blk & ~parent.sig_blk,
        blocked_parent_only=parent.sig_blk & ~status.sig_blk,
        ignored_here_only=status.sig_ign & ~parent.sig_ign,
        ignored_parent_only=parent.sig_ign & ~status.sig_ign,
        same_mask_parent_tids=alike,
        parent_blocked=tuple((t.tid, t.blocked) for t in parent_threads),
    )


def parse_signalfd_mask(fdinfo: str) -> int | None:
    """'sigmask:\t0000000000004200' of a signalfd's fdinfo (proc(5))."""
    for line in fdinfo.splitlines():
        k, _, v = line.partition(":")
        if k == "sigmask":
            return parse_mask(v)
    return None


def _thread_masks(read_status: Callable[[str], str], tids: list[str]) -> tuple[ThreadMasks, ...]:
    out = []
    for name in tids:
        try:
            st = parse_status(read_status(name))
        except FileNotFoundError:
            continue  # thread exited mid-scan
        out.append(ThreadMasks(int(name), st.name, st.sig_pnd, st.sig_blk))
    out.sort(key=lambda t: t.tid)
    return tuple(out)


def _signalfds(d: PidDir, fd_links: Mapping[int, str] | None, notes: list[str]) -> tuple[SignalfdInfo, ...]:
    links: Mapping[int, str]
    if fd_links is None:
        try:
            names = d.listdir("fd")
        except AccessDenied:
            notes.append("signalfd: no permission to list fds")
            return ()
        found: dict[int, str] = {}
        for n in names:
            try:
                found[int(n)] = d.readlink(f"fd/{n}")
            except (AccessDenied, FileNotFoundError):
                continue
        links = found
    else:
        links = fd_links
    out = []
    for fd, target in sorted(links.items()):
        if target != "anon_inode:[signalfd]":
            continue
        try:
            mask = parse_signalfd_mask(d.read_text(f"fdinfo/{fd}"))
        except (AccessDenied, FileNotFoundError):
            continue
        if mask is not None:
            out.append(SignalfdInfo(fd, mask))
    return tuple(out)


def _parent(root: ProcRoot, status: Status, notes: list[str]) -> ParentDiff | None:
    ppid = status.ppid
    if ppid <= 0:
        return None
    try:
        pstatus = parse_status(root.read_text(ppid, "status", pid=ppid))
        tids = root.listdir(ppid, "task", pid=ppid)[:_MAX_PARENT_THREADS]
        pthreads = _thread_masks(lambda t: root.read_text(ppid, "task", t, "status", pid=ppid), tids)
    except (ProcessGone, AccessDenied, FileNotFoundError):
        notes.append(f"parent {ppid}: gone or unreadable")
        return None
    return parent_diff(status, pstatus, pthreads)


def collect_signals(
    root: ProcRoot, d: PidDir, *, fd_links: Mapping[int, str] | None = None, with_parent: bool = True
) -> SignalsSnapshot:
    """Raises ProcessGone when the process is gone. fd_links (fd -> readlink) spares a second
    fd scan when the files view has one already."""
    notes: list[str] = []
    status = parse_status(d.read_text("status"))
    threads = _thread_masks(lambda t: d.read_text(f"task/{t}/status"), d.listdir("task"))
    if not threads:
        threads = (ThreadMasks(d.pid, status.name, status.sig_pnd, status.sig_blk),)
    kthread = parse_stat(d.read_text("stat")).is_kernel_thread
    sfds = () if kthread else _signalfds(d, fd_links, notes)
    sfd_mask = 0
    for s in sfds:
        sfd_mask |= s.mask
    return SignalsSnapshot(
        pid=d.pid,
        pending=status.sig_pnd,
        shared_pending=status.shd_pnd,
        blocked=status.sig_blk,
        ignored=status.sig_ign,
        caught=status.sig_cgt,
        sigq=status.sigq,
        threads=threads,
        rows=signal_table(status, threads, sfd_mask),
        parent=_parent(root, status, notes) if with_parent else None,
        signalfds=sfds,
        notes=tuple(notes),
    )
