"""The CLOSE_WAIT column across refreshes (collect/close_wait.py): which refreshes read fds, on
a fake /proc whose socket table (/proc/PID/net/tcp) and fd links change between refreshes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stucktui.collect.close_wait import CloseWaitCounter
from stucktui.procfs.root import ProcRoot

NS = 4026531840
LISTEN, ESTAB, CLOSE_WAIT = 0x0A, 0x01, 0x08
HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _line(n: int, state: int, inode: int, local_port: int, remote_port: int = 0) -> str:
    remote = f"0100007F:{remote_port:04X}" if remote_port else "00000000:0000"
    return (
        f"{n:4}: 0100007F:{local_port:04X} {remote} {state:02X} 00000000:00000001 "
        f"00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n"
    )


class Box:
    """Processes in one network namespace, each with socket fds; one TCP table for all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fds: dict[int, dict[int, int]] = {}  # pid -> fd -> socket inode
        self.start: dict[int, int] = {}
        self.table: list[tuple[int, int, int, int]] = []  # state, inode, local port, remote port

    def proc(self, pid: int, sockets: dict[int, int], start: int = 1) -> None:
        d = self.path / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "ns").mkdir()
        (d / "net").mkdir()
        os.symlink(f"net:[{NS}]", d / "ns" / "net")
        self.fds[pid], self.start[pid] = {}, start
        for fd, ino in sockets.items():
            self.open(pid, fd, ino)

    def open(self, pid: int, fd: int, inode: int) -> None:
        link = self.path / str(pid) / "fd" / str(fd)
        if link.is_symlink():
            link.unlink()
        os.symlink(f"socket:[{inode}]", link)
        self.fds[pid][fd] = inode

    def sockets(self, *rows: tuple[int, int, int, int]) -> None:
        self.table = list(rows)

    def write(self) -> None:
        text = HEADER + "".join(_line(i, *row) for i, row in enumerate(self.table))
        for pid in self.fds:
            (self.path / str(pid) / "net" / "tcp").write_text(text)
            (self.path / str(pid) / "net" / "tcp6").write_text(HEADER)

    def counts(self, counter: CloseWaitCounter) -> dict[int, int | None]:
        self.write()
        return counter.counts(self.start, {pid: len(fds) for pid, fds in self.fds.items()})


@pytest.fixture
def box(tmp_path: Path) -> Box:
    b = Box(tmp_path / "proc")
    b.proc(10, {3: 500, 4: 501})  # a server: its listener on port 8080 and one connection
    b.proc(20, {3: 600, 5: 601})  # a client pool: one connection closed by its server
    b.proc(30, {})
    b.sockets(
        (LISTEN, 500, 8080, 0),
        (ESTAB, 501, 8080, 40001),
        (CLOSE_WAIT, 600, 40100, 3306),
        (ESTAB, 601, 40101, 3306),
    )
    return b


def test_connections_abandoned_in_an_accept_queue_count_for_the_listener_and_never_rescan(box):
    """A connection its client closed while queued has inode 0: no fd table holds it, so
    looking for its holder would rescan every refresh. It counts for the listener's holder."""
    box.sockets(*box.table, (CLOSE_WAIT, 0, 8080, 40200), (CLOSE_WAIT, 0, 8080, 40201), (CLOSE_WAIT, 0, 9, 1))
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100)
    assert box.counts(counter) == {10: 2, 20: 1, 30: 0}  # the one on port 9: no listener, nobody's
    reads = counter.reads
    for _ in range(6):
        assert box.counts(counter) == {10: 2, 20: 1, 30: 0}
    assert counter.full_scans == 1 and counter.reads == reads  # no fd read again


def test_a_known_socket_entering_close_wait_needs_no_read(box):
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100)
    assert box.counts(counter) == {10: 0, 20: 1, 30: 0}
    reads = counter.reads
    box.sockets(*box.table[:3], (CLOSE_WAIT, 601, 40101, 3306))  # its server closed it too
    assert box.counts(counter) == {10: 0, 20: 2, 30: 0}
    assert counter.full_scans == 1 and counter.reads == reads


