"""The box facts across refreshes (collect/fdindex.py, collect/boxfacts.py): which refreshes
read which processes' fds, and that a stale index never names the wrong process, on a fake
/proc whose fd links, start times and processes change between refreshes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.fdindex import FdIndex
from stucktui.procfs.root import ProcRoot


class Box:
    """Processes with fd links. Changing one fd for another keeps the fd directory's mtime, as
    procfs does (its size is the fd count there): only the verification can tell."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def proc(self, pid: int, links: dict[int, str], start: int = 1) -> None:
        d = self.path / str(pid)
        (d / "fd").mkdir(parents=True)
        self.started(pid, start)
        for fd, target in links.items():
            os.symlink(target, d / "fd" / str(fd))

    def started(self, pid: int, start: int) -> None:
        rest = " ".join(["1"] + ["0"] * 17)
        (self.path / str(pid) / "stat").write_text(f"{pid} (p{pid}) S {rest} {start} 0 0\n")

    def open(self, pid: int, fd: int, target: str) -> None:
        os.symlink(target, self.path / str(pid) / "fd" / str(fd))

    def close(self, pid: int, fd: int) -> None:
        (self.path / str(pid) / "fd" / str(fd)).unlink()

    def swap(self, pid: int, fd: int, target: str) -> None:
        """fd N closed and its number reused for another file: the count is unchanged."""
        d = self.path / str(pid) / "fd"
        st = os.stat(d)
        self.close(pid, fd)
        self.open(pid, fd, target)
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))

    def reborn(self, pid: int, links: dict[int, str], start: int) -> None:
        """The process exits and a new one gets its pid: a new directory (a new inode: the old
        one is removed only once the new one exists)."""
        old = self.path / f"{pid}.old"
        (self.path / str(pid)).rename(old)
        self.proc(pid, links, start)
        shutil.rmtree(old)

    def gone(self, pid: int) -> None:
        shutil.rmtree(self.path / str(pid))


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path)


def _index(box: Box, **kw: int) -> FdIndex:
    return FdIndex(ProcRoot(str(box.path)), **kw)


def _look(index: FdIndex, *targets: str, besides: int | None = None) -> dict[str, list[tuple[int, int]]]:
    index.tick()
    return {t: sorted(h) for t, h in index.owners(set(targets), besides=besides)[0].items()}


def test_holders_are_kept_and_an_unchanged_box_reads_no_fds(box):
    box.proc(10, {0: "pipe:[100]", 1: "/var/log/x", 3: "socket:[7]"})
    box.proc(11, {0: "pipe:[100]"})
    index = _index(box)
    found = _look(index, "pipe:[100]", "socket:[7]")
    assert found == {"pipe:[100]": [(10, 0), (11, 0)], "socket:[7]": [(10, 3)]}
    reads = index.reads
    assert _look(index, "pipe:[100]") == {"pipe:[100]": [(10, 0), (11, 0)]}
    assert index.reads == reads and index.full_scans == 1


def test_a_lookup_within_one_refresh_makes_one_pass(box):
    box.proc(10, {0: "pipe:[100]"})
    index = _index(box)
    _look(index, "pipe:[100]")
    index.owners({"pipe:[100]"})
    index.owners({"pipe:[100]"})
    assert index.passes == 1


def test_a_new_process_and_a_changed_fd_count_are_read_again(box):
    box.proc(10, {0: "pipe:[100]"})
    box.proc(11, {})
    index = _index(box)
    _look(index, "pipe:[100]")
    box.proc(12, {5: "pipe:[100]"})  # a fork that inherited it
    box.open(11, 4, "pipe:[100]")  # another opened it (a passed fd)
    reads = index.reads
    assert _look(index, "pipe:[100]")["pipe:[100]"] == [(10, 0), (11, 4), (12, 5)]
    assert index.reads == reads + 2 and index.full_scans == 1


def test_a_changed_process_is_read_again_by_its_new_fd_numbers(box):
    box.proc(10, {0: "pipe:[100]", 1: "socket:[5]", 2: "/var/log/x"})
    index = _index(box)
    _look(index, "pipe:[100]")
    box.close(10, 0)
    box.open(10, 7, "pipe:[200]")
    assert _look(index, "pipe:[100]", "pipe:[200]", "socket:[5]") == {
        "pipe:[200]": [(10, 7)],
        "socket:[5]": [(10, 1)],
    }
    assert index.full_scans == 1


def test_a_process_gone_is_forgotten(box):
    box.proc(10, {0: "pipe:[100]"})
    box.proc(11, {0: "pipe:[100]"})
    index = _index(box)
    _look(index, "pipe:[100]")
    box.gone(11)
    assert _look(index, "pipe:[100]") == {"pipe:[100]": [(10, 0)]}


