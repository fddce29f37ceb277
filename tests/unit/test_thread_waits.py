"""Waits of threads on their own process: futex waits decoded (timeouts, a glibc mutex's
owner), signal waits judged against the process's masks, the chains through a mutex's owner
thread (a deadlock between threads, an owner blocked on another process), and the graph's
futex and signal waits read from a fixture /proc tree."""

from __future__ import annotations

import signal
import struct
from pathlib import Path

from stucktui.diagnose.chains import follow
from stucktui.diagnose.rules.chains import wait_chain
from stucktui.inspection.thread_waits import has_thread_wait, named_threads, thread_waits
from stucktui.inspection.waits import Facts
from stucktui.model import futex as F
from stucktui.model import waits as W
from stucktui.model.context import Context
from stucktui.model.signals import mask_of
from stucktui.model.sigwait import ProcessSignals, judge
from stucktui.procfs.root import ProcRoot
from tests.unit.diagnose_kit import NR, subject, thread, threads

NR.update({"rt_sigtimedwait": 128, "rt_sigsuspend": 130})
USR1, USR2, TERM, SEGV = (int(s) for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGSEGV))


def futex(tid: int, uaddr: int, op: int, val: int, timeout: int = 0, state: str = "S"):
    return thread(tid, "futex", (uaddr, op, val, timeout), state=state)


# -- decoding ------------------------------------------------------------------------------


def test_a_futex_wait_is_decoded_and_only_a_glibc_mutex_wait_is_mutex_like():
    c = F.futex_call(futex(1, 0x5613988B5180, 0x80, 2))
    assert c is not None and c.private and c.forever and c.mutex_like and c.op == F.WAIT
    timed = F.futex_call(futex(1, 0x1000, 0x189, 2, timeout=0x7FFC00))  # pthread_mutex_timedlock
    assert timed is not None and timed.realtime and not timed.forever and timed.mutex_like
    assert not F.futex_call(futex(1, 0x1000, 0x189, 0)).mutex_like  # sem_wait, CPython's locks
    assert not F.futex_call(futex(1, 0x1000, 0x80, 3)).mutex_like  # a read-write lock
    assert not F.futex_call(futex(1, 0x1000, 0x0, 2)).mutex_like  # shared: another process's
    assert F.futex_call(futex(1, 0x1000, 0x81, 1)) is None  # FUTEX_WAKE: no wait
    assert F.futex_call(futex(1, 0x1000, 0x80, 2, state="R")) is None


def test_timeouts_are_told_per_operation():
    def told(op: int, ts: tuple[int, int] | None, timeout: int = 0x7FFC00) -> str:
        c = F.futex_call(futex(1, 0x1000, op, 2, timeout=timeout))
        assert c is not None
        return F.timeout_text(F.timeout_of(c, ts), monotonic_now=1000.0, realtime_now=1_700_000_000.0)

    assert told(0x80, None, timeout=0) == "forever"
    assert told(0x80, (400, 0)) == "relative 400 s"  # FUTEX_WAIT: relative
    assert told(0x89, (1199, 500_000_000)) == "deadline in 200 s (monotonic clock)"  # WAIT_BITSET
    assert told(0x189, (1_700_000_005, 0)) == "deadline in 5.0 s (realtime clock)"  # CLOCK_REALTIME
    assert told(0x89, (990, 0)) == "deadline passed 10 s ago (monotonic clock)"
    assert told(0x89, None) == "with a timeout (not read)"
    assert F.parse_timespec(struct.pack("=qq", 7, 5)) == (7, 5)
    assert F.parse_timespec(struct.pack("=qq", 7, 2_000_000_000)) is None
    assert F.parse_timespec(b"\0" * 8) is None


def _mutex(lock: int = 2, owner: int = 1234, kind: int = 0) -> bytes:
    return struct.pack("=iIiIi", lock, 0, owner, 1, kind)


