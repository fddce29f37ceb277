"""Lock pollers and SQLite's lock bytes on fixtures: the bytes named, the SQLite file told without
touching a remote filesystem, the poller proven (a Python stack in a lock call, a sleep called by
SQLite's code) or not (a reader), and the findings from both sides."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from stucktui.collect.sleep_caller import first_caller, sleep_callers
from stucktui.collect.sqlite_files import SqliteFiles
from stucktui.diagnose.chains import follow
from stucktui.diagnose.rules.chains import wait_chain
from stucktui.diagnose.rules.lock_polls import holder_findings, lock_holder, poll_severity
from stucktui.diagnose.rules.locks import lock_wait
from stucktui.diagnose.subject import Ages
from stucktui.inspection.lock_waits import poll_waits
from stucktui.inspection.waits import Facts
from stucktui.model import sqlite_locks as Q
from stucktui.model import waits as W
from stucktui.model.lock_polls import POLLING
from stucktui.model.locks import FileUser, LockRow
from stucktui.model.syscall import CallKind, SyscallLine
from stucktui.procfs.maps import parse_code_mappings
from stucktui.procfs.mountinfo import parse_mountinfo
from stucktui.procfs.root import ProcRoot
from tests.unit.diagnose_kit import PID, Context, file_row, files, locks, subject, thread, threads

DB = "/srv/app.db"
MNT = (
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "40 22 0:41 / /mnt/remote rw - fuse.sshfs host: rw\n"
)


def test_sqlite_lock_bytes_are_named_as_sqlite_names_them():
    assert Q.PENDING_BYTE == 1073741824 and Q.RESERVED_BYTE == 1073741825
    assert (Q.SHARED_FIRST, Q.SHARED_LAST) == (1073741826, 1073742335)
    reserved = Q.meaning(Q.DB, "WRITE", 1073741825, 1073741825)
    assert reserved is not None and reserved.name == "RESERVED" and reserved.writer
    assert reserved.short == "the write lock (RESERVED)" and "write transaction is open" in reserved.text
    shared = Q.meaning(Q.DB, "READ", 1073741826, 1073742335)
    assert shared is not None and shared.name == "SHARED" and not shared.writer
    pending = Q.meaning(Q.DB, "WRITE", 1073741824, 1073741824)
    assert pending is not None and pending.name == "PENDING" and pending.writer
    exclusive = Q.meaning(Q.DB, "WRITE", 1073741826, 1073742335)
    assert exclusive is not None and exclusive.name == "EXCLUSIVE"
    assert Q.meaning(Q.DB, "WRITE", 100, 199) is None  # not one of SQLite's bytes
    assert Q.meaning(None, "WRITE", 1073741825, 1073741825) is None  # not a SQLite file
    wal = Q.meaning(Q.SHM, "WRITE", 120, 120)
    assert wal is not None and wal.name == "WAL write" and wal.writer
    ckpt, recover = Q.meaning(Q.SHM, "WRITE", 121, 121), Q.meaning(Q.SHM, "WRITE", 122, 122)
    assert ckpt is not None and ckpt.name == "WAL checkpoint" and recover is not None
    read = Q.meaning(Q.SHM, "READ", 124, 124)
    assert read is not None and read.name == "WAL read 1" and not read.writer
    dms = Q.meaning(Q.SHM, "READ", 128, 128)
    assert dms is not None and dms.name == "WAL DMS"


def test_sqlite_files_are_told_by_name_and_siblings():
    assert Q.kind_by_name("/srv/app.db", set()) == Q.DB
    assert Q.kind_by_name("/srv/cache.SQLITE3", set()) == Q.DB
    assert Q.kind_by_name("/srv/store", {"/srv/store-wal"}) == Q.DB
    assert Q.kind_by_name("/srv/store", set()) is None
    assert Q.kind_by_name("/srv/store-shm", {"/srv/store"}) == Q.SHM
    assert Q.kind_by_name("/srv/app.db-journal", {"/srv/app.db"}) is None
    assert Q.database_of("/srv/app.db-shm") == "/srv/app.db"


def test_mountinfo_and_code_mappings_parse():
    assert parse_mountinfo(MNT + "garbage\n") == {22: "ext4", 40: "fuse.sshfs"}
    maps = (
        "7f0000000000-7f0000001000 r--p 00000000 fe:00 1 /usr/lib/libsqlite3.so.0\n"
        "7f0000001000-7f0000002000 r-xp 00001000 fe:00 1 /usr/lib/libsqlite3.so.0\n"
        "7f0000010000-7f0000011000 r-xp 00000000 fe:00 2 /usr/lib/libc.so.6\n"
    )
    code = parse_code_mappings(maps)
    assert [(m.start, m.path) for m in code] == [
        (0x7F0000001000, "/usr/lib/libsqlite3.so.0"),
        (0x7F0000010000, "/usr/lib/libc.so.6"),
    ]
    # the C library's sleep and usleep first, then SQLite's busy handler
    stack = struct.pack("<5Q", 0x7F0000010010, 42, 0x7F0000010020, 0x7F0000001234, 0x7F0000001000)
    assert first_caller(code, stack) == "/usr/lib/libsqlite3.so.0"
    assert first_caller(code, struct.pack("<2Q", 0x7F0000010010, 7)) is None


def _proc(tmp_path: Path, fstype: str, target: Path) -> ProcRoot:
    base = tmp_path / "proc" / str(PID)
    (base / "fd").mkdir(parents=True)
    (base / "mountinfo").write_text(f"22 1 254:0 / / rw - {fstype} /dev/vda rw\n")
    os.symlink(target, base / "fd" / "3")
    return ProcRoot(str(tmp_path / "proc"))


def test_the_header_is_read_only_on_a_local_filesystem(tmp_path: Path):
    db = tmp_path / "store"
    db.write_bytes(Q.HEADER + b"\0" * 84)
    assert SqliteFiles(_proc(tmp_path, "ext4", db), PID, [str(db)]).kind(str(db), 3, 22) == Q.DB
    other = tmp_path / "other"
    other.mkdir()
    fifo = other / "store.db"
    os.mkfifo(fifo)  # were it opened, a FIFO would say so; on fuse it is decided by its name
    root = _proc(other, "fuse.sshfs", fifo)
    assert SqliteFiles(root, PID, [str(fifo)]).kind(str(fifo), 3, 22) == Q.DB
    plain = other / "journal.log"
    plain.write_text("x")
    assert SqliteFiles(root, PID, [str(plain)]).kind(str(plain), 3, 22) is None


def _row(
    role: str,
    mode: str,
    start: int,
    end: int | None,
    holder: int,
    *,
    path: str = DB,
    kind: str | None = Q.DB,
    typ: str = "POSIX",
) -> LockRow:
    meaning = Q.meaning(kind, mode, start, end) if kind else None
    users = (FileUser(holder, "sqlite3", 3),)
    return LockRow(
        role,
        typ,
        mode,
        start,
        end,
        254,
        0,
        77,
        path,
        1,
        holder,
        users,
        holder,
        (),
        (),
        (),
        (),
        sqlite=meaning,
    )


def _sqlite_holder_rows(role: str = "open") -> tuple[LockRow, ...]:
    return (
        _row(role, "WRITE", Q.RESERVED_BYTE, Q.RESERVED_BYTE, 12),
        _row(role, "READ", Q.SHARED_FIRST, Q.SHARED_LAST, 12),
    )


def _facts(root: ProcRoot, rows, lock_rows, *, fds=None) -> Facts:
    fs = files(*(fds or [file_row(3, DB, 77)]))
    return Facts(PID, "app", "S", threads(*rows), fs, locks(*lock_rows))


def test_a_python_poller_is_an_edge_to_the_holder_and_a_reader_is_not(tmp_path: Path):
    root = ProcRoot(str(tmp_path))
    frames = (("try_lock", "worker.py"), ("run", "worker.py"))
    poller = thread(PID, "clock_nanosleep", (1, 0), frames=frames)
    plain = _row("open", "WRITE", 100, 199, 12, path="/srv/jobs.lock", kind=None)
    fds = [file_row(3, "/srv/jobs.lock", 77)]
    (w,) = poll_waits(root, _facts(root, [poller], [plain], fds=fds))
    assert w.kind == W.LOCK and not w.certain and w.tids == (PID,) and w.fd == 3
    assert w.what == f"{POLLING}the POSIX WRITE lock on /srv/jobs.lock (bytes 100-199)"
    assert [p.pid for p in w.parties] == [12] and "try_lock" in w.evidence[0]
    # asleep with the file open but nothing showing it retries: a reader, no edge
    reader = thread(PID, "clock_nanosleep", (1, 0), frames=(("follow", "tail.py"),))
    assert poll_waits(root, _facts(root, [reader], [plain], fds=fds)) == []
    assert poll_waits(root, _facts(root, [thread(PID, "clock_nanosleep", (1, 0))], [plain], fds=fds)) == []


def _sqlite_proc(tmp_path: Path, sp: int) -> ProcRoot:
    """A fixture /proc whose process maps SQLite's library, with a stack at `sp` whose first
    return address past the C library's points into it."""
    base = tmp_path / str(PID)
    base.mkdir()
    (base / "maps").write_text(
        "7f0000001000-7f0000002000 r-xp 00001000 fe:00 1 /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6\n"
        "7f0000010000-7f0000011000 r-xp 00000000 fe:00 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    )
    with open(base / "mem", "wb") as f:
        f.seek(sp)
        f.write(struct.pack("<4Q", 0x7F0000010010, 0, 0x7F0000010020, 0x7F00000015B5))
    return ProcRoot(str(tmp_path))


def test_a_sqlite_busy_handler_is_a_poller_of_the_write_lock_only(tmp_path: Path):
    sp = 8192
    root = _sqlite_proc(tmp_path, sp)
    sleeping = thread(PID, "clock_nanosleep", (0, 0))._replace(
        syscall=SyscallLine(CallKind.IN_SYSCALL, 230, (0, 0, 0, 0, 0, 0), sp, 0x7F0000010005)
    )
    assert sleep_callers(root, PID, [sleeping]) == {PID: "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"}
    (w,) = poll_waits(root, _facts(root, [sleeping], _sqlite_holder_rows()))
    assert w.what == f"{POLLING}the write lock (RESERVED) of {DB}"
    assert [(p.pid, p.role) for p in w.parties] == [(12, f"holds the write lock (RESERVED) of {DB}")]
    assert "SQLite's busy handler" in w.evidence[0]
    # a reader's SHARED lock keeps no writer out: nothing to poll for
    only_readers = (_row("open", "READ", Q.SHARED_FIRST, Q.SHARED_LAST, 12),)
    assert poll_waits(root, _facts(root, [sleeping], only_readers)) == []


def _poll_graph(end_state: str = "S", doing: str = "1 thread: read(0 -> /dev/pts/1)") -> W.WaitGraph:
    w = W.Wait(
        W.LOCK,
        (PID,),
        f"{POLLING}the write lock (RESERVED) of {DB}",
        3,
        (W.Party(12, "sqlite3", f"holds the write lock (RESERVED) of {DB}"),),
        False,
        evidence=(
            f"thread {PID} sleeps in clock_nanosleep called by libsqlite3.so.0: SQLite's busy handler",
        ),
    )
    return W.WaitGraph(
        PID,
        {
            PID: W.ProcessWaits(PID, "app", "S", "", (w,), 0, True, "", None, True),
            12: W.ProcessWaits(
                12, "sqlite3", end_state, "sqlite3 /srv/app.db", (), 0, True, doing, None, False
            ),
        },
    )


def test_the_poller_finding_is_info_at_once_and_a_warning_once_it_lasts():
    t = threads(thread(PID, "clock_nanosleep", (0, 0)))
    s = subject(threads=t, files=files(file_row(3, DB, 77)), context=Context(waits=_poll_graph()))
    (f,) = lock_wait(s)
    assert f.severity == "info" and f.fds == (3,)
    assert f.summary == (
        f"pid {PID} (app) was seen trying to lock {DB} (fd 3): it polls for the write lock (RESERVED) "
        f"of {DB}, held by pid 12 (sqlite3); pid 12 (sqlite3) is idle at a terminal prompt (sqlite3 shell)."
    )
    assert any("busy handler" in e for e in f.evidence) and any(
        "COMMIT or ROLLBACK" in x for x in f.next_steps
    )
    aged = Ages({"lock_poll": {f"{POLLING}the write lock (RESERVED) of {DB}": 45.0}}, tracked=True)
    assert (
        lock_wait(
            subject(
                threads=t, files=files(file_row(3, DB, 77)), context=Context(waits=_poll_graph()), ages=aged
            )
        )[0].severity
        == "warning"
    )
    assert (poll_severity(None), poll_severity(10), poll_severity(400)) == ("info", "info", "critical")


def test_a_poller_behind_a_stopped_holder_is_a_stuck_chain():
    g = _poll_graph(end_state="T")
    (c,) = follow(g)
    assert c.stuck and c.end.kind == W.STOPPED
    (f,) = wait_chain(subject(context=Context(waits=g)))
    assert f.severity == "critical"
    assert f"keeps polling for the write lock (RESERVED) of {DB} held by pid 12 (sqlite3)" in f.summary


def test_may_be_polling_only_for_a_sleeping_writer_without_proof():
    from tests.unit.diagnose_kit import ForeignLock

    ctx = Context(foreign_locks=(ForeignLock(3, "/var/log/app.log", "FLOCK", "WRITE", 12, "logger"),))
    sleeping = threads(thread(PID, "clock_nanosleep", (1, 0)))
    (f,) = lock_wait(subject(context=ctx, threads=sleeping, files=files(file_row(3, "/var/log/app.log", 77))))
    assert f.severity == "info" and "may be polling for the lock on /var/log/app.log" in f.summary
    ro = file_row(3, "/var/log/app.log", 77)._replace(mode="r")  # tail -f of a locked log: a reader
    assert lock_wait(subject(context=ctx, threads=sleeping, files=files(ro))) == []


def test_the_idle_holder_is_told_with_who_waits():
    held = _row("held", "WRITE", Q.RESERVED_BYTE, Q.RESERVED_BYTE, PID)
    held = LockRow(
        **{
            **{k: getattr(held, k) for k in held.__dataclass_fields__},
            "waiters": (31,),
            "others_open": (FileUser(32, "worker", 3),),
        }
    )
    prompt = threads(thread(PID, "read", (0, 0, 0), targets={0: "/dev/pts/1"}))
    (f,) = lock_holder(subject(name="sqlite3", threads=prompt, locks=locks(held)))
    assert f.id == "lock-holder" and f.severity == "warning"
    assert f.summary == (
        f"pid {PID} (sqlite3) holds the write lock (RESERVED) of {DB} while idle at a terminal prompt "
        "(sqlite3 shell); 1 process waits for it; 1 more process has it open and may be polling."
    )
    stopped = lock_holder(subject(name="sqlite3", state="T", threads=prompt, locks=locks(held)))
    assert [x.severity for x in stopped] == ["critical"]
    working = threads(thread(PID, None, state="R"))
    assert lock_holder(subject(threads=working, locks=locks(held))) == []
    no_waiter = LockRow(**{**{k: getattr(held, k) for k in held.__dataclass_fields__}, "waiters": ()})
    assert lock_holder(subject(threads=prompt, locks=locks(no_waiter))) == []


def test_box_wide_the_idle_holder_counts_blocked_and_polling_waiters():
    poll = _poll_graph()
    blocked_w = W.Wait(
        W.LOCK,
        (31,),
        f"POSIX WRITE lock on {DB} (1073741825-1073741825: SQLite RESERVED: x)",
        None,
        (W.Party(12, "sqlite3", "lock holder"),),
    )
    blocked = W.WaitGraph(
        31,
        {
            31: W.ProcessWaits(31, "cron", "S", "", (blocked_w,), 0, True, "", None, True),
            12: poll.nodes[12],
        },
    )
    roots = {12: ("sqlite3", 500), PID: ("app", 100), 31: ("cron", 200)}
    (f,) = holder_findings([poll, blocked], [], roots)
    assert f.id == "lock-holder" and f.pid == 12 and f.severity == "warning" and f.starttime == 500
    assert (
        f"pid 12 (sqlite3) holds the write lock (RESERVED) of {DB} while idle at a terminal prompt"
        in f.summary
    )
    assert f.summary.endswith("2 processes wait for it (1 polling)")
    # pollers alone: info until one of them has polled long enough for its own warning
    (alone,) = holder_findings([poll], [], roots)
    assert alone.severity == "info"
    from stucktui.model.findings import Finding

    aged = Finding("lock-wait", "warning", PID, "app", "s", (), ())
    assert [x.severity for x in holder_findings([poll], [aged], roots) if x.id == "lock-holder"] == [
        "warning"
    ]


def test_a_wal_writer_polls_for_the_write_byte_of_the_shm_file(tmp_path: Path):
    sp = 8192
    root = _sqlite_proc(tmp_path, sp)
    sleeping = thread(PID, "clock_nanosleep", (0, 0))._replace(
        syscall=SyscallLine(CallKind.IN_SYSCALL, 230, (0, 0, 0, 0, 0, 0), sp, 0x7F0000010005)
    )
    shm = DB + "-shm"
    rows = (_row("open", "WRITE", 120, 120, 12, path=shm, kind=Q.SHM),)
    fds = [file_row(3, DB, 77), file_row(5, shm, 78)]
    (w,) = poll_waits(root, _facts(root, [sleeping], rows, fds=fds))
    assert w.what == f"{POLLING}the WAL write lock of {DB}" and w.fd == 3
    assert [p.role for p in w.parties] == [f"holds the WAL write lock of {DB}"]


def test_a_holder_waiting_for_its_working_child_holds_the_lock_for_that_work():
    """`flock job.lock make`: flock(1) holds the lock and waits for make, which runs."""
    held = LockRow("held", "FLOCK", "WRITE", 0, None, 254, 0, 77, "/var/lock/job.lock", 1, PID,
                   (FileUser(PID, "flock", 3),), PID, (31,), (), (), ())  # fmt: skip
    waiting = threads(thread(PID, "wait4", (99, 0, 0, 0)))
    kid = W.Wait(W.CHILD, (PID,), "wait4(pid 99)", None, (W.Party(99, "make", "child"),))
    g = W.WaitGraph(PID, {
        PID: W.ProcessWaits(PID, "flock", "S", "", (kid,), 0, True, "", None, True),
        99: W.ProcessWaits(99, "make", "R", "make", (), 0, True, "1 thread: running", None, False),
    })  # fmt: skip
    s = subject(name="flock", threads=waiting, locks=locks(held), context=Context(waits=g))
    assert lock_holder(s) == []
    asleep = replace_node(g, 99, "S")
    (f,) = lock_holder(
        subject(name="flock", threads=waiting, locks=locks(held), context=Context(waits=asleep))
    )
    assert f.severity == "warning" and "holds the FLOCK WRITE lock on /var/lock/job.lock while" in f.summary


def replace_node(g: W.WaitGraph, pid: int, state: str) -> W.WaitGraph:
    from dataclasses import replace

    return W.WaitGraph(
        g.start, {**g.nodes, pid: replace(g.nodes[pid], state=state, doing="1 thread: pause()")}
    )


def test_the_report_says_what_sqlite_bytes_mean():
    from stucktui.report.panels_json import lock_json

    d = lock_json(_row("held", "WRITE", Q.RESERVED_BYTE, Q.RESERVED_BYTE, PID))
    assert d["range"] == "1073741825-1073741825" and d["meaning"].startswith("SQLite RESERVED: ")
