"""Futex waits decoded from a thread's syscall arguments (pure): the operation, whether the
lock is private to the process, the timeout (none, an absolute deadline on a clock, or a
relative time), and the owner a glibc mutex records in its own memory
(docs/kernel-notes.md §A.5).

futex(uaddr, op, val, timeout, uaddr2, val3): `op & 0x7f` is the operation, 0x80 marks a lock
private to the process (only its own threads can wake it), 0x100 puts an absolute deadline on
CLOCK_REALTIME. A NULL timeout pointer waits forever.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from stucktui.model.threads import ThreadRow

PRIVATE: Final = 0x80  # FUTEX_PRIVATE_FLAG (include/uapi/linux/futex.h)
CLOCK_REALTIME: Final = 0x100  # FUTEX_CLOCK_REALTIME
WAIT: Final = 0  # FUTEX_WAIT: a relative timeout
WAIT_BITSET: Final = 9  # an absolute deadline, on CLOCK_MONOTONIC unless CLOCK_REALTIME is set
WAIT_REQUEUE_PI: Final = 11  # absolute, as WAIT_BITSET
WAIT_OPS: Final = frozenset({WAIT, WAIT_BITSET, WAIT_REQUEUE_PI})

# glibc's pthread_mutex_t begins with int __lock, unsigned __count, int __owner, unsigned
# __nusers, int __kind on every architecture; a thread that finds it locked sets __lock to 2
# ("locked, with waiters") and sleeps in futex(&__lock, FUTEX_WAIT_PRIVATE, 2, NULL)
MUTEX_BYTES: Final = 20
MUTEX_CONTENDED: Final = 2
_MUTEX_KINDS: Final = frozenset({0, 1, 2, 3})  # timed (normal), recursive, error-checking, adaptive
_ELISION_BITS: Final = 0x300  # PTHREAD_MUTEX_ELISION_NP | PTHREAD_MUTEX_NO_ELISION_NP
PID_MAX: Final = 1 << 22  # PID_MAX_LIMIT on 64-bit: no thread id is larger
TIMESPEC_BYTES: Final = 16  # struct __kernel_timespec: two 64-bit integers
SIXTY_FOUR_BIT_ABIS: Final = frozenset({"x86_64", "aarch64"})


@dataclass(frozen=True, slots=True)
class FutexCall:
    """A thread asleep in a futex wait."""

    uaddr: int
    op: int  # the operation, without the flags
    private: bool
    realtime: bool  # an absolute deadline is on CLOCK_REALTIME
    val: int  # the value the word had when it went to sleep
    timeout: int  # the pointer to its timespec; 0: no timeout

    @property
    def forever(self) -> bool:
        return self.timeout == 0

    @property
    def mutex_like(self) -> bool:
        """How a glibc mutex waits: a private FUTEX_WAIT (or WAIT_BITSET, pthread_mutex_timedlock)
        on the word, expecting 2. Semaphores, CPython's locks and condition variables wait
        expecting 0, read-write locks 3: they record no owner."""
        return self.private and self.op in (WAIT, WAIT_BITSET) and self.val == MUTEX_CONTENDED


def futex_call(t: ThreadRow) -> FutexCall | None:
    """The futex wait a sleeping thread is in, or None."""
    if t.state not in "SD" or t.call is None or t.call.name != "futex" or t.syscall is None:
        return None
    a = t.syscall.args
    if len(a) < 4:
        return None
    raw = a[1] & 0xFFFFFFFF
    op = raw & 0x7F
    if op not in WAIT_OPS:
        return None
    return FutexCall(a[0], op, bool(raw & PRIVATE), bool(raw & CLOCK_REALTIME), a[2] & 0xFFFFFFFF, a[3])


def mutex_owner(raw: bytes) -> int | None:
    """The owner thread id a glibc mutex records (`__owner`, at +8), from its first 20 bytes;
    None unless the bytes look like a contended mutex: `__lock` 2, a kind glibc knows, and an
    owner that could be a thread id. A word that is not a mutex seldom passes; the caller also
    checks that the owner is a thread of the process."""
    if len(raw) < MUTEX_BYTES:
        return None
    lock, _count, owner, _nusers, kind = struct.unpack("=iIiIi", raw[:MUTEX_BYTES])
    if lock != MUTEX_CONTENDED or not 0 < owner <= PID_MAX:
        return None
    return owner if kind & ~_ELISION_BITS in _MUTEX_KINDS else None


def parse_timespec(raw: bytes) -> tuple[int, int] | None:
    """(seconds, nanoseconds) of a 64-bit timespec, or None when it is not one."""
    if len(raw) < TIMESPEC_BYTES:
        return None
    sec, nsec = struct.unpack("=qq", raw[:TIMESPEC_BYTES])
    return (sec, nsec) if sec >= 0 and 0 <= nsec < 1_000_000_000 else None


@dataclass(frozen=True, slots=True)
class Timeout:
    kind: str  # 'forever', 'deadline' (absolute), 'relative', 'unread'
    clock: str = ""  # 'monotonic' or 'realtime', for a deadline
    seconds: float = 0.0  # the deadline on its clock, or the relative time


def timeout_of(call: FutexCall, timespec: tuple[int, int] | None) -> Timeout:
    """FUTEX_WAIT takes a relative time; WAIT_BITSET and WAIT_REQUEUE_PI an absolute deadline
    on CLOCK_MONOTONIC, or CLOCK_REALTIME with the flag (docs/kernel-notes.md §A.5)."""
    if call.forever:
        return Timeout("forever")
    if timespec is None:
        return Timeout("unread")
    seconds = timespec[0] + timespec[1] / 1e9
    if call.op == WAIT:
        return Timeout("relative", seconds=seconds)
    return Timeout("deadline", "realtime" if call.realtime else "monotonic", seconds)


def timeout_text(t: Timeout, monotonic_now: float, realtime_now: float) -> str:
    """'forever', 'deadline in 12 s (monotonic clock)', 'relative 400 s'."""
    if t.kind == "forever":
        return "forever"
    if t.kind == "unread":
        return "with a timeout (not read)"
    if t.kind == "relative":
        # the time it was given; when the wait began is not recorded
        return f"relative {_secs(t.seconds)}"
    left = t.seconds - (realtime_now if t.clock == "realtime" else monotonic_now)
    if left < 0:
        return f"deadline passed {_secs(-left)} ago ({t.clock} clock)"
    return f"deadline in {_secs(left)} ({t.clock} clock)"


def _secs(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
