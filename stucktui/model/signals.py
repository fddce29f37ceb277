"""Signal masks of /proc/PID/status decoded to names, with signal(7)'s default actions.

Bit n-1 of SigPnd/ShdPnd/SigBlk/SigIgn/SigCgt is signal n (proc(5)). Numbers differ between
architectures (signal(7): SIGUSR1 is 10 on x86/ARM, 30 on Alpha/SPARC, 16 on MIPS), so names
come from the running interpreter's signal module, which uses the local kernel's and libc's
numbering, and are never hard-coded (docs/kernel-notes.md §5).
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from dataclasses import dataclass

NSIG = 64  # _NSIG of the kernel: masks are 64 bits wide on every Linux architecture

# Default dispositions from the table in signal(7) ("Standard signals"); real-time signals
# default to Term (signal(7), "Real-time signals").
DEFAULT_ACTIONS: dict[str, str] = {
    "SIGABRT": "Core",
    "SIGALRM": "Term",
    "SIGBUS": "Core",
    "SIGCHLD": "Ign",
    "SIGCONT": "Cont",
    "SIGEMT": "Term",
    "SIGFPE": "Core",
    "SIGHUP": "Term",
    "SIGILL": "Core",
    "SIGINT": "Term",
    "SIGIO": "Term",
    "SIGKILL": "Term",
    "SIGLOST": "Term",
    "SIGPIPE": "Term",
    "SIGPROF": "Term",
    "SIGPWR": "Term",
    "SIGQUIT": "Core",
    "SIGSEGV": "Core",
    "SIGSTKFLT": "Term",
    "SIGSTOP": "Stop",
    "SIGTSTP": "Stop",
    "SIGSYS": "Core",
    "SIGTERM": "Term",
    "SIGTRAP": "Core",
    "SIGTTIN": "Stop",
    "SIGTTOU": "Stop",
    "SIGURG": "Ign",
    "SIGUSR1": "Term",
    "SIGUSR2": "Term",
    "SIGVTALRM": "Term",
    "SIGXCPU": "Core",
    "SIGXFSZ": "Core",
    "SIGWINCH": "Ign",
}
ACTION_MEANINGS = {
    "Term": "terminate",
    "Core": "terminate and dump core",
    "Ign": "ignore",
    "Stop": "stop",
    "Cont": "continue if stopped",
}

_RTMIN = int(signal.SIGRTMIN)
_RTMAX = int(signal.SIGRTMAX)
# SIGKILL and SIGSTOP can be neither caught, blocked nor ignored (signal(7)); the kernel drops
# them from SigBlk silently.
UNBLOCKABLE = frozenset({int(signal.SIGKILL), int(signal.SIGSTOP)})


def is_libc_internal(n: int) -> bool:
    """32 and 33 on glibc: between the kernel's SIGRTMIN (32) and libc's SIGRTMIN (34)."""
    return 32 <= n < _RTMIN


def sig_name(n: int) -> str:
    try:
        return signal.Signals(n).name  # 1..31 and SIGRTMIN/SIGRTMAX themselves
    except ValueError:
        if _RTMIN < n < _RTMAX:
            return f"SIGRTMIN+{n - _RTMIN}"
        return f"SIG{n}"  # 32/33: libc-internal (is_libc_internal)


def sig_number(name: str) -> int:
    """Inverse of sig_name for this machine; raises ValueError for an unknown name."""
    if name.startswith("SIGRTMIN+"):
        return _RTMIN + int(name[9:])
    if name.startswith("SIGRTMAX-"):
        return _RTMAX - int(name[9:])
    try:
        return int(signal.Signals[name])
    except KeyError:
        if name.startswith("SIG") and name[3:].isdigit():
            return int(name[3:])
        raise ValueError(f"unknown signal {name!r}") from None


def default_action(n: int) -> str:
    """signal(7)'s action: Term, Core, Ign, Stop or Cont."""
    if n >= 32:
        return "Term"
    return DEFAULT_ACTIONS.get(sig_name(n), "Term")


def mask_numbers(mask: int) -> tuple[int, ...]:
    return tuple(i + 1 for i in range(NSIG) if mask >> i & 1)


def mask_names(mask: int) -> tuple[str, ...]:
    return tuple(sig_name(n) for n in mask_numbers(mask))


def mask_of(numbers: Iterable[int]) -> int:
    m = 0
    for n in numbers:
        m |= 1 << (n - 1)
    return m


def stuck_in_thread(sig_pnd: int, shd_pnd: int, sig_blk: int) -> int:
    """Signals pending for this thread (its own or the process's) that it blocks (docs/kernel-notes.md §5)."""
    return (sig_pnd | shd_pnd) & sig_blk


def stuck_process_directed(shd_pnd: int, thread_blocked: Iterable[int]) -> int:
    """Process-directed signals that every thread blocks: nobody can ever take them."""
    m = shd_pnd
    for blk in thread_blocked:
        m &= blk
    return m


@dataclass(frozen=True, slots=True)
class ThreadMasks:
    tid: int
    name: str
    pending: int  # SigPnd: directed at this thread
    blocked: int  # SigBlk


# signal(7)'s default actions that leave a running process as it was: ignore, and continue
# (SIGCONT resumes a stopped process when it is sent, blocked or not); such a signal left
# pending and blocked harms nothing unless the process installed a handler and waits for it
HARMLESS_ACTIONS = frozenset({"Ign", "Cont"})


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

    @property
    def harmless(self) -> bool:
        """Stuck, yet nothing can be waiting for it: ignored (discarded once unblocked), glibc's
        own, or one whose default action does nothing (SIGWINCH after a terminal resize, SIGURG,
        SIGCHLD, SIGCONT) with no handler installed. The rules say more (a shell reaping in
        wait4 blocks SIGCHLD on purpose); this is what the panel can tell from masks alone."""
        return (
            self.libc_internal
            or self.disposition == "ignored"
            or (self.default_action in HARMLESS_ACTIONS and self.disposition != "caught")
        )


@dataclass(frozen=True, slots=True)
class ParentDiff:
    parent_pid: int
    parent_name: str
    blocked_here_only: int  # blocked in our main thread, not in the parent's
    blocked_parent_only: int
    ignored_here_only: int
    ignored_parent_only: int
    # Parent threads whose blocked mask equals ours: a mask inherited across fork and exec
    # comes from the forking thread, not necessarily the parent's main thread (docs/incidents.md §3). A
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
    sigq: tuple[int, int] | None  # queued for this process's *user* / limit (docs/kernel-notes.md §5)
    threads: tuple[ThreadMasks, ...]
    rows: tuple[SignalRow, ...]
    parent: ParentDiff | None
    signalfds: tuple[SignalfdInfo, ...]
    notes: tuple[str, ...] = ()

    @property
    def stuck(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rows if r.stuck)

    @property
    def stuck_harmful(self) -> tuple[str, ...]:
        """The stuck signals something may wait for (SignalRow.harmless: not these)."""
        return tuple(r.name for r in self.rows if r.stuck and not r.harmless)

    def differing_threads(self) -> tuple[ThreadMasks, ...]:
        """Threads whose blocked mask differs from the main thread's, or with own pending."""
        return tuple(t for t in self.threads if t.blocked != self.blocked or t.pending)
