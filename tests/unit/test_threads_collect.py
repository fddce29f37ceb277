"""The thread collector against fixture /proc trees copied from real processes: syscalls
decoded with fds resolved, grouping, CPU% from two samples, py-spy merge (also across pid
namespaces), kernel threads, threads vanishing mid-scan, and the report dicts."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from stucktui.collect.threads import ThreadCollector, collect_threads
from stucktui.model.python import PyDump, PySpyError, PySpyFailure
from stucktui.model.threads import group_threads, merge_python
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot
from stucktui.report.panels_json import thread_groups_report, threads_report
from stucktui.tools.pyspy import parse_pyspy_json

FIX = Path(__file__).parent.parent / "fixtures" / "threads"
PID = 6527
WRITERS = (6574, 6575, 6576)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A writable copy of the zoo process (symlinks kept as symlinks)."""
    shutil.copytree(FIX / "proc", tmp_path / "proc", symlinks=True)
    return tmp_path / "proc"


def dump() -> PyDump:
    return PyDump(PID, parse_pyspy_json((FIX / "pyspy_zoo.json").read_text()), 0.02, True)


def test_rows_from_real_zoo():
    snap = collect_threads(ProcRoot(str(FIX / "proc")), PID)
    assert snap.abi == "x86_64" and len(snap.rows) == 9
    w = snap.row(6574)
    assert w is not None and w.name == "writer0" and w.state == "S" and w.wchan == "anon_pipe_write"
    assert w.call_text == "write(4 -> pipe:[10786], 1 byte)"
    assert [(a.fd, a.target) for a in w.fd_args] == [(4, "pipe:[10786]")]
    assert snap.row(6577).call_text == "epoll_wait(5 -> epoll watching 3 fds, wait forever)"
    assert snap.row(6578).call_text == "flock(14 -> /tmp/thr/app.lock, LOCK_EX)"
    assert snap.row(6581).wchan == "do_sigtimedwait"
    assert all(r.cpu_percent is None for r in snap.rows)  # one sample only
    assert snap.groups[0].tids == WRITERS
    assert snap.groups[0].summary == "3 threads: write(4 -> pipe:[10786], 1 byte)"


def test_injected_resolver_wins_and_failures_fall_back():
    seen: list[int] = []

    def resolver(fd: int) -> str | None:
        seen.append(fd)
        if fd == 5:
            raise RuntimeError("someone else's bug")
        return "pipe:[10786], no reader" if fd == 4 else None

    root = ProcRoot(str(FIX / "proc"))
    with root.pid_dir(PID) as d:
        snap = ThreadCollector(root, resolver=resolver).collect(d)
    assert snap.row(6574).call_text == "write(4 -> pipe:[10786], no reader, 1 byte)"
    assert snap.row(6577).fd_args[0].target == "epoll watching 3 fds"  # fell back to readlink
    assert snap.row(6578).fd_args[0].target == "/tmp/thr/app.lock"
    assert sorted(seen) == [4, 5, 14]  # resolved once per fd, not once per thread


def test_kernel_stacks_on_demand():
    snap = collect_threads(ProcRoot(str(FIX / "proc")), PID, kernel_stacks=True)
    assert snap.row(6578).kernel_stack[:2] == ("locks_lock_inode_wait", "__do_sys_flock")
    assert collect_threads(ProcRoot(str(FIX / "proc")), PID).row(6578).kernel_stack is None


def test_cpu_percent_from_two_samples(tree: Path):
    clock = iter([100.0, 102.0])
    root = ProcRoot(str(tree))
    col = ThreadCollector(root, clock=lambda: next(clock))
    stat = tree / str(PID) / "task" / "6580" / "stat"
    with root.pid_dir(PID) as d:
        col.collect(d)
        head, _, rest = stat.read_text().rpartition(")")
        f = rest.split()
        f[11] = str(int(f[11]) + 100)  # utime (field 14) +100 ticks in 2 s: 50% at 100 Hz
        stat.write_text(head + ") " + " ".join(f) + "\n")
        snap = col.collect(d)
    expected = 100 / os.sysconf("SC_CLK_TCK") / 2 * 100
    assert snap.row(6580).cpu_percent == pytest.approx(expected)
    assert snap.row(6574).cpu_percent == 0.0


def test_thread_vanishing_mid_scan_is_skipped(tree: Path):
    for name in ("stat", "syscall", "wchan", "status", "comm", "stack"):
        (tree / str(PID) / "task" / "6581" / name).unlink()
    snap = collect_threads(ProcRoot(str(tree)), PID)
    assert snap.row(6581) is None and len(snap.rows) == 8


def test_gone_process(tmp_path: Path):
    with pytest.raises(ProcessGone):
        collect_threads(ProcRoot(str(tmp_path)), PID)


