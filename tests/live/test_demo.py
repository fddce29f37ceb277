"""Live: `stucktui demo` starts one process per incident, each shows its finding (the sixth, a
wait chain, names the stopped process two hops away), and every one of them is gone afterwards,
with anything they started: after stop(), after --no-tui, after Ctrl+C or SIGTERM, and when the
TUI is quit by a signal."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from stucktui.demo import start_demo
from stucktui.incidents import ENV_PARENT
from tests.helpers import wait_until

pytestmark = pytest.mark.live

EXPECTED = {
    "api-service": {"pipe-writers-blocked", "workers-all-blocked", "close-wait-unread"},
    "orders-api": {"close-wait-leak"},
    "celery-worker": {"epoll-spin"},
    "hping3": {"signal-blocked-pending"},
    "report-exporter": {"wait-chain"},
}
PROCESSES = 12
LAST_ROLE = b"report-exporter"  # the last line of the demo's list of processes


def _identity(pid: int) -> str | None:
    """The start time of pid, or None once it no longer exists (not even as a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:  # bytes: a reused pid's name need not be UTF-8
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _all_gone(idents: dict[int, str | None]) -> bool:
    return all(_identity(pid) != start for pid, start in idents.items())


def _started_by(parents: set[int]) -> set[int]:
    """Live processes that a demo program or the demo started, known to the demo or not: their
    environment names one of `parents` as the process they must be a child of (ENV_PARENT)."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for var in env:
            key, _, value = var.partition(b"=")
            if key == ENV_PARENT.encode() and value.isdigit() and int(value) in parents:
                found.add(int(name))
    return found


def _unwrapped(text: str) -> list[str]:
    """A text report's lines as they were before wrapping: a continuation is indented two
    columns past the line it continues."""
    out: list[str] = []
    base = -1
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if out and line.strip() and indent == base + 2:
            out[-1] += " " + line.strip()
            continue
        out.append(line)
        base = indent
    return out


def _check_chain(summary: str, next_steps: tuple[str, ...] | list[str], pids: dict[str, int]) -> None:
    """The sixth example's wait-chain on report-exporter: through log-shipper to the stopped backup."""
    backup, shipper, exporter = pids["backup"], pids["log-shipper"], pids["report-exporter"]
    head = f"3 threads of pid {exporter} (report-exporter) wait to write to fd 2"
    assert summary.startswith(head), summary
    assert f"which pid {shipper} (log-shipper) should read" in summary, summary
    assert f"held by pid {backup} (backup); pid {backup} (backup) is stopped (state T)" in summary, summary
    assert any(f"stucktui signal {backup} CONT" in step for step in next_steps), next_steps


@pytest.mark.timeout(240)  # its own waits (90 s to develop) stay inside this on a crowded box
def test_demo_shows_each_incident_and_ends_every_process():
    before = _started_by({os.getpid()})  # other tests' programs, not this demo's
    demo = start_demo()
    try:
        idents = {pid: _identity(pid) for pid in demo.pids}
        assert len(demo.pids) == PROCESSES and all(idents.values()), "every demo process is running"
        assert {p.incident for p in demo.processes} == {1, 2, 3, 4, 5, 6}
        found = demo.wait_developed(timeout=90)
        by_role = {p.role: {f.id for f in found if f.pid == p.pid} for p in demo.processes}
        for role, ids in EXPECTED.items():
            assert ids <= by_role[role], (role, by_role[role])
        if demo.by_role("log-worker").expect:  # py-spy present: the poller is recognised
            assert "lock-self-wait" in by_role["log-worker"]
        for quiet in ("nginx", "mysql-lb", "redis", "uwsgi"):
            assert by_role[quiet] == set(), (quiet, by_role[quiet])
        hping = next(f for f in found if f.id == "signal-blocked-pending")
        assert f"parent pid {demo.by_role('uwsgi').pid} (uwsgi)" in hping.summary
        # 6: the root is two hops away from the threads that block, and stopped
        exporter = demo.by_role("report-exporter").pid
        (chain,) = [
            f for f in found if f.id == "wait-chain" and f.pid == exporter and "(backup)" in f.summary
        ]
        _check_chain(chain.summary, chain.next_steps, {p.role: p.pid for p in demo.processes})
        assert chain.severity == "critical" and len(chain.tids) == 3
        assert demo.expected()[exporter] == ("wait-chain",)
    finally:
        demo.stop()
    wait_until(lambda: _all_gone(idents), 30, what="every demo process gone")
    strays = _started_by({os.getpid(), *demo.pids}) - before
    assert not strays, f"left behind by the demo: {sorted(strays)}"
    assert not os.path.exists(demo.tmpdir)
    demo.stop()  # idempotent


def _started(out: bytes) -> dict[str, int]:
    """role -> pid, from the demo's list of the processes it started."""
    roles = {}
    for line in out.decode(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 4 and words[0] == "pid" and words[1].isdigit() and words[3] == "incident":
            roles[words[2]] = int(words[1])
    return roles


def _started_pids(out: bytes) -> list[int]:
    return list(_started(out).values())


def _everything_gone(demo: int, pids: list[int]) -> bool:
    """The demo's processes, and whatever they started, no longer exist (not even as zombies)."""
    return all(_identity(pid) is None for pid in pids) and not _started_by({demo, *pids})


def _read_until(fd: int, marker: bytes, timeout: float = 60.0) -> bytes:
    deadline = time.monotonic() + timeout
    buf = b""
    while marker not in buf and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pty reads EIO once the other side is gone
                break
            if not chunk:
                break
            buf += chunk
    return buf


def _run(*args: str, **kw) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "stucktui", *args], **kw)


