"""Benchmark: the sick box (issue 18, items 6 and 7). A script, not a timed test.

Run as root from the repository root (see bench/README.md, "The sick box"):

  python bench/sick_box.py [--procs 5000] [--sockets 100000] [--cw 2000] [--fds 20000]
                           [--hogs N] [--runs 5] [--only NAME,...] [--seconds 20] [--presses 40]

It builds the sick box: --procs extra idle processes (each holds a pipe), --sockets TCP sockets
on loopback (--cw of them connections their clients closed while they waited in a listener's
accept queue: CLOSE_WAIT with no fd; of the rest, --estab-share ESTABLISHED pairs and the others
CLOSE_WAIT ends whose server closed them, holding 301 unread bytes), a 1-thread Python process
(the `report PID` target), a Python process with --threads threads blocked in pipe writes, lock
waits and sleeps (the Threads target), a process with --fds fds (the Files target), and --hogs
busy loops (default: one per CPU, so every core is pegged while it measures). Then each
comparison runs interleaved (stucktui, peer, stucktui, peer, ...), and a Markdown table gives the
medians, the ratio, the target and met/missed. --procs and --sockets take comma-separated
sizes: every combination is measured, and a last table shows how each figure grows.

Comparisons (--only takes these names):
  import    stucktui's own import cost against Textual's (-X importtime, self times by owner)
  snapshot  ProcessListCollector.collect() in steady state against `ps -eo ...` (CPU)
  report    `stucktui report PID` of the 1-thread Python process against `cat
            /proc/PID/status; lsof -p PID; ss -tanp; py-spy dump --pid PID` (wall), and its
            peak RSS
  all       `stucktui report --all` against `ps -eo ...; ss -tanp` (wall)
  files     the Files tab of the real TUI on the --fds process: key 4 to the frame that shows
            it, against `lsof -p PID` (wall)
  pid       `stucktui --pid PID` (the Threads target): launch to the frame showing the process,
            with htop -p PID's first paint beside it
  threads   the Threads tab, in the same launches: key 2 to the frame with the Python stacks,
            against `py-spy dump --pid PID` (wall)
  triage    `stucktui`: launch to the frame that shows the box's first findings
  keys      key press to repaint on the process list, samples back to back (p95)
  steady    the TUI's steady CPU on the process list (--interval 1.5) against `htop -d 15`
            (CPU per refresh), and the TUI's RSS after those refreshes

Everything it starts is its own child (the idle processes are children of a spawner it
starts), ended by pid in a finally block; each also ends by itself when the benchmark dies
(PR_SET_PDEATHSIG) and after --lifetime minutes in any case. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata as md
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_proclist import (  # noqa: E402
    PS_ARGV,
    KeyLatency,
    PtyChild,
    key_latency,
    p95,
    read_log,
    snapshot_cost,
    stucktui_under_pty,
    wait_until,
)

import stucktui  # noqa: E402
from stucktui.collect.sockets import SocketCollector  # noqa: E402
from stucktui.tools.pyspy import find_pyspy  # noqa: E402

NAMES = ("import", "snapshot", "report", "all", "files", "pid", "threads", "triage", "keys", "steady")
PS_CMD = " ".join(PS_ARGV)
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
TUI_TIMEOUT = 300  # seconds the TUI may take to paint what is waited for (a slow first sample)


# -- the box's processes ---------------------------------------------------------------------
# Every child runs this first: it ends with the benchmark (PR_SET_PDEATHSIG; the getppid check
# closes the race with a benchmark that died before the prctl) and after SICKBOX_LIFETIME
# seconds in any case (SIGALRM's default action ends the process).
PRELUDE = textwrap.dedent(
    """
    import ctypes, os, signal, sys
    libc = ctypes.CDLL(None)
    libc.prctl(1, signal.SIGKILL)
    if os.getppid() != int(os.environ["SICKBOX_PARENT"]):
        os._exit(1)
    LIFE = int(os.environ["SICKBOX_LIFETIME"])
    signal.alarm(LIFE)
    def idle():
        while True:
            signal.pause()
    """
)

# N idle processes, forked by one spawner; each holds both ends of a pipe and waits in pause().
# On EOF on its stdin (the benchmark is done, or died) the spawner kills each child by pid
# (its own unreaped children: their pids cannot have been reused) and reaps them.
SPAWNER = PRELUDE + textwrap.dedent(
    """
    n = int(sys.argv[2])
    me = os.getpid()
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                libc.prctl(1, signal.SIGKILL)
                if os.getppid() == me:
                    null = os.open(os.devnull, os.O_RDWR)
                    os.dup2(null, 0)
                    os.dup2(null, 1)
                    os.close(null)
                    os.pipe()
                    signal.alarm(LIFE)
                    idle()
            finally:
                os._exit(0)
        pids.append(pid)
    sys.stdout.write(" ".join(map(str, pids)) + "\\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        os.waitpid(pid, 0)
    """
)

# TCP sockets on loopback, by mode:
#   cw       K client ends in CLOSE_WAIT: a thread accepts each connection, sends 300 bytes and
#            closes it; the client end keeps 301 unread bytes (the data and the FIN)
#   estab    K/2 idle connections, both ends held: K sockets ESTABLISHED
#   orphans  K connections closed by their clients while queued: each listener's accept queue
#            (backlog argv[4]) holds them in CLOSE_WAIT, with no fd, never accepted
HOLDER = PRELUDE + textwrap.dedent(
    """
    import resource, socket, threading
    mode, k = sys.argv[2], int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    keep = []
    if mode == "orphans":
        backlog = int(sys.argv[4])
        left = k
        while left:
            n = min(left, backlog)
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen(backlog)
            keep.append(srv)
            for _ in range(n):
                socket.create_connection(srv.getsockname()).close()
            left -= n
    else:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4096)
        keep.append(srv)
        conns = k if mode == "cw" else k // 2
        def serve():
            for _ in range(conns):
                a, _ = srv.accept()
                if mode == "cw":
                    a.sendall(b"x" * 300)
                    a.close()
                else:
                    keep.append(a)
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        keep += [socket.create_connection(srv.getsockname()) for _ in range(conns)]
        t.join()
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()
    """
)

# The `report PID` target: one thread; a listener, one connection to it (both ends) and a pipe.
REPORT_TARGET = PRELUDE + textwrap.dedent(
    """
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    c = socket.create_connection(srv.getsockname())
    a, _ = srv.accept()
    r, w = os.pipe()
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    idle()
    """
)

# The Threads target (bench/bench_threads.py's): N threads blocked in pipe writes, lock waits
# and sleeps.
THREADS_TARGET = PRELUDE + textwrap.dedent(
    """
    import threading, time
    n = int(sys.argv[2])
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 65536)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    lock = threading.Lock()
    lock.acquire()
    def pipe_writer():
        os.write(w, b"y")
    def lock_waiter():
        lock.acquire()
    def sleeper():
        time.sleep(LIFE)
    kinds = (pipe_writer, lock_waiter, sleeper)
    threading.stack_size(256 * 1024)
    for i in range(n - 1):
        threading.Thread(target=kinds[i % 3], daemon=True).start()
    while len(os.listdir("/proc/self/task")) < n:
        time.sleep(0.01)
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    idle()
    """
)

# The Files target (bench/bench_files.py's): N fds, a tenth of them pipes... (n // 20 pipes,
# two fds each), the rest one regular file opened again and again.
FILES_TARGET = PRELUDE + textwrap.dedent(
    """
    import resource
    n = int(sys.argv[2])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for _ in range(n // 20):
        os.pipe()
    have = len(os.listdir("/proc/self/fd")) - 1
    for _ in range(n - have):
        os.open("/etc/hostname", os.O_RDONLY)
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    idle()
    """
)

HOG = PRELUDE + "while True:\n    pass\n"


def hard_nofile() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def somaxconn() -> int:
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return 4096


class Box:
    """The sick box's processes, all children of this script, ended by pid in stop()."""

    def __init__(self, lifetime_s: int) -> None:
        self.lifetime_s = lifetime_s
        self.spawners: list[tuple[subprocess.Popen[bytes], int]] = []  # (spawner, children)
        self.others: list[subprocess.Popen[bytes]] = []  # holders, targets
        self.hogs: list[subprocess.Popen[bytes]] = []
        self.sockets = {"cw": 0, "estab": 0, "orphans": 0}
        self.report_pid = self.threads_pid = self.files_pid = 0

    def __enter__(self) -> Box:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, role: str, code: str, *args: str, wait_ready: bool = True) -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            SICKBOX_PARENT=str(os.getpid()),
            SICKBOX_LIFETIME=str(self.lifetime_s),
            SICKBOX_CODE=code,
        )
        # a short command line, with the role in it, as `ps` and htop show it
        argv = [sys.executable, "-c", "import os; exec(os.environ['SICKBOX_CODE'])", role, *args]
        return subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    @staticmethod
    def _ready(p: subprocess.Popen[bytes], what: str) -> bytes:
        assert p.stdout is not None
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"{what} (pid {p.pid}) exited with {p.wait()} before it was ready")
        return line

    # idle processes
    @property
    def extra(self) -> int:
        return sum(n for _, n in self.spawners)

    def procs_to(self, n: int) -> None:
        while self.spawners and self.extra > n:
            self._end_spawner(*self.spawners.pop())
        need = n - self.extra
        if need <= 0:
            return
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        used = sum(1 for _ in Path("/proc").glob("[0-9]*/task/[0-9]*"))
        if need > pid_max - used - 500:
            raise SystemExit(f"pid_max ({pid_max}) leaves no room for {need} more processes")
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY and soft < n + used + 1000:
            resource.setrlimit(resource.RLIMIT_NPROC, (hard, hard))
        p = self._start("sickbox-idle", SPAWNER, str(need))
        self.spawners.append((p, need))
        pids = [int(x) for x in self._ready(p, "the spawner").split()]
        if len(pids) != need:
            raise RuntimeError(f"the spawner started {len(pids)} of {need} processes")
        pending = set(pids)

        def all_paused() -> bool:
            for pid in list(pending):
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    raise RuntimeError(f"idle process {pid} died") from None
                if stat[stat.rindex(")") + 2] == "S":
                    pending.discard(pid)
            return not pending

        wait_until(all_paused, 300, f"{need} idle processes to sleep", step=0.2)

    def _end_spawner(self, p: subprocess.Popen[bytes], _n: int) -> None:
        if p.stdin is not None:
            with contextlib.suppress(OSError):
                p.stdin.close()  # EOF: it kills its children by pid and reaps them
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:  # its children die with it (PR_SET_PDEATHSIG)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        if p.stdout is not None:
            p.stdout.close()

    # sockets
    def sockets_to(self, cw: int, estab: int, orphans: int) -> bool:
        """Adds holders until the box holds this many sockets of each kind (never fewer).
        Whether it added any."""
        per_proc = hard_nofile() - 10
        starting: list[subprocess.Popen[bytes]] = []
        for mode, want, per in (("cw", cw, per_proc), ("estab", estab, per_proc - per_proc % 2)):
            left = want - self.sockets[mode]
            while left > 0:
                k = min(left, per)
                if mode == "estab":
                    k += k % 2
                starting.append(self._start(f"sickbox-{mode}", HOLDER, mode, str(k)))
                self.sockets[mode] += k
                left -= k
        if orphans > self.sockets["orphans"]:
            k = orphans - self.sockets["orphans"]
            starting.append(
                self._start("sickbox-orphans", HOLDER, "orphans", str(k), str(min(4096, somaxconn())))
            )
            self.sockets["orphans"] += k
        self.others += starting
        for p in starting:
            if self._ready(p, "a socket holder") != b"ready\n":
                raise RuntimeError(f"socket holder {p.pid} failed")
        return bool(starting)

    # targets and hogs
    def start_targets(self, threads: int, fds: int) -> None:
        if not self.report_pid:
            p = self._start("sickbox-report-target", REPORT_TARGET)
            self.others.append(p)
            self._ready(p, "the report target")
            self.report_pid = p.pid
        if not self.threads_pid:
            p = self._start("sickbox-threads-target", THREADS_TARGET, str(threads))
            self.others.append(p)
            self._ready(p, "the Threads target")
            self.threads_pid = p.pid
        if fds and not self.files_pid:
            if fds > hard_nofile():
                raise SystemExit(f"--fds {fds} is over RLIMIT_NOFILE's hard limit {hard_nofile()}")
            p = self._start("sickbox-files-target", FILES_TARGET, str(fds))
            self.others.append(p)
            self._ready(p, "the Files target")
            self.files_pid = p.pid

    def start_hogs(self, n: int) -> None:
        self.hogs += [self._start("sickbox-hog", HOG) for _ in range(n)]

    def stop_hogs(self) -> None:
        self._end(self.hogs)
        self.hogs = []

    @staticmethod
    def _end(procs: list[subprocess.Popen[bytes]]) -> None:
        for p in procs:
            if p.returncode is None:  # not reaped yet, so the pid is still this child
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait()
            for f in (p.stdin, p.stdout):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()

    def stop(self) -> None:
        try:
            self.stop_hogs()
            self._end(self.others)
            self.others = []
        finally:
            while self.spawners:
                self._end_spawner(*self.spawners.pop())

    def check_alive(self) -> None:
        dead = [
            p.pid for p in self.others + self.hogs + [s for s, _ in self.spawners] if p.poll() is not None
        ]
        if dead:
            raise RuntimeError(f"processes of the box exited early (--lifetime?): {dead}")


