"""Help and docs agree with the code (issue 19, item 12): `report --help` and `close-fd --help`
give the exit statuses and explain the methods, `close-fd --help` and the README name the
default the code picks, `demo --help` says what it does, and root is never told to run as root."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from stucktui.cli import build_parser
from stucktui.procfs.privilege import CAP_SYS_PTRACE, refusal_brief

README = (Path(__file__).parent.parent.parent / "README.md").read_text()


def _help(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return out.getvalue()


def test_report_help_gives_exit_statuses_and_formats():
    text = _help("report")
    for line in (
        "  0  the report was printed",
        "  1  no such process",
        "  2  a bad argument",
        "  4  --timeout",
    ):
        assert line in text
    assert "--brief" in text and "--severity" in text and "--limit N" in text and "GitHub and Slack" in text


def test_close_fd_help_explains_every_method_and_the_default_the_readme_names():
    text = _help("close-fd")
    for method in ("gdb-null", "gdb-close", "shutdown-both", "shutdown-read", "epoll-del"):
        assert f"\n  {method} " in text, method
    assert "  3  refused" in text and "  0  done and verified" in text
    default = (
        "gdb-null where gdb can work on the process (a test call proves it); where it cannot,\n"
        "epoll-del for an fd a level-triggered epoll set watches, else shutdown-both for a socket"
    )
    assert default in text
    readme = " ".join(README.split())
    assert (
        "the default method is `gdb-null` where gdb can work on the process, else `epoll-del` for an fd "
        "a level-triggered epoll set watches, else `shutdown-both` for a socket" in readme
    )
    assert "default where gdb cannot work and a level-triggered epoll set watches the fd" in readme


def test_demo_help_has_a_description():
    text = _help("demo")
    assert "Start one live example of each incident" in text and "loopback only" in text


def test_root_is_never_told_to_run_as_root():
    assert refusal_brief(euid=1000) == "run stucktui as root to see them"
    without = refusal_brief(euid=0, caps=0)
    assert "CAP_SYS_PTRACE" in without and "run stucktui as root" not in without
    with_ptrace = refusal_brief(euid=0, caps=1 << CAP_SYS_PTRACE)
    assert "security module" in with_ptrace and "run stucktui as root" not in with_ptrace