class DenyingPidDir(PidDir):
    """What a non-root reader of another user's process gets: EACCES on syscall and auxv,
    '0' in wchan (docs/kernel-notes.md §10.1). Root cannot be refused by file modes, so refuse here."""

    def read_head(self, name: str, size: int) -> bytes:
        if name.endswith("/syscall"):
            raise AccessDenied(self.pid, name)
        if name.endswith("/wchan"):
            return b"0"
        return super().read_head(name, size)

    def read_bytes(self, name: str) -> bytes:
        if name == "auxv":
            raise AccessDenied(self.pid, name)
        return super().read_bytes(name)


def test_unreadable_syscall_keeps_the_row():
    root = ProcRoot(str(FIX / "proc"))
    with DenyingPidDir(root, PID) as d:
        snap = ThreadCollector(root).collect(d)
    assert len(snap.rows) == 9
    assert all(r.syscall is None and r.call_text == "syscall: no permission" for r in snap.rows)
    assert all(r.wchan is None for r in snap.rows)
    assert any("no permission" in n for n in snap.notes)
    assert any("auxv unreadable" in n for n in snap.notes)
    assert snap.groups[0].summary == "9 threads: syscall: no permission"


def test_kernel_thread_is_not_decoded():
    snap = collect_threads(ProcRoot(str(FIX / "kproc")), 2)
    (row,) = snap.rows
    assert row.call is None and row.call_text == "kernel thread" and row.wchan == "kthreadd"
    assert "kernel thread" in snap.notes[0]


def test_python_merge_groups_identical_stacks():
    snap = merge_python(collect_threads(ProcRoot(str(FIX / "proc")), PID), dump())
    w = snap.row(6574)
    assert w.python is not None and w.python.frames[0].function == "writer" and w.python_marker == "idle"
    assert snap.groups[0].tids == WRITERS
    assert snap.groups[0].summary.endswith("in writer (zoo.py:15)")
    assert all(r.python is not None for r in snap.rows)


def test_python_merge_across_pid_namespace(tree: Path):
    """py-spy names threads by their id inside the target's namespace: map through NSpid."""
    tids = sorted(int(p.name) for p in (tree / str(PID) / "task").iterdir())
    inner = {tid: i + 1 for i, tid in enumerate(tids)}
    statuses = [(tree / str(PID) / "task" / str(t) / "status", t) for t in tids]
    for status, tid in [*statuses, (tree / str(PID) / "status", PID)]:
        text = re.sub(r"^NSpid:.*$", f"NSpid:\t{tid}\t{inner[tid]}", status.read_text(), flags=re.M)
        status.write_text(text)
    moved = tuple(replace(t, os_thread_id=inner[t.os_thread_id]) for t in dump().threads)
    snap = merge_python(collect_threads(ProcRoot(str(tree)), PID), PyDump(PID, moved, 0.01, True))
    assert snap.row(6574).nspid == (6574, inner[6574])
    assert snap.row(6574).python.frames[0].function == "writer"
    assert snap.row(PID).python.frames[0].function == "<module>"


def test_pyspy_failure_is_kept_and_rows_unchanged():
    base = collect_threads(ProcRoot(str(FIX / "proc")), PID)
    err = PySpyError(PID, PySpyFailure.NOT_PYTHON, "Error: Failed to find python version from target process")
    snap = merge_python(base, err)
    assert snap.python is err and snap.rows == base.rows


def test_report_dicts():
    snap = merge_python(collect_threads(ProcRoot(str(FIX / "proc")), PID), dump())
    rows = threads_report(snap)
    w = next(r for r in rows if r["tid"] == 6574)
    assert set(w) == {
        "tid", "name", "state", "syscall", "args", "fd_args", "wchan",
        "cpu_percent", "sys_percent", "runnable_percent", "python_stack",
    }  # fmt: skip
    assert w["cpu_percent"] is None  # one sample: no window
    assert w["syscall"] == "write" and w["args"][0] == "0x4" and len(w["args"]) == 6
    assert w["fd_args"] == [{"fd": 4, "target": "pipe:[10786]"}]
    assert w["python_stack"][0] == {"function": "writer", "file": "/tmp/thr/zoo.py", "line": 15}
    groups = thread_groups_report(snap)
    assert groups[0]["tids"] == list(WRITERS) and groups[0]["summary"].startswith("3 threads: write(")
    # the kernel's side of each group, for non-Python processes and the text report
    assert groups[0]["state"] == "S" and groups[0]["wchan"] == "anon_pipe_write"
    assert sum(len(g["tids"]) for g in groups) == 9


def test_grouping_is_pure_and_ordered():
    snap = collect_threads(ProcRoot(str(FIX / "proc")), PID)
    assert group_threads(snap.rows) == snap.groups
    assert group_threads(()) == ()