def tcp_states() -> dict[str, int]:
    return SocketCollector().state_counts()


def wait_sockets(box: Box, base: dict[str, int], settle: bool, made_at: float) -> float:
    """Until the holders' sockets show in the table; with settle, until the server ends they
    closed (made by `made_at`) have left FIN_WAIT_2: tcp_fin_timeout after they were closed
    (the counts of the whole table cannot tell, on a box where other work makes them too).
    Returns seconds waited."""
    t0 = time.monotonic()
    cw = base.get("CLOSE_WAIT", 0) + box.sockets["cw"] + box.sockets["orphans"]
    wait_until(lambda: tcp_states().get("CLOSE_WAIT", 0) >= cw, 180, f"{cw} CLOSE_WAIT sockets", step=0.5)
    if settle:
        try:
            fin = int(Path("/proc/sys/net/ipv4/tcp_fin_timeout").read_text())
        except (OSError, ValueError):
            fin = 60
        time.sleep(max(0.0, made_at + fin + 2 - time.monotonic()))
    return time.monotonic() - t0


def describe_box(box: Box, hogs: int) -> str:
    pids = [n for n in os.listdir("/proc") if n.isdigit()]
    threads = sum(1 for _ in Path("/proc").glob("[0-9]*/task/[0-9]*"))
    st = tcp_states()
    total = sum(v for k, v in st.items() if k != "LISTEN")
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(st.items(), key=lambda kv: -kv[1]) if v)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    s = box.sockets
    return (
        f"**Box:** {len(pids):,} processes ({box.extra:,} extra idle ones holding a pipe each), "
        f"{threads:,} threads; TCP sockets in our namespace {total:,} + LISTEN: {states}. Made here: "
        f"{s['cw']:,} CLOSE_WAIT client ends with 301 unread bytes, {s['estab']:,} ESTABLISHED "
        f"(both ends of {s['estab'] // 2:,} idle connections), {s['orphans']:,} connections closed "
        f"by their clients in accept queues (CLOSE_WAIT, no fd). Targets: `report` pid "
        f"{box.report_pid} (1 thread), Threads pid {box.threads_pid}, Files pid {box.files_pid}. "
        f"{hogs} busy-loop hogs on {os.cpu_count()} CPUs; load average {load}."
    )