def test_a_new_socket_is_looked_for_where_the_fd_count_changed(box):
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100)
    box.counts(counter)
    reads = counter.reads
    box.open(20, 7, 602)  # a new connection, closed by the server before the next refresh
    box.sockets(*box.table, (CLOSE_WAIT, 602, 40102, 3306))
    assert box.counts(counter) == {10: 0, 20: 2, 30: 0}
    assert counter.full_scans == 1 and counter.reads == reads + 1  # pid 20 alone


def test_behind_an_unchanged_fd_count_the_likely_holders_are_read_first(box):
    """Closing one connection and opening another leaves the count as it was. A pool that
    leaks already holds CLOSE_WAIT sockets; a server accepted the connection on its listener:
    those are read, not the whole box."""
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100, rescan_gap=1)
    box.counts(counter)
    reads = counter.reads
    box.open(20, 5, 603)  # the pool: fd 5 now another connection (601 closed)
    box.open(10, 4, 605)  # the server: fd 4 another accepted connection, closed by its client
    box.sockets(*box.table[:3], (CLOSE_WAIT, 603, 40103, 3306), (CLOSE_WAIT, 605, 8080, 40300))
    assert box.counts(counter) == {10: 1, 20: 2, 30: 0}
    assert counter.full_scans == 1 and counter.reads == reads + 2


def test_an_unlikely_holder_behind_an_unchanged_fd_count_waits_for_a_bounded_rescan(box):
    """Only a full scan can find it, and those come at most once every rescan_gap refreshes."""
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100, rescan_gap=3)
    box.counts(counter)
    box.open(10, 4, 606)  # the server: fd 4 now a connection it opened, closed by its peer
    box.sockets(*box.table[:3], (CLOSE_WAIT, 606, 40400, 5432))
    assert box.counts(counter) == {10: 0, 20: 1, 30: 0}  # not found yet: not counted
    assert box.counts(counter) == {10: 0, 20: 1, 30: 0}
    assert counter.full_scans == 1
    assert box.counts(counter) == {10: 1, 20: 1, 30: 0}  # the third refresh since the full scan
    assert counter.full_scans == 2
    assert box.counts(counter) == {10: 1, 20: 1, 30: 0} and counter.full_scans == 2


def test_a_socket_nobody_readable_holds_forces_no_more_scans(box):
    """Held by a process whose fds are not ours to read (or gone meanwhile): one full scan
    looks for it; later refreshes do not look again until the periodic one."""
    box.sockets(*box.table, (CLOSE_WAIT, 999, 40104, 3306))
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100, rescan_gap=1)
    for _ in range(4):
        assert box.counts(counter) == {10: 0, 20: 1, 30: 0}
    assert counter.full_scans == 1


def test_a_new_or_reused_pid_is_read_at_once(box):
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100)
    box.counts(counter)
    box.proc(40, {3: 600})  # a fork of pid 20: the same CLOSE_WAIT socket
    assert box.counts(counter) == {10: 0, 20: 1, 30: 0, 40: 1}
    box.start[30] = 2  # pid 30 reused by a process that holds pid 20's socket too
    box.open(30, 3, 600)
    assert box.counts(counter) == {10: 0, 20: 1, 30: 1, 40: 1}
    assert counter.full_scans == 1


def test_every_full_every_refreshes_everything_is_read_again(box):
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=3)
    for _ in range(7):
        box.counts(counter)
    assert counter.full_scans == 3  # refreshes 1, 4 and 7


def test_a_quiet_box_reads_no_fds(box):
    box.sockets((LISTEN, 500, 8080, 0), (ESTAB, 501, 8080, 40001))
    counter = CloseWaitCounter(ProcRoot(str(box.path)))
    assert box.counts(counter) == {10: 0, 20: 0, 30: 0}
    assert counter.reads == 0


def test_a_dup_counts_twice_and_no_map_of_holders_is_kept_between_refreshes(box):
    """The holders are found each refresh from each process's kept socket inodes: a socket
    held by two fds of one process and by another process counts for each fd, and once the
    column is counted nothing maps sockets to holders (at 100,000 sockets that map was 16 MiB)."""
    box.proc(40, {3: 600, 7: 600})  # the pool's connection, inherited and dup'ed
    counter = CloseWaitCounter(ProcRoot(str(box.path)), full_every=100)
    for _ in range(3):
        assert box.counts(counter) == {10: 0, 20: 1, 30: 0, 40: 2}
        assert counter._where == {} and not counter._want
    assert counter.full_scans == 1
