"""/proc/locks parsing and the Locks collector, on lines captured from real lock holders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stucktui.collect.locks import collect_locks
from stucktui.procfs.locks import parse_lock_line, parse_locks
from stucktui.procfs.root import ProcRoot
from stucktui.report.panels_json import locks_json

LOCKS = Path(__file__).parent.parent / "fixtures" / "files" / "locks"
# Captured inode of each lock file (holders.txt); 6039 took the L2 flock, forked 6040, exited.
INODES = {"L1": 2146914, "L2": 2146915, "L3": 2146916, "L4": 2146917, "L5": 2146918}


def test_parse_locks_types_pids_ranges_and_nested_waiters():
    e = parse_locks((LOCKS / "proc_locks").read_text())
    assert len(e) == 10
    assert [(x.id, x.depth, x.type, x.mode, x.pid) for x in e[:6]] == [
        (1, 0, "OFD", "WRITE", -1),
        (1, 1, "OFD", "WRITE", -1),
        (2, 0, "FLOCK", "WRITE", 6037),
        (2, 1, "FLOCK", "WRITE", 6038),
        (2, 2, "FLOCK", "WRITE", 6144),
        (2, 3, "FLOCK", "READ", 6146),
    ]
    posix = e[7]
    assert (posix.major, posix.minor, posix.inode, posix.start, posix.end) == (0xFE, 0, 2146916, 0, 99)
    assert e[8].waiting and e[8].range_text == "50-59"
    assert e[0].range_text == "10-19" and e[1].end is None


def test_parse_lock_line_odd_lines():
    assert parse_lock_line("garbage") is None
    assert parse_lock_line("1: FLOCK ADVISORY WRITE") is None
    x = parse_lock_line("3: LEASE  ACTIVE    READ  99 00:2a:17 0 EOF")
    assert x is not None and (x.type, x.kind, x.major, x.minor) == ("LEASE", "ACTIVE", 0, 0x2A)
    y = parse_lock_line("4: FLOCK  ADVISORY  WRITE 5 <none>:0 0 EOF")
    assert y is not None and y.inode == 0


@pytest.fixture
def tree(tmp_path: Path) -> ProcRoot:
    """The captured scene as a fixture /proc: each pid's fd 3 links to a real file standing in
    for the locked file, and /proc/locks is rewritten with that file's device and inode."""
    proc, files = tmp_path / "proc", tmp_path / "files"
    proc.mkdir()
    files.mkdir()
    remap = {}
    for name, ino in INODES.items():
        (files / name).write_text("")
        st = os.stat(files / name)
        remap[f"fe:00:{ino}"] = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        remap[f"ino:\t{ino}\n"] = f"ino:\t{st.st_ino}\n"

    def fix(text: str) -> str:
        for old, new in remap.items():
            text = text.replace(old, new)
        return text

    (proc / "locks").write_text(fix((LOCKS / "proc_locks").read_text()))
    # the device comes from the fd's mount (fdinfo mnt_id 27), never from a stat of the file
    dev = os.stat(files).st_dev
    mountinfo = f"27 1 {os.major(dev)}:{os.minor(dev)} / / rw - ext4 /dev/x rw\n"
    holders = [line.split("\t") for line in (LOCKS / "holders.txt").read_text().splitlines()[1:]]
    holders.append(["7000", "poller", "3", "/tmp/capfiles/locks/L1", ""])  # open, LOCK_NB: no lock line
    for pid, comm, fd, target, _ in holders:
        d = proc / pid
        (d / "fd").mkdir(parents=True)
        (d / "fdinfo").mkdir()
        (d / "comm").write_text(comm + "\n")
        (d / "stat").write_text(f"{pid} ({comm}) S 1\n")
        (d / "mountinfo").write_text(mountinfo)
        os.symlink(files / Path(target).name, d / "fd" / fd)
        src = LOCKS / f"fdinfo_{pid}_{fd}"
        text = src.read_text() if src.exists() else "pos:\t0\nflags:\t02100002\nmnt_id:\t27\n"
        (d / "fdinfo" / fd).write_text(fix(text))
    return ProcRoot(str(proc))


def test_flock_holder_sees_its_waiters_and_the_poller_as_open_only(tree):
    (row,) = collect_locks(tree, 6037).rows
    assert (row.role, row.type, row.mode, row.range_text) == ("held", "FLOCK", "WRITE", "0-EOF")
    assert row.holder_pid == 6037 and [(u.pid, u.fd) for u in row.holders] == [(6037, 3)]
    assert row.waiters == (6038, 6144, 6146)
    assert row.others_waiting == (6038, 6144, 6146)
    assert [u.pid for u in row.others_open] == [7000]
    assert row.path is not None and row.path.endswith("/L1")
    assert row.warning is None


def test_flock_waiter_points_at_the_holder(tree):
    (row,) = collect_locks(tree, 6038).rows
    assert row.role == "waiting" and row.holder_pid == 6037 and row.request == "WRITE 0-EOF"
    assert [u.pid for u in row.others_holding] == [6037]
    assert 6038 not in row.others_waiting and 6144 in row.others_waiting


def test_posix_waiter_keeps_its_own_range(tree):
    (row,) = collect_locks(tree, 6042).rows
    assert row.role == "waiting" and row.range_text == "0-99" and row.request == "WRITE 50-59"
    assert row.holder_pid == 6041


def test_flock_passed_on_by_fork_warns_about_the_dead_creator(tree):
    (row,) = collect_locks(tree, 6040).rows
    assert row.role == "held" and row.listed_pid == 6039 and row.holder_pid == 6040
    assert row.warning is not None and "6039" in row.warning and "exited" in row.warning
    # the poller holds and waits for nothing: the lock on the file it has open, as 'open'
    (opened,) = collect_locks(tree, 7000).rows
    assert (opened.role, opened.holder_pid, opened.request) == ("open", 6037, None)


def test_ofd_lock_owner_found_through_fdinfo(tree):
    res = collect_locks(tree, 6043)
    (row,) = res.rows
    assert (row.type, row.listed_pid, row.holder_pid, row.waiters) == ("OFD", -1, 6043, (-1,))
    assert row.warning is not None and "OFD" in row.warning
    assert [u.pid for u in row.others_open] == [6044]
    assert any("OFD" in n for n in res.notes)


def test_locks_json_has_the_report_keys(tree):
    (d,) = locks_json(collect_locks(tree, 6037))
    contract = {k: d[k] for k in ("type", "mode", "path", "inode", "range", "holder_pid", "waiters")}
    assert d["role"] == "held" and d["holders"] == [{"pid": 6037, "name": "python3", "fd": 3}]
    assert contract == {
        "type": "FLOCK",
        "mode": "WRITE",
        "path": d["path"],
        "inode": d["inode"],
        "range": "0-EOF",
        "holder_pid": 6037,
        "waiters": [6038, 6144, 6146],
    }
    assert d["path"].endswith("/L1") and isinstance(d["inode"], int)
    assert d["meaning"] is None  # a flock on a file that is no SQLite database


def test_no_locks_on_the_box(tmp_path):
    (tmp_path / "locks").write_text("")
    (tmp_path / "5" / "fd").mkdir(parents=True)
    assert collect_locks(ProcRoot(str(tmp_path)), 5).rows == ()