def test_a_reused_pid_is_never_named_for_what_the_old_process_held(box):
    box.proc(10, {0: "pipe:[100]"}, start=500)
    box.proc(11, {0: "pipe:[100]"})
    index = _index(box)
    _look(index, "pipe:[100]")
    # pid 11 exits and a new process gets its pid at once, same fd count, fd 0 a new pipe
    box.reborn(11, {0: "pipe:[200]"}, 900)
    found = _look(index, "pipe:[100]", "pipe:[200]")
    assert found == {"pipe:[100]": [(10, 0)], "pipe:[200]": [(11, 0)]}


def test_a_reused_pid_whose_link_happens_to_match_is_read_again(box):
    box.proc(11, {0: "pipe:[100]"}, start=500)
    index = _index(box)
    _look(index, "pipe:[100]")
    box.reborn(11, {0: "pipe:[100]"}, 900)  # another process, its fd 0 that pipe too: named
    reads = index.reads
    assert _look(index, "pipe:[100]") == {"pipe:[100]": [(11, 0)]}
    assert index.reads == reads + 1


def test_an_fd_number_reused_for_another_inode_is_caught_by_the_verification(box):
    box.proc(10, {0: "pipe:[100]", 1: "pipe:[100]"})
    box.proc(11, {3: "pipe:[100]"})
    index = _index(box)
    _look(index, "pipe:[100]")
    box.swap(11, 3, "socket:[9]")  # closed, and fd 3 reused: the count is unchanged
    reads = index.reads
    assert _look(index, "pipe:[100]") == {"pipe:[100]": [(10, 0), (10, 1)]}
    assert index.reads == reads + 1  # 11 alone, read again when its holder failed
    assert _look(index, "socket:[9]") == {"socket:[9]": [(11, 3)]}


def test_a_holder_behind_an_unchanged_count_is_found_by_a_bounded_full_pass(box):
    box.proc(10, {0: "pipe:[100]"})
    box.proc(11, {3: "/tmp/x"})
    index = _index(box, rescan_gap=3)
    _look(index, "pipe:[100]")
    box.swap(11, 3, "pipe:[300]")  # only a full pass can find it
    assert _look(index, "pipe:[300]") == {}  # 1 pass since the full one
    assert _look(index, "pipe:[300]") == {}  # 2
    assert _look(index, "pipe:[300]") == {"pipe:[300]": [(11, 3)]}  # 3: the gap allows one
    assert index.full_scans == 2


def test_a_target_held_nowhere_forces_one_full_pass_then_none(box):
    box.proc(10, {0: "pipe:[100]"})
    index = _index(box, rescan_gap=1)
    _look(index, "pipe:[100]")
    for _ in range(4):
        assert _look(index, "socket:[404]") == {}
    assert index.full_scans == 2


def test_the_asker_alone_is_not_an_answer(box):
    box.proc(10, {0: "pipe:[100]", 1: "pipe:[100]"})
    box.proc(11, {4: "/tmp/x"})
    index = _index(box, rescan_gap=1)
    _look(index, "pipe:[100]")
    box.swap(11, 4, "pipe:[100]")
    # the only holder known is the asker: the other end is looked for with a full pass
    assert _look(index, "pipe:[100]", besides=10) == {"pipe:[100]": [(10, 0), (10, 1), (11, 4)]}


def test_every_full_every_passes_everything_is_read_again(box):
    box.proc(10, {0: "pipe:[100]"})
    index = _index(box, full_every=3)
    for _ in range(6):
        _look(index, "pipe:[100]")
    assert index.full_scans == 2


def test_a_path_target_is_kept_by_its_hash_and_verified(box):
    box.proc(10, {0: "/var/log/app.log", 1: "/etc/hosts"})
    box.proc(11, {3: "/var/log/app.log"})
    index = _index(box)
    assert _look(index, "/var/log/app.log") == {"/var/log/app.log": [(10, 0), (11, 3)]}
    assert index.passes == 1 and index.full_scans == 1
    box.swap(11, 3, "/var/log/other.log")  # same fd count: only the verification can tell
    reads = index.reads
    assert _look(index, "/var/log/app.log") == {"/var/log/app.log": [(10, 0)]}
    assert index.reads == reads + 1  # 11 alone, read again when its holder failed
    assert _look(index, "/var/log/other.log") == {"/var/log/other.log": [(11, 3)]}


def test_an_anonymous_inode_is_looked_for_in_every_process(box):
    box.proc(10, {0: "anon_inode:[eventpoll]"})
    index = _index(box)
    assert _look(index, "anon_inode:[eventpoll]") == {"anon_inode:[eventpoll]": [(10, 0)]}
    assert index.passes == 0  # nothing kept for those


