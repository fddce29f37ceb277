"""Close methods: which fit an fd and why not, the exact commands, the effects spelled out, gdb's
`$N = value` lines judged, and the ELF check that keeps gdb away from static binaries."""

from __future__ import annotations

import os
import shlex
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from stucktui.actions.closefd import (
    EPOLL_DEL,
    GDB_CLOSE,
    GDB_NULL,
    METHOD_IDS,
    SHUTDOWN_BOTH,
    SHUTDOWN_READ,
    build_methods,
)
from stucktui.actions.fdfacts import FdFacts
from stucktui.actions.verify import judge_gdb
from stucktui.model.net import InetSocket
from stucktui.model.sockets import SocketRow
from stucktui.procfs.elf import auxv_interpreter
from stucktui.tools.gdb import GdbCall, parse_print_values
from stucktui.tools.runner import RunResult

FIX = Path(__file__).parent.parent / "fixtures" / "threads"
CW = InetSocket("tcp", 2, 8, "127.0.0.1", 40000, "127.0.0.1", 6379, 301, 0, 0, 777)
SOCKET = FdFacts(
    pid=4242,
    fd=30,
    link="socket:[777]",
    kind="socket",
    inode=777,
    description="tcp 127.0.0.1:40000 -> 127.0.0.1:6379 CLOSE_WAIT",
    socket=SocketRow(30, 777, CW, None, "netlink"),
    watched_by=(7,),
    epoll_regs=((7, 30),),
    level_triggered=True,
    threads=24,
    dynamic=True,
    gdb="/usr/bin/gdb",
)
PIPE = replace(
    SOCKET,
    link="pipe:[55]",
    kind="pipe",
    inode=55,
    socket=None,
    watched_by=(),
    epoll_regs=(),
    description="pipe",
)


def _by_id(facts: FdFacts):
    methods = build_methods(facts)
    assert tuple(m.id for m in methods) == METHOD_IDS
    return {m.id: m for m in methods}


def test_exact_commands():
    m = _by_id(SOCKET)
    assert m[GDB_CLOSE].command == (
        "/usr/bin/gdb -p 4242 -batch -nx -iex 'set debuginfod enabled off' -iex 'set auto-load off' "
        "-ex 'call (int)close(30)'"
    )
    assert shlex.split(m[GDB_CLOSE].command) == list(m[GDB_CLOSE].argv or ())
    null = shlex.split(m[GDB_NULL].command)
    assert [null[i + 1] for i, a in enumerate(null) if a == "-ex"] == [
        'call (int)open("/dev/null", 524290)',
        "call (int)dup2($1, 30)",
        "call (int)close($1)",
    ]
    with_null = _by_id(replace(SOCKET, null_fd=0))[GDB_NULL]
    assert with_null.command.endswith("-ex 'call (int)dup2(0, 30)'")
    assert m[SHUTDOWN_READ].argv is None and "shutdown(copy, SHUT_RD)" in m[SHUTDOWN_READ].command
    assert "pidfd_getfd(pidfd_open(4242), 30, 0)" in m[SHUTDOWN_BOTH].command
    assert "SHUT_RDWR" in m[SHUTDOWN_BOTH].command


def test_all_fit_a_close_wait_socket_and_gdb_null_is_the_default():
    m = _by_id(SOCKET)
    assert all(x.available and x.reason is None for x in m.values())
    assert [x.id for x in m.values() if x.default] == [GDB_NULL]


def test_effects_are_spelled_out():
    m = _by_id(SOCKET)
    close = " ".join(m[GDB_CLOSE].effects)
    assert "may later get number 30 for another file" in close
    assert "POSIX (fcntl/lockf) lock" in close and "pauses all 24 thread(s)" in close
    null = " ".join(m[GDB_NULL].effects)
    assert "replaced by /dev/null" in null and "number stays taken" in null and "POSIX" in null
    both = " ".join(m[SHUTDOWN_BOTH].effects)
    assert "SIGPIPE" in both and "epoll fd 7 keeps reporting" in both and "no ptrace stop" in both
    assert "CLOSE_WAIT" in " ".join(m[SHUTDOWN_READ].effects)


def test_shutdown_only_for_sockets():
    m = _by_id(PIPE)
    assert m[GDB_NULL].available and m[GDB_NULL].default
    for mid in (SHUTDOWN_READ, SHUTDOWN_BOTH):
        assert not m[mid].available and m[mid].reason == "not a socket: shutdown works on sockets only"


DENIED = (
    "the kernel refuses root to take over the fds of process 4242"
    if os.geteuid() == 0
    else "no permission to take over the fds of process 4242: run as root or as its owner"
)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gdb": None}, "gdb is not installed"),
        ({"dynamic": False}, "a static binary"),
        ({"tracer_pid": 99}, "already traced by pid 99"),
        (
            {"gdb_canary": "gdb cannot call functions in processes on this machine: x"},
            "gdb cannot call functions",
        ),
    ],
)
def test_gdb_unavailable_with_reason_and_epoll_del_or_shutdown_becomes_default(change, reason):
    m = _by_id(replace(SOCKET, **change))
    for mid in (GDB_CLOSE, GDB_NULL):
        assert not m[mid].available and (m[mid].reason or "").startswith(reason)
    # watched by an epoll set: taking it out stops a busy loop; shutdown alone would not
    assert m[EPOLL_DEL].available and m[EPOLL_DEL].default
    unwatched = _by_id(replace(SOCKET, watched_by=(), epoll_regs=(), **change))
    assert unwatched[SHUTDOWN_BOTH].available and unwatched[SHUTDOWN_BOTH].default
    assert not unwatched[EPOLL_DEL].available
    assert unwatched[EPOLL_DEL].reason == "no epoll set of process 4242 watches fd 30"
    assert not m[SHUTDOWN_READ].default
    # watched edge-triggered (Go's netpoller): no busy loop, so the connection is what to end
    edge = _by_id(replace(SOCKET, level_triggered=False, **change))
    assert edge[SHUTDOWN_BOTH].default and not edge[EPOLL_DEL].default
    assert "edge-triggered" in " ".join(edge[EPOLL_DEL].effects)


