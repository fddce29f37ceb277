"""The Files collector, pipe map and verdicts on a fixture /proc built from a real capture."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from stucktui.collect.files import PipeMap, collect_files, scan_pipes, with_details
from stucktui.model.files import PipeEnd, PipeFill, pipe_summary, pipe_verdicts, pipe_view
from stucktui.procfs.root import ProcRoot
from stucktui.report.panels_json import fds_json

TARGET = Path(__file__).parent.parent / "fixtures" / "files" / "target"
PID = 5568  # the captured process (tests/fixtures/files/target)
CLOSE_WAIT_INO = 0x22B2  # socket fd 7, in CLOSE_WAIT in the captured net_tcp
MOUNTS = (4, 10, 16, 17, 24, 27)  # the mount ids of the captured fdinfo


def _proc(root: Path, pid: int, comm: str, fds: dict[int, tuple[str, str]]) -> Path:
    d = root / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "fdinfo").mkdir()
    (d / "comm").write_text(comm + "\n")
    (d / "stat").write_text(f"{pid} ({comm}) S 1\n")
    # the capture's mounts, all local: a file's type is asked of a local file system only
    (d / "mountinfo").write_text("".join(f"{m} 1 0:{m} / /m{m} rw - ext4 /dev/x rw\n" for m in MOUNTS))
    for fd, (target, fdinfo) in fds.items():
        os.symlink(target, d / "fd" / str(fd))
        (d / "fdinfo" / str(fd)).write_text(fdinfo)
    return d


def _fdinfo(flags: str, ino: int | None = None) -> str:
    """Without ino: the form of kernels before 5.14, where the link text gives the inode."""
    return f"pos:\t0\nflags:\t{flags}\nmnt_id:\t16\n" + (f"ino:\t{ino}\n" if ino is not None else "")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """The captured process, its paths recreated under tmp_path (a real FIFO, directory and
    files, so stat through the links works), plus a few synthetic neighbours holding pipes."""
    work = tmp_path / "work"
    work.mkdir()
    os.mkfifo(work / "fifo")
    for name in ("append.log", "plain.txt"):
        (work / name).write_text("x")
    (tmp_path / "fds.out").write_text("")
    fifo_ino = os.stat(work / "fifo").st_ino
    root = tmp_path / "proc"
    fds = {}
    for line in (TARGET / "links.txt").read_text().splitlines():
        fd, target = line.split("\t")
        target = target.replace("/tmp/capfiles/work", str(work)).replace("/tmp/capfiles", str(tmp_path))
        info = (TARGET / "fdinfo" / fd).read_text()
        if fd == "5":
            info = info.replace("ino:\t2146847", f"ino:\t{fifo_ino}")
        fds[int(fd)] = (target, info)
    d = _proc(root, PID, "python3", fds)
    shutil.copyfile(TARGET / "limits", d / "limits")
    _proc(root, 6000, "bash", {250: ("pipe:[8861]", _fdinfo("0"))})  # reads the fd 251 pipe
    _proc(root, 6001, "writer", {7: (str(work / "fifo"), _fdinfo("01", fifo_ino))})
    # docs/incidents.md §1: a service writes fd 2 into a pipe whose read end it leaked into itself (fd 5).
    _proc(root, 7000, "svc", {2: ("pipe:[9999]", _fdinfo("01")), 5: ("pipe:[9999]", _fdinfo("0"))})
    _proc(root, 7001, "svc-worker", {2: ("pipe:[9999]", _fdinfo("01"))})
    return root


def rows_by_fd(files):
    return {r.fd: r for r in files.rows}


def test_rows_kinds_modes_and_counts(proc):
    f = collect_files(
        ProcRoot(str(proc)), PID, measure_fill=False, socket_states={CLOSE_WAIT_INO: "CLOSE_WAIT"}
    )
    r = rows_by_fd(f)
    assert len(r) == 25 and f.fd_count == 25
    assert (r[5].kind, r[5].mode) == ("fifo", "rw")
    assert (r[4].kind, r[4].mode, r[4].flags) == ("pipe", "w", ("O_NONBLOCK", "O_CLOEXEC"))
    assert (r[22].kind, r[22].pos) == ("file", 4321)
    assert (r[18].kind, r[17].kind, r[20].kind, r[0].kind) == ("deleted", "memfd", "dir", "device")
    assert r[13].detail == "signals SIGUSR1, SIGTERM, SIGRTMIN+2"
    assert r[7].socket_state == "CLOSE_WAIT" and r[6].socket_state is None
    counts = dict(f.counts)
    assert counts["pipe"] == 3 and counts["socket"] == 4 and counts["fifo"] == 1
    assert sum(counts.values()) == 25
    assert (f.fd_soft_limit, f.fd_hard_limit) == (20000, 20000)


def test_pipe_peers_and_verdicts(proc):
    r = rows_by_fd(collect_files(ProcRoot(str(proc)), PID, measure_fill=False))
    leaked = r[251].pipe  # write end inherited from a shell, which holds the read end
    assert leaked is not None and [(p.pid, p.name, p.fd, p.end) for p in leaked.peers] == [
        (6000, "bash", 250, "r")
    ]
    assert not leaked.no_reader and leaked.no_writer is False
    own = r[3].pipe  # os.pipe() whose both ends only this process holds, its epoll fd 11 reading it
    assert own is not None and own.watched_by == (11,)
    assert not own.no_reader and not own.no_writer  # a wake-up pipe, drained by its event loop
    assert [(p.pid, p.fd) for p in own.peers] == [(PID, 4)]
    fifo = r[5].pipe
    assert fifo is not None and [(p.pid, p.end) for p in fifo.peers] == [(6001, "w")]
    assert not fifo.no_writer


def test_incident_1_read_end_leaked_into_the_writer(proc):
    m = scan_pipes(ProcRoot(str(proc)))
    holders = m.holders(9999)
    assert {(h.pid, h.fd, h.end) for h in holders} == {(7000, 2, "w"), (7000, 5, "r"), (7001, 2, "w")}
    f = collect_files(ProcRoot(str(proc)), 7000, pipe_map=m, measure_fill=False)
    p = rows_by_fd(f)[2].pipe
    assert p is not None and p.no_reader and not p.no_writer and p.reader_is_writer
    assert [(x.pid, x.fd) for x in p.peers] == [(7000, 5)]


def test_a_real_reader_clears_no_reader():
    w, r = PipeEnd(1, "a", 1, "w"), PipeEnd(2, "b", 0, "r")
    assert pipe_verdicts([w, r]) == (False, False)
    assert pipe_verdicts([w]) == (True, False)  # writes fail with EPIPE, or block if read end leaked
    assert pipe_verdicts([r]) == (False, True)  # reads see EOF
    assert pipe_verdicts([PipeEnd(1, "a", 3, "rw")]) == (True, True)  # a FIFO opened O_RDWR alone
    v = pipe_view(1, 1, "w", 9, (w, PipeEnd(1, "a", 5, "r")), PipeFill(53350, 65536))
    assert v.no_reader and v.reader_is_writer
    assert pipe_summary(v) == "52.1 KiB queued, 64 KiB pipe; no reader (read end only inside the writers)"
    assert pipe_summary(pipe_view(2, 0, "r", 9, (w, r), PipeFill(None, None, "not permitted"))) == (
        "fill unknown (not permitted)"
    )


def test_pipe_verdicts_say_what_was_seen_when_some_processes_were_unreadable():
    """Without root, a reader in another user's process is invisible (docs/incidents.md §1's sshd): the
    summary then says no reader was *seen*, not that there is none."""
    w = PipeEnd(1, "a", 1, "w")
    alone = pipe_view(1, 1, "w", 9, (w,), PipeFill(65536, 65536), partial=True)
    assert alone.no_reader and pipe_summary(alone) == (
        "64 KiB queued, 64 KiB pipe; no reader seen (some processes could not be read)"
    )
    leaked = pipe_view(1, 1, "w", 9, (w, PipeEnd(1, "a", 5, "r")), PipeFill(1, 65536), partial=True)
    assert pipe_summary(leaked).endswith(
        "no reader (read end only inside the writers, as far as stucktui can see)"
    )
    reader = pipe_view(2, 0, "r", 9, (PipeEnd(2, "b", 0, "r"),), PipeFill(0, 65536), partial=True)
    assert pipe_summary(reader).endswith("; no writer seen (some processes could not be read)")


def test_a_pipe_the_box_was_not_scanned_for_is_judged_by_the_kernels_hang_up_alone():
    """The triage scans the box only for the pipes blocked threads use: a busy server's own
    wake-up pipe (both ends its own, watched by its epoll) is not "no writer", and a read end
    is without a writer only when the kernel says so (poll: HUP)."""
    r, w = PipeEnd(7, "redis", 3, "r"), PipeEnd(7, "redis", 4, "w")
    wake = pipe_view(7, 3, "r", 9, (r, w), PipeFill(0, 65536, hung_up=False), watched_by=(5,),
                     others_unseen=True)  # fmt: skip
    assert not wake.no_writer and not wake.no_reader
    assert "no writer" not in pipe_summary(wake)
    alone = pipe_view(7, 3, "r", 9, (r,), PipeFill(0, 65536, hung_up=False), others_unseen=True)
    assert not alone.no_writer and alone.partial  # a writer elsewhere was not looked for
    gone = pipe_view(7, 3, "r", 9, (r,), PipeFill(0, 65536, hung_up=True), others_unseen=True)
    assert gone.no_writer and not gone.no_reader
    unmeasured = pipe_view(7, 3, "r", 9, (r,), PipeFill(None, None, "not permitted"), others_unseen=True)
    assert not unmeasured.no_writer


def test_pipe_fill_says_when_the_other_side_is_gone():
    from stucktui.procfs.pidfd import pipe_fill

    r, w = os.pipe()
    try:
        before = pipe_fill(os.getpid(), r, expect_inode=os.fstat(r).st_ino)
        if not before.measured:
            pytest.skip(f"pidfd_getfd not available here: {before.reason}")
        assert before.hung_up is False and pipe_fill(os.getpid(), w).hung_up is False
        os.close(w)
        w = -1
        assert pipe_fill(os.getpid(), r).hung_up is True  # no writer left: HUP
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


def test_pipe_map_names_from_the_process_list(proc):
    m = scan_pipes(ProcRoot(str(proc)), names={7000: "from-list"})
    assert {h.name for h in m.holders(9999)} == {"from-list", "svc-worker"}
    assert m.fifos == {} and m.unreadable == 0


def test_pipe_map_names_holders_only_when_asked(proc):
    """The scan reads no comm; the holders of the pipes asked for are named then, once each."""
    m = scan_pipes(ProcRoot(str(proc)))
    assert {h.name for ends in m.pipes.values() for h in ends} == {""}
    named = m.holders(9999)
    assert {(h.pid, h.name) for h in named} == {
        (7000, (proc / "7000" / "comm").read_text().strip()),
        (7001, "svc-worker"),
    }
    assert m.holders(9999) == named and m.holders(123456789) == ()


def test_epoll_watches_resolved_by_inode(proc):
    f = collect_files(
        ProcRoot(str(proc)), PID, measure_fill=False, socket_states={CLOSE_WAIT_INO: "CLOSE_WAIT"}
    )
    ep = rows_by_fd(f)[11].epoll
    assert [(w.tfd, w.fd, w.kind, w.stale) for w in ep] == [
        (12, 12, "eventfd", False),
        (3, 3, "pipe", False),
        (7, 7, "socket", False),
    ]
    assert ep[2].socket_state == "CLOSE_WAIT" and ep[2].event_names == ("IN", "RDHUP", "ET")
    assert ep[2].describe() == f"socket:[{CLOSE_WAIT_INO}] CLOSE_WAIT"
    assert ep[1].pipe is not None and "a wake-up pipe: epoll fd 11 here reads it" in ep[1].describe()


def test_stale_and_closed_epoll_entries(proc):
    d = proc / str(PID)
    for sub in ("fd", "fdinfo"):
        os.rename(d / sub / "3", d / sub / "30")  # dup(3) -> 30, close(3): tfd 3 is stale
        os.remove(d / sub / "7")  # the socket is gone from this process
    f = collect_files(
        ProcRoot(str(proc)), PID, measure_fill=False, socket_states={CLOSE_WAIT_INO: "CLOSE_WAIT"}
    )
    ep = {w.tfd: w for w in rows_by_fd(f)[11].epoll}
    assert (ep[3].fd, ep[3].stale, ep[3].kind) == (30, True, "pipe")
    assert "now fd 30" in ep[3].describe()
    assert ep[7].fd is None and ep[7].stale and ep[7].socket_state == "CLOSE_WAIT"
    assert "fd 7 closed" in ep[7].describe()


def test_fds_json_shape(proc):
    f = collect_files(
        ProcRoot(str(proc)), PID, measure_fill=False, socket_states={CLOSE_WAIT_INO: "CLOSE_WAIT"}
    )
    out = {d["fd"]: d for d in fds_json(f)}
    assert set(out[3]) == {"fd", "kind", "target", "mode", "flags", "pos", "pipe", "epoll", "endpoint"}
    assert set(out[3]["pipe"]) == {
        "inode",
        "queued",
        "capacity",
        "fill_unknown",
        "peers",
        "no_reader",
        "no_writer",
        "partial",
        "watched_by",
    }
    assert out[3]["pipe"]["peers"] == [{"pid": PID, "name": "python3", "fd": 4, "end": "w"}]
    assert out[3]["pipe"]["queued"] is None  # fill not measured here
    assert out[3]["pipe"]["fill_unknown"] == "not measured"  # ... and the JSON says why
    assert out[11]["epoll"][2] == {
        "fd": 7,
        "events": ["IN", "RDHUP", "ET"],
        "target": "socket:[8882] CLOSE_WAIT",
    }
    assert out[7]["target"] == "socket:[8882] CLOSE_WAIT" and out[7]["pipe"] is None
    assert out[21]["flags"] == ["O_APPEND", "O_CLOEXEC"] and out[21]["mode"] == "w"


def test_process_without_fd_permission_or_fds(tmp_path):
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "stat").write_text("9 (z) Z 1\n")
    f = collect_files(ProcRoot(str(tmp_path)), 9)  # a zombie: no fd directory left
    assert f.rows == () and f.counts == ()


def test_a_watched_pipe_without_any_write_end_is_not_called_a_wake_up_pipe():
    from stucktui.model.files import PipeEnd, PipeFill, PipeView, pipe_summary

    alone = (PipeEnd(7, "app", 30, "r"),)
    dead = PipeView(800, "r", alone, (), False, True, PipeFill(0, 65536), False, (5,))
    text = pipe_summary(dead)
    assert "wake-up" not in text and "no process holds a write end: always ready (HUP)" in text
    wake = PipeView(
        800, "r", (*alone, PipeEnd(7, "app", 31, "w")), (), False, False, PipeFill(0, 65536), False, (5,)
    )
    assert "a wake-up pipe: epoll fd 5 here reads it" in pipe_summary(wake)


# -- the lazy view: fdinfo where something reads it --------------------------------------------
def _fields(r):
    return (r.fd, r.kind, r.target, r.mode, r.flags, r.pos, r.inode, r.detail, r.socket_state)


def test_a_lazy_view_reads_fdinfo_only_where_it_is_needed(proc):
    """Every fd is listed with its kind; fdinfo is read for special fds (their state), for one
    fd per path (the file's mount and inode: its kind), and for the fds asked for."""
    f = collect_files(
        ProcRoot(str(proc)), PID, measure_fill=False, socket_states={CLOSE_WAIT_INO: "CLOSE_WAIT"},
        lazy=True, detail={22},
    )  # fmt: skip
    r = rows_by_fd(f)
    assert f.lazy and len(r) == 25
    assert f.unread == {2, 3, 4, 6, 7, 8, 9, 10, 19, 23, 251}  # pipes, sockets, a path seen before
    assert (r[2].kind, r[2].inode, r[2].mode, r[2].pos) == ("file", 2146845, None, None)  # as fd 1's file
    assert (r[23].kind, r[10].kind, r[5].kind) == ("dir", "device", "fifo")
    assert r[22].pos == 4321 and not r[22].unread  # asked for
    assert r[13].detail == "signals SIGUSR1, SIGTERM, SIGRTMIN+2"  # special fds: always read
    assert [w.fd for w in r[11].epoll] == [12, 3, 7]
    assert r[7].socket_state == "CLOSE_WAIT" and r[7].unread  # the state needs no fdinfo
    # a pipe off screen has no view until read, unless an epoll set here watches it: then its
    # end (here from fdinfo's flags: a fixture link has no procfs mode) and holders are known
    assert (r[251].mode, r[251].unread, r[251].pipe) == (None, True, None)
    assert (r[3].mode, r[4].mode, r[4].unread) == ("r", "w", True)  # both ends of the watched pipe
    assert r[4].pipe is not None and [(p.pid, p.fd) for p in r[4].pipe.peers] == [(PID, 3)]
    assert dict(f.counts) == dict(collect_files(ProcRoot(str(proc)), PID, measure_fill=False).counts)


def test_every_fd_of_a_locked_file_is_read(proc):
    """Its `lock:` lines say which fd holds the lock: the Locks panel and the rules read them."""
    (proc / "locks").write_text("1: FLOCK  ADVISORY  WRITE 5568 00:1b:2146845 0 EOF\n")
    f = collect_files(ProcRoot(str(proc)), PID, measure_fill=False, lazy=True)
    r = rows_by_fd(f)
    assert not r[1].unread and not r[2].unread and r[2].pos == 284
    assert r[10].unread  # /dev/null is not locked


def test_details_read_later_match_an_eager_view(proc):
    root = ProcRoot(str(proc))
    eager = collect_files(root, PID, measure_fill=False, socket_states={CLOSE_WAIT_INO: "CLOSE_WAIT"})
    lazy = collect_files(
        root, PID, measure_fill=False, socket_states={CLOSE_WAIT_INO: "CLOSE_WAIT"}, lazy=True
    )
    with root.pid_dir(PID) as d:
        some = with_details(root, d, lazy, {2, 7})
        assert some.unread == lazy.unread - {2, 7}
        full = with_details(root, d, lazy, [r.fd for r in lazy.rows])
    assert not full.unread
    assert [_fields(r) for r in full.rows] == [_fields(r) for r in eager.rows]
    watches = [
        [(w.tfd, w.fd, w.kind, w.stale, w.socket_state) for w in rows_by_fd(v)[11].epoll]
        for v in (full, eager)
    ]
    assert watches[0] == watches[1]


def test_a_detail_read_after_the_fd_changed_keeps_the_old_row(proc):
    root = ProcRoot(str(proc))
    lazy = collect_files(root, PID, measure_fill=False, lazy=True)
    link = proc / str(PID) / "fd" / "10"
    link.unlink()
    os.symlink("/etc/hostname", link)  # fd 10 closed and opened again on another file
    with root.pid_dir(PID) as d:
        again = with_details(root, d, lazy, {10, 19})
    r = rows_by_fd(again)
    assert r[10] == rows_by_fd(lazy)[10] and r[10].unread
    assert not r[19].unread and r[19].mode == "w"


def test_the_rules_get_the_exact_holders_of_the_pipes_they_looked_up(proc):
    """A lazy view's pipe shows the holders of a pipe map kept a few refreshes; the rules' own
    lookup of a blocked pipe's holders replaces them (incident 1: the only reader is itself)."""
    root = ProcRoot(str(proc))
    stale = scan_pipes(root)
    stale = PipeMap({9999: (PipeEnd(7000, "svc", 2, "w"), PipeEnd(6999, "gone", 0, "r"))}, {}, 0, 0.0,
                    only=frozenset({9999}))  # fmt: skip
    f = collect_files(root, 7000, measure_fill=False, lazy=True, pipe_map=stale, detail={2})
    assert not rows_by_fd(f)[2].pipe.no_reader  # a reader that has exited since the scan
    exact = scan_pipes(root)
    with root.pid_dir(7000) as d:
        now = with_details(root, d, f, {2}, pipe_map=replace(exact, only=frozenset({9999})))
    p = rows_by_fd(now)[2].pipe
    assert p.no_reader and p.reader_is_writer


def test_the_tuis_files_panel_reads_the_rows_on_screen_and_keeps_the_pipe_map(proc, monkeypatch):
    from stucktui.collect import panels as P

    scans = []
    real = P.scan_pipes
    monkeypatch.setattr(P, "scan_pipes", lambda root: scans.append(1) or real(root))
    root = ProcRoot(str(proc))
    pc = P.PanelCollector(root, lazy_files=True)
    pc.show_fds(PID, {22, 3})
    with root.pid_dir(PID) as d:
        for _ in range(P.PIPE_MAP_EVERY + 1):
            f = pc.collect(d, frozenset({"files"})).files
        assert len(scans) == 2  # the first refresh, and the one after PIPE_MAP_EVERY
        r = rows_by_fd(f)
        assert r[22].pos == 4321 and not r[3].unread and r[2].unread
        assert r[3].pipe is not None and r[3].pipe.watched_by == (11,)
        more = pc.details(d, {2})  # the table scrolled to fd 2
    assert more is not None and not rows_by_fd(more)[2].unread and rows_by_fd(more)[22].pos == 4321
    with root.pid_dir(PID) as d:
        r = rows_by_fd(pc.collect(d, frozenset({"files"})).files)
    assert not r[2].unread and r[3].unread  # later refreshes read the new window
    report = P.PanelCollector(root).collect(root.pid_dir(PID), frozenset({"files"})).files
    assert not report.unread and not report.lazy  # a report reads every fd


def test_a_lazy_view_reads_the_lowest_fds_asked_for_by_count(proc):
    """`first`: the rows a table in fd order shows first are read in full, the rest stay lazy."""
    f = collect_files(ProcRoot(str(proc)), PID, measure_fill=False, lazy=True, first=4)
    r = rows_by_fd(f)
    lowest = sorted(r)[:4]
    assert not any(r[fd].unread for fd in lowest) and r[lowest[-1]].mode is not None
    assert f.unread and min(f.unread) > lowest[-1]


def test_the_tuis_files_panel_reads_its_first_rows_until_the_table_says_which_it_shows(proc, monkeypatch):
    """Read ahead and at the tab key's refresh, before the table said which rows it shows: the
    first FIRST_WINDOW fds, so the tab comes on screen with its rows read and asks for none."""
    from stucktui.collect import panels as P

    monkeypatch.setattr(P, "FIRST_WINDOW", 4)  # fds 0 to 3 (2 and 3: unread when not asked for)
    root = ProcRoot(str(proc))
    pc = P.PanelCollector(root, lazy_files=True)
    with root.pid_dir(PID) as d:
        r = rows_by_fd(pc.collect(d, frozenset({"files"})).files)
        assert sorted(r)[:4] == [0, 1, 2, 3] and not r[2].unread and not r[3].unread and r[6].unread
        pc.show_fds(PID, {6})  # the table said: these rows, not the first ones
        r = rows_by_fd(pc.collect(d, frozenset({"files"})).files)
    assert r[2].unread and r[3].unread and not r[6].unread


def test_pipes_the_index_could_not_answer_for_show_their_own_ends_each(tmp_path):
    """A pipe outside the map's `only` (the index busy while painting) gets this process's own
    ends as its holders: found in one pass over the rows, each pipe its own ends only."""
    from stucktui.collect.fdviews import with_pipes
    from stucktui.collect.pipemap import PipeMap
    from stucktui.model.files import FdRow, PipeFill
    from stucktui.procfs import fdtarget as ft
    from stucktui.procfs.root import PidDir, ProcRoot

    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "comm").write_text("worker\n")
    rows = [FdRow(0, "file", "/dev/null", "r", (), 0, 1)]
    for n in range(50):  # pipe n: fds 2n+1 (read) and 2n+2 (write)
        rows.append(FdRow(2 * n + 1, ft.PIPE, f"pipe:[{100 + n}]", "r", (), 0, 100 + n))
        rows.append(FdRow(2 * n + 2, ft.PIPE, f"pipe:[{100 + n}]", "w", (), 0, 100 + n))
    root = ProcRoot(str(tmp_path))
    nothing = PipeMap({}, {}, 0, 0.0, only=frozenset())
    fills = {100 + n: PipeFill(0, 65536) for n in range(50)}
    out = with_pipes(root, PidDir(root, 7), rows, nothing, {}, fills, [])
    assert out[0].pipe is None
    for r in out[1:]:
        assert r.pipe is not None and r.pipe.inode == r.inode
        assert [(e.pid, e.name, e.fd, e.end) for e in r.pipe.holders] == [
            (7, "worker", r.inode * 2 - 199, "r"), (7, "worker", r.inode * 2 - 198, "w")
        ]  # fmt: skip