def test_the_owner_is_read_only_from_what_looks_like_a_contended_glibc_mutex():
    assert F.mutex_owner(_mutex()) == 1234
    assert F.mutex_owner(_mutex(kind=0x100)) == 1234  # elision flags
    assert F.mutex_owner(_mutex(kind=1)) == 1234  # recursive
    assert F.mutex_owner(_mutex(lock=0)) is None  # released meanwhile
    assert F.mutex_owner(_mutex(owner=0)) is None
    assert F.mutex_owner(_mutex(owner=1 << 23)) is None  # no thread id is that large
    assert F.mutex_owner(_mutex(kind=0x20)) is None  # priority inheritance: another protocol
    assert F.mutex_owner(_mutex()[:12]) is None


def _process(leader_blocked: int = 0, caught: int = 0, ignored: int = 0, **kw) -> ProcessSignals:
    return ProcessSignals(100, leader_blocked, kw.pop("takes", True), caught, ignored, **kw)


def test_a_sigwait_whose_signal_the_main_thread_takes_can_never_end():
    v = judge("rt_sigtimedwait", 101, 0, mask_of([USR1]), False, _process(caught=mask_of([USR1])))
    assert v.stuck and v.what == "SIGUSR1 (sigwait, forever)"
    assert "goes to the main thread 100" in v.why and "SIGUSR1 runs its handler there" in v.why
    ignored = judge("rt_sigtimedwait", 101, 0, mask_of([USR2]), False, _process(ignored=mask_of([USR2])))
    assert ignored.stuck and "ignored" in ignored.why


def test_sigwaits_that_can_end_are_not_stuck():
    caught = mask_of([USR1])
    # the main thread blocks it: the kernel hands it to the waiting thread
    assert not judge("rt_sigtimedwait", 101, 0, caught, False, _process(caught, caught)).stuck
    # the waiter is the main thread: a daemon's sigwait for SIGTERM
    assert not judge("rt_sigtimedwait", 100, 0, mask_of([TERM]), False, _process()).stuck
    # sent, SIGTERM ends the process, and this wait with it
    assert not judge("rt_sigtimedwait", 101, 0, mask_of([TERM]), False, _process()).stuck
    # one signal of the set that can reach it is enough
    both = mask_of([USR1, USR2])
    assert not judge("rt_sigtimedwait", 101, 0, both, False, _process(mask_of([USR2]), caught)).stuck
    assert not judge("rt_sigtimedwait", 101, 0, caught, True, _process(caught=caught)).stuck  # a timeout
    unread = judge("rt_sigtimedwait", 101, 0, None, False, _process(caught=caught))
    assert not unread.stuck and "could not be read" in unread.what
    # a main thread that is stopped or waits for signals itself does not take it for sure
    assert not judge("rt_sigtimedwait", 101, 0, caught, False, _process(caught=caught, takes=False)).stuck


def test_a_pause_is_stuck_only_when_handlers_exist_and_none_can_run_in_it():
    usr1 = mask_of([USR1])
    v = judge("pause", 100, usr1, None, False, _process(usr1, caught=usr1))
    assert v.stuck and "SIGUSR1 blocked in this thread" in v.why
    assert not judge("pause", 100, 0, None, False, _process(caught=usr1)).stuck  # its handler runs
    # no handler at all: it waits until a signal ends the process, by design
    assert not judge("pause", 100, usr1, None, False, _process(usr1)).stuck
    # a crash handler is no way to end a pause
    assert not judge("rt_sigsuspend", 100, mask_of([SEGV]), None, False,
                     _process(caught=mask_of([SEGV]))).stuck  # fmt: skip
    # another thread takes the process's signals (it waits for them): this one only parks
    parked = _process(usr1, caught=usr1, other_waiter=True)
    assert not judge("pause", 101, usr1, None, False, parked).stuck
    # a thread that does not block it, but the main thread takes it first
    taken = judge("rt_sigsuspend", 101, 0, None, False, _process(0, caught=usr1))
    assert taken.stuck and "taken by the main thread 100" in taken.why


