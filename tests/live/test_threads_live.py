"""Live: real children blocked in write, epoll_wait, sleep; the thread collector, py-spy and
gdb on them. Every child is ended by pid."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stucktui.collect.threads import ThreadCollector, collect_threads
from stucktui.model.python import PyDump, PySpyError, PySpyFailure
from stucktui.model.threads import merge_python
from stucktui.procfs.root import ProcRoot
from stucktui.report.panels_json import threads_report
from stucktui.tools.gdb import NativeBacktrace, native_backtrace
from stucktui.tools.pyspy import dump_python, find_pyspy
from tests.helpers import ready_lines, wait_until

pytestmark = pytest.mark.live


N_WRITERS = 4

ZOO = f"""
import os, select, threading, time
r, w = os.pipe()
os.set_blocking(w, False)
try:
    while True:
        os.write(w, b"x" * 65536)
except BlockingIOError:
    pass
os.set_blocking(w, True)
print(r, w, flush=True)

def stuck_pipe_writer():
    os.write(w, b"y")

ep = select.epoll()
a, b = os.pipe()
c, d = os.pipe()
ep.register(a)
ep.register(c)

def epoll_waiter():
    ep.poll()

for _ in range({N_WRITERS}):
    threading.Thread(target=stuck_pipe_writer, daemon=True).start()
threading.Thread(target=epoll_waiter, daemon=True).start()
ready()
while True:
    time.sleep(1000)
"""


def _start_zoo(children):
    p = children.python(ZOO)
    return p, int(ready_lines(p)[1])


def _blocked(pid: int, n: int):
    """Wait until n threads sit in write and one in epoll_wait."""

    def check():
        snap = collect_threads(ProcRoot(), pid)
        names = [r.call.name for r in snap.rows if r.call]
        return snap if names.count("write") == n and "epoll_wait" in names else None

    return wait_until(check, timeout=30, what="threads blocked in write and epoll_wait")


def test_pipe_writers_grouped_and_epoll_resolved(children):
    p, wfd = _start_zoo(children)
    snap = _blocked(p.pid, N_WRITERS)
    pipe = os.readlink(f"/proc/{p.pid}/fd/{wfd}")
    writers = [r for r in snap.rows if r.call and r.call.name == "write"]
    assert {(a.fd, a.target) for r in writers for a in r.fd_args} == {(wfd, pipe)}
    assert all(r.state == "S" and r.wchan == "anon_pipe_write" for r in writers)
    group = snap.groups[0]
    assert set(group.tids) == {r.tid for r in writers}
    assert group.summary.startswith(f"{N_WRITERS} threads: write({wfd} -> {pipe}")
    ep = next(r for r in snap.rows if r.call and r.call.name == "epoll_wait")
    assert "epoll watching 2 fds" in ep.call_text and "wait forever" in ep.call_text
    rep = next(r for r in threads_report(snap) if r["tid"] == writers[0].tid)
    assert rep["syscall"] == "write" and rep["fd_args"] == [{"fd": wfd, "target": pipe}]


def test_pyspy_frames_merge_into_rows(children):
    if find_pyspy() is None:
        pytest.skip("py-spy is not installed")
    p, _ = _start_zoo(children)
    _blocked(p.pid, N_WRITERS)
    dump = dump_python(p.pid, timeout=60)
    if isinstance(dump, PySpyError) and dump.kind is PySpyFailure.PERMISSION:
        pytest.skip(f"py-spy not permitted here: {dump.detail}")
    assert isinstance(dump, PyDump), dump
    snap = merge_python(collect_threads(ProcRoot(), p.pid), dump)
    writers = [
        r
        for r in snap.rows
        if r.python and r.python.frames and r.python.frames[0].function == "stuck_pipe_writer"
    ]
    assert len(writers) == N_WRITERS
    assert all(r.call and r.call.name == "write" and r.python_marker == "idle" for r in writers)
    assert snap.groups[0].summary.endswith(
        "in stuck_pipe_writer (<string>:" + str(writers[0].python.frames[0].line) + ")"
    )
    epoll = next(r for r in snap.rows if r.call and r.call.name == "epoll_wait")
    assert epoll.python is not None and epoll.python.frames[0].function == "epoll_waiter"


def test_pyspy_native_frames_in_the_default_nonblocking_mode(children):
    """py-spy refuses --native with --nonblocking; `n` in the default mode must still work."""
    if find_pyspy() is None:
        pytest.skip("py-spy is not installed")
    p, _ = _start_zoo(children)
    dump = dump_python(p.pid, nonblocking=True, native=True, timeout=60)
    if isinstance(dump, PySpyError) and dump.kind is PySpyFailure.PERMISSION:
        pytest.skip(f"py-spy not permitted here: {dump.detail}")
    assert isinstance(dump, PyDump), dump
    assert any(f.module for t in dump.threads for f in t.frames)  # native frames name a library


def test_cpu_percent_of_a_spinning_thread(children):
    p = children.python(
        """
        import threading
        def spin():
            while True:
                pass
        threading.Thread(target=spin, daemon=True).start()
        ready()
        import time
        while True:
            time.sleep(1000)
        """
    )
    children.wait_ready(p)
    col = ThreadCollector(ProcRoot())
    d = ProcRoot().pid_dir(p.pid)
    try:
        col.collect(d)

        def busy():
            snap = col.collect(d)
            return max((r.cpu_percent or 0.0) for r in snap.rows) > 10.0

        wait_until(busy, timeout=30, interval=0.2, what="a spinning thread above 10% CPU")
    finally:
        d.close()


CPROG = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static int pfd[2];
static void *c_blocked_reader(void *a) { char c; for (;;) read(pfd[0], &c, 1); return 0; }
int main(void) {
    pthread_t t;
    pipe(pfd);
    pthread_create(&t, 0, c_blocked_reader, 0);
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"""


