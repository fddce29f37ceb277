"""The syscall line parser, the generated tables, the call decoder, wchan/stack and ELF parsers,
on lines and headers copied from real processes of this machine (tests/fixtures/threads)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from stucktui.model.syscall import CallKind
from stucktui.procfs.elf import auxv_abi, parse_auxv, parse_elf_abi
from stucktui.procfs.syscall import decode_call, parse_syscall, syscall_name
from stucktui.procfs.syscall_tables import AARCH64, I386, X86_64
from stucktui.procfs.wchan import clean_symbol, parse_stack, parse_wchan

FIX = Path(__file__).parent.parent / "fixtures" / "threads"
ZOO = FIX / "proc" / "6527" / "task"
REPO = Path(__file__).parent.parent.parent


def lines() -> dict[str, str]:
    out = {}
    for line in (FIX / "syscall_lines.txt").read_text().splitlines():
        label, _, text = line.partition("\t")
        out[label] = text
    return out


def zoo(tid: int, name: str) -> str:
    return (ZOO / str(tid) / name).read_text()


def test_blocked_write_line():
    line = parse_syscall(zoo(6574, "syscall"))
    assert line.kind is CallKind.IN_SYSCALL
    assert line.nr == 1 and line.args[0] == 4 and line.args[2] == 1
    assert line.sp == 0x7F206B3499F0 and line.pc == 0x7F206BB1638F


def test_running_stopped_zombie_kernel_thread_lines():
    ls = lines()
    assert parse_syscall(ls["running"]).kind is CallKind.RUNNING
    stopped = parse_syscall(ls["stopped_in_userspace_T"])
    assert stopped.kind is CallKind.NOT_IN_SYSCALL and stopped.nr is None and stopped.sp
    assert parse_syscall(ls["zombie_Z"]).kind is CallKind.NO_CONTEXT
    kt = parse_syscall(ls["kernel_thread_kthreadd"])
    assert kt.all_zero and kt.nr == 0  # looks like read(0): callers must check PF_KTHREAD


def test_malformed_line_raises():
    with pytest.raises(ValueError):
        parse_syscall("")
    with pytest.raises(ValueError):
        parse_syscall("1 0x4 0x5")


@pytest.mark.parametrize(
    ("name", "x86_64", "generic"),
    [
        ("read", 0, 63),
        ("write", 1, 64),
        ("futex", 202, 98),
        ("flock", 73, 32),
        ("fcntl", 72, 25),
        ("epoll_pwait", 281, 22),
        ("restart_syscall", 219, 128),
        ("clock_nanosleep", 230, 115),
        ("accept4", 288, 242),
        ("wait4", 61, 260),
        ("pidfd_getfd", 438, 438),
    ],
)
def test_tables_match_the_notes(name, x86_64, generic):
    assert X86_64[x86_64] == name
    assert AARCH64[generic] == name


def test_generic_table_lacks_legacy_calls_and_i386_differs():
    names = set(AARCH64.values())
    assert not names & {"open", "poll", "select", "epoll_wait", "pause"}
    assert {"renameat", "fstat", "getrlimit", "clone3"} <= names  # arm64's __ARCH_WANT_* set
    assert I386[162] == "nanosleep" and X86_64[162] == "sync"  # docs/kernel-notes.md §1.5: 32-bit targets
    assert syscall_name(162, "arm") is None


@pytest.mark.skipif(
    not Path("/usr/include/asm-generic/unistd.h").exists(), reason="linux-libc-dev headers not installed"
)
def test_generated_tables_are_up_to_date():
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_syscall_tables.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_decode_write_epoll_flock_futex_from_real_lines():
    w = decode_call(parse_syscall(zoo(6574, "syscall")), "x86_64")
    assert w is not None and w.name == "write" and w.fds == (4,)
    assert w.text({4: "pipe:[10786], no reader"}) == "write(4 -> pipe:[10786], no reader, 1 byte)"
    e = decode_call(parse_syscall(zoo(6577, "syscall")), "x86_64")
    assert e is not None and e.text({5: "epoll watching 3 fds"}) == (
        "epoll_wait(5 -> epoll watching 3 fds, wait forever)"
    )
    f = decode_call(parse_syscall(zoo(6578, "syscall")), "x86_64")
    assert f is not None and f.text({14: "/tmp/thr/app.lock"}) == "flock(14 -> /tmp/thr/app.lock, LOCK_EX)"
    fx = decode_call(parse_syscall(zoo(6579, "syscall")), "x86_64")
    assert fx is not None and fx.fds == ()
    assert "FUTEX_WAIT_BITSET|FUTEX_PRIVATE_FLAG|FUTEX_CLOCK_REALTIME" in fx.text()
    sl = decode_call(parse_syscall(zoo(6580, "syscall")), "x86_64")
    assert sl is not None and sl.text() == "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)"
    sw = decode_call(parse_syscall(zoo(6581, "syscall")), "x86_64")
    assert sw is not None and sw.waits_for_signal


def test_restart_syscall_hides_the_original():
    ls = lines()
    before = decode_call(parse_syscall(ls["poll_wchan=poll_schedule_timeout.constprop.0"]), "x86_64")
    assert before is not None and before.text() == "poll(0 fds, wait forever)"
    after = decode_call(parse_syscall(ls["poll_after_stop_cont"]), "x86_64")
    assert after is not None and after.restarted and "original syscall is hidden" in after.text()
    assert decode_call(parse_syscall("128 0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0"), "aarch64").restarted


def test_same_number_decodes_per_abi():
    line = parse_syscall("162 0x1 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7ffe")
    assert decode_call(line, "x86_64").name == "sync"
    assert decode_call(line, "i386").name == "nanosleep"
    unknown = decode_call(line, "arm")
    assert unknown.name is None and unknown.text() == "syscall 162 (arm)"


def test_no_decode_outside_a_syscall():
    assert decode_call(parse_syscall(lines()["running"]), "x86_64") is None
    assert decode_call(parse_syscall(lines()["zombie_Z"]), "x86_64") is None


def test_wait4_and_negative_fd():
    # wait4(-1) and AT_FDCWD-style negative values: never resolved as fds
    w = decode_call(parse_syscall("61 0xffffffff 0x0 0x0 0x0 0x0 0x0 0x1 0x2"), "x86_64")
    assert w.text() == "wait4(any child)"
    r = decode_call(parse_syscall("0 0xffffff9c 0x0 0x10 0x0 0x0 0x0 0x1 0x2"), "x86_64")
    assert r.fds == ()


def test_wchan_and_stack():
    assert parse_wchan(zoo(6581, "wchan")) == "do_sigtimedwait"  # real: do_sigtimedwait.isra.0
    assert parse_wchan("0") is None and parse_wchan("") is None
    assert clean_symbol("poll_schedule_timeout.constprop.0") == "poll_schedule_timeout"
    assert clean_symbol("foo.part.0.cold") == "foo"
    stack = parse_stack(zoo(6574, "stack"))
    assert stack[:3] == ("anon_pipe_write", "vfs_write", "ksys_write")


def test_elf_headers():
    x = parse_elf_abi((FIX / "elf_head_x86_64.bin").read_bytes())
    assert (x.bits, x.abi) == (64, "x86_64")
    i = parse_elf_abi((FIX / "elf_head_i386.bin").read_bytes())
    assert (i.bits, i.abi) == (32, "i386")
    arm = bytearray((FIX / "elf_head_x86_64.bin").read_bytes())
    arm[18:20] = (0xB7).to_bytes(2, "little")  # EM_AARCH64
    assert parse_elf_abi(bytes(arm)).abi == "aarch64"
    with pytest.raises(ValueError):
        parse_elf_abi(b"#!/bin/sh\nexec true\n")


# an i386 program's auxiliary vector on an x86_64 kernel: 32-bit pairs (AT_SYSINFO first)
AUXV_I386 = struct.pack(
    "<28I", 32, 0xF7F5B560, 33, 0xF7F5B000, 16, 0x178BFBFF, 6, 4096, 17, 100, 3, 0x56555034,
    4, 32, 5, 11, 7, 0xF7F5D000, 8, 0, 9, 0x56556090, 11, 0, 23, 0, 0, 0,
)  # fmt: skip


def test_the_abi_comes_from_the_auxiliary_vector_not_the_binary():
    """/proc/PID/auxv is written in the program's word size; reading it opens no file."""
    real = (FIX / "auxv_x86_64.bin").read_bytes()  # /proc/PID/auxv of sleep(1), captured
    bits, entries = parse_auxv(real)
    assert bits == 64 and entries[6] == 4096 and entries[7] != 0  # AT_PAGESZ; AT_BASE: ld.so
    assert auxv_abi(real, "x86_64") == "x86_64"
    assert parse_auxv(AUXV_I386)[0] == 32 and auxv_abi(AUXV_I386, "x86_64") == "i386"
    assert auxv_abi(AUXV_I386, "aarch64") == "arm" and auxv_abi(AUXV_I386, "i386") == "i386"
    for bad in (b"", b"\0" * 16, real[:40], b"garbage" * 9):
        with pytest.raises(ValueError):
            parse_auxv(bad)