# -- chains --------------------------------------------------------------------------------


def mutex_wait(tids, owner, pid=10, name="app", addr=0x7F00, forever=True):
    party = W.Party(pid, name, f"holds the mutex (thread {owner})", tid=owner)
    what = f"the mutex at {addr:#x}, held by thread {owner} (lock wait, forever)"
    return W.Wait(W.FUTEX, tuple(tids), what, None, (party,), forever, why="" if forever else "its timeout")


def node(pid, name, waits=(), state="S", owners=(), blocked=True):
    return W.ProcessWaits(pid, name, state, "", tuple(waits), 0, True, "", None, blocked, tuple(owners))


def graph(start, *nodes):
    return W.WaitGraph(start, {n.pid: n for n in nodes})


def test_a_mutex_wait_follows_to_the_owner_thread_and_ends_at_what_it_does():
    owner = W.ThreadDoing(12, "S", "read(0 -> /dev/pts/1)")
    g = graph(10, node(10, "app", [mutex_wait([11], 12)], owners=[owner], blocked=False))
    (c,) = follow(g)
    assert c.end.kind == W.IDLE and not c.stuck and c.end.pid == 10
    assert c.end.detail == "holding the lock in thread 12, asleep: read(0 -> /dev/pts/1)"
    assert "pid 10 (app) holds the mutex (thread 12)" in c.hops[0].detail
    assert wait_chain(subject(pid=10, name="app", context=Context(waits=g))) == []
    running = graph(10, node(10, "app", [mutex_wait([11], 12)], owners=[W.ThreadDoing(12, "R", "running")]))
    assert follow(running)[0].end.kind == W.RUNNING


def test_two_threads_waiting_for_each_others_mutex_are_a_deadlock_between_threads():
    g = graph(10, node(10, "app", [mutex_wait([11], 12, addr=0xA), mutex_wait([12], 11, addr=0xB)]))
    c1, c2 = follow(g)
    assert c1.end.kind == W.CYCLE and c1.stuck and [h.tids for h in c1.hops] == [(11,), (12,)]
    assert c1.processes == (10,) and c2.end.kind == W.CYCLE
    (f,) = wait_chain(subject(pid=10, name="app", context=Context(waits=g)))
    assert f.severity == "critical"
    assert f.summary.startswith("thread 11 of pid 10 (app) waits for the mutex at 0xa, held by thread 12")
    assert "thread 12 waits for the mutex at 0xb, held by thread 11" in f.summary
    assert "a deadlock between threads 11 and 12 of pid 10 (app)" in f.summary
    assert any("in one order" in s for s in f.next_steps)
    # the same pid coming back is no cycle by itself: a thread of it that waits on nothing
    # followed ends the chain
    one = graph(10, node(10, "app", [mutex_wait([11], 12)], owners=[W.ThreadDoing(12, "S", "nanosleep")]))
    assert follow(one)[0].end.kind == W.IDLE


def test_a_thread_waiting_for_a_mutex_it_holds_is_a_deadlock_with_itself():
    g = graph(10, node(10, "app", [mutex_wait([11], 11)], blocked=False))
    (c,) = follow(g)
    assert c.end.kind == W.CYCLE and len(c.hops) == 1
    (f,) = wait_chain(subject(pid=10, name="app", context=Context(waits=g)))
    assert f.severity == "critical" and "a deadlock of thread 11 with itself in pid 10 (app)" in f.summary


def test_a_wait_with_a_timeout_on_the_way_is_no_deadlock():
    g = graph(10, node(10, "app", [mutex_wait([11], 12), mutex_wait([12], 11, forever=False)]))
    ends = [c.end for c in follow(g)]
    assert all(e.kind in (W.UNKNOWN, W.IDLE) for e in ends), ends
    assert wait_chain(subject(pid=10, name="app", context=Context(waits=g))) == []