@pytest.fixture
def c_program(tmp_path: Path) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the native target")
    src = tmp_path / "blocked.c"
    src.write_text(CPROG)
    exe = tmp_path / "blocked"
    r = subprocess.run(
        [cc, "-g", "-O0", "-pthread", "-o", str(exe), str(src)], capture_output=True, timeout=120
    )
    if r.returncode != 0:
        pytest.skip(f"cc could not build the target: {r.stderr.decode()[-200:]}")
    return str(exe)


def _c_settled(pid: int):
    def settled():
        snap = collect_threads(ProcRoot(), pid)
        calls = {r.call.name for r in snap.rows if r.call}
        return snap if calls == {"read", "pause"} else None

    return wait_until(settled, timeout=30, what="C reader in read and main in pause")


def test_native_process_kernel_view_and_pyspy_not_python(children, c_program):
    p = children.spawn([c_program])
    children.wait_ready(p)

    snap = _c_settled(p.pid)
    assert snap.abi == "x86_64" or snap.abi == os.uname().machine
    reader = next(r for r in snap.rows if r.call and r.call.name == "read")
    assert reader.fd_args[0].target.startswith("pipe:[") and reader.python is None
    main = snap.row(p.pid)
    assert main is not None and main.call and main.call.name == "pause"
    if find_pyspy() is None:
        pytest.skip("py-spy is not installed")
    err = dump_python(p.pid, timeout=60)
    assert isinstance(err, PySpyError) and err.kind is PySpyFailure.NOT_PYTHON, err
    assert err.line == "not a Python process"


def test_gdb_native_backtrace(children, c_program):
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    p = children.spawn([c_program])
    children.wait_ready(p)
    _c_settled(p.pid)
    bt = native_backtrace(p.pid, timeout=90)
    if not isinstance(bt, NativeBacktrace) and bt.reason.startswith("no permission"):
        pytest.skip(f"gdb may not attach here: {bt.reason}")
    assert isinstance(bt, NativeBacktrace), bt
    assert {t.tid for t in bt.threads} == {int(t) for t in os.listdir(f"/proc/{p.pid}/task")}
    funcs = {f.function for t in bt.threads for f in t.frames}
    assert "c_blocked_reader" in funcs and "main" in funcs


def test_sleep_is_kernel_only_and_exited_process_classified(children):
    p = children.spawn(["sleep", "1000"])

    def sleeping():
        snap = collect_threads(ProcRoot(), p.pid)
        return (
            snap if snap.rows[0].call and snap.rows[0].call.name in ("clock_nanosleep", "nanosleep") else None
        )

    snap = wait_until(sleeping, timeout=30, what="sleep in nanosleep")
    assert len(snap.rows) == 1 and snap.rows[0].wchan == "hrtimer_nanosleep"
    if find_pyspy() is None:
        pytest.skip("py-spy is not installed")
    assert dump_python(p.pid, timeout=60).kind is PySpyFailure.NOT_PYTHON
    pid = p.pid
    children.end(p)
    gone = dump_python(pid, timeout=60)
    assert isinstance(gone, PySpyError) and gone.kind is PySpyFailure.GONE, gone
