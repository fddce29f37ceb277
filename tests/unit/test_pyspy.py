"""py-spy: argv, JSON parsing of a real dump, failure classification from real stderr, and the
runner it goes through."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stucktui.model.python import PyDump, PySpyError, PySpyFailure
from stucktui.tools.pyspy import (
    classify_pyspy_failure,
    dump_python,
    find_pyspy,
    parse_pyspy_json,
    pyspy_dump_argv,
)
from stucktui.tools.runner import RunResult, run

FIX = Path(__file__).parent.parent / "fixtures" / "threads"


def result(stderr: str = "", rc: int | None = 1, **kw) -> RunResult:
    return RunResult(
        ("py-spy", "dump"), rc, kw.pop("stdout", ""), stderr, kw.pop("timed_out", False), 0.1, **kw
    )


def test_argv():
    assert pyspy_dump_argv(42) == ["py-spy", "dump", "--json", "--pid", "42", "--nonblocking"]
    assert pyspy_dump_argv(42, nonblocking=False, native=True, binary="/x/py-spy") == [
        "/x/py-spy",
        "dump",
        "--json",
        "--pid",
        "42",
        "--native",
    ]
    # py-spy refuses --native with --nonblocking: native frames pause the process
    assert "--nonblocking" not in pyspy_dump_argv(42, nonblocking=True, native=True)


def test_parse_real_dump_sorted_by_tid():
    threads = parse_pyspy_json((FIX / "pyspy_zoo.json").read_text())
    tids = [t.os_thread_id for t in threads]
    assert tids == sorted(tids) and len(tids) == 9
    writer = next(t for t in threads if t.os_thread_id == 6574)
    assert writer.frames[0].function == "writer" and writer.frames[0].short_file == "zoo.py"
    assert writer.frames[0].line == 15 and writer.idle and not writer.owns_gil
    same = [t for t in threads if t.stack_key() == writer.stack_key()]
    assert len(same) == 3  # the three pipe writers share one stack


def test_parse_real_native_dump():
    threads = parse_pyspy_json((FIX / "pyspy_zoo_native.json").read_text())
    frames = [f for t in threads for f in t.frames]
    assert any(f.function == "writer" for f in frames)
    assert len(frames) > len(
        [f for t in parse_pyspy_json((FIX / "pyspy_zoo.json").read_text()) for f in t.frames]
    )


def test_parse_rejects_garbage():
    import pytest

    with pytest.raises(ValueError):
        parse_pyspy_json("Process 1: python\n")
    with pytest.raises(ValueError):
        parse_pyspy_json('{"pid": 1}')


def test_classify_real_stderr():
    def kind(fixture: str) -> PySpyFailure:
        return classify_pyspy_failure(1, result((FIX / fixture).read_text())).kind

    assert kind("pyspy_err_not_python.txt") is PySpyFailure.NOT_PYTHON
    assert kind("pyspy_err_no_process.txt") is PySpyFailure.GONE
    assert kind("pyspy_err_permission.txt") is PySpyFailure.PERMISSION
    assert (
        classify_pyspy_failure(1, result("Error: Failed to get stack traces\n")).kind is PySpyFailure.PARTIAL
    )
    assert classify_pyspy_failure(1, result("Error: No such process (os error 3)")).kind is PySpyFailure.GONE
    assert classify_pyspy_failure(1, result(rc=None, timed_out=True)).kind is PySpyFailure.TIMEOUT
    missing = classify_pyspy_failure(1, result(rc=None, missing=True))
    assert missing.kind is PySpyFailure.MISSING and "pip install py-spy" in missing.line
    perm = classify_pyspy_failure(1, result((FIX / "pyspy_err_permission.txt").read_text()))
    assert perm.line.startswith("no permission: run stucktui as root")


def test_failure_line_carries_pyspys_reason_where_stucktui_has_no_hint():
    many = classify_pyspy_failure(
        1, result("Error: Failed to find a python interpreter in the .data section\n")
    )
    assert many.kind is PySpyFailure.OTHER
    assert many.line == "py-spy failed: Failed to find a python interpreter in the .data section"
    long = classify_pyspy_failure(1, result("Error: " + "x" * 400)).line
    assert len(long) < 200 and long.endswith("…")


def test_dump_python_through_a_recording_runner():
    seen = []

    def runner(argv, timeout):
        seen.append((argv, timeout))
        return result(rc=0, stdout=(FIX / "pyspy_zoo.json").read_text(), stderr="")

    dump = dump_python(6527, binary="/bin/py-spy", timeout=3, runner=runner)
    assert isinstance(dump, PyDump) and len(dump.threads) == 9 and dump.nonblocking
    assert seen == [(["/bin/py-spy", "dump", "--json", "--pid", "6527", "--nonblocking"], 3)]
    bad = dump_python(1, binary="/bin/py-spy", runner=lambda argv, timeout: result(rc=0, stdout="not json"))
    assert isinstance(bad, PySpyError) and bad.kind is PySpyFailure.OTHER
    gone = dump_python(1, binary="/nonexistent/py-spy-xyz")
    assert isinstance(gone, PySpyError) and gone.kind is PySpyFailure.MISSING


def test_find_pyspy_prefers_the_interpreters_bin():
    found = find_pyspy()
    assert found is not None and os.access(found, os.X_OK)
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        assert found == str(beside)


def test_runner_scrubs_rust_backtrace_and_kills_on_timeout(monkeypatch):
    monkeypatch.setenv("RUST_BACKTRACE", "1")
    monkeypatch.setenv("RUST_LIB_BACKTRACE", "full")
    r = run(["sh", "-c", 'echo "${RUST_BACKTRACE-unset} ${RUST_LIB_BACKTRACE-unset}"'], timeout=20)
    assert r.ok and r.stdout.strip() == "unset unset"
    # the sleeping grandchild shares the process group and dies with it, so this returns
    # after the timeout, not after 60 s
    t = run(["sh", "-c", "sleep 60 & sleep 60"], timeout=0.5)
    assert t.timed_out and t.rc is None and t.duration < 10
    m = run(["/nonexistent/stucktui-test-binary"], timeout=5)
    assert m.missing and not m.ok and "not installed" in m.first_error_line
    f = run(["sh", "-c", "echo boom >&2; exit 3"], timeout=20)
    assert f.rc == 3 and f.first_error_line == "boom"


def test_a_dump_that_raced_a_running_thread_is_tried_again():
    """A nonblocking dump of a busy process fails now and then ("Failed to copy PyCodeObject:
    Bad address", reported as 'Failed to get stack traces'); up to 3 tries are made."""
    answers = [
        result("Error: Failed to get stack traces\nReason: Failed to copy PyCodeObject\n"),
        result(rc=0, stdout=(FIX / "pyspy_zoo.json").read_text(), stderr=""),
    ]
    calls = []

    def runner(argv, timeout):
        calls.append(argv)
        return answers.pop(0)

    assert isinstance(dump_python(6527, binary="/bin/py-spy", runner=runner), PyDump) and len(calls) == 2
    calls.clear()
    always = dump_python(
        6527,
        binary="/bin/py-spy",
        runner=lambda a, timeout: calls.append(a) or result("Error: Failed to get stack traces\n"),
    )
    assert isinstance(always, PySpyError) and always.kind is PySpyFailure.PARTIAL and len(calls) == 3
    assert "tried 3 times" in always.line
    calls.clear()
    other = dump_python(
        6527,
        binary="/bin/py-spy",
        runner=lambda a, timeout: (
            calls.append(a) or result("Error: Failed to find python version from target process\n")
        ),
    )
    assert isinstance(other, PySpyError) and len(calls) == 1  # not a race: no second try