def test_an_owner_blocked_on_a_pipe_whose_reader_is_stopped_ends_stopped_through_the_thread_hop():
    pipe = W.Wait(W.PIPE_WRITE, (12, 13), "write to fd 1 (pipe:[77])", 1,
                  (W.Party(20, "tee", "holds the read end (fd 0)"),))  # fmt: skip
    g = graph(10, node(10, "app", [mutex_wait([11], 12), pipe]), node(20, "tee", state="T"))
    chains = follow(g)
    c = next(c for c in chains if c.hops[0].wait == W.FUTEX)
    assert c.end.kind == W.STOPPED and c.end.pid == 20 and c.processes == (10, 20)
    assert [(h.wait, h.tids) for h in c.hops] == [(W.FUTEX, (11,)), (W.PIPE_WRITE, (12,))]
    (f,) = wait_chain(subject(pid=10, name="app", context=Context(waits=g)))
    assert f.severity == "critical" and f.tids == (11,)
    assert "thread 12 waits to write to fd 1 (pipe:[77]), which pid 20 (tee) should read" in f.summary
    assert f.summary.endswith("pid 20 (tee) is stopped (state T)")


def test_a_signal_wait_is_stuck_only_when_nothing_can_send_it():
    lost = W.Wait(W.SIGNAL, (11,), "SIGUSR1 (sigwait, forever)", None, (), True,
                  why="no signal sent to the process can reach this wait: ...")  # fmt: skip
    g = graph(10, node(10, "app", [lost], blocked=False))
    (c,) = follow(g)
    assert c.end.kind == W.UNRELEASABLE and c.end.detail.startswith("no signal sent to the process")
    (f,) = wait_chain(subject(pid=10, name="app", context=Context(waits=g)))
    assert f.severity == "warning" and f.summary.startswith("thread 11 of pid 10 (app) waits for SIGUSR1")
    assert any("pthread_sigmask" in s for s in f.next_steps)
    fine = W.Wait(W.SIGNAL, (10,), "SIGTERM (sigwait, forever)", None, (), False, why="it waits for SIGTERM")
    g = graph(10, node(10, "app", [fine], blocked=False))
    (c,) = follow(g)
    assert c.end.kind == W.IDLE and not c.stuck and c.hops[0].detail == "a process that sends it the signal"
    assert wait_chain(subject(pid=10, name="app", context=Context(waits=g))) == []


# -- the graph's waits, read from a fixture /proc tree ----------------------------------------

PID = 4242


def _proc(tmp_path: Path, rows, *, caught: int = 0, blocked: dict[int, int] | None = None,
          mem: dict[int, bytes] | None = None) -> ProcRoot:  # fmt: skip
    """/proc/PID with status, mem (a sparse file: the bytes at small fixture addresses) and a
    task directory per thread (stat, syscall, status)."""
    d = tmp_path / str(PID)
    d.mkdir(parents=True)
    (d / "stat").write_text(f"{PID} (app) S 1 " + " ".join(["0"] * 40))
    (d / "status").write_text(f"Name:\tapp\nSigBlk:\t0\nSigIgn:\t0\nSigCgt:\t{caught:016x}\n")
    with open(d / "mem", "wb") as f:
        for addr, raw in (mem or {}).items():
            f.seek(addr)
            f.write(raw)
    for r in rows:
        t = d / "task" / str(r.tid)
        t.mkdir(parents=True)
        (t / "stat").write_text(f"{r.tid} (app) {r.state} 1 " + " ".join(["0"] * 40))
        args = " ".join(hex(a) for a in r.syscall.args)
        (t / "syscall").write_text(f"{r.syscall.nr} {args} 0x7ffd0000 0x7f000000\n")
        (t / "status").write_text(f"Name:\tapp\nSigBlk:\t{(blocked or {}).get(r.tid, 0):016x}\n")
    return ProcRoot(str(tmp_path))


