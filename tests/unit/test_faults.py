"""Faults from outside (issue 20, item 5), each simulated: py-spy missing, hanging or crashing;
gdb missing or hanging; netlink sock_diag refused; root without CAP_SYS_PTRACE. Each gives one
specific line, and the rest keeps working."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from stucktui.collect.netns import NetnsTable
from stucktui.collect.sockets import SocketCollector
from stucktui.model.python import PyDump, PySpyError, PySpyFailure
from stucktui.procfs import privilege
from stucktui.procfs.root import ProcRoot
from stucktui.tools import gdb, pyspy
from tests.fixture_proc import PROC

ZOO = Path(__file__).parent.parent / "fixtures" / "threads" / "pyspy_zoo.json"


def script(dirpath: Path, name: str, body: str) -> Path:
    """An executable shell script `name` in dirpath (a fake py-spy or gdb)."""
    dirpath.mkdir(parents=True, exist_ok=True)
    p = dirpath / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(0o755)
    return p


@pytest.fixture(autouse=True)
def _no_hang_remembered(monkeypatch):
    monkeypatch.setattr(pyspy, "_hung", None)  # and restored after: no test leaks a "hung" py-spy


# -- py-spy --------------------------------------------------------------------------------------
def test_pyspy_missing_everywhere_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: str(tmp_path / "scripts"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert pyspy.find_pyspy() is None
    for out in (pyspy.dump_python(1), pyspy.start_dump(1)()):
        assert isinstance(out, PySpyError) and out.kind is PySpyFailure.MISSING
        assert (
            out.line
            == "py-spy is not installed: install it with `pip install py-spy` in stucktui's environment"
        )


def test_a_pyspy_that_hangs_is_stopped_said_and_not_rerun_by_itself(tmp_path):
    hang = script(tmp_path, "py-spy", "exec sleep 600")
    t0 = time.monotonic()
    out = pyspy.dump_python(1, binary=str(hang), timeout=1)
    assert time.monotonic() - t0 < 5  # stopped at its timeout, its sleep too (its own group)
    assert isinstance(out, PySpyError) and out.kind is PySpyFailure.TIMEOUT
    assert (
        out.line
        == "py-spy did not answer in 1 s (stopped it); the other panels are unaffected; y tries again"
    )
    # a dump nobody asked for (the triage's, the Threads panel's every few refreshes) waits
    t0 = time.monotonic()
    auto = pyspy.start_dump(1, binary=str(hang), timeout=1, auto=True)()
    assert time.monotonic() - t0 < 0.5
    assert (
        isinstance(auto, PySpyError) and "not run again by itself" in auto.line and "y tries now" in auto.line
    )
    # one asked for (y) runs; once py-spy answers, automatic dumps run again
    ok = script(tmp_path / "ok", "py-spy", f"cat {ZOO}")
    assert isinstance(pyspy.dump_python(1, binary=str(ok)), PyDump)
    assert isinstance(pyspy.dump_python(1, binary=str(ok), auto=True), PyDump)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("kill -SEGV $$", "py-spy crashed: killed by SIGSEGV"),
        (
            "echo \"thread 'main' panicked at src/main.rs:1:1:\" >&2; exit 101",
            "py-spy crashed: thread 'main' panicked at src/main.rs:1:1:",
        ),
    ],
)
def test_a_pyspy_that_crashes_says_so(tmp_path, body, said):
    out = pyspy.dump_python(1, binary=str(script(tmp_path, "py-spy", body)), timeout=10)
    assert isinstance(out, PySpyError) and out.kind is PySpyFailure.CRASHED and out.line == said


# -- gdb -----------------------------------------------------------------------------------------
def test_gdb_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = gdb.native_backtrace(os.getpid())
    assert isinstance(out, gdb.GdbError) and out.reason == gdb.GDB_MISSING
    assert out.reason.startswith("gdb is not installed: install it with")


def test_a_gdb_that_hangs_is_stopped_and_said(tmp_path, monkeypatch):
    script(tmp_path, "gdb", "exec sleep 600")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    monkeypatch.setattr(gdb, "DEFAULT_TIMEOUT", 1.0)
    t0 = time.monotonic()
    out = gdb.native_backtrace(999_999_999)  # no such process: the fake never looks
    assert time.monotonic() - t0 < 5
    assert isinstance(out, gdb.GdbError) and out.timed_out
    assert out.reason == "gdb did not answer in 1 s (stopped it)"


# -- netlink -------------------------------------------------------------------------------------
def refused(request: bytes) -> list[bytes]:
    raise PermissionError(errno.EPERM, "Operation not permitted")


def test_sock_diag_refused_reads_proc_net_and_says_so():
    table = NetnsTable(ProcRoot(), 1, os.getpid(), refused)
    table.tcp_counts()  # the dump is refused: /proc/PID/net/tcp instead
    assert table.source == "proc"
    assert table.note is not None and table.note.startswith(
        "read from /proc/net (sock_diag refused: Operation not permitted)"
    )


def test_a_process_s_sockets_when_sock_diag_is_refused():
    with socket.socket() as s:  # one socket of our own, listening on loopback
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        ps = SocketCollector(ProcRoot(), dumper=refused).process_sockets(os.getpid(), peers=False)
    assert any("sock_diag refused: Operation not permitted" in n for n in ps.notes)
    assert any(r.local.endswith(f":{port}") and r.state == "LISTEN" for r in ps.rows)  # still seen


def test_report_carries_the_socket_notes():
    from stucktui.report.panels_json import sockets_keys
    from stucktui.report.sections import PANEL_SECTIONS, Fmt

    ps = SocketCollector(ProcRoot(), dumper=refused).process_sockets(os.getpid(), peers=False)
    data = sockets_keys(ps)
    assert any("sock_diag refused" in n for n in data["sockets"]["notes"])
    lines = PANEL_SECTIONS[0].lines(data, Fmt(str, lambda h: h + ":", "", {}))
    assert any(x.startswith("note: read from /proc/net (sock_diag refused:") for x in lines)
    json.dumps(data)  # plain JSON


# -- root without CAP_SYS_PTRACE -----------------------------------------------------------------
def test_refusal_tells_root_what_it_lacks():
    no_ptrace = 0x1FFFEFFFFFF & ~(1 << privilege.CAP_SYS_PTRACE)
    assert privilege.refusal(euid=0, caps=no_ptrace) == privilege.WITHOUT_PTRACE
    assert "without CAP_SYS_PTRACE" in privilege.WITHOUT_PTRACE
    assert privilege.refusal(euid=0, caps=0x1FFFEFFFFFF) == privilege.WITH_PTRACE
    assert privilege.refusal(euid=1000) == privilege.NOT_OWNER
    assert privilege.own_capabilities() is not None


def test_files_panel_and_report_of_root_without_cap_sys_ptrace(monkeypatch):
    from stucktui.collect.files import collect_files
    from stucktui.model.panels import PanelData
    from stucktui.report.sections import json_sections, text_lines
    from tests.unit.test_visibility import DenyingRoot

    monkeypatch.setattr(privilege.os, "geteuid", lambda: 0)
    monkeypatch.setattr(privilege, "own_capabilities", lambda path="": 0)
    root = DenyingRoot(str(PROC), {7654})
    with root.pid_dir(7654) as d:
        files = collect_files(root, 7654, piddir=d)
    assert files.unlisted is not None and files.unlisted.detail == privilege.WITHOUT_PTRACE
    text = "\n".join(text_lines(json_sections(PanelData(files=files))))
    assert (
        "not available: no permission to list /proc/7654/fd (refused even to root: stucktui runs without"
        in text
    )
