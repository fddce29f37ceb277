"""A real hung FUSE mount for the live tests: the `hangfs` fixture mounts tests/live/hangfs.py
(a daemon whose file `slow` never answers a read) and tears it down; helpers start readers of
it. Root only (mount(2)); the tests that use it skip, saying why, where FUSE cannot be
mounted. Every process is a child ended by its pid, the daemon first (closing its /dev/fuse
aborts the connection, which ends every wait on it), then the mount is detached lazily,
bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Children, wait_until

HANGFS = Path(__file__).with_name("hangfs.py")
FUSECTL = "/sys/fs/fuse/connections"


def state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wchan(pid: int) -> str:
    with open(f"/proc/{pid}/wchan") as f:
        return f.read()


def connection(mnt: Path) -> int | None:
    """The FUSE connection of the mount, from our own mountinfo (never touching the mount)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == str(mnt):
                major, minor = map(int, fields[2].split(":"))
                return (major << 20) | minor
    return None


def _detach(mnt: Path) -> None:
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    argv = [tool, "-u", "-z", str(mnt)] if tool else ["umount", "-l", str(mnt)]
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(argv, timeout=10, capture_output=True)


def _abort(conn: int | None) -> None:
    """Fail every request still waiting on the connection, where fusectl is mounted."""
    if conn is None:
        return
    with contextlib.suppress(OSError), open(f"{FUSECTL}/{conn}/abort", "w") as f:
        f.write("1")


@pytest.fixture
def hangfs(children: Children, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    if os.geteuid() != 0:
        pytest.skip("mounting a FUSE file system needs root (mount(2), CAP_SYS_ADMIN)")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse on this machine (the fuse module is not loaded)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    daemon = children.spawn([sys.executable, str(HANGFS), str(mnt)], stderr=subprocess.PIPE)
    try:
        children.wait_ready(daemon)
    except AssertionError:
        err = daemon.stderr.read() if daemon.stderr is not None and daemon.poll() is not None else b""
        children.end(daemon)
        pytest.skip(f"a FUSE mount cannot be made here: {err.decode(errors='replace').strip()[-300:]}")
    conn = connection(mnt)
    try:
        yield daemon, mnt
    finally:
        children.end(daemon)  # SIGKILL ends a stopped process too; its /dev/fuse closes
        children.end_all()  # the readers: killable, or released by the abort
        _abort(conn)
        _detach(mnt)


READER = """
import os
fd = os.open(sys.argv[1], os.O_RDONLY)
ready()
os.read(fd, 4096)
"""


def reader(children: Children, path: Path, code: str = READER) -> subprocess.Popen[bytes]:
    """A child that reads `path` (by `code`) and sleeps in D there."""
    p = children.python(code, str(path))
    children.wait_ready(p)
    wait_until(lambda: state(p.pid) == "D", timeout=20, what=f"pid {p.pid} in D reading {path}")
    return p
