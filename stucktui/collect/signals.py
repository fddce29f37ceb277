"""Signal state of one process: masks per process and per thread, the full signal table,
pending-but-blocked signals, the difference from the parent's masks, and signalfd readers.

A process-directed signal (ShdPnd) waits until some thread unblocks it, so it is stuck only if
every thread blocks it; a thread-directed one (SigPnd) only if that thread blocks it (notes 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stucktui.procfs import AccessDenied, PidDir, ProcessGone, ProcRoot
from stucktui.procfs.signals import (
    NSIG,
    UNBLOCKABLE,
    default_action,
    is_libc_internal,
    mask_names,
    parse_mask,
    sig_name,
    stuck_process_directed,
)
from stucktui.procfs.stat import parse_stat
from stucktui.procfs.status import Status, parse_status

_MAX_PARENT_THREADS = 4096  # reading every thread of a huge parent to find the forker: cap it


@dataclass(frozen=True, slots=True)
class ThreadMasks:
    tid: int
    name: str
    pending: int  # SigPnd: directed at this thread
    blocked: int  # SigBlk


@dataclass(frozen=True, slots=True)
class SignalRow:
    number: int  # on this machine's architecture
    name: str
    default_action: str  # signal(7): Term, Core, Ign, Stop, Cont
    disposition: str  # 'default', 'ignored' or 'caught'
    blocked_tids: tuple[int, ...]
    blocked_everywhere: bool
    pending_process: bool  # in ShdPnd
    pending_tids: tuple[int, ...]  # threads with it in their own SigPnd
    stuck: bool  # pending and no thread that it is directed at can take it
    libc_internal: bool = False  # 32/33 on glibc


@dataclass(frozen=True, slots=True)
class ParentDiff:
    parent_pid: int
    parent_name: str
    blocked_here_only: int  # blocked in our main thread, not in the parent's
    blocked_parent_only: int
    ignored_here_only: int
    ignored_parent_only: int
    # Parent threads whose blocked mask equals ours: a mask inherited across fork and exec
    # comes from the forking thread, not necessarily the parent's main thread (incident 3). A
    # pool blocks signals alike in all its threads, and which one forked us is not in /proc.
    same_mask_parent_tids: tuple[int, ...] = ()
    # every parent thread's blocked mask, (tid, mask): a child that changed its own mask since
    # it was started (coreutils timeout does) matches no thread exactly, but the threads that
    # block what it has stuck still tell where that came from
    parent_blocked: tuple[tuple[int, int], ...] = ()

    def parent_tids_blocking(self, bits: int) -> tuple[int, ...]:
        """The parent's threads that block every signal of `bits`."""
        return tuple(tid for tid, mask in self.parent_blocked if mask & bits == bits)

    @property
    def same_mask_parent_tid(self) -> int | None:
        """The first of them (the report's `same_mask_parent_tid`)."""
        return self.same_mask_parent_tids[0] if self.same_mask_parent_tids else None

    @property
    def differs(self) -> bool:
        return bool(
            self.blocked_here_only
            | self.blocked_parent_only
            | self.ignored_here_only
            | self.ignored_parent_only
        )


@dataclass(frozen=True, slots=True)
class SignalfdInfo:
    fd: int
    mask: int  # the signals read through this fd (fdinfo 'sigmask:')


@dataclass(frozen=True, slots=True)
class SignalsSnapshot:
    pid: int
    pending: int  # SigPnd of the main thread
    shared_pending: int  # ShdPnd
    blocked: int  # SigBlk of the main thread
    ignored: int
    caught: int
    sigq: tuple[int, int] | None  # queued for this process's *user* / limit (notes 5)
    threads: tuple[ThreadMasks, ...]
    rows: tuple[SignalRow, ...]
    parent: ParentDiff | None
    signalfds: tuple[SignalfdInfo, ...]
    notes: tuple[str, ...] = ()

    @property
    def stuck(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rows if r.stuck)

    def differing_threads(self) -> tuple[ThreadMasks, ...]:
        """Threads whose blocked mask differs from the main thread's, or with own pending."""
        return tuple(t for t in self.threads if t.blocked != self.blocked or t.pending)


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


def _thread_masks(read_status, tids: list[str]) -> tuple[ThreadMasks, ...]:
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


def signals_report(snap: SignalsSnapshot) -> dict[str, object]:
    """`signals` of `stucktui report`."""
    p = snap.parent
    diff: dict[str, object] = {}
    if p is not None:
        diff = {
            "parent_pid": p.parent_pid,
            "parent_name": p.parent_name,
            "blocked_here_only": list(mask_names(p.blocked_here_only)),
            "blocked_parent_only": list(mask_names(p.blocked_parent_only)),
            "ignored_here_only": list(mask_names(p.ignored_here_only)),
            "ignored_parent_only": list(mask_names(p.ignored_parent_only)),
            "same_mask_parent_tid": p.same_mask_parent_tid,
            "same_mask_parent_tids": list(p.same_mask_parent_tids),
        }
    return {
        "pending": list(mask_names(snap.pending)),
        "shared_pending": list(mask_names(snap.shared_pending)),
        "blocked": list(mask_names(snap.blocked)),
        "ignored": list(mask_names(snap.ignored)),
        "caught": list(mask_names(snap.caught)),
        "threads": {
            str(t.tid): {"blocked": list(mask_names(t.blocked)), "pending": list(mask_names(t.pending))}
            for t in snap.differing_threads()
        },
        "parent_diff": diff,
    }
