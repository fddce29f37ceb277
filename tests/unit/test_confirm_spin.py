"""The second look before an event loop is called a spinner (inspection/confirm.py): a busy
server that had a just-closed connection in its epoll set at the instant of the first look is
not a spinner once it has closed it; a loop that keeps it is. A fake /proc gives the second
look's fdinfo and socket table; the clock and the sleep are injected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stucktui.inspection.confirm import SPIN_RECHECK, confirm_spins
from stucktui.model.files import EpollWatch, FdRow, ProcessFiles
from stucktui.model.findings import Finding
from stucktui.procfs.root import ProcRoot

PID, EPFD, FD, INO = 42, 5, 7, 0x2B5E1
HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _tcp(state: int) -> str:
    return HEADER + (
        f"   0: 0100007F:1F90 0100007F:9C41 {state:02X} 00000000:00000000 00:00000000 00000000"
        f"     0        0 {INO} 1 0000000000000000 20 4 30 10 -1\n"
    )


def _proc(tmp: Path, *, registered: bool, state: int) -> ProcRoot:
    d = tmp / "proc" / str(PID)
    for sub in ("fd", "fdinfo", "net", "ns"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.symlink("net:[4026531840]", d / "ns" / "net")
    (d / "stat").write_text(f"{PID} (server) R 1 " + " ".join(["0"] * 48) + "\n")
    tfd = f"tfd:        {FD} events:       19 data: 7 pos:0 ino:{INO:x} sdev:8\n" if registered else ""
    (d / "fdinfo" / str(EPFD)).write_text(f"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1063\n{tfd}")
    (d / "net" / "tcp").write_text(_tcp(state))
    (d / "net" / "tcp6").write_text(HEADER)
    return ProcRoot(str(tmp / "proc"))


def _files() -> ProcessFiles:
    w = EpollWatch(FD, 0x19, ("IN", "RDHUP"), INO, FD, "socket", f"socket:[{INO}]", False, "CLOSE_WAIT")
    rows = (
        FdRow(EPFD, "epoll", "anon_inode:[eventpoll]", "rw", (), 0, 1063, epoll=(w,)),
        FdRow(FD, "socket", f"socket:[{INO}]", "rw", (), 0, INO, socket_state="CLOSE_WAIT"),
    )
    return ProcessFiles(PID, rows, (("socket", 1), ("epoll", 1)), 1024, 1024, (), 0.0)


def _spin() -> Finding:
    return Finding("epoll-spin", "critical", PID, "server", "spins", (), (), fds=(FD, EPFD))


def _other() -> Finding:
    return Finding("close-wait-leak", "info", PID, "server", "leaks", (), ())


def _confirm(root: ProcRoot, waited: list[float]) -> list[str]:
    with root.pid_dir(PID) as d:
        out = confirm_spins(
            root, d, [_spin(), _other()], _files(), 100.0, clock=lambda: 100.1, sleep=waited.append
        )
    return [f.id for f in out]


CLOSE_WAIT, ESTABLISHED = 0x08, 0x01


def test_a_loop_that_keeps_the_closed_socket_registered_is_a_spinner(tmp_path):
    waited: list[float] = []
    assert _confirm(_proc(tmp_path, registered=True, state=CLOSE_WAIT), waited) == [
        "epoll-spin",
        "close-wait-leak",
    ]
    assert waited == [pytest.approx(SPIN_RECHECK - 0.1)]  # the second look waits out the rest


def test_a_server_that_closed_it_since_is_not(tmp_path):
    # the fd was closed (the socket is gone from the table) and its registration with it
    assert _confirm(_proc(tmp_path, registered=False, state=ESTABLISHED), []) == ["close-wait-leak"]


def test_a_socket_no_longer_in_close_wait_is_not_a_spin(tmp_path):
    # still registered (the number reused for a new connection of the same inode: not possible,
    # but the state is what the kernel says now): not CLOSE_WAIT any more, no spin
    assert _confirm(_proc(tmp_path, registered=True, state=ESTABLISHED), []) == ["close-wait-leak"]


def test_without_a_spin_finding_nothing_is_read_and_nobody_waits(tmp_path):
    waited: list[float] = []
    root = ProcRoot(str(tmp_path / "nothing"))
    out = confirm_spins(root, None, [_other()], _files(), 100.0, clock=lambda: 100.0, sleep=waited.append)  # type: ignore[arg-type]
    assert [f.id for f in out] == ["close-wait-leak"] and waited == []
