"""Wait chains on fixture graphs: where each chain ends, cycles, depth, fan-in, and the
wait-chain finding told from the waiting process."""

from stucktui.diagnose.chains import follow
from stucktui.diagnose.rules.chains import wait_chain
from stucktui.model import waits as W
from stucktui.model.context import Context
from tests.unit.diagnose_kit import subject


def node(pid, name, state="S", waits=(), tracer=0, command="", doing="", readable=True, blocked=None):
    """A process; one whose threads are all in `waits` unless `blocked` says otherwise."""
    all_blocked = bool(waits) if blocked is None else blocked
    return W.ProcessWaits(pid, name, state, command, tuple(waits), tracer, readable, doing, None, all_blocked)


def pipe_write(tids, fd, *parties, certain=None):
    ps = tuple(W.Party(p, n, "holds the read end (fd 0)") for p, n in parties)
    return W.Wait(W.PIPE_WRITE, tuple(tids), f"write to fd {fd} (pipe:[77])", fd, ps,
                  len(ps) <= 1 if certain is None else certain)  # fmt: skip


def child_wait(tids, *kids):
    ps = tuple(W.Party(p, n, "child") for p, n in kids)
    return W.Wait(W.CHILD, tuple(tids), f"wait4(pid {kids[0][0]})", None, ps, len(ps) == 1)


def lock_wait(tids, holder, name):
    return W.Wait(
        W.LOCK, tuple(tids), "POSIX WRITE lock on /srv/app.db", None, (W.Party(holder, name, "lock holder"),)
    )


def graph(start, *nodes):
    return W.WaitGraph(start, {n.pid: n for n in nodes})


def test_a_reader_held_by_a_debugger_ends_the_chain_traced_with_the_tracer_named():
    g = graph(
        10,
        node(10, "api", waits=[pipe_write([10, 11, 12, 13], 1, (11, "tee"))]),
        node(11, "tee", state="t", tracer=12),
        node(12, "gdb", command="gdb -p 11", doing="1 thread: read(0 -> /dev/pts/1)"),
    )
    (c,) = follow(g)
    assert [h.pid for h in c.hops] == [10] and c.end.kind == W.TRACED and c.end.pid == 11
    assert "pid 12 (gdb, `gdb -p 11`)" in c.end.detail and c.stuck
    (f,) = wait_chain(subject(pid=10, name="api", context=Context(waits=g)))
    assert f.id == "wait-chain" and f.severity == "critical" and f.tids == (10, 11, 12, 13) and f.fds == (1,)
    assert (
        "4 threads of pid 10 (api) wait to write to fd 1 (pipe:[77]), which pid 11 (tee) should read"
        in f.summary
    )
    assert "held in tracing stop by pid 12 (gdb" in f.summary
    assert any("SIGCONT will not resume pid 11" in s for s in f.next_steps)
    assert not any("signal 11 CONT" in s for s in f.next_steps)


def test_a_stopped_process_two_hops_away_is_the_root():
    g = graph(
        10,
        node(10, "api", waits=[pipe_write([10], 1, (11, "shipper"))]),
        node(11, "shipper", waits=[lock_wait([11], 12, "sqlite3")]),
        node(12, "sqlite3", state="T", command="sqlite3 /srv/app.db"),
    )
    (c,) = follow(g)
    assert [h.pid for h in c.hops] == [10, 11] and c.end.kind == W.STOPPED and c.end.pid == 12
    (f,) = wait_chain(subject(pid=10, name="api", context=Context(waits=g)))
    assert (
        "pid 11 (shipper) waits for a POSIX WRITE lock on /srv/app.db held by pid 12 (sqlite3)" in f.summary
    )
    assert f.summary.endswith("pid 12 (sqlite3) is stopped (state T)")
    assert any("stucktui signal 12 CONT" in s for s in f.next_steps)
    assert c.to_json()["end"] == {
        "kind": "stopped",
        "pid": 12,
        "name": "sqlite3",
        "detail": "stopped (state T)",
    }
    assert [h["wait"] for h in c.to_json()["hops"]] == ["pipe_write", "lock"]


