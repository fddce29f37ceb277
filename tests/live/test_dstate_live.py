"""D state on a real FUSE mount. tests/live/hangfs.py is a FUSE daemon (the kernel's protocol
spoken on /dev/fuse, no library) whose file `slow` never answers a read, and never lets its
attributes be cached: every stat() of it asks the daemon. A reader of it sleeps in D; stucktui
must name the mount and the daemon's pid, follow the chain to the daemon (stopped: stuck), and
never hang itself (each examination runs in a thread with a timeout, so a hang fails the test
instead of hanging it). Root only (mount(2)); every process is a child ended by its pid, the
daemon first (closing its /dev/fuse aborts the connection, which ends every wait on it), then
the mount is detached lazily, bounded by a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from stucktui.collect.detail import collect_detail
from stucktui.collect.panels import collect_panels_once
from stucktui.diagnose.history import History
from stucktui.inspection.examine import Examined, examine, examine_pid
from stucktui.model import waits as W
from stucktui.model.files import ProcessFiles
from stucktui.model.findings import Finding
from stucktui.procfs.root import ProcRoot
from tests.helpers import Children, wait_until
from tests.live.fusekit import FUSECTL, reader
from tests.live.fusekit import connection as _connection
from tests.live.fusekit import state as _state
from tests.live.fusekit import wchan as _wchan

pytestmark = pytest.mark.live

T = TypeVar("T")


def _bounded(call: Callable[[], T], timeout: float = 40.0) -> T:
    """call() in a thread: a hang fails the test (the thread is left behind, blocked)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"stucktui hung for {timeout}s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


STATTER = """
import os
ready()
os.stat(sys.argv[1])
"""


def _reader(children: Children, path: Path) -> subprocess.Popen[bytes]:
    return reader(children, path)


def _examined(pid: int, want: str) -> Examined:
    def look() -> Examined | None:
        seen = _bounded(lambda: examine_pid(ProcRoot(), pid, python=False, window=0.1))
        return seen if any(c.end.kind == want for c in seen.chains) else None

    return wait_until(look, timeout=60, interval=0.3, what=f"a chain of pid {pid} ending {want}")


def _fuse_chain(seen: Examined) -> W.WaitChain:
    (c,) = [c for c in seen.chains if c.hops and c.hops[0].wait == W.FUSE]
    return c


def test_a_reader_hung_on_fuse_names_the_mount_and_the_daemon(hangfs, children: Children):
    daemon, mnt = hangfs
    reader = _reader(children, mnt / "slow")
    seen = _examined(reader.pid, W.IDLE)
    c = _fuse_chain(seen)
    assert c.hops[0].pid == reader.pid and c.hops[0].fd == 3
    assert c.hops[0].obj.startswith(f"read from fd 3 ({mnt}/slow) on fuse.hangfs mount {mnt} (hangfs, 0:")
    assert f"pid {daemon.pid} " in c.hops[0].detail and "/dev/fuse fd" in c.hops[0].detail
    # the daemon is alive and reads /dev/fuse for more: not stuck by what stucktui can see
    assert c.end.pid == daemon.pid and not c.stuck
    assert not [f for f in seen.findings if f.id == "wait-chain"]
    # once the D state lasts, the uninterruptible finding names the mount and the daemon
    h = History()

    def findings(now: float) -> list[Finding]:
        root = ProcRoot()
        detail = collect_detail(root, reader.pid)
        panels = collect_panels_once(root, reader.pid, python=False)
        return [f for f in examine(root, detail, panels=panels, history=h, now=now).findings]

    assert not [f for f in _bounded(lambda: findings(1000.0)) if f.id == "uninterruptible"]
    (f,) = [f for f in _bounded(lambda: findings(1030.0)) if f.id == "uninterruptible"]
    assert f.tids == (reader.pid,) and f"on fuse.hangfs mount {mnt}" in f.summary
    assert f"served by pid {daemon.pid} (" in f.summary
    conn = _connection(mnt)
    if os.path.isdir(f"{FUSECTL}/{conn}"):
        assert "1 request waiting for an answer" in f.summary
    else:
        assert any(f"mount -t fusectl none {FUSECTL}" in s for s in f.next_steps)
    assert any(f"{FUSECTL}/{conn}/abort" in s for s in f.next_steps)


def test_a_stopped_daemon_is_the_root_and_stucktui_never_hangs_on_its_mount(hangfs, children: Children):
    daemon, mnt = hangfs
    reader = _reader(children, mnt / "slow")
    os.kill(daemon.pid, signal.SIGSTOP)
    wait_until(lambda: _state(daemon.pid) == "T", timeout=10, what="the daemon stopped")
    # a stat() of the file would now hang: every panel of the reader is read all the same
    seen = _examined(reader.pid, W.STOPPED)
    c = _fuse_chain(seen)
    assert [h.wait for h in c.hops] == [W.FUSE] and c.end.pid == daemon.pid and c.stuck
    (f,) = [f for f in seen.findings if f.id == "wait-chain"]
    assert f.severity == "critical" and f"which pid {daemon.pid} (" in f.summary and "is stopped" in f.summary
    assert any(f"stucktui signal {daemon.pid} CONT" in s for s in f.next_steps)
    assert any("/abort`" in s for s in f.next_steps) and any("-u -z" in s for s in f.next_steps)
    files = seen.panels.files
    assert isinstance(files, ProcessFiles)
    assert any(r.fd == 3 and r.target == f"{mnt}/slow" for r in files.rows)


def test_the_triage_tells_the_stopped_daemon_who_waits_on_it(hangfs, children: Children):
    from dataclasses import replace

    from stucktui.collect.proclist import ProcessListCollector
    from stucktui.inspection.triage import triage_box

    daemon, mnt = hangfs
    reader = _reader(children, mnt / "slow")
    os.kill(daemon.pid, signal.SIGSTOP)
    ours = {daemon.pid, reader.pid}
    collector = ProcessListCollector(ProcRoot())

    def root_finding() -> Finding | None:
        snap = collector.collect()  # our own processes only: nothing of the box is read
        snap = replace(snap, rows=tuple(r for r in snap.rows if r.pid in ours))
        result = _bounded(lambda: triage_box(ProcRoot(), processes=snap, python=False))
        return next((f for f in result.findings if f.id == "wait-chain" and f.pid == daemon.pid), None)

    f = wait_until(root_finding, timeout=60, interval=0.5, what="a wait-chain finding on the daemon")
    assert f.severity == "critical" and f"pid {reader.pid}" in f.summary and "is stopped" in f.summary


def test_a_lookup_the_daemon_never_answers_is_followed_from_the_path_in_memory(hangfs, children: Children):
    daemon, mnt = hangfs
    p = children.python(STATTER, str(mnt / "hang"))
    children.wait_ready(p)
    wait_until(
        lambda: "request_wait_answer" in _wchan(p.pid), timeout=20, what="the stat() in a FUSE request"
    )
    seen = _examined(p.pid, W.IDLE)
    c = _fuse_chain(seen)
    assert f"() of {mnt}/hang on fuse.hangfs mount {mnt}" in c.hops[0].obj  # newfstatat, statx
    assert c.end.pid == daemon.pid
