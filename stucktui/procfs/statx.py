"""statx(2) that asks no file system anything: the type and inode of what an fd link points to.

With AT_STATX_DONT_SYNC a FUSE or network file system answers from the attributes the kernel
has cached instead of asking its daemon or server, and the file's type never changes while it
is open. Through the magic link /proc/PID/fd/N the path walk jumps straight to the open file:
no lookup on its file system either. So where a plain stat() of a file on a hung FUSE mount
waits forever (unkillably once the daemon has read the request), this returns at once
(docs/kernel-notes.md §10.5). It is still made only on local file systems
(stucktui.model.mounts.stat_safe): a network file system may revalidate the link's target.

Python has no os.statx before 3.15: glibc's statx (2.28) through ctypes, or the raw system call.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import threading
from collections.abc import Callable
from typing import NamedTuple

AT_EMPTY_PATH = 0x1000
AT_STATX_DONT_SYNC = 0x4000
STATX_TYPE = 0x1
STATX_INO = 0x100
_BUF = 256  # sizeof(struct statx)
# stx_mask at 0, stx_mode at 28, stx_ino at 32, stx_dev_major/minor at 136/140 (native order)
_FIELDS = struct.Struct("=I24xH2xQ96xII")
# statx's number where glibc has no wrapper (arch/*/syscall*.tbl, asm-generic/unistd.h)
_SYS_STATX = {
    "x86_64": 332,
    "i386": 383,
    "i686": 383,
    "aarch64": 291,
    "riscv64": 291,
    "loongarch64": 291,
    "armv7l": 397,
    "armv8l": 397,
    "ppc64le": 383,
    "ppc64": 383,
    "s390x": 379,
}.get(platform.machine())


class FileStat(NamedTuple):
    """What statx told of a file, named as os.stat_result names them."""

    st_mode: int
    st_ino: int
    dev_major: int
    dev_minor: int


_call: Callable[[int, bytes, int, int, ctypes.Array[ctypes.c_char]], int] | None = None
_local = threading.local()  # one result buffer per thread


def _statx() -> Callable[[int, bytes, int, int, ctypes.Array[ctypes.c_char]], int] | None:
    """glibc's statx, or the system call by number. No argtypes: the arguments are plain ints
    and bytes, which ctypes passes as int and char * by itself, a microsecond faster a call."""
    global _call
    if _call is None:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = getattr(libc, "statx", None)
        if fn is not None:
            _call = fn
        elif _SYS_STATX is not None:
            raw = libc.syscall
            nr = _SYS_STATX

            def _raw(dirfd: int, path: bytes, flags: int, mask: int, buf: ctypes.Array[ctypes.c_char]) -> int:
                return int(raw(nr, dirfd, path, flags, mask, buf))

            _call = _raw
    return _call


def statx_cached(dirfd: int, path: str) -> FileStat:
    """Type, inode and device of what `path` (relative to `dirfd`; "" for `dirfd` itself, an
    O_PATH fd) names, from the kernel's cache: AT_STATX_DONT_SYNC, following links. Raises
    OSError (ENOSYS where statx cannot be called: before Linux 4.11, or an architecture
    without a known number)."""
    fn = _statx()
    if fn is None:
        raise OSError(38, "statx is not available")
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = ctypes.create_string_buffer(_BUF)
    flags = AT_STATX_DONT_SYNC | (AT_EMPTY_PATH if not path else 0)
    if fn(dirfd, os.fsencode(path), flags, STATX_TYPE | STATX_INO, buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    mask, mode, ino, major, minor = _FIELDS.unpack_from(buf)
    if not mask & STATX_TYPE:
        raise OSError(61, "statx gave no file type", path)  # ENODATA
    return FileStat(mode, ino, major, minor)