def test_an_abba_deadlock_is_read_from_memory_into_a_cycle_of_threads(tmp_path):
    rows = (thread(PID, "pause"), futex(PID + 1, 0x1000, 0x80, 2), futex(PID + 2, 0x2000, 0x80, 2))
    root = _proc(tmp_path, rows, mem={0x1000: _mutex(owner=PID + 2), 0x2000: _mutex(owner=PID + 1)})
    snap = threads(*rows)
    assert has_thread_wait(snap)
    f = Facts(PID, "app", "S", snap)
    waits = thread_waits(root, f, [])
    assert [(w.kind, w.tids, w.parties[0].tid, w.certain) for w in waits[:2]] == [
        (W.FUTEX, (PID + 1,), PID + 2, True), (W.FUTEX, (PID + 2,), PID + 1, True)]  # fmt: skip
    assert waits[0].what == f"the mutex at 0x1000, held by thread {PID + 2} (lock wait, forever)"
    assert [t.tid for t in named_threads(f, waits)] == [PID + 1, PID + 2]
    g = graph(PID, node(PID, "app", waits, owners=named_threads(f, waits)))
    assert [c.end.kind for c in follow(g) if c.hops[0].wait == W.FUTEX] == [W.CYCLE, W.CYCLE]
    # the main thread's pause() with no handler installed: a wait until a signal ends it
    assert waits[2].kind == W.SIGNAL and not waits[2].certain


def test_an_owner_that_is_no_thread_of_the_process_leaves_the_lock_unreleasable(tmp_path):
    rows = (futex(PID, 0x1000, 0x80, 2),)
    root = _proc(tmp_path, rows, mem={0x1000: _mutex(owner=99)})
    (w,) = thread_waits(root, Facts(PID, "app", "S", threads(*rows)), [])
    assert w.parties == () and w.certain and "thread 99 is gone" in w.what
    assert "is no thread of it" in w.why
    (c,) = follow(graph(PID, node(PID, "app", [w])))
    assert c.end.kind == W.UNRELEASABLE and "is no thread of it" in c.end.detail


def test_a_word_that_is_no_mutex_or_a_thread_that_left_the_call_gives_no_owner(tmp_path):
    rows = (thread(PID, "pause"), futex(PID + 1, 0x1000, 0x80, 2), futex(PID + 2, 0x2000, 0x80, 2))
    # 0x1000 was released meanwhile; thread PID+2 is in another call now (its syscall changed)
    root = _proc(tmp_path, rows, mem={0x1000: _mutex(lock=0, owner=PID + 2), 0x2000: _mutex(owner=PID + 1)})
    (tmp_path / str(PID) / "task" / str(PID + 2) / "syscall").write_text("running\n")
    assert [
        w for w in thread_waits(root, Facts(PID, "app", "S", threads(*rows)), []) if w.kind == W.FUTEX
    ] == []


def test_memory_is_not_read_while_a_thread_is_in_uninterruptible_sleep(tmp_path):
    rows = (thread(PID, "read", (3,), state="D"), futex(PID + 1, 0x1000, 0x80, 2))
    root = _proc(tmp_path, rows, mem={0x1000: _mutex(owner=PID)})
    assert thread_waits(root, Facts(PID, "app", "S", threads(*rows)), []) == []


def test_several_threads_parked_on_their_own_locks_are_no_deadlock_by_themselves(tmp_path):
    """A main thread in Event.wait() and a pool idle on its queue, started under nohup (SIGINT
    ignored, so Python installs no handler): parked until a fatal signal, by design. Found by a
    check on a healthy box; only a lone thread, or owners glibc records, tell a deadlock."""
    rows = (futex(PID, 0x1000, 0x189, 0), futex(PID + 1, 0x2000, 0x89, 0))  # semaphores: no owner
    assert thread_waits(_proc(tmp_path, rows), Facts(PID, "app", "S", threads(*rows)), []) == []
    (lone,) = rows[:1]
    (w,) = thread_waits(_proc(tmp_path / "one", (lone,)), Facts(PID, "app", "S", threads(lone)), [])
    assert w.kind == W.FUTEX and w.tids == (PID,) and "no signal handler" in w.why


