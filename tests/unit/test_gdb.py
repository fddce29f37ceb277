"""gdb: argv builders and parsers of real gdb 13.1 output captured on this machine."""

from __future__ import annotations

from pathlib import Path

from stucktui.tools.gdb import (
    GdbError,
    NativeBacktrace,
    backtrace_argv,
    classify_gdb_output,
    close_fd_argv,
    dup2_null_argv,
    native_backtrace,
    parse_backtrace,
    parse_call_result,
    parse_print_values,
)
from stucktui.tools.runner import RunResult

FIX = Path(__file__).parent.parent / "fixtures" / "threads"
BASE = ["-batch", "-nx", "-iex", "set debuginfod enabled off", "-iex", "set auto-load off"]


def test_argv_builders():
    assert backtrace_argv(7) == ["gdb", "-p", "7", *BASE, "-ex", "thread apply all bt"]
    assert close_fd_argv(7, 4) == ["gdb", "-p", "7", *BASE, "-ex", "call (int)close(4)"]
    assert dup2_null_argv(7, 4, null_fd=0)[-1] == "call (int)dup2(0, 4)"
    three = dup2_null_argv(7, 4)
    cmds = [three[i + 1] for i, a in enumerate(three) if a == "-ex"]
    assert cmds == ['call (int)open("/dev/null", 524290)', "call (int)dup2($1, 4)", "call (int)close($1)"]


def test_print_values():
    assert parse_print_values("$1 = 3\n$2 = 4\n$3 = 0\n") == {1: 3, 2: 4, 3: 0}
    assert parse_call_result("[Inferior 1 detached]\n$1 = -1\n") == -1
    # real: gdb 13.1 on this CPU could not run the call at all
    assert parse_call_result((FIX / "gdb_close_ebadf.txt").read_text()) is None


def test_backtrace_with_debug_symbols():
    threads = parse_backtrace((FIX / "gdb_bt_c.txt").read_text())
    assert [t.tid for t in threads] == [6930, 6932, 6933]
    reader = threads[1]
    assert reader.name == "cthreads" and reader.number == 2
    assert reader.frames[0].function == "__GI___libc_read" and reader.frames[0].address is None
    assert "fd=3" in reader.frames[0].args and reader.frames[0].location == "read.c:26"
    assert reader.frames[2].function == "reader" and reader.frames[2].location == "cthreads.c:6"


def test_backtrace_without_symbols():
    threads = parse_backtrace((FIX / "gdb_bt_nodebug.txt").read_text())
    read = threads[1].frames[0]
    assert (read.function, read.args, read.location) == ("read", "", "libc.so.6")
    assert threads[1].frames[1].function == "??"
    stripped = parse_backtrace((FIX / "gdb_bt_stripped.txt").read_text())
    assert len(stripped) == 3 and stripped[2].frames[1].function == "??"


def test_backtrace_of_python_process():
    threads = parse_backtrace((FIX / "gdb_bt_python.txt").read_text())
    assert len(threads) == 9
    w = next(t for t in threads if t.name == "writer0")
    assert w.frames[0].function == "__GI___libc_write" and len(w.frames) > 10


def rr(stdout: str = "", stderr: str = "", rc: int | None = 0, **kw) -> RunResult:
    return RunResult(("gdb",), rc, stdout, stderr, kw.pop("timed_out", False), 0.2, **kw)


def test_failure_classification_from_real_output():
    eperm = (FIX / "gdb_bt_eperm.stderr").read_text()
    assert classify_gdb_output(rr(stderr=eperm, rc=1)).startswith("no permission")
    ext = (FIX / "gdb_close_ebadf.txt").read_text()
    assert "CPU state" in classify_gdb_output(rr(stdout=ext, rc=1))
    nosym = (FIX / "gdb_call_zombie.txt").read_text()
    assert classify_gdb_output(rr(stdout=nosym, rc=1)) == "the process has exited (zombie)"
    assert classify_gdb_output(rr(rc=None, missing=True)).startswith("gdb is not installed: install it")
    assert classify_gdb_output(rr(rc=None, timed_out=True)) == "gdb did not answer in 0.2 s (stopped it)"
    assert classify_gdb_output(rr(stdout=(FIX / "gdb_bt_c.txt").read_text())) is None


def test_native_backtrace_with_recorded_runs():
    ok = native_backtrace(6930, runner=lambda argv, timeout: rr(stdout=(FIX / "gdb_bt_c.txt").read_text()))
    assert isinstance(ok, NativeBacktrace) and len(ok.threads) == 3
    eperm = (FIX / "gdb_bt_eperm.stderr").read_text()
    bad = native_backtrace(1, runner=lambda argv, timeout: rr(stderr=eperm, rc=1))
    assert isinstance(bad, GdbError) and bad.reason.startswith("no permission")
