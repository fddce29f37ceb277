"""The triage's py-spy dumps of its suspects are taken in a thread while the other suspects are
looked at and the pipe readers watched (inspection/suspects.py, _Dump): their wall time is not
added to the rest of the look, and a dump that fails reads as no stacks."""

from __future__ import annotations

import threading

from stucktui.inspection import suspects
from stucktui.model.python import PySpyError, PySpyFailure


def test_a_dump_runs_beside_the_caller_and_gives_what_py_spy_gave(monkeypatch):
    asked: list[int] = []
    go = threading.Event()
    answer = PySpyError(4242, PySpyFailure.MISSING, "py-spy not found")

    def dump_python(pid: int, **_: object) -> PySpyError:
        asked.append(pid)
        go.wait(10)
        return answer

    monkeypatch.setattr(suspects, "dump_python", dump_python)
    d = suspects._Dump(4242)  # returns while py-spy still runs: the caller goes on
    assert d.result is None
    go.set()
    assert d.wait() is answer and asked == [4242]


def test_a_dump_that_raises_reads_as_no_stacks(monkeypatch):
    def dump_python(pid: int, **_: object) -> PySpyError:
        raise RuntimeError("a bug in the runner")

    monkeypatch.setattr(suspects, "dump_python", dump_python)
    assert suspects._Dump(1).wait() is None
