"""The Files panel's filter and sort, on rows built as the collector builds them."""

from __future__ import annotations

from stucktui.fd_listing import FD_SORTS, filter_fds, next_sort, sort_fds
from stucktui.model.files import FdRow, PipeEnd, PipeFill, PipeView


def _pipe(no_reader: bool) -> PipeView:
    peer = PipeEnd(77, "writer", 1, "w")
    return PipeView(5210641, "w", (peer,), (peer,), no_reader, False, PipeFill(None, None, "x"), False)


ROWS = [
    FdRow(0, "char device", "/dev/null", "r", (), 0, 4),
    FdRow(2, "pipe", "pipe:[5210641]", "w", ("O_CLOEXEC",), 0, 5210641, pipe=_pipe(True)),
    FdRow(7, "socket", "socket:[999]", "rw", ("O_NONBLOCK",), 0, 999, socket_state="CLOSE_WAIT"),
    FdRow(12, "regular file", "/var/log/app.log", "w", ("O_APPEND",), 52_000, 1234),
    FdRow(17, "socket", "socket:[1000]", "rw", (), 0, 1000, socket_state="ESTAB"),
]


def test_a_number_selects_that_fd_only():
    assert [r.fd for r in filter_fds(ROWS, "7")] == [7]
    assert [r.fd for r in filter_fds(ROWS, "99")] == []


def test_words_must_all_match_case_insensitively():
    assert [r.fd for r in filter_fds(ROWS, "socket")] == [7, 17]
    assert [r.fd for r in filter_fds(ROWS, "SOCKET close_wait")] == [7]
    assert [r.fd for r in filter_fds(ROWS, "app.log")] == [12]
    assert [r.fd for r in filter_fds(ROWS, "append")] == [12]  # flags
    assert [r.fd for r in filter_fds(ROWS, "no reader")] == [2]  # the pipe verdict
    assert [r.fd for r in filter_fds(ROWS, "writer")] == [2]  # the peer's name
    assert filter_fds(ROWS, "  ") == ROWS


def test_sorts():
    assert [r.fd for r in sort_fds(ROWS, "fd")] == [0, 2, 7, 12, 17]
    assert [r.fd for r in sort_fds(ROWS, "kind")] == [0, 2, 12, 7, 17]
    assert [r.fd for r in sort_fds(ROWS, "pos")][-1] == 12
    assert [r.fd for r in sort_fds(ROWS, "target")][0] == 0  # "/dev/null" sorts first
    # problems first: the pipe nobody reads and the CLOSE_WAIT socket, then by fd
    assert [r.fd for r in sort_fds(ROWS, "state")][:2] == [2, 7]


def test_next_sort_cycles_through_all():
    k, seen = "fd", []
    for _ in FD_SORTS:
        seen.append(k)
        k = next_sort(k)
    assert k == "fd" and len(set(seen)) == len(FD_SORTS)
