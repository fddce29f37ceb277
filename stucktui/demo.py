"""`stucktui demo`: one live example of each incident in docs/incidents.md, and a sixth whose
root cause is two processes away from the threads that block (a wait chain), started as
children of this process (the programs of stucktui/incidents/, pure Python, loopback and
temporary files only), inspected, and ended by pid on exit.

start_demo() returns a Demo whose stop() ends every process it started, each by its own pid;
`stucktui demo` calls it in a try/finally, so Ctrl+C, SIGTERM or an exception end them too, and
every child also asks the kernel to kill it should the demo itself be killed (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from stucktui import incidents
from stucktui.collect.proclist import ProcessListCollector
from stucktui.diagnose.history import History
from stucktui.inspection.triage import triage_box
from stucktui.model.findings import Finding
from stucktui.procfs.root import ProcRoot
from stucktui.tools.pyspy import find_pyspy


class NotDeveloped(TimeoutError):
    """Some demo process did not show its findings in time; `findings` is what was seen."""

    def __init__(self, missing: list[tuple[int, str]], findings: list[Finding]) -> None:
        super().__init__("demo findings not seen: " + ", ".join(f"{i} on pid {p}" for p, i in missing))
        self.missing = missing
        self.findings = findings


class _Only(ProcRoot):
    """The real /proc, listing only these pids: the demo's own processes are every party of
    its incidents (grandchildren included), so its triage never walks a big box's processes
    and their fds (what made `demo --no-tui` slow on a busy box)."""

    def __init__(self, pids: frozenset[int]) -> None:
        super().__init__()
        self.only = pids

    def pids(self) -> list[int]:
        return [p for p in super().pids() if p in self.only]


@dataclass
class DemoProcess:
    role: str  # the name it gives itself
    incident: int
    pid: int
    expect: tuple[str, ...]  # the finding ids it shows once its incident has developed
    popen: subprocess.Popen[bytes] | None = None  # None for a grandchild
    pidfd: int | None = None  # grandchildren: signalled through a pidfd, never a bare pid


@dataclass
class Demo:
    tmpdir: str
    processes: list[DemoProcess] = field(default_factory=list)
    stopped: bool = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def by_role(self, role: str) -> DemoProcess:
        return next(p for p in self.processes if p.role == role)

    def stop(self, timeout: float = 10.0) -> None:
        """End every process, each by its own pid, grandchildren first; idempotent."""
        if self.stopped:
            return
        self.stopped = True
        for p in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError, OSError):
                if p.pidfd is not None:
                    signal.pidfd_send_signal(p.pidfd, signal.SIGKILL)
                    select.select([p.pidfd], [], [], timeout)  # readable once it has exited
                elif p.popen is not None and p.popen.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
            if p.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.popen.wait(timeout)
                if p.popen.stdout is not None:
                    p.popen.stdout.close()
            if p.pidfd is not None:
                os.close(p.pidfd)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def expected(self) -> dict[int, tuple[str, ...]]:
        return {p.pid: p.expect for p in self.processes if p.expect}

    def wait_developed(self, timeout: float = 60.0, interval: float = 0.5) -> list[Finding]:
        """Poll the triage of the demo's processes until each shows the findings its incident
        produces, and they hold still (the same findings, severities and threads in two looks
        in a row: on a busy box the last of three writers may block a moment after the first);
        return the demo processes' findings. Raises NotDeveloped (a TimeoutError) naming what
        is still missing; what was seen is its `findings`."""
        root = _Only(frozenset(self.pids))  # the demo's processes, not the whole box
        collector = ProcessListCollector(root)  # a second snapshot gives CPU% (epoll-spin)
        collector.collect()
        history = History()
        deadline = time.monotonic() + timeout
        want = self.expected()
        before: set[tuple[object, ...]] | None = None
        while True:
            time.sleep(interval)
            result = triage_box(root, processes=collector.collect(), history=history)
            mine = [f for f in result.findings if f.pid in set(self.pids)]
            seen = {(f.pid, f.id) for f in mine}
            missing = [(pid, i) for pid, ids in want.items() for i in ids if (pid, i) not in seen]
            shape: set[tuple[object, ...]] = {(f.pid, f.id, f.severity, f.tids) for f in mine}
            if not missing and shape == before:
                return mine
            before = shape if not missing else None
            if time.monotonic() >= deadline:
                raise NotDeveloped(missing, mine)

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ready_words(p: subprocess.Popen[bytes], role: str, err: str, timeout: float) -> list[str]:
    """The words a child printed before 'ready' (read from the raw fd, bounded in time)."""
    assert p.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    while b"ready\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or (p.poll() is not None and not select.select([p.stdout], [], [], 0)[0]):
            tail = ""
            with contextlib.suppress(OSError), open(err, errors="replace") as f:
                tail = f.read()[-300:]
            raise RuntimeError(f"demo process {role} did not start (exit status {p.poll()}): {tail}")
        if select.select([p.stdout], [], [], min(left, 0.2))[0]:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk and p.poll() is not None:
                continue
            buf += chunk
    return buf.split(b"ready\n", 1)[0].decode().split()


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, ValueError, IndexError):
        return None


def _seed_spool(spool: str) -> None:
    """The log spool as the night found it: the last three rotated logs, for the backup to copy
    (a few seconds of work at its bandwidth limit, so it still holds the lock when stopped)."""
    os.mkdir(spool)
    line = b"1718000000.000 INFO report-exporter sales-2024-05: 8000/8000 rows rendered (2.41s)\n"
    for n in (1, 2, 3):
        with open(os.path.join(spool, f"current.log.{n}"), "wb") as f:
            f.write(line * (256 * 1024 // len(line)))


def start_demo(timeout: float = 30.0) -> Demo:
    """Start the six examples. Raises RuntimeError, having ended what it started, if one
    does not come up within `timeout` seconds."""
    demo = Demo(tempfile.mkdtemp(prefix="stucktui-demo-"))
    env = incidents.environ()

    def start(
        role: str, program: incidents.Program, incident: int, expect: tuple[str, ...], *args: str, **kw: Any
    ) -> list[str]:
        err = os.path.join(demo.tmpdir, role + ".err")
        log = None if "stderr" in kw else open(err, "wb")  # noqa: SIM115 - closed below
        try:
            p = subprocess.Popen(
                incidents.argv(program, *args),
                stdin=kw.pop("stdin", subprocess.DEVNULL),
                stdout=subprocess.PIPE,
                stderr=kw.pop("stderr", log),
                env=env,
                **kw,
            )
        finally:
            if log is not None:
                log.close()  # the child has its own copy
        demo.processes.append(DemoProcess(role, incident, p.pid, expect, popen=p))
        return _ready_words(p, role, err, timeout)

    fds: list[int] = []  # pipe ends the demo holds until the children that use them are started

    def pipe() -> tuple[int, int]:
        r, w = os.pipe()
        fds.extend((r, w))
        return r, w

    def close(*ends: int) -> None:
        for fd in ends:
            fds.remove(fd)
            os.close(fd)

    try:
        r, w = pipe()
        # docs/incidents.md §1: the read end is passed along (no close-on-exec), the demo keeps neither end
        (port,) = start(
            "api-service",
            "api_service",
            1,
            ("pipe-writers-blocked", "workers-all-blocked", "close-wait-unread"),
            stderr=w,
            pass_fds=(r,),
        )
        close(r, w)
        start("nginx", "nginx", 1, (), port)
        (db_port,) = start("mysql-lb", "idle_server", 2, (), "mysql-lb", "1.0")
        start("orders-api", "orders_api", 2, ("close-wait-leak",), db_port)
        (redis_port,) = start("redis", "idle_server", 4, (), "redis", "1.0")
        start("celery-worker", "celery_worker", 4, ("epoll-spin",), redis_port)
        (child,) = start("uwsgi", "uwsgi", 3, (), incidents.path("hping3"))
        pidfd = os.pidfd_open(int(child))
        if _ppid(int(child)) != demo.by_role("uwsgi").pid:  # checked after pinning the pid
            os.close(pidfd)
            raise RuntimeError("demo process hping3 exited before it could be watched")
        demo.processes.append(DemoProcess("hping3", 3, int(child), ("signal-blocked-pending",), pidfd=pidfd))
        lock = os.path.join(demo.tmpdir, "app.log.lock")
        # the LOCK_NB poller is seen in its Python stack: without py-spy, nothing shows it
        start("log-worker", "log_worker", 5, ("lock-self-wait",) if find_pyspy() else (), lock)
        # 6: report-exporter's stderr is a pipe into log-shipper, which appends to a spool under
        # the spool's lock; backup took that lock and was stopped (Ctrl+Z): the root, two hops away
        spool = os.path.join(demo.tmpdir, "spool")
        _seed_spool(spool)
        start("backup", "backup", 6, (), spool, os.path.join(demo.tmpdir, "backup"))
        stopped = demo.by_role("backup").pid
        os.kill(stopped, signal.SIGSTOP)  # what Ctrl+Z in its terminal does (SIGTSTP), uncatchable
        deadline = time.monotonic() + timeout
        while _state(stopped) != "T":
            if time.monotonic() >= deadline:
                raise RuntimeError(f"demo process backup did not stop (state {_state(stopped)})")
            time.sleep(0.01)
        r, w = pipe()
        start("log-shipper", "log_shipper", 6, (), spool, stdin=r)  # the pipe's only reader
        close(r)
        start("report-exporter", "report_exporter", 6, ("wait-chain",), os.path.join(demo.tmpdir, "reports"),
              "3", stderr=w)  # fmt: skip
        close(w)
    except BaseException:
        for fd in fds:
            os.close(fd)
        demo.stop()
        raise
    return demo


def _describe(demo: Demo) -> str:
    lines = [f"stucktui demo: started {len(demo.pids)} processes (ended by pid when stucktui exits):"]
    for p in demo.processes:
        lines.append(f"  pid {p.pid:>7}  {p.role:<15} incident {p.incident}")
    return "\n".join(lines)


def run_demo(*, interval: float = 2.0, tui: bool = True, timeout: float = 60.0) -> int:
    """`stucktui demo`: start the incidents, show them (the TUI, or with tui=False their
    findings as text), and end every one of them whatever happens: Ctrl+C, SIGTERM, SIGHUP
    (the terminal went away) or an exception all pass through the finally."""
    from stucktui.report import BoxReport, render_box

    if tui and not sys.stdout.isatty() and not os.environ.get("STUCKTUI_FORCE_TUI"):
        print("stucktui demo: the TUI needs a terminal; use `stucktui demo --no-tui`", file=sys.stderr)
        return 2

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        demo = start_demo()
        try:
            print(_describe(demo), flush=True)
            if tui:
                from stucktui.ui.app import StuckApp

                app = StuckApp(interval=interval, start_pid=None, triage_at_start=True)
                app.run()
                return app.return_code or 0
            rc = 0
            try:
                found = demo.wait_developed(timeout)
            except NotDeveloped as exc:
                found, rc = exc.findings, 1
                print(f"stucktui demo: {exc}", file=sys.stderr)
            rep = BoxReport(tuple(found), len(demo.pids), len(demo.pids), time.time(), 0.0, "stucktui demo")
            sys.stdout.write(render_box(rep, "text"))
            return rc
        finally:
            demo.stop()
            print(f"stucktui demo: ended pids {' '.join(map(str, demo.pids))}", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
