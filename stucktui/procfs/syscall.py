"""Parser of /proc/PID/task/TID/syscall (proc(5)) and a decoder of the call it shows.

Which arguments are fds, and how flags are spelled, come from the syscall's man page and the
UAPI headers cited next to each table; numbers come from the generated syscall_tables.
"""

from __future__ import annotations

from stucktui.model.syscall import CallKind, DecodedCall, SyscallLine
from stucktui.procfs.syscall_tables import AARCH64, I386, X86_64


def parse_syscall(text: str) -> SyscallLine:
    """'NR a0..a5 sp pc' (NR decimal, the rest hex), 'running', '-1 sp pc' or '-1 0x0 0x0'."""
    parts = text.split()
    if not parts:
        raise ValueError("empty syscall line")
    if parts[0] == "running":
        return SyscallLine(CallKind.RUNNING)
    nr = int(parts[0])
    vals = tuple(int(p, 16) for p in parts[1:])
    if nr == -1:
        sp, pc = (vals + (0, 0))[:2]
        kind = CallKind.NO_CONTEXT if sp == 0 and pc == 0 else CallKind.NOT_IN_SYSCALL
        return SyscallLine(kind, None, (), sp, pc)
    if len(vals) != 8:
        raise ValueError(f"syscall line with {len(vals)} values: {text!r}")
    return SyscallLine(CallKind.IN_SYSCALL, nr, vals[:6], vals[6], vals[7])


# Tables by target ABI (elf.py names them). 32-bit arm is left out: its table is not generated.
TABLES: dict[str, dict[int, str]] = {"x86_64": X86_64, "aarch64": AARCH64, "i386": I386}


def syscall_name(nr: int, abi: str) -> str | None:
    table = TABLES.get(abi)
    return table.get(nr) if table else None


# Arguments that are file descriptors, by position (each call's man page, section 2).
_FD0 = (0,)
FD_ARGS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(
        [
            "read",
            "write",
            "readv",
            "writev",
            "pread64",
            "pwrite64",
            "preadv",
            "pwritev",
            "preadv2",
            "pwritev2",
            "recvfrom",
            "recvmsg",
            "recvmmsg",
            "sendto",
            "sendmsg",
            "sendmmsg",
            "accept",
            "accept4",
            "connect",
            "shutdown",
            "flock",
            "fcntl",
            "fcntl64",
            "ioctl",
            "fsync",
            "fdatasync",
            "syncfs",
            "close",
            "fstat",
            "ftruncate",
            "getdents64",
            "epoll_wait",
            "epoll_pwait",
            "epoll_pwait2",
            "io_uring_enter",
            "pidfd_send_signal",
            "pidfd_getfd",
            "sync_file_range",
            "vmsplice",
            "fallocate",
            "lseek",
            "_llseek",
        ],
        _FD0,
    ),
    "epoll_ctl": (0, 2),
    "splice": (0, 2),
    "tee": (0, 1),
    "sendfile": (1, 0),  # out_fd, in_fd: show the source first, it is usually what blocks
    "sendfile64": (1, 0),
    "copy_file_range": (0, 2),
    "dup2": (0, 1),
    "dup3": (0, 1),
}