def test_a_parent_waiting_for_a_child_that_writes_to_the_parent_is_a_deadlock():
    g = graph(
        20,
        node(20, "python3", waits=[child_wait([20], (21, "dump"))]),
        node(21, "dump", waits=[pipe_write([21], 1, (20, "python3"))]),
    )
    (c,) = follow(g)
    assert c.end.kind == W.CYCLE and c.end.pid == 20 and c.processes == (20, 21)
    (f,) = wait_chain(subject(pid=20, name="python3", context=Context(waits=g)))
    assert "1 thread of pid 20 (python3) waits for its child pid 21 (dump) to exit" in f.summary
    assert "a deadlock" in f.summary
    assert any("communicate()" in s for s in f.next_steps)


def test_a_parent_with_a_reader_thread_is_no_deadlock():
    """Popen(stdout=PIPE), a thread reading it, the main thread in wait(): healthy, even when
    the child is caught blocked on the pipe for a moment."""
    g = graph(
        20,
        node(20, "python3", waits=[child_wait([20], (21, "dump"))], blocked=False, doing="2 threads"),
        node(21, "dump", waits=[pipe_write([21], 1, (20, "python3"))]),
    )
    (c,) = follow(g)
    assert c.end.kind != W.CYCLE and not c.stuck
    assert wait_chain(subject(pid=20, name="python3", context=Context(waits=g))) == []


def test_a_process_with_other_threads_may_end_the_wait():
    g = graph(
        10,
        node(10, "api", waits=[pipe_write([10], 1, (11, "shipper"))]),
        node(11, "shipper", waits=[lock_wait([11], 12, "sqlite3")], blocked=False, doing="3 threads"),
        node(12, "sqlite3", state="T"),
    )
    (c,) = follow(g)
    assert c.end.kind == W.IDLE and c.end.pid == 11 and not c.stuck


def test_a_cycle_through_a_wait_another_party_could_end_is_not_a_deadlock():
    g = graph(
        20,
        node(20, "sh", waits=[child_wait([20], (21, "a"), (22, "b"))]),
        node(21, "a", waits=[pipe_write([21], 1, (20, "sh"))]),
        node(22, "b", doing="1 thread: nanosleep"),
    )
    (c,) = follow(g)
    assert c.end.kind != W.CYCLE and not c.stuck
    assert wait_chain(subject(pid=20, name="sh", context=Context(waits=g))) == []


def test_healthy_ends_say_nothing():
    """A parent waiting for a working child, a writer whose reader is busy: chains, no finding."""
    g = graph(
        30,
        node(30, "make", waits=[child_wait([30], (31, "cc1"))]),
        node(31, "cc1", state="R", doing="1 thread: running"),
    )
    (c,) = follow(g)
    assert c.end.kind == W.RUNNING and not c.stuck
    assert wait_chain(subject(pid=30, name="make", context=Context(waits=g))) == []
    idle = graph(
        30, node(30, "w", waits=[pipe_write([30], 1, (31, "r"))]), node(31, "r", doing="1 thread: nanosleep")
    )
    assert follow(idle)[0].end.kind == W.IDLE


def test_a_missing_party_and_one_hop_ends_its_own_rule_tells():
    lone = graph(40, node(40, "w", waits=[pipe_write([40], 2, certain=True)]))
    (c,) = follow(lone)
    assert c.end.kind == W.MISSING and "no process holds the pipe's read end" in c.end.detail
    # as gathered, a pipe wait with no holder seen is a view that missed one (the call would
    # have failed or returned end-of-file): not certain, not stuck
    assert (
        follow(graph(40, node(40, "w", waits=[pipe_write([40], 2, certain=False)])))[0].end.kind == W.UNKNOWN
    )
    # one process only: pipe-writers-blocked tells it
    assert wait_chain(subject(pid=40, name="w", context=Context(waits=lone))) == []
    stopped = graph(40, node(40, "w", waits=[pipe_write([40], 1, (41, "r"))]), node(41, "r", state="T"))
    assert follow(stopped)[0].end.kind == W.STOPPED
    assert wait_chain(subject(pid=40, name="w", context=Context(waits=stopped))) == []