# -- measuring commands ----------------------------------------------------------------------
# A small launcher forks (a real fork, not the vfork subprocess may use: the child's peak RSS
# would start from this script's) and execs the command with stdin and stdout on /dev/null,
# then reports its wall time and the rusage of it and its reaped children (wait4).
LAUNCHER = textwrap.dedent(
    """
    import json, os, sys, time
    argv = sys.argv[1:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss,
                      "status": os.waitstatus_to_exitcode(status)}))
    """
)


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)  # seconds
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)  # bytes
    notes: list[str] = field(default_factory=list)
    # TUI runs: (to the sample's start, the sample, its snapshot to the frame), seconds
    phases: list[tuple[float, float, float]] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)  # span_steps of each run

    def phases_note(self, start: str) -> str:
        if not self.phases:
            return ""
        a, b, c = (med([p[i] for p in self.phases]) for i in range(3))
        note = f"{start} to the sample's start {ms(a)}, the sample {ms(b)}, its snapshot to the frame {ms(c)}"
        names = sorted({k for d in self.steps for k in d if not k.endswith(" cpu")})
        if names:
            parts = []
            for n in names:
                wall = med([d.get(n, 0.0) for d in self.steps])
                part = f"{n} {wall:,.0f} ms"
                if any(n + " cpu" in d for d in self.steps):  # py-spy: a process of its own
                    part += f" (CPU {med([d.get(n + ' cpu', 0.0) for d in self.steps]):,.0f} ms)"
                parts.append(part)
            note += "; in the span (medians, bench/sick_tui.py's steps): " + ", ".join(parts)
        return note

    def add(self, wall: float, cpu: float | None = None) -> None:
        self.wall.append(wall)
        if cpu is not None:
            self.cpu.append(cpu)


def run_measured(argv: list[str], into: Samples, timeout: float = 900) -> None:
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        r = json.loads(out.stdout.splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"launcher failed for {argv}: {out.stderr[-2000:]}") from None
    into.add(r["wall"], r["cpu"])
    into.rss.append(r["maxrss_kib"] * 1024)
    if r["status"] != 0:
        line = (out.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        note = f"`{' '.join(argv)[:60]}` exited {r['status']}: {line[:200]}"
        if note not in into.notes:
            into.notes.append(note)


def stucktui_argv() -> list[str]:
    script = Path(sys.executable).parent / "stucktui"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "stucktui"]


# -- the TUI under a pty ---------------------------------------------------------------------
@dataclass
class Event:
    kind: str
    t: float
    cpu: float
    fields: dict[str, str]


def read_events(log: Path) -> list[Event]:
    out = []
    for line in log.read_text().splitlines():
        p = line.split()
        if len(p) < 3:
            continue  # a line being written
        fields = dict(x.split("=", 1) for x in p[3:] if "=" in x)
        out.append(Event(p[0], float(p[1]), float(p[2]), fields))
    return out


def painted(events: list[Event], since: float, want: Callable[[dict[str, str]], bool]) -> Event | None:
    """The first frame after the first snapshot since `since` that `want` accepts."""
    applied = next((e for e in events if e.kind == "apply" and e.t >= since and want(e.fields)), None)
    if applied is None:
        return None
    return next((e for e in events if e.kind == "frame" and e.t >= applied.t), None)


def phases(events: list[Event], since: float, frame: Event) -> tuple[float, float, float]:
    """Where the time from `since` to `frame` went: until the first sample after `since`
    started, from then to the snapshot the frame shows reaching the UI (the sample; the lane
    goes on with the rules' look after it, so its end can come after the frame), and from
    that snapshot to the frame."""
    begin = next((e.t for e in events if e.kind == "begin" and e.t >= since), math.nan)
    applied = [e.t for e in events if e.kind == "apply" and e.t <= frame.t]
    last = applied[-1] if applied else math.nan
    return begin - since, last - begin, frame.t - last


# the steps of a tab key's span summed up in the notes (bench/sick_tui.py's STEPS)
SPAN_STEPS = {
    "files": ("PidDir.fd_links", "_to_read", "with_pipes", "collect_files", "FilesPanel.update_panels"),
    "threads": ("ThreadCollector.collect", "pyspy", "ThreadsPanel.update_panels"),
}


def span_steps(events: list[Event], since: float, frame: Event, names: tuple[str, ...]) -> dict[str, float]:
    """name -> wall ms of that step in the span (summed), and name + ' cpu' -> its thread's CPU."""
    out: dict[str, float] = {}
    for e in events:
        name = e.fields.get("name")
        if e.kind == "step" and since <= e.t <= frame.t and name in names:
            out[name] = out.get(name, 0.0) + float(e.fields.get("ms", 0))
            if "cpu" in e.fields:
                out[name + " cpu"] = out.get(name + " cpu", 0.0) + float(e.fields["cpu"])
    return out


def in_flight(events: list[Event], at: float) -> bool:
    begins = [e.t for e in events if e.kind == "begin" and e.t <= at]
    ends = [e.t for e in events if e.kind == "end" and e.t <= at]
    return bool(begins) and (not ends or begins[-1] > ends[-1])