# include/uapi/linux/futex.h
_FUTEX_OPS = {
    0: "FUTEX_WAIT",
    1: "FUTEX_WAKE",
    2: "FUTEX_FD",
    3: "FUTEX_REQUEUE",
    4: "FUTEX_CMP_REQUEUE",
    5: "FUTEX_WAKE_OP",
    6: "FUTEX_LOCK_PI",
    7: "FUTEX_UNLOCK_PI",
    8: "FUTEX_TRYLOCK_PI",
    9: "FUTEX_WAIT_BITSET",
    10: "FUTEX_WAKE_BITSET",
    11: "FUTEX_WAIT_REQUEUE_PI",
    12: "FUTEX_CMP_REQUEUE_PI",
    13: "FUTEX_LOCK_PI2",
}
_FUTEX_PRIVATE_FLAG = 128
_FUTEX_CLOCK_REALTIME = 256
# include/uapi/asm-generic/fcntl.h (LOCK_*, F_*LK*) and include/uapi/linux/fcntl.h (F_OFD_*)
_FLOCK_OPS = {1: "LOCK_SH", 2: "LOCK_EX", 8: "LOCK_UN"}
_LOCK_NB = 4
_FCNTL_CMDS = {
    0: "F_DUPFD",
    1: "F_GETFD",
    2: "F_SETFD",
    3: "F_GETFL",
    4: "F_SETFL",
    5: "F_GETLK",
    6: "F_SETLK",
    7: "F_SETLKW",
    36: "F_OFD_GETLK",
    37: "F_OFD_SETLK",
    38: "F_OFD_SETLKW",
}
# include/uapi/linux/time.h
_CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 7: "CLOCK_BOOTTIME", 4: "CLOCK_MONOTONIC_RAW"}
_TIMER_ABSTIME = 1
# include/uapi/linux/wait.h (waitid idtype)
_IDTYPES = {0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"}

# Positional timeouts in milliseconds where -1 (as a 32-bit int) means "forever".
_TIMEOUT_MS_ARG = {"epoll_wait": 3, "epoll_pwait": 3, "poll": 2}
_SIGNAL_WAITS = frozenset(
    {"rt_sigtimedwait", "rt_sigsuspend", "pause", "sigsuspend", "rt_sigtimedwait_time64"}
)
_RESTART = "restart_syscall"


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _futex_op(v: int) -> str:
    op = v & ~(_FUTEX_PRIVATE_FLAG | _FUTEX_CLOCK_REALTIME)
    parts = [_FUTEX_OPS.get(op, f"op {op}")]
    if v & _FUTEX_PRIVATE_FLAG:
        parts.append("FUTEX_PRIVATE_FLAG")
    if v & _FUTEX_CLOCK_REALTIME:
        parts.append("FUTEX_CLOCK_REALTIME")
    return "|".join(parts)


def _flock_op(v: int) -> str:
    base = _FLOCK_OPS.get(v & ~_LOCK_NB, hex(v & ~_LOCK_NB))
    return base + ("|LOCK_NB" if v & _LOCK_NB else "")


def _timeout_ms(v: int) -> str:
    ms = _int32(v)
    return "wait forever" if ms < 0 else f"timeout {ms} ms"


def _wait4_pid(v: int) -> str:
    pid = _int32(v)
    if pid == -1:
        return "any child"
    if pid == 0:
        return "any child in its process group"
    return f"process group {-pid}" if pid < 0 else f"pid {pid}"


def _other_args(name: str, a: tuple[int, ...]) -> tuple[str, ...]:
    """The non-fd arguments worth a word, in call order."""
    if name == "futex":
        return (hex(a[0]), _futex_op(a[1]))
    if name in ("wait4",):
        return (_wait4_pid(a[0]),)
    if name == "waitid":
        idtype = _IDTYPES.get(a[0], str(a[0]))
        return (idtype,) if a[0] == 0 else (idtype, str(_int32(a[1])))
    if name == "flock":
        return (_flock_op(a[1]),)
    if name in ("fcntl", "fcntl64"):
        return (_FCNTL_CMDS.get(a[1], str(a[1])),)
    if name in ("clock_nanosleep", "clock_nanosleep_time64"):
        out = [_CLOCKS.get(a[0], f"clock {a[0]}")]
        if a[1] & _TIMER_ABSTIME:
            out.append("TIMER_ABSTIME")
        return tuple(out)
    if name in ("select", "pselect6", "_newselect", "pselect6_time64"):
        return (f"nfds={a[0]}",)
    if name in ("poll", "ppoll", "ppoll_time64"):
        out = [f"{a[1]} fds"]
        if name == "poll":
            out.append(_timeout_ms(a[2]))
        return tuple(out)
    if name in _TIMEOUT_MS_ARG:
        return (_timeout_ms(a[_TIMEOUT_MS_ARG[name]]),)
    if name in ("read", "write", "pread64", "pwrite64", "recvfrom", "sendto"):
        return (f"{a[2]} byte" + ("" if a[2] == 1 else "s"),)
    if name in _SIGNAL_WAITS:
        return ("waiting for a signal",)
    return ()


def decode_call(line: SyscallLine, abi: str) -> DecodedCall | None:
    """None unless the thread sits in a syscall. Never call this for a kernel thread."""
    if line.kind is not CallKind.IN_SYSCALL or line.nr is None:
        return None
    name = syscall_name(line.nr, abi)
    if name is None:
        return DecodedCall(line.nr, None, abi, (), ())
    if name == _RESTART:
        return DecodedCall(line.nr, name, abi, (), (), restarted=True)
    fds = tuple(fd for i in FD_ARGS.get(name, ()) if (fd := _int32(line.args[i])) >= 0)
    return DecodedCall(
        line.nr,
        name,
        abi,
        fds,
        _other_args(name, line.args),
        waits_for_signal=name in _SIGNAL_WAITS,
    )
