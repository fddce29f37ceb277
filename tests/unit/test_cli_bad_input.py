"""Every bad input to every subcommand: one line on stderr, nothing on stdout, a fitting exit
status (2 for a usage error or an invalid request), and never a traceback.

Each case is a real `python -m stucktui` run. They run side by side once per module (startup is
most of their cost), then each is checked as its own test. The live target of the cases that need
one is this test process: every such request is refused before anything is sent or closed."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from stucktui.actions.audit import ENV_AUDIT_LOG
from tests.fixture_proc import PROC

SELF = str(os.getpid())
HUGE = "99999999999999999999"
ABSENT = "4194304"  # PID_MAX_LIMIT: a valid number that never names a process


def _kthreadd() -> bool:
    try:
        with open("/proc/2/stat", "rb") as f:
            return f.read().startswith(b"2 (kthreadd) ")
    except OSError:
        return False


# (id, argv, exit status)
CASES: list[tuple[str, list[str], int]] = [
    ("tui-pid-0", ["--pid", "0"], 2),
    ("tui-pid-negative", ["--pid", "-5"], 2),
    ("tui-pid-word", ["--pid", "x"], 2),
    ("tui-pid-huge", ["--pid", HUGE], 2),
    ("tui-interval-0", ["--interval", "0"], 2),
    ("tui-interval-negative", ["--interval", "-1"], 2),
    ("tui-interval-word", ["--interval", "x"], 2),
    ("tui-interval-nan", ["--interval", "nan"], 2),
    ("tui-interval-inf", ["--interval", "inf"], 2),
    ("unknown-command", ["bogus"], 2),
    ("report-pid-0", ["report", "0"], 2),
    ("report-pid-negative", ["report", "-1"], 2),
    ("report-pid-word", ["report", "x"], 2),
    ("report-pid-2**32", ["report", "4294967296"], 2),
    ("report-pid-huge", ["report", HUGE], 2),
    ("report-no-pid", ["report"], 2),
    ("report-pid-and-all", ["report", "1", "--all"], 2),
    ("report-bad-format", ["report", "1", "--format", "xml"], 2),
    ("report-absent-pid", ["report", ABSENT, "--no-python"], 1),
    ("report-pid-openmetrics", ["report", SELF, "--format", "openmetrics"], 2),
    ("report-pid-jsonl", ["report", SELF, "--format", "jsonl"], 2),
    (
        "report-output-no-folder",
        ["--proc", str(PROC), "report", "--all", "--no-python", "-o", "/nonexistent/x"],
        1,
    ),
    ("demo-interval-0", ["demo", "--no-tui", "--interval", "0"], 2),
    ("demo-interval-word", ["demo", "--no-tui", "--interval", "x"], 2),
    ("demo-timeout-0", ["demo", "--no-tui", "--timeout", "0"], 2),
    ("demo-timeout-word", ["demo", "--no-tui", "--timeout", "x"], 2),
    ("signal-pid-0", ["signal", "0", "TERM"], 2),
    ("signal-pid-negative", ["signal", "-1", "TERM"], 2),
    ("signal-pid-word", ["signal", "x", "TERM"], 2),
    ("signal-pid-2**32", ["signal", "4294967296", "TERM", "--yes"], 2),
    ("signal-pid-huge", ["signal", HUGE, "TERM"], 2),
    ("signal-no-name", ["signal", SELF], 2),
    ("signal-absent-pid", ["signal", ABSENT, "TERM", "--yes"], 1),
    ("signal-unknown-name", ["signal", SELF, "NOPE", "--yes"], 2),
    ("signal-empty-name", ["signal", SELF, "", "--yes"], 2),
    ("signal-number", ["signal", SELF, "9", "--yes"], 2),
    ("signal-realtime-out-of-range", ["signal", SELF, "RTMIN+99", "--yes"], 2),
    ("close-fd-pid-0", ["close-fd", "0", "3"], 2),
    ("close-fd-pid-word", ["close-fd", "x", "3"], 2),
    ("close-fd-pid-huge", ["close-fd", HUGE, "0"], 2),
    ("close-fd-fd-negative", ["close-fd", SELF, "-1"], 2),
    ("close-fd-fd-word", ["close-fd", SELF, "x"], 2),
    ("close-fd-fd-huge", ["close-fd", SELF, HUGE], 2),
    ("close-fd-no-fd", ["close-fd", SELF], 2),
    ("close-fd-bad-method", ["close-fd", SELF, "0", "--method", "rm-rf"], 2),
    ("close-fd-fd-not-open", ["close-fd", SELF, "999999", "--yes"], 2),
    ("close-fd-absent-pid", ["close-fd", ABSENT, "3", "--yes"], 1),
]
if _kthreadd():  # never with --yes: were pid 2 not a kernel thread, nothing could be sent
    CASES += [
        ("signal-kernel-thread", ["signal", "2", "TERM"], 3),
        ("close-fd-kernel-thread", ["close-fd", "2", "0"], 3),
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess[str]]:
    env = os.environ | {ENV_AUDIT_LOG: str(tmp_path_factory.mktemp("audit") / "audit.log")}

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stucktui", *argv],
            capture_output=True,
            text=True,
            errors="backslashreplace",
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        done = dict(zip([c[0] for c in CASES], pool.map(run, [c[1] for c in CASES]), strict=True))
    return done


@pytest.mark.parametrize(("case", "argv", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_an_exit_status(runs, case, argv, status):
    r = runs[case]
    shown = f"stucktui {' '.join(argv)} -> {r.returncode}\nstdout: {r.stdout!r}\nstderr: {r.stderr!r}"
    assert "Traceback" not in r.stdout + r.stderr, shown
    assert r.returncode == status, shown
    assert r.stdout == "", shown
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stucktui"), shown


def test_pid_messages_say_what_is_wrong(runs):
    assert "pid must be a whole number from 1 to 4194304, not 0" in runs["signal-pid-0"].stderr
    assert "pid must be a whole number, not 'x'" in runs["signal-pid-word"].stderr
    assert f"no process with pid {ABSENT}" in runs["signal-absent-pid"].stderr
    assert f"fd 999999 of process {SELF} is not open" in runs["close-fd-fd-not-open"].stderr
    assert "interval must be a number of seconds from 0.1 to 3600" in runs["tui-interval-nan"].stderr