def test_a_wait_is_stuck_only_when_every_party_is():
    """Two readers of one pipe: one busy, one traced. The busy one may drain it: not stuck."""
    g = graph(
        50,
        node(50, "pool", waits=[pipe_write(range(50, 70), 3, (51, "busy"), (52, "held"))]),
        node(51, "busy", state="R"),
        node(52, "held", state="t", tracer=53),
        node(53, "strace", command="strace -p 52"),
    )
    (c,) = follow(g)
    assert c.end.kind == W.RUNNING and not c.stuck
    assert wait_chain(subject(pid=50, name="pool", context=Context(waits=g))) == []


def test_fan_in_many_waiters_and_the_most_telling_party_wins():
    g = graph(
        50,
        node(50, "pool", waits=[pipe_write(range(50, 70), 3, (51, "stopped"), (52, "held"))]),
        node(51, "stopped", state="T"),
        node(52, "held", state="t", tracer=53),
        node(53, "strace", command="strace -p 52"),
    )
    (c,) = follow(g)
    assert c.end.kind == W.TRACED and c.end.pid == 52 and len(c.tids) == 20
    (f,) = wait_chain(subject(pid=50, name="pool", context=Context(waits=g)))
    assert f.summary.startswith("20 threads of pid 50 (pool)")
    assert any("SIGCONT should resume" in s for s in f.next_steps)


def test_depth_limit_and_unvisited_nodes_end_the_chain():
    nodes = [node(i, f"p{i}", waits=[pipe_write([i], 1, (i + 1, f"p{i + 1}"))]) for i in range(100, 130)]
    (c,) = follow(graph(100, *nodes))
    assert c.end.kind in (W.DEPTH, W.UNKNOWN) and not c.stuck and len(c.hops) <= 9
    far = graph(1, node(1, "a", waits=[pipe_write([1], 1, (2, "b"))]))
    assert follow(far)[0].end.kind == W.UNKNOWN


def test_awaited_children_decodes_wait4_and_waitid():
    from stucktui.model.syscall import CallKind, DecodedCall, SyscallLine
    from stucktui.model.threads import ThreadRow

    def t(name, *args):
        line = SyscallLine(CallKind.IN_SYSCALL, 61, tuple(args) + (0,) * (6 - len(args)), 0, 0)
        return ThreadRow(1, "x", "S", None, line, DecodedCall(61, name, "x86_64", (), ()), "", (), None)

    assert W.awaited_children(t("wait4", 4321)) == ("pid", 4321)
    assert W.awaited_children(t("wait4", 0xFFFFFFFF)) == ("any", 0)
    assert W.awaited_children(t("waitid", 1, 77)) == ("pid", 77)
    assert W.awaited_children(t("waitid", 3, 5)) == ("pidfd", 5)
    assert W.awaited_children(t("read", 3)) is None


def _futex_thread(tid, op, timeout=0):
    from stucktui.model.syscall import CallKind, DecodedCall, SyscallLine
    from stucktui.model.threads import ThreadRow

    line = SyscallLine(CallKind.IN_SYSCALL, 202, (0x7F00, op, 0, timeout, 0, 0), 0, 0)
    return ThreadRow(tid, "x", "S", None, line, DecodedCall(202, "futex", "x86_64", (), ()), "", (), None)


def test_private_futex_forever_is_told_from_its_arguments():
    assert W.private_futex_forever(_futex_thread(1, 128 | 9))  # FUTEX_WAIT_BITSET_PRIVATE, no timeout
    assert W.private_futex_forever(_futex_thread(1, 128))  # FUTEX_WAIT_PRIVATE
    assert not W.private_futex_forever(_futex_thread(1, 128, timeout=0x7FFC0000))  # a timeout
    assert not W.private_futex_forever(_futex_thread(1, 9))  # shared: another process may wake it
    assert not W.private_futex_forever(_futex_thread(1, 128 | 1))  # FUTEX_WAKE


