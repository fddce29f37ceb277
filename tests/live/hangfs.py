"""A FUSE file system whose one file never answers a read: the daemon of the live D-state tests.

It speaks the kernel's FUSE protocol on /dev/fuse itself (include/uapi/linux/fuse.h), with the
standard library only: no libfuse, no Python binding, nothing to install. It mounts itself with
mount(2), so it needs root (CAP_SYS_ADMIN).

    python3 hangfs.py MOUNTPOINT

prints its pid and 'ready' once mounted, then serves: the root directory holds one file,
`slow`, of 4096 bytes; a READ of it is never answered (the reader sleeps in D until the
connection is aborted or the mount goes away). A LOOKUP of `hang` is never answered either (the
caller waits in the FUSE request). Everything else is answered at once. It exits when the
kernel ends the connection (umount, abort).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

# opcodes (include/uapi/linux/fuse.h)
LOOKUP, FORGET, GETATTR, OPEN, READ, STATFS, RELEASE, FLUSH, INIT = 1, 2, 3, 14, 15, 17, 18, 25, 26
OPENDIR, READDIR, RELEASEDIR, ACCESS, INTERRUPT, BATCH_FORGET = 27, 28, 29, 34, 36, 42
NO_REPLY = frozenset({FORGET, BATCH_FORGET, INTERRUPT})
FUSE_ASYNC_READ = 1 << 0  # reads go through the page cache, as libfuse's default
IN_HEADER = struct.Struct("<IIQQIIIHH")  # len, opcode, unique, nodeid, uid, gid, pid, extlen, pad
OUT_HEADER = struct.Struct("<IiQ")  # len, error, unique
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")  # fuse_attr: 88 bytes
ROOT, SLOW = 1, 2
LONG = 3600  # seconds the kernel may cache names
# The file's attributes are never cached: a stat() of it asks the daemon every time, so an
# observer that stats it hangs with the daemon (the hazard stucktui must never run into).


def attr(node: int) -> bytes:
    if node == ROOT:
        return ATTR.pack(ROOT, 0, 0, 0, 0, 0, 0, 0, 0, 0o040755, 2, 0, 0, 0, 4096, 0)
    return ATTR.pack(SLOW, 4096, 8, 0, 0, 0, 0, 0, 0, 0o100644, 1, 0, 0, 0, 4096, 0)


def mount(fd: int, point: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
    ms_nosuid, ms_nodev = 2, 4
    if libc.mount(b"hangfs", point.encode(), b"fuse.hangfs", ms_nosuid | ms_nodev, opts) != 0:
        raise SystemExit(f"mount: {os.strerror(ctypes.get_errno())}")


def reply(fd: int, unique: int, body: bytes = b"", error: int = 0) -> None:
    try:
        os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), -error, unique) + body)
    except OSError as exc:  # the request was interrupted meanwhile, or the connection aborted
        if exc.errno not in (errno.ENOENT, errno.ENODEV):
            raise


def answer(fd: int, opcode: int, unique: int, node: int, body: bytes) -> None:
    if opcode == INIT:
        major, minor, readahead, _flags = struct.unpack_from("<IIII", body)
        out = struct.pack("<IIIIHHIIHHII", 7, min(minor, 31), readahead, FUSE_ASYNC_READ, 16, 12, 65536, 1,
                          0, 0, 0, 0)  # fmt: skip
        reply(fd, unique, out + bytes(64 - len(out)))
    elif opcode == LOOKUP:
        name = body.split(b"\0", 1)[0]
        if name == b"hang":
            return  # never answered
        if node != ROOT or name != b"slow":
            reply(fd, unique, error=errno.ENOENT)
            return
        reply(fd, unique, struct.pack("<QQQQII", SLOW, 0, LONG, 0, 0, 0) + attr(SLOW))
    elif opcode == GETATTR:
        reply(fd, unique, struct.pack("<QII", LONG if node == ROOT else 0, 0, 0) + attr(node))
    elif opcode in (OPEN, OPENDIR):
        reply(fd, unique, struct.pack("<QII", 0, 0, 0))
    elif opcode == READ and node == SLOW:
        return  # never answered: the reader waits for it
    elif opcode in (READ, READDIR):
        reply(fd, unique)  # end of file, an empty directory
    elif opcode == STATFS:
        reply(fd, unique, struct.pack("<QQQQQIII", 1, 0, 0, 1, 0, 4096, 255, 4096) + bytes(28))
    elif opcode in (RELEASE, RELEASEDIR, FLUSH, ACCESS):
        reply(fd, unique)
    elif opcode not in NO_REPLY:
        reply(fd, unique, error=errno.ENOSYS)


def main() -> None:
    point = sys.argv[1]
    fd = os.open("/dev/fuse", os.O_RDWR)
    mount(fd, point)
    print(os.getpid(), flush=True)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        try:
            msg = os.read(fd, 1 << 20)
        except OSError as exc:
            if exc.errno == errno.EINTR or exc.errno == errno.ENOENT:
                continue
            return  # ENODEV: unmounted or aborted
        _len, opcode, unique, node, *_ = IN_HEADER.unpack_from(msg)
        answer(fd, opcode, unique, node, msg[IN_HEADER.size :])


if __name__ == "__main__":
    main()
