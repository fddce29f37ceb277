"""fdinfo, fd-link classification and /proc/locks parsers, on text captured from real processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stucktui.model.fdinfo import access_mode, flag_names
from stucktui.procfs import fdtarget as ft
from stucktui.procfs.fdinfo import describe_special, fdinfo_flags, parse_fdinfo

TARGET = Path(__file__).parent.parent / "fixtures" / "files" / "target"


def info(fd: int):
    return parse_fdinfo((TARGET / "fdinfo" / str(fd)).read_text())


def table(name: str) -> dict[int, str]:
    rows = (line.split("\t", 1) for line in (TARGET / name).read_text().splitlines())
    return {int(fd): value for fd, value in rows}


def test_common_fields_of_a_pipe_write_end():
    i = info(4)  # os.pipe() write end, set non-blocking
    assert (i.pos, i.mnt_id, i.ino) == (0, 16, 8880)
    assert i.flags == 0o2004001
    assert i.access_mode == "w"
    assert i.flag_names == ("O_NONBLOCK", "O_CLOEXEC")
    assert i.epoll == () and i.locks == () and i.timerfd is None


def test_position_append_and_path_only():
    assert info(22).pos == 4321 and info(22).access_mode == "rw"
    assert info(21).flag_names == ("O_APPEND", "O_CLOEXEC")
    assert info(23).access_mode == "path" and "O_PATH" in info(23).flag_names
    assert info(3).access_mode == "r"


def test_fdinfo_flags_fast_path_matches_full_parse():
    for f in (TARGET / "fdinfo").iterdir():
        text = f.read_text()
        assert fdinfo_flags(text) == parse_fdinfo(text).flags
    with pytest.raises(ValueError):
        fdinfo_flags("pos:\t0\n")


def test_epoll_interest_list():
    i = info(11)
    assert [(e.tfd, e.ino) for e in i.epoll] == [(12, 0x40E), (3, 0x22B0), (7, 0x22B2)]
    close_wait = i.epoll[2]
    assert close_wait.events == 0x80002019
    assert close_wait.event_names() == ("IN", "RDHUP", "ET")  # the kernel's ERR|HUP left out
    assert close_wait.event_names(implicit=True) == ("IN", "ERR", "HUP", "RDHUP", "ET")
    assert i.epoll[0].data == 0x7F0F0000000C and i.epoll[0].sdev == 0x10
    assert describe_special("epoll", i) == "3 watched"


def test_eventfd_count_is_hex():
    i = info(12)
    assert (i.eventfd_count, i.eventfd_id, i.eventfd_semaphore) == (26, 1, False)
    assert describe_special("eventfd", i) == "count 26"


def test_signalfd_mask_decoded_with_realtime_signals():
    i = info(13)
    assert i.sigmask == 0x0000000800004200
    assert describe_special("signalfd", i) == "signals SIGUSR1, SIGTERM, SIGRTMIN+2"


def test_signal_names_edge_bits():
    from stucktui.procfs.fdinfo import _signal_names

    assert _signal_names(1 << 31 | 1 << 32 | 1 << 33 | 1 << 63) == (
        "SIG32 (libc)",
        "SIG33 (libc)",
        "SIGRTMIN",
        "SIGRTMIN+30",
    )
    assert _signal_names(0) == ()


def test_timerfd_fields():
    t = info(14).timerfd
    assert t is not None
    assert (t.clockid, t.ticks, t.settime_flags) == (1, 0, 0)
    assert t.it_value == (91, 967646825) and t.it_interval == (7, 0) and t.armed
    assert describe_special("timerfd", info(14)) == "CLOCK_MONOTONIC, fires in 92.0 s, every 7.0 s"


def test_inotify_watches():
    w = info(15).inotify
    assert [(x.wd, x.ino, x.mask) for x in w] == [(2, 0x3F7E8, 0x2), (1, 0x20C21E, 0x300)]
    assert w[0].major_minor == (254, 0)
    assert describe_special("inotify", info(15)) == "2 watches"


def test_pidfd_names_its_process():
    i = info(16)
    assert i.pidfd_pid == 5610
    assert describe_special("pidfd", i) == "pid 5610"
    assert describe_special("pidfd", parse_fdinfo("pos:\t0\nflags:\t02\nPid:\t-1\n")) == "process exited"


def test_lock_line_in_fdinfo():
    text = (TARGET.parent / "locks" / "fdinfo_6043_3").read_text()
    (lock,) = parse_fdinfo(text).locks
    assert (lock.type, lock.mode, lock.pid, lock.dev_ino, lock.range_text) == (
        "OFD",
        "WRITE",
        -1,
        (0xFE, 0, 2146917),
        "10-19",
    )


def test_flag_names_sync():
    assert "O_SYNC" in flag_names(os.O_SYNC) and "O_DSYNC" not in flag_names(os.O_SYNC)
    assert flag_names(os.O_DSYNC) == ("O_DSYNC",)
    assert access_mode(os.O_RDWR | os.O_CLOEXEC) == "rw"


EXPECTED_KINDS = {
    0: ft.DEVICE, 1: ft.FILE, 3: ft.PIPE, 4: ft.PIPE, 5: ft.FIFO, 6: ft.SOCKET, 8: ft.SOCKET,
    11: ft.EPOLL, 12: ft.EVENTFD, 13: ft.SIGNALFD, 14: ft.TIMERFD, 15: ft.INOTIFY, 16: ft.PIDFD,
    17: ft.MEMFD, 18: ft.DELETED, 19: ft.DEVICE, 20: ft.DIR, 21: ft.FILE, 23: ft.DIR, 251: ft.PIPE,
}  # fmt: skip


def test_classify_real_links_with_their_stat_modes():
    links, modes = table("links.txt"), table("modes.txt")
    for fd, kind in EXPECTED_KINDS.items():
        assert ft.classify(links[fd], int(modes[fd], 8)) == kind, (fd, links[fd])


def test_classify_without_a_mode_guesses_from_the_text():
    assert ft.classify("/dev/pts/3") == ft.DEVICE
    assert ft.classify("/dev/shm/x") == ft.FILE
    assert ft.classify("/var/log/x.log (deleted)") == ft.DELETED
    assert ft.classify("pidfd:[1234]") == ft.PIDFD  # pidfs, Linux >= 6.9
    assert ft.classify("anon_inode:[io_uring]") == ft.ANON
    assert ft.classify("net:[4026531840]") == ft.NAMESPACE
    assert ft.classify("/tmp/fifo", 0o10644) == ft.FIFO


def test_bracket_inode():
    assert ft.bracket_inode("pipe:[8880]") == 8880
    assert ft.bracket_inode("socket:[1]") == 1
    assert ft.bracket_inode("/tmp/a[1]") is None
    assert ft.bracket_inode("anon_inode:[eventfd]") is None
    assert ft.strip_deleted("/a (deleted)") == "/a"


def test_end_of_an_fd_from_the_mode_of_its_proc_link(tmp_path):
    """The pipe map reads the end from lstat of /proc/PID/fd/N, not from fdinfo."""
    from stucktui.procfs.fdinfo import link_access_mode

    assert link_access_mode(0o120500) == "r"
    assert link_access_mode(0o120300) == "w"
    assert link_access_mode(0o120700) == "rw"
    assert link_access_mode(0o120000) == "path"  # O_PATH: neither read nor write
    assert link_access_mode(0o120777) is None  # an ordinary symlink (a fixture tree)
    r, w = os.pipe()
    f = os.open(tmp_path / "rw", os.O_RDWR | os.O_CREAT)
    p = os.open(tmp_path, os.O_PATH)
    try:
        for fd in (r, w, f, p):
            got = link_access_mode(os.lstat(f"/proc/self/fd/{fd}").st_mode)
            assert got == access_mode(fdinfo_flags(Path(f"/proc/self/fdinfo/{fd}").read_text())), fd
    finally:
        for fd in (r, w, f, p):
            os.close(fd)