@dataclass
class TuiRun:
    child: PtyChild
    log: Path
    launched: float

    def events(self) -> list[Event]:
        return read_events(self.log)

    def wait_painted(
        self, since: float, want: Callable[[dict[str, str]], bool], timeout: float, what: str
    ) -> Event:
        found: list[Event] = []

        def done() -> bool:
            self.child.alive()
            e = painted(self.events(), since, want)
            if e is not None:
                found.append(e)
            return e is not None

        wait_until(done, timeout, what, step=0.02)
        return found[0]

    def press_when_idle(self, key: bytes, interval: float) -> tuple[float, float, bool]:
        """Writes key at a moment no sample runs and the next is not due for a while: the
        cost of the key, not the wait for a sample already under way. Returns (time written,
        the app's CPU then, whether a sample was running after all)."""
        deadline = time.monotonic() + TUI_TIMEOUT
        while time.monotonic() < deadline:
            ev = self.events()
            now = time.monotonic()
            ends = [e.t for e in ev if e.kind == "end"]
            if ends and not in_flight(ev, now) and now - ends[-1] < interval - 0.7:
                ts = time.monotonic()
                self.child.send(key)
                cpu0 = [e.cpu for e in ev if e.t <= ts][-1]
                return ts, cpu0, in_flight(self.events(), ts)
            time.sleep(0.05)
        raise TimeoutError("the TUI never had an idle moment to take a key")


@contextlib.contextmanager
def tui(args: list[str]) -> Iterator[TuiRun]:
    with tempfile.TemporaryDirectory(prefix="sickbox-tui-") as tmp:
        log = Path(tmp) / "tui.log"
        log.touch()
        t0 = time.monotonic()
        child = PtyChild([sys.executable, str(HERE / "sick_tui.py"), str(log), *args])
        try:
            yield TuiRun(child, log, t0)
        finally:
            child.stop(quit_keys=b"qq")
            keep = os.environ.get("SICKBOX_TUI_LOGS")  # a directory: each launch's event log kept
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(log, Path(keep) / f"tui-{time.time():.3f}-{'-'.join(args)[:40]}.log")


_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


class WatchedPty(PtyChild):
    """A program on a pty whose output is searched (escape sequences removed) for a pattern:
    when it first appears is when the program painted it."""

    def __init__(self, argv: list[str], pattern: bytes) -> None:
        self.pattern = re.compile(pattern)
        self.seen_at: float | None = None
        self._raw = b""
        super().__init__(argv)

    def _drain(self) -> None:
        while True:
            try:
                b = os.read(self.master, 65536)
            except OSError:
                return
            if not b:
                return
            now = time.monotonic()
            self.arrivals.append((now, len(b)))
            self.tail = (self.tail + b)[-4000:]
            if self.seen_at is None and len(self._raw) < 4 * MIB:
                self._raw += b
                if self.pattern.search(_ESCAPES.sub(b"", self._raw)):
                    self.seen_at = now


