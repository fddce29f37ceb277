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
The app ends itself when the benchmark dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import signal
import sys
import time
from pathlib import Path

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


class LoggedApp(StuckApp):
    # Textual resolves a relative CSS_PATH against the subclass's module, which lives in bench/
    CSS_PATH = str(Path(stucktui.ui.app.__file__).with_name(StuckApp.CSS_PATH))

    def __init__(self, log_fd: int, **kw):  # type: ignore[no-untyped-def]
        super().__init__(**kw)
        self._log_fd = log_fd
        for lane in ("process", "box"):
            self._observe(lane)

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