def test_fresh_makes_a_full_pass(box):
    box.proc(10, {0: "/tmp/x"})
    index = _index(box)
    _look(index, "pipe:[1]")
    box.swap(10, 0, "pipe:[1]")
    assert index.owners({"pipe:[1]"}, fresh=True)[0] == {"pipe:[1]": [(10, 0)]}
    assert index.full_scans == 2


# -- BoxFacts ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_locks_are_read_once_per_refresh_and_carry_their_age(box):
    (box.path / "locks").write_text("1: FLOCK  ADVISORY  WRITE 10 08:01:5 0 EOF\n")
    clock = Clock()
    facts = BoxFacts(ProcRoot(str(box.path)), clock=clock)
    assert facts.lock_age is None
    first = facts.lock_text()
    (box.path / "locks").write_text("")
    clock.t += 1.5
    assert facts.lock_text() == first and facts.lock_age == 1.5
    facts.tick()
    assert facts.lock_text() == "" and facts.lock_age == 0.0


def test_socket_tables_are_reused_within_their_cadence_and_dropped_after_it(box):
    clock = Clock()
    facts = BoxFacts(ProcRoot(str(box.path)), clock=clock, socket_cadence=5.0)
    first = facts.sockets()
    clock.t += 2
    facts.tick()
    assert facts.sockets() is first and facts.socket_age == 2
    assert facts.sockets(fresh=True) is not first
    clock.t += 5
    facts.tick()
    third = facts.sockets()
    assert facts.collectors == 3 and third.finder is not None
    facts.expire()  # an action shut a socket down: the next look dumps again, once
    assert facts.sockets() is not third and facts.sockets() is facts.sockets()
    assert facts.collectors == 4
    clock.t += 4.5
    facts.tick()
    assert facts.socket_age == 4.5  # still within its cadence: kept
    clock.t += 0.5
    facts.tick()
    assert facts.socket_age is None  # stale: never read again, so not kept until the next dump


def test_socket_owners_come_from_the_index(box):
    box.proc(10, {3: "socket:[7]"})
    box.proc(11, {4: "socket:[8]"})
    facts = BoxFacts(ProcRoot(str(box.path)), clock=Clock())
    assert facts.index_age is None
    owners = facts.sockets().socket_owners({8}, 10, [(3, 7)])
    assert (owners[8].pid, owners[8].fd) == (11, 4)
    assert facts.index.passes == 1 and facts.index_age == 0.0


def test_many_sockets_at_once_are_found_like_one(box):
    """More than a few targets are looked up by one set intersection per process, not a
    bisect per target: the same holders either way, shared sockets included."""
    box.proc(10, {fd: f"socket:[{1000 + fd}]" for fd in range(3, 40)})
    box.proc(11, {5: "socket:[1010]", 6: "pipe:[7]"})
    index = _index(box)
    few = _look(index, "socket:[1010]", "socket:[1020]")
    many = _look(index, *(f"socket:[{1000 + fd}]" for fd in range(3, 40)))
    assert few == {"socket:[1010]": [(10, 10), (11, 5)], "socket:[1020]": [(10, 20)]}
    assert len(many) == 37 and many["socket:[1010]"] == [(10, 10), (11, 5)]
    assert all(many[t] == h for t, h in few.items())


def test_dumps_made_in_this_refresh_outlive_the_cadence_until_the_next_tick(box):
    """A first look's dumps serve its own triage however long the box took to read: within one
    refresh they are not dumped again past the cadence; the next refresh's tick ages them out.
    A prefetch dates them from when they were read, not from when they were asked for."""
    clock = Clock()
    facts = BoxFacts(ProcRoot(str(box.path)), clock=clock, socket_cadence=5.0)
    facts.tick()
    clock.t += 1
    first = facts.sockets()
    clock.t += 9  # a slow refresh: the list and the scan took 9 s
    assert facts.sockets() is first and facts.collectors == 1
    facts.tick()
    assert facts.sockets() is not first and facts.collectors == 2


def test_a_prefetch_dates_the_dumps_from_when_they_were_read(box, monkeypatch):
    from stucktui.collect.netns import NetnsTable

    clock = Clock()
    facts = BoxFacts(ProcRoot(str(box.path)), clock=clock, socket_cadence=5.0)
    monkeypatch.setattr(NetnsTable, "prefetch", lambda self: setattr(clock, "t", clock.t + 4))
    facts.prefetch_sockets()  # four seconds of dumps
    assert facts.socket_age == 0.0
    clock.t += 4.5
    facts.tick()
    first = facts.sockets()
    assert facts.collectors == 1 and facts.sockets() is first  # 4.5 s old: still kept