def with_pdeathsig(argv: list[str]) -> list[str]:
    """argv run so that it ends when this script dies (a closed pty does not end htop): setpriv
    sets PR_SET_PDEATHSIG and execs it, which costs about a millisecond of its start-up."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", *argv] if setpriv else argv


def htop_first_paint(htop: str, pid: int) -> float:
    """htop -p PID: from launch to the first output showing the process's row (its pid, then
    its user: the benchmark runs as root)."""
    t0 = time.monotonic()
    pattern = rb"(?<!\d)" + str(pid).encode() + rb"\s*root"
    child = WatchedPty(with_pdeathsig([htop, "-p", str(pid)]), pattern)
    try:
        wait_until(lambda: child.alive() and child.seen_at is not None, 60, "htop to show the process", 0.01)
        assert child.seen_at is not None
        return child.seen_at - t0
    finally:
        child.stop(quit_keys=b"q")


# -- results ---------------------------------------------------------------------------------
def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x * 1000:,.0f} ms" if x >= 0.01 else f"{x * 1000:.1f} ms"


def cell(s: Samples) -> str:
    parts = []
    if s.wall:
        parts.append(f"wall {ms(med(s.wall))}")
    if s.cpu:
        parts.append(f"CPU {ms(med(s.cpu))}")
    return " · ".join(parts) or "-"


@dataclass
class Result:
    key: str
    label: str  # the target, as the issue words it
    ours: str
    peer: str
    measured: float  # a ratio, or seconds, or bytes
    shown: str  # measured, formatted
    target: str
    verdict: str
    notes: list[str] = field(default_factory=list)


def ratio_result(
    key: str, label: str, ours: Samples, peer: Samples, peer_name: str, basis: str, limit: float
) -> Result:
    a = med(ours.cpu if basis == "CPU" else ours.wall)
    b = med(peer.cpu if basis == "CPU" else peer.wall)
    r = a / b if b else math.nan
    other = "wall" if basis == "CPU" else "CPU"
    oa = med(ours.wall if basis == "CPU" else ours.cpu)
    ob = med(peer.wall if basis == "CPU" else peer.cpu)
    extra = f" ({other} {oa / ob:.2f}x)" if ob and not math.isnan(oa) and not math.isnan(ob) else ""
    return Result(
        key,
        label,
        cell(ours),
        f"{peer_name}: {cell(peer)}",
        r,
        f"**{r:.2f}x** {basis}{extra}",
        f"≤ {limit:g}x ({basis})",
        "met" if r <= limit else "missed",
        ours.notes + peer.notes,
    )


def skipped(key: str, label: str, why: str) -> Result:
    return Result(key, label, "-", "-", math.nan, "-", "-", f"skipped: {why}")


def print_table(results: list[Result]) -> None:
    print("\n| target (issue 18) | stucktui (median) | peer (median) | measured | target | verdict |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.label} | {r.ours} | {r.peer} | {r.shown} | {r.target} | {r.verdict} |")
    notes = [(r.key, n) for r in results for n in r.notes]
    if notes:
        print()
        for key, n in notes:
            print(f"- {key}: {n}")
    sys.stdout.flush()


# -- the comparisons -------------------------------------------------------------------------
@dataclass
class Env:
    args: argparse.Namespace
    box: Box
    ps: str | None
    lsof: str | None
    ss: str | None
    htop: str | None
    pyspy: str | None


def textual_packages() -> set[str]:
    """The top-level import names of Textual and everything it requires."""
    dists, todo = set(), ["textual"]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in dists:
            continue
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        dists.add(name)
        for r in reqs:
            if "extra ==" in r:
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0])
    tops = {"textual", "rich"}
    for top, owners in md.packages_distributions().items():
        if any(o.lower().replace("_", "-") in dists for o in owners):
            tops.add(top)
    return tops


def import_owners(
    stderr: str, textual_tops: set[str], textual_needs: frozenset[str] = frozenset()
) -> tuple[dict[str, float], dict[str, float]]:
    """Self import times (µs) summed by owner: a module of stucktui or of Textual (and its
    requirements) is its own owner's; so is any module in textual_needs (what importing
    Textual's modules alone loads: the standard library modules Textual needs in any case);
    any other module (the standard library, psutil) belongs to the nearest module above it
    in the import tree that has an owner ("other" if none: the interpreter's start-up). Also
    each stucktui module's own time with what it pulled in that has no owner."""
    nodes: list[tuple[int, str, int, list[int]]] = []  # (level, name, self µs, children)
    pending: dict[int, list[int]] = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|( +)(\S+)", line)
        if not m:
            continue
        level = (len(m.group(2)) - 1) // 2
        idx = len(nodes)
        nodes.append((level, m.group(3), int(m.group(1)), pending.pop(level + 1, [])))
        pending.setdefault(level, []).append(idx)
    totals = {"stucktui": 0.0, "textual": 0.0, "other": 0.0}
    mods: dict[str, float] = {}

    def own(name: str) -> str | None:
        top = name.split(".")[0]
        if top == "stucktui":
            return "stucktui"
        return "textual" if top in textual_tops or name in textual_needs else None

    def walk(i: int, owner: str, module: str) -> None:
        _, name, us, children = nodes[i]
        o = own(name)
        if o is not None:
            owner, module = o, name
        totals[owner] += us
        if owner == "stucktui":
            mods[module] = mods.get(module, 0.0) + us
        for c in children:
            walk(c, owner, module)

    for roots in pending.values():
        for i in roots:
            walk(i, "other", "")
    return totals, mods


def textual_needs(prefix: Path, env: dict[str, str], code: str, tops: set[str]) -> frozenset[str]:
    """What Textual needs by itself: the modules that importing, alone, the Textual modules
    `code` loads brings in, less what the interpreter loads at start-up. A standard library
    module in it is paid by Textual whoever imports it first, so it is not stucktui's own cost."""
    run = functools.partial(subprocess.run, capture_output=True, text=True, check=True, env=env)
    py = [sys.executable, "-X", f"pycache_prefix={prefix}"]
    out = run([*py, "-X", "importtime", "-c", code]).stderr
    names = {m.group(1) for m in re.finditer(r"import time:\s+\d+ \|\s+\d+ \| +(\S+)", out)}
    theirs = sorted(n for n in names if n.split(".")[0] in tops)
    listing = "import sys; print('\\n'.join(sys.modules))"
    alone = run([*py, "-c", "".join(f"import {n}; " for n in theirs) + listing]).stdout.split()
    start = run([*py, "-c", listing]).stdout.split()
    return frozenset(alone) - frozenset(start)


def cmp_import(runs: int) -> list[Result]:
    tops = textual_packages()
    ours, theirs = Samples(), Samples()
    code = "import stucktui.cli, stucktui.ui.app"  # what `stucktui` imports before the TUI starts
    heavy: dict[str, list[float]] = {}
    src_ours, src_theirs = Samples(), Samples()
    first_ours, first_theirs = Samples(), Samples()
    with tempfile.TemporaryDirectory(prefix="sickbox-pyc-") as tmp:
        # Like with like: an installed stucktui runs from bytecode, as Textual does here, but a
        # checkout may have none (or PYTHONDONTWRITEBYTECODE is set), and then every run would
        # compile stucktui's sources and not Textual's. So one run writes the bytecode of all it
        # imports under a private prefix, read by the measured runs; a copy without stucktui's
        # shows what a checkout without bytecode pays (stucktui compiled, Textual not).
        full, src = Path(tmp, "full"), Path(tmp, "src")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-X", f"pycache_prefix={full}", "-c", code], env=env, check=True)
        shutil.copytree(full, src)
        shutil.rmtree(src / Path(stucktui.__file__).parent.relative_to("/"))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        needs = textual_needs(full, env, code, tops)
        for _ in range(runs):
            for prefix, o, t in ((full, ours, theirs), (src, src_ours, src_theirs)):
                out = subprocess.run(
                    [sys.executable, "-X", f"pycache_prefix={prefix}", "-X", "importtime", "-c", code],
                    capture_output=True, text=True, check=True, env=env,
                )  # fmt: skip
                owners, mods = import_owners(out.stderr, tops, needs)
                o.add(owners["stucktui"] / 1e6)
                t.add(owners["textual"] / 1e6)
                if prefix == full:
                    first = import_owners(out.stderr, tops)[0]  # the first importer pays
                    first_ours.add(first["stucktui"] / 1e6)
                    first_theirs.add(first["textual"] / 1e6)
                    for name, us in mods.items():
                        heavy.setdefault(name, []).append(us / 1e6)
    top = sorted(heavy.items(), key=lambda kv: -med(kv[1]))[:6]
    r = med(ours.wall) / med(theirs.wall)
    return [
        Result(
            "import",
            "stucktui's own import cost ≤ a third of Textual's",
            f"{ms(med(ours.wall))} (self times of stucktui's modules and of what they pull in "
            "first that Textual does not need)",
            f"Textual, its requirements and the standard library it needs: {ms(med(theirs.wall))}",
            r,
            f"**{r:.2f}x**",
            "≤ 0.33x",
            "met" if r <= 1 / 3 else "missed",
            [
                f"`python -X importtime -c '{code}'`, {runs} runs, no hogs, both from bytecode (as "
                "installed); measured once (the box does not change it); stucktui's heaviest (self "
                "time, with what they pull in first): " + ", ".join(f"{n} {ms(med(v))}" for n, v in top),
                "a standard library module Textual's modules load by themselves (dataclasses, inspect, "
                f"typing, ...: {sum(n.split('.')[0] not in tops for n in needs)} modules) counts as "
                "Textual's whoever imports it first; "
                f"if the first importer paid: {ms(med(first_ours.wall))} against "
                f"{ms(med(first_theirs.wall))}, {med(first_ours.wall) / med(first_theirs.wall):.2f}x",
                f"from a checkout without bytecode (stucktui's sources compiled at each start, Textual's "
                f"not): {ms(med(src_ours.wall))} against {ms(med(src_theirs.wall))}, "
                f"{med(src_ours.wall) / med(src_theirs.wall):.2f}x",
            ],
        )
    ]


def cmp_snapshot(env: Env) -> list[Result]:
    label = "process list snapshot ≤ 0.75x `ps -eo ...`, with the CLOSE_WAIT load and accept-queue orphans"
    if env.ps is None:
        return [skipped("snapshot", label, "ps not installed")]
    c = snapshot_cost(env.box.extra, max(env.args.runs, 9))
    ours, peer = Samples(c.ours_wall, c.ours_cpu), Samples(c.ps_wall, c.ps_cpu)
    r = ratio_result("snapshot", label, ours, peer, "`ps -eo ...`", "CPU", 0.75)
    r.notes.append(f"{c.rows:,} rows; `{PS_CMD}`")
    return [r]


def cmp_report(env: Env) -> list[Result]:
    label = "`report PID` of a 1-thread Python process ≤ 0.4x `cat status; lsof -p; ss -tanp; py-spy dump`"
    rss_label = "`report PID` peak RSS ≤ 60 MiB"
    missing = [n for n, p in (("lsof", env.lsof), ("ss", env.ss), ("py-spy", env.pyspy)) if p is None]
    pid = env.box.report_pid
    ours, peer = Samples(), Samples()
    cmd = (
        f"cat /proc/{pid}/status; {env.lsof} -p {pid}; {env.ss} -tanp; {env.pyspy} dump --pid {pid}"
        if not missing
        else ""
    )
    for _ in range(env.args.runs):
        run_measured([*stucktui_argv(), "report", str(pid)], ours)
        if cmd:
            run_measured(["sh", "-c", cmd], peer)
    rss = max(ours.rss)
    out = []
    if missing:
        out.append(skipped("report", label, f"{', '.join(missing)} not installed"))
    else:
        out.append(ratio_result("report", label, ours, peer, "the four commands", "wall", 0.4))
    out.append(
        Result(
            "report-rss",
            rss_label,
            f"max of {len(ours.rss)} runs",
            "-",
            rss,
            f"**{rss / MIB:.1f} MiB**",
            "≤ 60 MiB",
            "met" if rss <= 60 * MIB else "missed",
            ["peak RSS from wait4 (its py-spy child included), launched from a small forked process"],
        )
    )
    return out


def cmp_all(env: Env) -> list[Result]:
    label = "`report --all` ≤ 2x `ps -eo ...; ss -tanp` together"
    if env.ps is None or env.ss is None:
        return [skipped("all", label, "ps or ss not installed")]
    ours, peer = Samples(), Samples()
    for _ in range(env.args.runs):
        run_measured([*stucktui_argv(), "report", "--all"], ours)
        run_measured(["sh", "-c", f"{PS_CMD}; {env.ss} -tanp"], peer)
    r = ratio_result("all", label, ours, peer, "`ps -eo ...; ss -tanp`", "wall", 2.0)
    r.notes.append(
        "`report --all` waits 0.5 s between its two snapshots (CPU use): included in its wall time"
    )
    return [r]


def tab_round(
    pid: int,
    key: bytes,
    want: Callable[[dict[str, str]], bool],
    what: str,
    first: Samples,
    tab: Samples,
    shown: Samples | None = None,
) -> None:
    """One launch of `stucktui --pid PID`: into first, launch to the process painted; into tab,
    the key to the tab painted with `want`'s data sampled after the key (a read-ahead's data,
    ahead=1, does not count); into shown, the key to the first frame of the tab showing data
    (read ahead, dated "as of ...", or fresh). The key is pressed once the read-ahead that
    follows the first findings is in (30 s at most), at a moment no sample runs."""
    name = {b"2": "threads", b"4": "files"}[key]
    with tui(["--pid", str(pid)]) as run:
        e = run.wait_painted(
            run.launched, lambda f: f.get("detail") == str(pid), TUI_TIMEOUT, "the process view"
        )
        first.add(e.t - run.launched)
        first.phases.append(phases(run.events(), run.launched, e))
        time.sleep(0.3)
        try:
            run.wait_painted(run.launched, lambda f: f.get("ahead") == "1", 30, "the read-ahead")
        except TimeoutError:
            tab.notes.append("no read-ahead came within 30 s of launch: the key was pressed without")
        ts, cpu0, busy = run.press_when_idle(key, 2.0)
        e = run.wait_painted(ts, lambda f: want(f) and "ahead" not in f, TUI_TIMEOUT, what)
        tab.add(e.t - ts, e.cpu - cpu0)
        events = run.events()
        tab.phases.append(phases(events, ts, e))
        tab.steps.append(span_steps(events, ts, e, SPAN_STEPS[name]))
        if shown is not None:
            seen = next(
                x for x in events if x.kind == "frame" and x.t >= ts and x.fields.get("tab") == name
                and x.fields.get("shown") == "1"
            )  # fmt: skip
            shown.add(seen.t - ts, seen.cpu - cpu0)
            ahead = [x for x in events if x.kind == "apply" and x.t <= ts and "ahead" in x.fields]
            if name == "threads" and ahead and ahead[-1].fields.get("py") != "ok":
                shown.notes.append("the read-ahead's py-spy failed: the tab showed threads without stacks")
        applied = [x for x in events if x.kind == "apply" and x.t <= e.t]
        if applied and applied[-1].fields.get("py") == "err":
            tab.notes.append("py-spy failed in the app: the tab showed its error, not stacks")
        note = "a key landed while a sample was running (its wait is included)"
        if busy and note not in tab.notes:
            tab.notes.append(note)


def cmp_files(env: Env) -> list[Result]:
    label = f"Files tab ≤ 0.5x `lsof -p PID` ({env.args.fds:,} fds)"
    if not env.box.files_pid:
        return [skipped("files", label, "--fds 0")]
    if env.lsof is None:
        return [skipped("files", label, "lsof not installed")]
    pid = env.box.files_pid
    ours, shown, peer = Samples(), Samples(), Samples()
    for _ in range(env.args.runs):
        tab_round(pid, b"4", lambda f: "files" in f, "the Files tab", Samples(), ours, shown)
        run_measured([env.lsof, "-p", str(pid)], peer)
    r = ratio_result(
        "files", label + ": data sampled after the key", ours, peer, "`lsof -p PID`", "wall", 0.5
    )
    r.notes.append(
        "key 4 to the first frame after the snapshot holding the Files panel read after the key; CPU: "
        "the TUI's, in that span; " + ours.phases_note("key")
    )
    s = ratio_result(
        "files-shown", label + ": the tab showing data", shown, peer, "`lsof -p PID`", "wall", 0.5
    )
    s.notes.append(AT_ONCE_NOTE.format(key=4, what="its fds"))
    return [r, s]


AT_ONCE_NOTE = (
    "key {key} to the first frame of the tab showing {what}: read ahead once after the first "
    "findings, dated 'as of HH:MM:SS (refreshing…)' until the refresh the key asked for replaces it"
)


def cmp_pid_threads(env: Env, names: set[str]) -> list[Result]:
    pid_label = "`stucktui --pid PID` shows the process < 2 s after launch (htop's first paint beside)"
    thr_label = f"Threads tab ≤ 1.5x `py-spy dump` ({env.args.threads} threads)"
    pid = env.box.threads_pid
    first, tab, shown, spy, htop = Samples(), Samples(), Samples(), Samples(), Samples()
    want_threads = "threads" in names and env.pyspy is not None
    for _ in range(env.args.runs):
        stacks = lambda f: f.get("py") in ("ok", "err")  # noqa: E731
        tab_round(pid, b"2", stacks, "the Threads tab's stacks", first, tab, shown if want_threads else None)
        if "pid" in names and env.htop is not None:
            htop.add(htop_first_paint(env.htop, pid))
        if want_threads:
            assert env.pyspy is not None
            run_measured([env.pyspy, "dump", "--pid", str(pid)], spy)
    out = []
    if "pid" in names:
        s = med(first.wall)
        beside = f"`htop -p PID`: first paint {ms(med(htop.wall))}" if htop.wall else "htop not installed"
        out.append(
            Result(
                "pid",
                pid_label,
                f"launch to paint {ms(s)} (max {ms(max(first.wall))})",
                beside,
                s,
                f"**{s:.2f} s**",
                "< 2 s",
                "met" if s < 2 else "missed",
                [
                    "launch: the `stucktui --pid PID` process started; paint: its first frame after "
                    "the snapshot with the process's detail; " + first.phases_note("launch")
                ],
            )
        )
    if "threads" in names:
        if env.pyspy is None:
            out.append(skipped("threads", thr_label, "py-spy not found"))
        else:
            spy_name = "`py-spy dump --pid PID`"
            r = ratio_result(
                "threads", thr_label + ": stacks taken after the key", tab, spy, spy_name, "wall", 1.5
            )
            r.notes.append(
                "key 2 to the first frame after the snapshot holding the Python stacks taken after "
                "the key; CPU: the TUI's and its py-spy's, in that span; " + tab.phases_note("key")
            )
            s = ratio_result(
                "threads-shown", thr_label + ": the tab showing stacks", shown, spy, spy_name, "wall", 1.5
            )
            s.notes.append(AT_ONCE_NOTE.format(key=2, what="its threads and Python stacks"))
            out += [r, s]
    return out


def cmp_triage(env: Env) -> list[Result]:
    label = "first triage findings ≤ 5 s after launch"
    s = Samples()
    counts = []
    for _ in range(env.args.runs):
        with tui([]) as run:
            e = run.wait_painted(run.launched, lambda f: "triage" in f, TUI_TIMEOUT, "the first findings")
            s.add(e.t - run.launched)
            s.phases.append(phases(run.events(), run.launched, e))
            applied = [x for x in run.events() if x.kind == "apply" and "triage" in x.fields]
            counts.append(int(applied[0].fields["triage"]))
    v = med(s.wall)
    return [
        Result(
            "triage",
            label,
            f"launch to paint {ms(v)} (max {ms(max(s.wall))}); "
            f"{med([float(c) for c in counts]):.0f} findings",
            "-",
            v,
            f"**{v:.2f} s**",
            "≤ 5 s",
            "met" if v <= 5 else "missed",
            [s.phases_note("launch")],
        )
    ]


def gc_note(k: KeyLatency) -> str:
    """What the garbage collector did while the keys were pressed: its collections hold the GIL
    for their whole length, whichever thread runs them."""

    def gen(n: int) -> str:
        xs = [(b - a, cpu) for a, b, g, cpu in k.gcs if g == n]
        if not xs:
            return f"none of generation {n}"
        return (
            f"{len(xs)} of generation {n} (wall max {ms(max(w for w, _ in xs))}, "
            f"CPU median {ms(med([c for _, c in xs]))}, max {ms(max(c for _, c in xs))})"
        )

    slow = k.with_gc
    return (
        f"garbage collections in the span: {gen(2)}, {gen(1)}; presses one of them overlapped: "
        f"{len(slow)}" + (f", median {ms(med(slow))}" if slow else "")
    )


def cmp_keys(env: Env) -> list[Result]:
    k = key_latency(env.args.presses)
    xs = [x for v in k.by_phase.values() for x in v]
    v = p95(xs)
    return [
        Result(
            "keys",
            "key to repaint p95 < 100 ms (process list, a snapshot being built half the time)",
            f"{len(xs)} presses: median {ms(med(xs))}, max {ms(max(xs, default=math.nan))}"
            + (f", {k.lost} never repainted" if k.lost else ""),
            "-",
            v,
            f"**p95 {ms(v)}**",
            "< 100 ms",
            "met" if v < 0.1 and not k.lost else "missed",
            [
                f"sampler busy {k.busy_fraction * 100:.0f}% of the time; "
                f"one sample {med(k.samples_ms):.0f} ms; "
                f"applying it on the UI thread {med(k.updates_ms):.0f} ms (medians)",
                gc_note(k),
            ],
        )
    ]


def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def steady_tui(seconds: float) -> tuple[float, float, int, int, int]:
    """(CPU s, wall s, refreshes in the window, refreshes in all, VmRSS in bytes) of the TUI on the
    process list at --interval 1.5 (bench/proclist_tui.py, started after three samples)."""
    with stucktui_under_pty(1.5) as (child, log):
        wait_until(lambda: child.alive() and len(read_log(log)[0]) >= 3, 180, "three stucktui samples")
        c0, t0 = child.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = child.cpu_seconds(), time.monotonic()
        samples, _ = read_log(log)
        n = sum(1 for _, end, _ in samples if t0 <= end <= t1)
        return c1 - c0, t1 - t0, n, len(samples), proc_status_kib(child.pid, "VmRSS") * 1024


def steady_htop(htop: str, seconds: float) -> tuple[float, float, float]:
    child = PtyChild(with_pdeathsig([htop, "-d", "15"]))
    try:
        wait_until(lambda: child.alive() and sum(n for _, n in child.arrivals) > 1000, 60, "htop to draw")
        time.sleep(3.0)  # past htop's start-up scans, into its 1.5 s rhythm
        c0, t0 = child.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = child.cpu_seconds(), time.monotonic()
        return c1 - c0, t1 - t0, (t1 - t0) / 1.5
    finally:
        child.stop(quit_keys=b"q")


def cmp_steady(env: Env) -> list[Result]:
    label = "TUI steady CPU ≤ 1.0x `htop -d 15` (per refresh, process list, rendering included)"
    rss_label = f"the TUI's RSS at {env.box.extra:,} extra processes ≤ 80 MB"
    ours, peer = Samples(), Samples()
    pct, hpct, rss, refreshes, total = [], [], [], [], []
    for _ in range(env.args.runs):
        cpu, wall, n, t, r = steady_tui(env.args.seconds)
        total.append(float(t))
        ours.cpu.append(cpu / max(n, 1))
        pct.append(cpu / wall)
        rss.append(r)
        refreshes.append(n)
        if env.htop is not None:
            hcpu, hwall, hn = steady_htop(env.htop, env.args.seconds)
            peer.cpu.append(hcpu / hn)
            hpct.append(hcpu / hwall)
    out = []
    if env.htop is None:
        out.append(
            skipped("steady", label, f"htop not installed (stucktui: CPU {ms(med(ours.cpu))} per refresh)")
        )
    else:
        r = ratio_result("steady", label, ours, peer, "`htop -d 15`", "CPU", 1.0)
        r.ours = f"CPU {ms(med(ours.cpu))} per refresh, {med(pct) * 100:.1f}% of a core"
        r.peer = f"`htop -d 15`: CPU {ms(med(peer.cpu))} per refresh, {med(hpct) * 100:.1f}% of a core"
        r.notes.append(
            f"windows of {env.args.seconds:g} s; stucktui --interval 1.5 (its timer is re-armed after each "
            f"sample: {med([float(n) for n in refreshes]):.0f} refreshes a window), htop 1 refresh per 1.5 s"
        )
        out.append(r)
    v = med([float(x) for x in rss])
    out.append(
        Result(
            "tui-rss",
            rss_label,
            f"VmRSS after {med(total):.0f} refreshes (median of {len(rss)})",
            "-",
            v,
            f"**{v / 1e6:.1f} MB** ({v / MIB:.1f} MiB)",
            "≤ 80 MB",
            "met" if v <= 80e6 else "missed",
        )
    )
    return out


# -- main ------------------------------------------------------------------------------------
def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that end our children


def sizes(s: str) -> list[int]:
    return sorted({int(x) for x in s.split(",") if x.strip()})


def measure_level(env: Env, names: set[str]) -> list[Result]:
    results: list[Result] = []
    steps: list[tuple[str, Callable[[], list[Result]]]] = [
        ("snapshot", lambda: cmp_snapshot(env)),
        ("report", lambda: cmp_report(env)),
        ("all", lambda: cmp_all(env)),
        ("files", lambda: cmp_files(env)),
        ("pid", lambda: cmp_pid_threads(env, names)),
        ("triage", lambda: cmp_triage(env)),
        ("keys", lambda: cmp_keys(env)),
        ("steady", lambda: cmp_steady(env)),
    ]
    for name, step in steps:
        if name not in names and not (name == "pid" and "threads" in names):
            continue
        t0 = time.monotonic()
        print(f"  measuring {name} ...", file=sys.stderr, flush=True)
        try:
            results += step()
        except (RuntimeError, TimeoutError, subprocess.SubprocessError, OSError) as exc:
            results.append(skipped(name, name, f"failed: {type(exc).__name__}: {exc}"[:300]))
        env.box.check_alive()
        print(f"  ... {name} took {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return results


def bytecode_as_installed() -> tempfile.TemporaryDirectory[str]:
    """Every Python program this script starts (the TUI, `report`) runs from bytecode, as an
    installed stucktui does (pip compiles it at install): a checkout may have no __pycache__,
    or PYTHONDONTWRITEBYTECODE set, and then each launch would compile stucktui's sources
    (about 150 modules) and the launch figures would count it. The bytecode of stucktui and
    of everything installed beside it is written once here under a private prefix, which
    every child inherits (the `import` row keeps its own prefixes)."""
    tmp = tempfile.TemporaryDirectory(prefix="sickbox-pyc-")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = tmp.name
    site = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    here = str(Path(stucktui.__file__).parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j0", here, *site], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return tmp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", default="5000", help="extra idle processes; comma-separated sizes")
    ap.add_argument("--sockets", default="100000", help="TCP sockets made here; comma-separated sizes")
    ap.add_argument(
        "--cw", type=int, default=2000, help="of --sockets: client-closed connections in accept queues"
    )
    ap.add_argument(
        "--estab-share", type=float, default=0.5, help="of the other sockets: the ESTABLISHED share"
    )
    ap.add_argument("--fds", type=int, default=20000, help="fds of the Files target (0: no Files comparison)")
    ap.add_argument("--threads", type=int, default=100, help="threads of the Threads target")
    ap.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy loops while measuring")
    ap.add_argument("--runs", type=int, default=5, help="rounds of each comparison (snapshot: at least 9)")
    ap.add_argument("--seconds", type=float, default=20.0, help="steady-CPU window per program and run")
    ap.add_argument("--presses", type=int, default=40, help="key presses for the key-to-repaint test")
    ap.add_argument("--only", default="", help=f"comma-separated: {','.join(NAMES)}")
    ap.add_argument(
        "--lifetime", type=float, help="minutes after which every child ends itself (default: 30 a size, +30)"
    )
    ap.add_argument("--no-settle", action="store_true", help="do not wait for FIN_WAIT_2 to drain (60 s)")
    ap.add_argument("--htop", default=shutil.which("htop"), help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    names = set(args.only.split(",")) if args.only else set(NAMES)
    if names - set(NAMES):
        ap.error(f"unknown --only names: {', '.join(sorted(names - set(NAMES)))}")
    procs, socks = sizes(args.procs), sizes(args.sockets)
    if args.cw > min(socks):
        ap.error("--cw is part of --sockets: it cannot be larger")
    if os.geteuid() != 0:
        print(
            "warning: not root: other users' processes are half-read, and lsof/ss see less", file=sys.stderr
        )
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)
    pyc = bytecode_as_installed()

    env_tools = {n: shutil.which(n) for n in ("ps", "lsof", "ss")}
    pyspy = find_pyspy()
    print(f"## The sick box ({time.strftime('%Y-%m-%d %H:%M')})\n")
    print(
        f"{platform.node()} · Linux {platform.release()} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · textual {md.version('textual')} · euid {os.geteuid()} · "
        f"RLIMIT_NOFILE {hard_nofile()} · peers: "
        + ", ".join(
            f"{n} {p or 'MISSING'}" for n, p in [*env_tools.items(), ("htop", args.htop), ("py-spy", pyspy)]
        )
    )
    print(
        f"\n`python bench/sick_box.py --procs {args.procs} --sockets {args.sockets} --cw {args.cw} "
        f"--fds {args.fds} --threads {args.threads} --hogs {args.hogs} --runs {args.runs}"
        + (f" --only {args.only}" if args.only else "")
        + "`"
    )
    levels = []
    for i, s in enumerate(socks):  # snake order: the idle processes grow, then shrink, ...
        levels += [(p, s) for p in (procs if i % 2 == 0 else procs[::-1])]
    if args.lifetime is None:
        args.lifetime = 30.0 * (len(levels) + 1)
    print(f"\nEvery process started here ends by itself after {args.lifetime:g} minutes at the latest.")
    base = tcp_states()
    growth: list[tuple[int, int, list[Result]]] = []
    with Box(int(args.lifetime * 60)) as box:
        box.start_targets(args.threads, args.fds)
        for p, s in levels:
            t0 = time.monotonic()
            rest = s - args.cw
            estab = int(rest * args.estab_share)
            estab -= estab % 2
            print(f"building: {p} extra processes, {s} sockets ...", file=sys.stderr, flush=True)
            box.procs_to(p)
            made = box.sockets_to(rest - estab, estab, args.cw)
            waited = wait_sockets(box, base, not args.no_settle and made, time.monotonic())
            print(
                f"  built in {time.monotonic() - t0:.0f} s (sockets: {waited:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            # the import cost does not depend on the box: measured once, before the hogs start
            todo = names if not growth else names - {"import"}
            results = []
            if "import" in todo:
                print("  measuring import (no hogs yet) ...", file=sys.stderr, flush=True)
                results += cmp_import(args.runs)
            box.start_hogs(args.hogs)
            try:
                time.sleep(1.0 if args.hogs else 0)
                print(f"\n### {p:,} extra processes, {s:,} sockets\n")
                print(describe_box(box, args.hogs))
                env = Env(args, box, env_tools["ps"], env_tools["lsof"], env_tools["ss"], args.htop, pyspy)
                results += measure_level(env, todo)
                print_table(results)
                print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            finally:
                box.stop_hogs()
            growth.append((p, s, results))
    if len(growth) > 1:
        keys = list(dict.fromkeys(r.key for _, _, rs in growth for r in rs))
        print("\n### How the figures grow\n")
        print("| extra procs | sockets | " + " | ".join(keys) + " |")
        print("|---:|---:|" + "---:|" * len(keys))
        for p, s, rs in growth:
            by = {r.key: r for r in rs}
            cells = [by[k].shown.replace("**", "") if k in by else "-" for k in keys]
            print(f"| {p:,} | {s:,} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                [{"procs": p, "sockets": s, "results": [r.__dict__ for r in rs]} for p, s, rs in growth],
                f,
                indent=1,
                default=str,
            )
    pyc.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
