"""The fd owner index's packed per-process record (collect/fdlinks.Seen)."""

from __future__ import annotations

from array import array

from stucktui.collect.fdlinks import PIPE, SOCKET, Seen


def test_a_record_gives_back_each_part_as_it_was_kept():
    sig = (4_000_000_123, 20_003, 1_733_600_000_123_456_789)  # inode, size, mtime in ns
    pipe, sock, path = 77 << 2 | PIPE, (1 << 31) << 2 | SOCKET, ((1 << 60) - 5) << 2
    s = Seen(sig, [0, 1, 2, 5, 9], [pipe], [5], [(sock, 9), (path, 2), (sock, 1)])
    assert isinstance(s, array) and s.typecode == "q"
    assert s.sig == sig
    assert s.listed and list(s.fds or ()) == [0, 1, 2, 5, 9]
    assert list(s.pipes()) == [(pipe, 5)]
    # sockets and paths sorted by key (then fd), their fds beside them
    assert list(s.paths()) == sorted([(sock, 1), (sock, 9), (path, 2)])
    lo, hi = s.span()
    assert list(s[lo:hi]) == sorted([sock, sock, path])
    assert s.holding(sock, lo, hi) == [1, 9] and s.holding(path, lo, hi) == [2]
    assert s.holding(pipe, lo, hi) == [] and s.holding(sock + 4, lo, hi) == []  # pipes: not sorted in
    assert s.sockets() == [(1, 1 << 31), (9, 1 << 31)]


def test_a_process_whose_fds_are_not_ours_keeps_its_signature_only():
    s = Seen((1, 2, 3), None)
    assert s.sig == (1, 2, 3) and s.fds is None and not s.listed and len(s) == 6
    assert list(s.pipes()) == list(s.paths()) == s.sockets() == [] and s.span()[0] == s.span()[1]


def test_empty_and_lone_parts_do_not_bleed_into_each_other():
    s = Seen((9, 0, 0), [], [], [], [])
    assert s.fds is not None and list(s.fds) == [] and len(s) == 6  # the header alone
    only_paths = Seen((9, 1, 0), [3], [], [], [(8, 3)])
    assert list(only_paths.pipes()) == [] and list(only_paths.paths()) == [(8, 3)]
    only_pipes = Seen((9, 1, 0), [4], [4 << 2 | PIPE], [4], [])
    assert list(only_pipes.pipes()) == [(4 << 2 | PIPE, 4)] and list(only_pipes.paths()) == []
    assert only_pipes.holding(4 << 2 | PIPE, *only_pipes.span()) == []
