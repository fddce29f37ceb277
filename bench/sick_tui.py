"""The real stucktui TUI with an event log, run under a pty by bench/sick_box.py.

Run: python bench/sick_tui.py LOGFILE [the options of `stucktui`: --pid PID, --interval S, ...]
The options are parsed by stucktui's own parser and the app is built as `stucktui` builds it;
it is StuckApp unchanged except for observers that write one line each to LOGFILE:

  EVENT T CPU [key=value ...]

T is time.monotonic() (the same clock in every process), CPU this process's CPU seconds so far
(every thread, plus its reaped children such as py-spy). EVENT is one of
  begin, end   a sampler lane's thread starts / finishes a refresh: lane=process|box (the
               process lane posts its detail, then its panels, before its end)
  apply        a snapshot reaches the UI thread (StuckApp's own handler applies it right after):
               rows=N (the process list), detail=PID, threads=N py=ok|err|none, files=N,
               triage=N (findings), ahead=1 (panels read ahead of their tab: plan_prefetch)
  frame        a frame is handed to the terminal writer: scr=the screen shown; on the process
               view tab=the tab on screen, shown=1 when its panel has data (0: "reading…")
  step         one step of a sample or of the UI's apply ended (STEPS below): name=the step,
               ms=its wall time, cpu=its thread's CPU milliseconds in it, thr=ui|process|box|other
               (the thread it ran in); a step inside another is logged before it
  key          a key reached the app: key=its name
With SICKBOX_PROFILE=FILE in its environment, a tab key (2, 4) starts `py-spy record` of the app
for 2 s (raw stacks by thread, FILE.PID): where the CPU of a key's span goes. bench/sick_box.py
keeps each launch's log in the directory SICKBOX_TUI_LOGS names.
The app ends itself when the benchmark dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events

import stucktui.ui.app
from stucktui.cli import build_app, build_parser
from stucktui.model.files import ProcessFiles
from stucktui.model.process import ProcessDetail
from stucktui.model.python import PyDump
from stucktui.model.threads import ThreadsSnapshot
from stucktui.ui import messages as M
from stucktui.ui.app import StuckApp
from stucktui.ui.screens.process import ProcessScreen


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ru.ru_utime + ru.ru_stime


# (module, attribute) of the steps logged: the sample's reads, the rules' look, the UI's apply.
# A class attribute is wrapped on the class; Textual dispatches a handler from the class's own
# __dict__, so a wrapped handler is still called once, as before.
STEPS = (
    ("stucktui.inspection.sampler", "Sampler._pin"),
    ("stucktui.collect.detail", "collect_detail"),
    ("stucktui.collect.panels", "PanelCollector.collect"),
    ("stucktui.collect.panels", "PanelCollector.read_ahead"),
    ("stucktui.collect.panels", "PanelCollector._sockets"),
    ("stucktui.collect.panels", "PanelCollector._pipe_map"),
    ("stucktui.collect.panels", "PanelCollector._endpoints"),
    ("stucktui.collect.panels", "collect_files"),
    ("stucktui.collect.panels", "collect_locks"),
    ("stucktui.collect.panels", "collect_signals"),
    ("stucktui.collect.files", "_to_read"),
    ("stucktui.collect.files", "measure"),
    ("stucktui.collect.files", "with_pipes"),
    ("stucktui.collect.files", "with_epoll"),
    ("stucktui.procfs.root", "PidDir.fd_links"),
    ("stucktui.collect.threads", "ThreadCollector.collect"),
    ("stucktui.inspection.examine", "examine"),
    ("stucktui.inspection.turns", "Turns.wait"),  # logged when it waited (_timed)
    ("stucktui.ui.app", "StuckApp.on_snapshot_ready"),
    ("stucktui.ui.screens.process", "ProcessScreen.update_detail"),
    ("stucktui.ui.widgets.files_panel", "FilesPanel.update_panels"),
    ("stucktui.ui.widgets.files_panel", "FilesPanel.redraw"),
    ("stucktui.ui.widgets.threads_panel", "ThreadsPanel.update_panels"),
    ("stucktui.ui.widgets.keyed_table", "KeyedTable.set_rows"),
)
_UI_THREAD = threading.get_ident()  # the app runs in the main thread


def _thread() -> str:
    if threading.get_ident() == _UI_THREAD:
        return "ui"
    name = threading.current_thread().name
    return "process" if "process" in name else "box" if "box" in name else "other"


def _timed(log: Callable[[str, str], None], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def step(*a: Any, **kw: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            ms, cpu = (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3
            if ms >= 1.0 or name != "Turns.wait":  # a pause point that did not wait: not a step
                log("step", f"name={name} ms={ms:.1f} cpu={cpu:.1f} thr={_thread()}")

    return step


def _pyspy_timed(log: Callable[[str, str], None], start: Callable[..., Any]) -> Callable[..., Any]:
    """py-spy: from its start to its waiter's return (it runs beside the /proc reads), and the
    wait for it once those are done."""

    @functools.wraps(start)
    def started(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        waiter = start(*a, **kw)

        def wait() -> Any:
            t1 = time.perf_counter()
            try:
                return waiter()
            finally:
                t2 = time.perf_counter()
                took, waited = (t2 - t0) * 1e3, (t2 - t1) * 1e3
                log("step", f"name=pyspy ms={took:.1f} waited={waited:.1f} thr={_thread()}")

        return wait

    return started


def observe_steps(log: Callable[[str, str], None]) -> None:
    for module, attr in STEPS:
        owner: Any = importlib.import_module(module)
        *cls, name = attr.split(".")
        if cls:
            owner = getattr(owner, cls[0])
        setattr(owner, name, _timed(log, attr, owner.__dict__[name] if cls else getattr(owner, name)))
    panels: Any = importlib.import_module("stucktui.collect.panels")
    panels.start_dump = _pyspy_timed(log, panels.start_dump)


class LoggedApp(StuckApp):
    # Textual resolves a relative CSS_PATH against the subclass's module, which lives in bench/
    CSS_PATH = str(Path(stucktui.ui.app.__file__).with_name(StuckApp.CSS_PATH))

    def __init__(self, log_fd: int, **kw):  # type: ignore[no-untyped-def]
        super().__init__(**kw)
        self._log_fd = log_fd
        for lane in ("process", "box"):
            self._observe(lane)
        observe_steps(self._log)

    def _observe(self, lane: str) -> None:
        name = f"sample_{lane}"
        inner = getattr(self.sampler, name)

        def sample(**kw):  # type: ignore[no-untyped-def]
            self._log("begin", f"lane={lane}")
            try:
                return inner(**kw)
            finally:
                self._log("end", f"lane={lane}")

        setattr(self.sampler, name, sample)

    def _log(self, event: str, extra: str = "") -> None:
        # os.write of one short line is atomic, so the two threads never interleave a line
        line = f"{event} {time.monotonic():.6f} {cpu_seconds():.6f} {extra}".rstrip()
        os.write(self._log_fd, (line + "\n").encode())

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):  # as it reaches the app, before any binding runs
            self._log("key", f"key={event.key}")
            profile = os.environ.get("SICKBOX_PROFILE")  # a file: py-spy's samples after a tab key
            if profile and event.key in ("2", "4"):
                spy = str(Path(sys.executable).with_name("py-spy"))
                argv = [spy, "record", "--pid", str(os.getpid()), "--format", "raw", "--threads"]
                out = f"{profile}.{os.getpid()}"
                subprocess.Popen([*argv, "--nonblocking", "-r", "500", "-d", "2", "-o", out])
        await super().on_event(event)

    def on_snapshot_ready(self, msg: M.SnapshotReady) -> None:
        # Textual calls every handler along the MRO: this one first, then StuckApp's, which
        # applies the snapshot; so do not call super() here (it would apply it twice)
        s = msg.snapshot
        parts = []
        if s.processes is not None:
            parts.append(f"rows={len(s.processes.rows)}")
        if isinstance(s.detail, ProcessDetail) and msg.generation == self._generation:
            parts.append(f"detail={s.detail.pid}")
        p = s.panels
        if p is not None:
            if isinstance(p.threads, ThreadsSnapshot):
                py = p.threads.python
                state = "none" if py is None else "ok" if isinstance(py, PyDump) else "err"
                parts.append(f"threads={len(p.threads.rows)} py={state}")
            if isinstance(p.files, ProcessFiles):
                parts.append(f"files={p.files.fd_count}")
            if p.read_ahead:
                parts.append("ahead=1")
        if s.triage is not None:
            parts.append(f"triage={len(s.triage.findings)}")
        self._log("apply", " ".join(parts))

    def _display(self, screen, renderable) -> None:  # type: ignore[no-untyped-def]
        # Textual private API (8.2.x): the one place a composed frame goes to the driver.
        super()._display(screen, renderable)
        if renderable is None or self._batch_count:
            return
        extra = ""
        if isinstance(screen, ProcessScreen):
            tab = screen.active_panel
            extra = f" tab={tab} shown={int(tab in screen.have)}"
        self._log("frame", f"scr={type(screen).__name__}{extra}")


def main() -> int:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: end with the benchmark
    log_path, argv = sys.argv[1], sys.argv[2:]
    args = build_parser().parse_args(argv)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    # as `stucktui` builds it (its first look starts before the app): only the class is ours
    app = build_app(args, functools.partial(LoggedApp, fd))
    app.run()
    os.close(fd)
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