def test_a_sigwait_reads_its_set_from_memory(tmp_path):
    main = thread(PID, "clock_nanosleep", (1, 1, 0x7FFD))
    waiter = thread(PID + 1, "rt_sigtimedwait", (0x3000, 0x3100, 0, 8))
    rows = (main, waiter)
    root = _proc(tmp_path, rows, caught=mask_of([USR1]), mem={0x3000: struct.pack("=Q", mask_of([USR1]))})
    (w,) = thread_waits(root, Facts(PID, "app", "S", threads(*rows)), [])
    assert (
        w.kind == W.SIGNAL and w.tids == (PID + 1,) and w.certain and w.what == "SIGUSR1 (sigwait, forever)"
    )
    # the main thread blocks it: the waiter gets it
    blocking = _proc(tmp_path / "b", rows, caught=mask_of([USR1]), blocked={PID: mask_of([USR1])},
                     mem={0x3000: struct.pack("=Q", mask_of([USR1]))})  # fmt: skip
    (w,) = thread_waits(blocking, Facts(PID, "app", "S", threads(*rows)), [])
    assert not w.certain


def _stat_line(pid: int, state: str, ppid: int, start: int) -> str:
    fields = [state, str(ppid)] + ["0"] * 17 + [str(start)] + ["0"] * 20
    return f"{pid} (python3) " + " ".join(fields)


def test_the_likeliest_origin_is_a_fork_without_exec_of_a_multi_threaded_parent(tmp_path):
    from stucktui.collect.futex import fork_origin

    parent, child = 500, 600
    for pid, tasks in ((parent, {parent: 100, parent + 1: 150, parent + 2: 900}), (child, {child: 200})):
        d = tmp_path / str(pid)
        (d / "task").mkdir(parents=True)
        (d / "exe").symlink_to("/usr/bin/python3.11")
        (d / "cmdline").write_bytes(b"python3\0job.py\0")
        ppid = 1 if pid == parent else parent
        (d / "stat").write_text(_stat_line(pid, "S", ppid, tasks[pid]))
        for tid, start in tasks.items():
            (d / "task" / str(tid)).mkdir()
            (d / "task" / str(tid) / "stat").write_text(_stat_line(tid, "S", ppid, start))
    root = ProcRoot(str(tmp_path))
    origin = fork_origin(root, child, None)
    assert origin is not None and f"forked without exec by pid {parent} (python3)" in origin
    assert f"thread {parent + 1} was started before it" in origin
    # after an exec the program differs: no such origin
    (tmp_path / str(child) / "cmdline").write_bytes(b"python3\0other.py\0")
    assert fork_origin(root, child, None) is None
    # multiprocessing's fork method shows in the child's Python stack
    row = thread(
        child,
        "futex",
        (0x1000, 0x189, 0),
        frames=(("_launch", "/usr/lib/python3.11/multiprocessing/popen_fork.py"),),
    )
    assert "popen_fork" in (fork_origin(root, child, threads(row, pid=child)) or "")


def test_without_the_right_to_read_memory_the_owner_is_not_guessed(tmp_path, monkeypatch):
    from stucktui.procfs.errors import AccessDenied

    rows = (futex(PID, 0x1000, 0x80, 2),)
    root = _proc(tmp_path, rows, mem={0x1000: _mutex(owner=99)})

    def refuse(*parts: object, offset: int, size: int, pid: int | None = None) -> bytes:
        raise AccessDenied(pid, "mem")

    monkeypatch.setattr(root, "read_at", refuse)
    (w,) = thread_waits(root, Facts(PID, "app", "S", threads(*rows)), [])
    assert w.parties == () and "needs the right to ptrace it" in w.why
