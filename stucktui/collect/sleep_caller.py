"""Who called the sleep a thread is in: the library of the first return address, past the C
library's own frames, on the thread's stack (docs/kernel-notes.md §A.7). SQLite's busy handler
sleeps between two tries of a lock it could not get; a thread asleep with SQLite's code as the
caller is polling for a lock. Reads /proc/PID/mem at the stack pointer that
/proc/PID/task/TID/syscall shows (root, or the rights to trace the process): the target is
not stopped."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable

from stucktui.model.threads import ThreadRow
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.maps import CodeMapping, mapping_of, parse_code_mappings
from stucktui.procfs.root import ProcRoot

SLEEP_CALLS = frozenset({"nanosleep", "clock_nanosleep", "clock_nanosleep_time64"})
_STACK_WORDS = 64  # 512 bytes above the stack pointer: the sleep's own few frames and callers
_LIBC = ("libc.so", "libc-", "libpthread", "ld-linux", "ld-musl", "libc.musl")


def sleep_callers(root: ProcRoot, pid: int, rows: Iterable[ThreadRow]) -> dict[int, str]:
    """tid -> the path of the library (or program) whose code called the sleep each of `rows`
    is blocked in (threads in nanosleep or clock_nanosleep only). Empty when the stack may not
    be read; a thread whose caller is not found is left out."""
    sleeping = [
        t for t in rows
        if t.state == "S" and t.call is not None and t.call.name in SLEEP_CALLS
        and t.syscall is not None and t.syscall.sp
    ]  # fmt: skip
    if not sleeping:
        return {}
    try:
        code = parse_code_mappings(root.read_text(pid, "maps", pid=pid))
        fd = os.open(root.join(pid, "mem"), os.O_RDONLY | os.O_CLOEXEC)
    except (ProcessGone, AccessDenied, OSError):
        return {}
    out: dict[int, str] = {}
    try:
        for t in sleeping:
            assert t.syscall is not None and t.syscall.sp is not None
            try:
                data = os.pread(fd, _STACK_WORDS * 8, t.syscall.sp)
            except OSError:
                continue
            caller = first_caller(code, data)
            if caller is not None:
                out[t.tid] = caller
    finally:
        os.close(fd)
    return out


def first_caller(code: list[CodeMapping], stack: bytes) -> str | None:
    """The mapped file of the first word of `stack` (64-bit, little-endian) that points into
    code not of the C library: the caller of the C library's sleep."""
    for (word,) in struct.iter_unpack("<Q", stack[: len(stack) - len(stack) % 8]):
        m = mapping_of(code, word)
        if m is None:
            continue
        name = os.path.basename(m.path)
        if name.startswith(_LIBC):
            continue
        return m.path
    return None