def test_threads_on_one_full_pipe_are_one_group_whatever_each_writes():
    """Issue 19: four writers blocked on the same full pipe were two groups because they write
    6100 and 4096 bytes. Threads group by call, fd target and Python frame, not by byte counts."""
    from tests.unit.diagnose_kit import thread

    pipe = {5: "pipe:[77]"}
    frame = (("export", "/app/export.py"),)
    writers = [
        thread(100 + i, "write", (5, 0, n), targets=pipe, frames=frame)
        for i, n in enumerate((6100, 4096, 6100, 4096))
    ]
    (g,) = group_threads(tuple(writers))
    assert g.tids == (100, 101, 102, 103)
    assert g.summary == "4 threads: write(5 -> pipe:[77], 4096 to 6100 bytes) in export (/app/export.py:1)"
    same = [thread(100 + i, "write", (5, 0, 48), targets=pipe) for i in range(2)]
    assert group_threads(tuple(same))[0].summary == "2 threads: write(5 -> pipe:[77], 48 bytes)"
    # another pipe, another frame, another call: what they wait on differs, so do their groups
    other_pipe = thread(200, "write", (6, 0, 4096), targets={6: "pipe:[78]"}, frames=frame)
    other_frame = thread(201, "write", (5, 0, 4096), targets=pipe, frames=(("log", "/app/log.py"),))
    reader = thread(202, "read", (5, 0, 4096), targets=pipe, frames=frame)
    groups = group_threads((*writers, other_pipe, other_frame, reader))
    assert [g.tids for g in groups] == [(100, 101, 102, 103), (200,), (201,), (202,)]
    # a futex's address is what it waits on in a program without Python frames: never folded
    assert len(group_threads((thread(300, "futex", (0x10, 0)), thread(301, "futex", (0x20, 0))))) == 2


def test_idle_python_workers_of_one_pool_are_one_group():
    """CPython gives each waiter of a Condition (queue.get, Event.wait) a lock of its own: eight
    idle workers wait on eight futex addresses in the same frame, and are one group."""
    from tests.unit.diagnose_kit import thread

    frame = (("get", "/usr/lib/python3.11/queue.py"),)
    workers = [thread(400 + i, "futex", (0x1000 + 16 * i, 0), frames=frame) for i in range(8)]
    (g,) = group_threads(tuple(workers))
    assert g.tids == tuple(range(400, 408))
    assert g.summary.startswith("8 threads: futex(8 addresses, FUTEX_WAIT")
    assert " in get (" in g.summary
    # another frame is another wait
    other = thread(500, "futex", (0x2000, 0), frames=(("acquire", "/app/db.py"),))
    assert [x.tids for x in group_threads((*workers, other))] == [tuple(range(400, 408)), (500,)]


def test_task_stat_agrees_with_parse_stat():
    from stucktui.collect.threads import task_stat
    from stucktui.procfs.stat import parse_stat

    texts = [p.read_text() for p in (FIX / "proc" / str(PID) / "task").glob("*/stat")]
    # comm with ') S 1 (' inside: the last ')' rule (docs/kernel-notes.md §1.4)
    evil = texts[0].replace("(python)", "(evil) S 1 (x)")
    for text in [*texts, evil]:
        st = parse_stat(text)
        assert task_stat(text) == (st.comm, st.state, st.utime, st.stime, st.starttime)


class OrderedCollector(ThreadCollector):
    def __init__(self, root: ProcRoot, log: list[str]) -> None:
        super().__init__(root)
        self.log = log

    def collect(self, d, *, kernel_stacks: bool = False, resolver=None):
        self.log.append("collect")
        return super().collect(d, kernel_stacks=kernel_stacks, resolver=resolver)


@pytest.mark.parametrize("nonblocking", [True, False])
def test_collect_with_python(nonblocking: bool):
    from stucktui.collect.threads import collect_with_python

    log: list[str] = []

    def fake_start(pid: int, *, nonblocking: bool, native: bool, timeout: float):
        log.append(f"start nonblocking={nonblocking}")

        def wait():
            log.append("wait")
            return dump()

        return wait

    root = ProcRoot(str(FIX / "proc"))
    with root.pid_dir(PID) as d:
        snap = collect_with_python(OrderedCollector(root, log), d, nonblocking=nonblocking, start=fake_start)
    assert snap.groups[0].summary.endswith("in writer (zoo.py:15)")
    if nonblocking:  # py-spy samples while /proc is read
        assert log == ["start nonblocking=True", "collect", "wait"]
    else:  # a pausing dump must not overlap the /proc reads
        assert log == ["collect", "start nonblocking=False", "wait"]


def test_text_and_markdown_reports_give_each_group_its_state_and_wait_channel():
    from stucktui.report.sections import markdown_lines, text_lines

    snap = merge_python(collect_threads(ProcRoot(str(FIX / "proc")), PID), dump())
    data = {"threads": threads_report(snap), "thread_groups": thread_groups_report(snap)}
    line = next(x for x in text_lines(data) if x.lstrip().startswith("3 threads: write("))
    assert line.endswith(f"[state S, wchan anon_pipe_write; tids {', '.join(map(str, WRITERS))}]")
    md = "\n".join(markdown_lines(data))
    assert "wchan anon_pipe_write" in md and "```" in md  # a fenced block: nothing escaped