def test_a_child_deadlocked_on_an_inherited_lock_is_the_root_of_its_parents_chain():
    futex = W.Wait(W.FUTEX, (61,), "a lock inside the process (a private futex, no timeout)", None, (), True)
    g = graph(
        60,
        node(60, "python3", waits=[child_wait([60], (61, "python3"))], blocked=False),
        node(61, "python3", waits=[futex]),
    )
    (c,) = follow(g)
    assert c.end.kind == W.UNRELEASABLE and c.end.pid == 61 and c.stuck
    (f,) = wait_chain(subject(pid=60, name="python3", context=Context(waits=g)))
    assert f.severity == "critical" and "no thread is left to release it" in f.summary
    assert any("spawn or forkserver" in s for s in f.next_steps)
    alone = graph(61, node(61, "python3", waits=[futex]))
    (f,) = wait_chain(subject(pid=61, name="python3", context=Context(waits=alone)))
    assert f.severity == "warning" and "a deadlock in the process" in f.summary


def test_a_join_behind_blocked_writers_is_not_a_deadlock(tmp_path):
    """The main thread in join() (a private futex, no timeout) while the workers it joins are
    blocked on a pipe: the futex ends when they do; only the pipe's wait is followed."""
    from stucktui.inspection.thread_waits import thread_waits
    from stucktui.inspection.waits import Facts
    from stucktui.model.threads import ThreadsSnapshot
    from stucktui.procfs.root import ProcRoot

    root = ProcRoot(str(tmp_path))  # nothing to read: no status, no memory
    main = _futex_thread(70, 128 | 9)
    snap = ThreadsSnapshot(70, "x86_64", (main, _futex_thread(71, 128 | 9)), (), 0.0)
    writers = [pipe_write([71], 2, (72, "reader"))]
    assert thread_waits(root, Facts(70, "app", "S", snap), writers) == []
    # every thread of an idle pool in futex waits, the main one for a signal handler's Event:
    # a healthy daemon, not followed (its handlers unknown here)
    assert thread_waits(root, Facts(70, "app", "S", snap), []) == []
    alone = ThreadsSnapshot(70, "x86_64", (main,), (), 0.0)
    (w,) = thread_waits(root, Facts(70, "app", "S", alone), [])
    assert w.kind == W.FUTEX and w.tids == (70,)


def test_the_innermost_application_frame_is_named_as_the_place_to_fix():
    from stucktui.model.python import PyFrame, PyThread, app_frame, is_library
    from stucktui.model.threads import ThreadsSnapshot
    from tests.unit.diagnose_kit import thread

    frames = (
        PyFrame("write", "/usr/lib/python3.11/logging/__init__.py", "logging/__init__.py", 1100),
        PyFrame("emit", "/srv/venv/lib/python3.11/site-packages/structlog/x.py", "structlog/x.py", 9),
        PyFrame("report", "/srv/app/jobs.py", "jobs.py", 42),
        PyFrame("<module>", "/srv/app/main.py", "main.py", 3),
    )
    assert is_library(frames[0].file) and is_library(frames[1].file) and not is_library(frames[2].file)
    assert app_frame(frames) == frames[2]
    row = thread(10, "write")._replace(python=PyThread(10, 1, None, True, False, frames))
    snap = ThreadsSnapshot(10, "x86_64", (row,), (), 0.0)
    g = graph(10, node(10, "api", waits=[pipe_write([10], 1, (11, "tee"))]), node(11, "tee", state="t"))
    (f,) = wait_chain(subject(pid=10, name="api", threads=snap, context=Context(waits=g)))
    assert "which pid 11 (tee) should read, from report (jobs.py:42)" in f.summary
    assert any("report (jobs.py:42)" in e for e in f.evidence)