def test_a_listening_socket_gets_no_default_and_epoll_del_says_it_stops_accepting():
    from socket import AF_INET

    from stucktui.model.net import TCP_LISTEN

    sock = InetSocket("tcp", AF_INET, TCP_LISTEN, "0.0.0.0", 8080, "0.0.0.0", 0, 0, 128, 0, 500)
    listener = replace(SOCKET, socket=SocketRow(30, 500, sock, 1, "netlink"), gdb=None)
    m = _by_id(listener)
    assert m[EPOLL_DEL].available and not any(x.default for x in m.values())
    assert "stops accepting on it" in " ".join(m[EPOLL_DEL].effects)


def test_epoll_del_names_every_registration_and_its_effects():
    stale = replace(SOCKET, fd=31, epoll_regs=((7, 30), (9, 31)))  # dup'ed to 31, 30 closed
    m = _by_id(stale)[EPOLL_DEL]
    assert m.available and m.argv is None
    assert "EPOLL_CTL_DEL of fd 30 from epoll fd 7, EPOLL_CTL_DEL of fd 31 from epoll fd 9" in m.command
    effects = " ".join(m.effects)
    assert "no ptrace stop" in effects and "epoll fd 7, 9 stops reporting fd 31" in effects
    assert "ENOENT" in effects and "shutdown-both as well ends the connection" in effects
    # any kind of fd: a pipe or eventfd an epoll loop spins on
    pipe = _by_id(replace(PIPE, watched_by=(7,), epoll_regs=((7, 30),)))
    assert pipe[EPOLL_DEL].available and "shutdown-both" not in " ".join(pipe[EPOLL_DEL].effects)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"link": None}, "fd 30 of process 4242 is not open"),
        ({"denied": True, "probe": "not permitted"}, DENIED),
        ({"gone": "process 4242 has exited"}, "process 4242 has exited"),
        ({"kernel_thread": True}, "process 4242 is a kernel thread"),
        ({"probe": "fd now refers to another file"}, "fd 30 changed"),
    ],
)
def test_nothing_available(change, reason):
    m = _by_id(replace(SOCKET, **change))
    assert not any(x.available or x.default for x in m.values())
    assert all((x.reason or "").startswith(reason) for x in m.values())


def _call(stdout: str = "", stderr: str = "", rc: int | None = 0) -> GdbCall:
    from stucktui.tools.gdb import classify_gdb_output

    r = RunResult(("gdb",), rc, stdout, stderr, False, 0.2)
    return GdbCall(r, parse_print_values(stdout), classify_gdb_output(r))


def test_gdb_values_decide_not_the_exit_status():
    assert judge_gdb(GDB_CLOSE, 30, None, _call("$1 = 0\n")).ok
    failed = judge_gdb(GDB_CLOSE, 30, None, _call("[Inferior 1 (process 9) detached]\n$1 = -1\n"))
    assert not failed.ok and "close call failed" in failed.detail and "$1 = -1" in failed.detail
    assert judge_gdb(GDB_NULL, 30, 0, _call("$1 = 30\n")).ok
    assert not judge_gdb(GDB_NULL, 30, 0, _call("$1 = -1\n")).ok
    assert judge_gdb(GDB_NULL, 30, None, _call("$1 = 9\n$2 = 30\n$3 = 0\n")).ok
    assert not judge_gdb(GDB_NULL, 30, None, _call("$1 = -1\n$2 = -1\n$3 = -1\n")).ok


def test_gdb_failures_from_real_output():
    ext = judge_gdb(GDB_CLOSE, 3, None, _call((FIX / "gdb_close_ebadf.txt").read_text(), rc=1))
    assert (
        not ext.ok
        and "extended register state" in ext.detail
        and "check that the process is healthy" in ext.detail
    )
    eperm = judge_gdb(GDB_CLOSE, 3, None, _call(stderr=(FIX / "gdb_bt_eperm.stderr").read_text(), rc=1))
    assert not eperm.ok and eperm.detail.startswith("gdb failed: no permission")
    silent = judge_gdb(GDB_CLOSE, 3, None, _call("nothing useful\n", rc=0))
    assert not silent.ok and "no $1 = N line" in silent.detail


def _auxv64(entries: dict[int, int]) -> bytes:
    return b"".join(struct.pack("=QQ", k, v) for k, v in [*entries.items(), (0, 0)])


def test_a_binary_is_dynamic_when_the_kernel_loaded_its_loader():
    """From /proc/PID/auxv (AT_BASE, the loader's address), never from the binary, which may
    sit on a hung mount."""
    with open("/proc/self/auxv", "rb") as f:  # this Python is dynamically linked
        assert auxv_interpreter(f.read()) is True
    assert auxv_interpreter(_auxv64({6: 4096, 7: 0, 9: 0x401000})) is False  # static: AT_BASE 0
    with pytest.raises(ValueError):
        auxv_interpreter(b"")  # a kernel thread's


def test_a_refusal_tells_root_something_else_than_run_as_root():
    from stucktui.actions.denial import no_permission

    user = no_permission(1, euid=1000)
    assert user == "no permission to take over the fds of process 1: run as root or as its owner"
    root = no_permission(1, "read the fds", euid=0)
    assert root.startswith("the kernel refuses root to read the fds of process 1")
    assert "run as root" not in root and "\n" not in root
