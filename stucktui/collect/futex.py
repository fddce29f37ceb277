"""Reads, for the wait graph, what a thread's futex or signal wait points at in its process's
memory (the owner of a glibc mutex, a timeout, a signal set), and where a process stuck on its
own locks likely came from (a fork of a multi-threaded parent). /proc/PID/mem is read with one
pread per word: it needs the right to ptrace the process and does not stop it
(docs/kernel-notes.md §A.5)."""

from __future__ import annotations

import struct

from stucktui.model.futex import MUTEX_BYTES, TIMESPEC_BYTES, mutex_owner, parse_timespec
from stucktui.model.syscall import SyscallLine
from stucktui.model.threads import ThreadsSnapshot
from stucktui.procfs.cmdline import parse_cmdline
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.syscall import parse_syscall

_MAX_ADDRESS = (1 << 63) - 1  # an offset pread takes; user addresses are far below
_MAX_PARENT_THREADS = 256  # threads of a parent whose start times are compared


class Memory:
    """Reads of one process's memory. `denied` turns True at the first refusal (no ptrace
    rights): later reads are not tried."""

    def __init__(self, root: ProcRoot, pid: int) -> None:
        self.root, self.pid = root, pid
        self.denied = False

    def read(self, addr: int, size: int) -> bytes | None:
        """The bytes at `addr`, or None (not mapped, refused, the process gone)."""
        if self.denied or not 0 < addr <= _MAX_ADDRESS - size:
            return None
        try:
            raw = self.root.read_at(self.pid, "mem", offset=addr, size=size, pid=self.pid)
        except AccessDenied:
            self.denied = True
            return None
        except (ProcessGone, OSError):
            return None
        return raw if len(raw) == size else None

    def mutex_owner(self, uaddr: int) -> int | None:
        raw = self.read(uaddr, MUTEX_BYTES)
        return mutex_owner(raw) if raw is not None else None

    def timespec(self, addr: int) -> tuple[int, int] | None:
        raw = self.read(addr, TIMESPEC_BYTES)
        return parse_timespec(raw) if raw is not None else None

    def sigset(self, addr: int) -> int | None:
        """A kernel sigset_t: 64 bits, bit n-1 for signal n."""
        raw = self.read(addr, 8)
        return struct.unpack("=Q", raw)[0] if raw is not None else None


def thread_state(root: ProcRoot, pid: int, tid: int) -> str | None:
    """The state letter of thread `tid` of `pid`; None when it is no thread of it (now)."""
    try:
        text = root.read_small(pid, "task", tid, "stat", pid=pid).decode("ascii", "replace")
        return text[text.rindex(")") + 2 :].split(None, 1)[0]
    except (ProcessGone, AccessDenied, OSError, ValueError, IndexError):
        return None


def still_in(root: ProcRoot, pid: int, tid: int, line: SyscallLine) -> bool:
    """The thread is still in the call (same number and arguments) its line showed before: a
    word read from memory in between belongs to the same wait."""
    try:
        now = parse_syscall(root.read_small(pid, "task", tid, "syscall", pid=pid).decode("ascii", "replace"))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return False
    return now.nr == line.nr and now.args[:4] == line.args[:4]


def _stat(root: ProcRoot, *parts: object, pid: int) -> list[str] | None:
    """stat fields from field 3 (state) on."""
    try:
        text = root.read_small(*parts, "stat", pid=pid).decode("utf-8", "backslashreplace")
        return text[text.rindex(")") + 2 :].split()
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None


def _same_program(root: ProcRoot, a: int, b: int) -> bool:
    """Same executable and command line: a fork that did not exec (links read, never stat()ed)."""
    try:
        exe = root.readlink(a, "exe", pid=a) == root.readlink(b, "exe", pid=b)
        argv = parse_cmdline(root.read_bytes(a, "cmdline", pid=a)) == parse_cmdline(
            root.read_bytes(b, "cmdline", pid=b)
        )
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return False
    return exe and argv


def fork_origin(root: ProcRoot, pid: int, threads: ThreadsSnapshot | None) -> str | None:
    """Where a process stuck on a lock no thread of it can release likely came from: forked,
    without exec, by a parent that had another thread then (a parent thread started before
    it: stat field 22), or started by multiprocessing's fork method (py-spy shows
    popen_fork in its stack). None when neither shows (a thread since gone leaves no trace)."""
    for r in threads.rows if threads is not None else ():
        if r.python is not None and any("popen_fork" in f.file for f in r.python.frames):
            return "a child started by multiprocessing's fork method (its stack shows popen_fork)"
    mine = _stat(root, pid, pid=pid)
    if mine is None or len(mine) < 20:
        return None
    ppid, start = int(mine[1]), int(mine[19])
    if ppid <= 1 or not _same_program(root, pid, ppid):
        return None
    try:
        tids = [int(t) for t in root.listdir(ppid, "task", pid=ppid)[:_MAX_PARENT_THREADS]]
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return None
    earlier = []
    for tid in sorted(tids):
        st = _stat(root, ppid, "task", tid, pid=ppid)
        if st is not None and len(st) > 19 and int(st[19]) <= start:
            earlier.append(tid)
    others = [t for t in earlier if t != ppid]
    if not others:
        return None
    name = _stat_name(root, ppid)
    return (
        f"forked without exec by pid {ppid} ({name}) while another of its threads ran (thread "
        f"{others[0]} was started before it): a lock that thread held was copied locked"
    )


def _stat_name(root: ProcRoot, pid: int) -> str:
    try:
        text = root.read_small(pid, "stat", pid=pid).decode("utf-8", "backslashreplace")
        return text[text.index("(") + 1 : text.rindex(")")]
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return "?"
