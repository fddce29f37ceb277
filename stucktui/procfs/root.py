"""The one place stucktui touches /proc: an injectable root and a pinned per-process directory.

Every read goes through ProcRoot or PidDir so tests can point them at a fixture tree, and so
that a vanished process or a refused read becomes ProcessGone or AccessDenied here, nowhere else.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable

from stucktui.procfs.errors import DENIED_ERRNOS, GONE_ERRNOS, AccessDenied, ProcessGone

_READ_CHUNK = 1 << 16


def _read_fd(fd: int) -> bytes:
    chunks = []
    while b := os.read(fd, _READ_CHUNK):
        chunks.append(b)
    return b"".join(chunks)


class ProcRoot:
    """A /proc tree: the real one by default, a fixture directory in tests."""

    def __init__(self, path: str = "/proc") -> None:
        self.path = path.rstrip("/") or "/"

    def __repr__(self) -> str:
        return f"ProcRoot({self.path!r})"

    def join(self, *parts: object) -> str:
        return "/".join((self.path, *map(str, parts)))

    # -- translation of errors, in one place -------------------------------------------------
    def _translate(self, exc: OSError, pid: int | None, what: str | tuple[object, ...]) -> Exception:
        if not isinstance(what, str):
            what = "/".join(map(str, what))
        if exc.errno in GONE_ERRNOS:
            return ProcessGone(pid, what)
        if exc.errno in DENIED_ERRNOS:
            return AccessDenied(pid, what)
        if exc.errno == errno.ENOENT and pid is not None and not os.path.exists(self.join(pid)):
            return ProcessGone(pid, what)
        return exc

    # -- whole-box files ----------------------------------------------------------------------
    def pids(self) -> list[int]:
        """Numeric entries of the root: every process visible to us (hidepid may hide some)."""
        return [int(n) for n in os.listdir(self.path) if n.isdigit()]

    def read_bytes(self, *parts: object, pid: int | None = None) -> bytes:
        try:
            fd = os.open(self.join(*parts), os.O_RDONLY | os.O_CLOEXEC)
            try:
                return _read_fd(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._translate(exc, pid, parts) from exc

    def read_text(self, *parts: object, pid: int | None = None) -> str:
        return self.read_bytes(*parts, pid=pid).decode("utf-8", "backslashreplace")

    def read_small(self, *parts: object, pid: int | None = None, size: int = 4096) -> bytes:
        """One read() of at most `size` bytes: enough for stat, which the kernel generates
        whole; saves the second read that confirms end-of-file on the hot path."""
        try:
            fd = os.open(self.join(*parts), os.O_RDONLY | os.O_CLOEXEC)
            try:
                return os.read(fd, size)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._translate(exc, pid, parts) from exc

    def stat_reader(self) -> Callable[[int], bytes]:
        """pid -> the bytes of /proc/PID/stat, one open and one read(): the process list's hot
        loop, which reads nothing else of an unchanged process. Its OSError is not translated
        (the caller tells a refusal from a process gone by errno, DENIED_ERRNOS)."""
        prefix = self.path + "/"
        flags = os.O_RDONLY | os.O_CLOEXEC
        open_, read, close = os.open, os.read, os.close

        def read_stat(pid: int) -> bytes:
            fd = open_(f"{prefix}{pid}/stat", flags)
            try:
                return read(fd, 4096)
            finally:
                close(fd)

        return read_stat

    def read_at(self, *parts: object, offset: int, size: int, pid: int | None = None) -> bytes:
        """`size` bytes at `offset`, one pread: /proc/PID/mem at an address of the process, which
        needs the right to ptrace it (AccessDenied otherwise) and does not stop it
        (docs/kernel-notes.md §A.5). An address it has not mapped is an OSError (EIO)."""
        try:
            fd = os.open(self.join(*parts), os.O_RDONLY | os.O_CLOEXEC)
            try:
                return os.pread(fd, size, offset)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._translate(exc, pid, parts) from exc

    def readlink(self, *parts: object, pid: int | None = None) -> str:
        try:
            return os.readlink(self.join(*parts))
        except OSError as exc:
            raise self._translate(exc, pid, parts) from exc

    def listdir(self, *parts: object, pid: int | None = None) -> list[str]:
        try:
            return os.listdir(self.join(*parts))
        except OSError as exc:
            raise self._translate(exc, pid, parts) from exc

    def stat(self, *parts: object, pid: int | None = None) -> os.stat_result:
        try:
            return os.stat(self.join(*parts))
        except OSError as exc:
            raise self._translate(exc, pid, parts) from exc

    def count_fds(self, pid: int) -> int:
        """Open fds of a process. Since Linux 6.2 the size of /proc/PID/fd is the fd count,
        which spares listing 20,000 entries; older kernels report 0 there, so 0 is confirmed
        by a listing."""
        n = self.stat(pid, "fd", pid=pid).st_size
        # a fixture tree's directory size means nothing, and it may hold a .keep file (git
        # keeps no empty directory): there, count the numeric entries, as /proc has no others
        if n > 0 and self.path == "/proc":
            return n
        return sum(1 for name in self.listdir(pid, "fd", pid=pid) if name.isdigit())

    def pid_dir(self, pid: int) -> PidDir:
        return PidDir(self, pid)


class PidDir:
    """/proc/PID opened as a directory fd: reads through it fail with ESRCH once the pid is
    reused, instead of silently describing another process (docs/kernel-notes.md §6.1)."""

    def __init__(self, root: ProcRoot, pid: int) -> None:
        self.root = root
        self.pid = pid
        try:
            self._fd: int | None = os.open(root.join(pid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise ProcessGone(pid, "directory") from exc
        except OSError as exc:
            raise root._translate(exc, pid, "directory") from exc

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PidDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - safety net only
        try:
            self.close()
        except Exception:
            pass

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise ValueError("PidDir is closed")
        return self._fd

    def _err(self, exc: OSError, what: str) -> Exception:
        if exc.errno == errno.ENOENT and not self.alive():
            return ProcessGone(self.pid, what)
        return self.root._translate(exc, self.pid, what)

    def alive(self) -> bool:
        """True while the pinned process still exists (fstat of a dead pid's dir gives ESRCH
        on some reads; listing a file through the fd is the reliable probe)."""
        try:
            fd = os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError:
            return False
        try:
            os.read(fd, 1)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def read_bytes(self, name: str) -> bytes:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
            try:
                return _read_fd(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._err(exc, name) from exc

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8", "backslashreplace")

    def read_head(self, name: str, size: int) -> bytes:
        """The first bytes of a file: the ELF header of `exe` without reading the binary."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
            try:
                return os.pread(fd, size, 0)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._err(exc, name) from exc

    def readlink(self, name: str) -> str:
        try:
            return os.readlink(name, dir_fd=self.fd)
        except OSError as exc:
            raise self._err(exc, name) from exc

    def socket_protocol(self, fd: int) -> str | None:
        """What the kernel calls the socket behind fd N ('TCP', 'TCPv6', 'UDP', 'NETLINK',
        'UNIX-STREAM', 'PACKET', ...): sockfs answers the system.sockprotoname attribute,
        read through the pinned directory. None when it is not a socket or not readable (a
        fixture tree). Tells a TCP socket that is in no table (closed: reset, shut down, or
        never connected) from a netlink or packet socket that sock_diag was not asked for.

        The fd may have been closed and reused for a file since it was listed, and a getxattr
        of a FUSE file asks its daemon: so the link is opened O_PATH (which asks no file system
        anything), checked to be a socket from the cached attributes, and read through that
        open (docs/kernel-notes.md §10.5)."""
        from stucktui.procfs.statx import statx_cached  # ctypes: loaded by the first caller

        try:
            f = os.open(f"fd/{fd}", os.O_PATH | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError:
            return None
        try:
            if not stat.S_ISSOCK(statx_cached(f, "").st_mode):
                return None
            raw = os.getxattr(f"/proc/self/fd/{f}", "system.sockprotoname")
        except OSError:
            return None
        finally:
            os.close(f)
        return raw.rstrip(b"\0").decode("ascii", "replace") or None

    def count_fds(self) -> int:
        """As ProcRoot.count_fds, through the pinned directory. The size needs no permission
        to the fd directory itself, so it works for other users' processes too."""
        try:
            n = os.stat("fd", dir_fd=self.fd).st_size
        except OSError as exc:
            raise self._err(exc, "fd") from exc
        if n > 0 and self.root.path == "/proc":
            return n
        return sum(1 for name in self.listdir("fd") if name.isdigit())

    def _open_dir(self, name: str) -> int:
        try:
            return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError as exc:
            raise self._err(exc, name) from exc

    def fd_links(self) -> list[tuple[int, str]]:
        """(fd, link target) of every open fd, in directory order: the fd directory is opened
        once and each link read relative to it (no path walk per fd; 20,000 fds cost 20,000
        readlinks and nothing else). An fd closed mid-scan is skipped (docs/kernel-notes.md §10.4); entries
        that are not fd numbers (fixture trees) are ignored."""
        sub = self._open_dir("fd")
        try:
            out: list[tuple[int, str]] = []
            readlink = os.readlink
            for name in os.listdir(sub):
                if not name.isdigit():
                    continue
                try:
                    out.append((int(name), readlink(name, dir_fd=sub)))
                except FileNotFoundError:
                    continue
            return out
        except OSError as exc:
            raise self._err(exc, "fd") from exc
        finally:
            os.close(sub)

    def read_fdinfos(self, fds: Iterable[int]) -> tuple[dict[int, str], int]:
        """/proc/PID/fdinfo/N of each fd, through one open of the fdinfo directory: (texts by
        fd, how many were refused). An fd closed meanwhile is left out."""
        sub = self._open_dir("fdinfo")
        out: dict[int, str] = {}
        denied = 0
        try:
            for fd in fds:
                try:
                    f = os.open(str(fd), os.O_RDONLY | os.O_CLOEXEC, dir_fd=sub)
                except FileNotFoundError:
                    continue
                except PermissionError:
                    denied += 1
                    continue
                try:
                    # single_open seq_files hand over all they have at once: a short read is
                    # the end (an epoll watching thousands of fds fills more than one)
                    b = os.read(f, _READ_CHUNK)
                    if len(b) == _READ_CHUNK:
                        b += _read_fd(f)
                    out[fd] = b.decode("utf-8", "backslashreplace")
                except OSError:
                    continue
                finally:
                    os.close(f)
            return out, denied
        finally:
            os.close(sub)

    def listdir(self, name: str) -> list[str]:
        try:
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError as exc:
            raise self._err(exc, name) from exc
        try:
            return os.listdir(sub)
        except OSError as exc:
            raise self._err(exc, name) from exc
        finally:
            os.close(sub)