@pytest.mark.timeout(240)  # its own waits (communicate: 180 s) stay inside this
def test_demo_no_tui_prints_findings_and_cleans_up():
    p = _run("demo", "--no-tui", "--timeout", "120", stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out, _ = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    roles = _started(out)
    pids = list(roles.values())
    assert p.returncode == 0, out[-2000:]
    assert len(pids) == PROCESSES
    text = out.decode()
    for rule in (
        "pipe-writers-blocked",
        "close-wait-leak",
        "epoll-spin",
        "signal-blocked-pending",
        "wait-chain",
    ):
        assert rule in text
    lines = _unwrapped(text)  # grouped by process, each line wrapped at 100 columns
    group = lines.index(
        next(x for x in lines if x.startswith(f"pid {roles['report-exporter']} (report-exporter): "))
    )
    head = "    [CRITICAL wait-chain] "
    end = next((i for i in range(group + 1, len(lines)) if lines[i][:1] not in ("", " ")), len(lines))
    (at,) = [i for i in range(group + 1, end) if lines[i].startswith(head) and "(backup)" in lines[i]]
    summary = lines[at][len(head) :]
    steps = []  # the finding's own lines, up to the next finding's
    for line in lines[at + 1 :]:
        if not line.startswith("        "):
            break
        steps += [line] if line.startswith("        next: ") else []
    _check_chain(summary, steps, roles)
    assert f"stucktui demo: ended pids {' '.join(map(str, pids))}" in text
    wait_until(lambda: _everything_gone(p.pid, pids), 30, what="demo pids gone")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_interrupted_still_ends_every_process(sig):
    p = _run("demo", "--no-tui", "--timeout", "600", stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert p.stdout is not None
    try:
        out = _read_until(p.stdout.fileno(), LAST_ROLE)
        pids = _started_pids(out)
        assert len(pids) == PROCESSES, out
        p.send_signal(sig)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    wait_until(lambda: _everything_gone(p.pid, pids), 30, what="demo pids gone after a signal")


def test_demo_tui_ends_every_process_when_stopped():
    """In a terminal the demo opens the TUI; a SIGTERM (the terminal's owner going away)
    leaves through the same finally."""
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="40")
    p = _run(
        "demo", "--interval", "1", stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    try:
        out = _read_until(master, LAST_ROLE)
        pids = _started_pids(out)
        assert len(pids) == PROCESSES, out[-2000:]
        out += _read_until(master, b"\x1b[?1049h", timeout=60)
        assert b"\x1b[?1049h" in out, "the TUI never took the screen"
        p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            _read_until(master, b"\x00", timeout=0.5)  # keep the pty drained while it exits
        assert p.poll() is not None, "the demo did not exit on SIGTERM"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        with contextlib.suppress(OSError):
            os.close(master)
    wait_until(lambda: _everything_gone(p.pid, pids), 30, what="demo pids gone after the TUI")
