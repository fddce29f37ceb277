"""The real stucktui TUI with a timing log, run under a pty by bench_proclist.py.

Run: python bench/proclist_tui.py INTERVAL LOGFILE
It is StuckApp unchanged except for two observers that write one line each to LOGFILE:
  sample T0 T1 NROWS   a sample finished (time.monotonic(), so comparable across processes)
  update T0 T1         the list screen took a snapshot in (table update, on the UI thread)
  frame T CURSOR_ROW   a frame was handed to the terminal writer (the repaint)
  gc T0 T1 GEN CPU THREAD  a garbage collection of generation GEN ran, CPU seconds of its thread
                       (every collection of generation 1 or 2, and of generation 0 when it
                       took 2 ms)
With PROCLIST_PROFILE=FILE set, the UI thread runs under cProfile and its stats go to FILE.
It ends when the benchmark that started it dies (PR_SET_PDEATHSIG): a closed pty does not end it.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path

import stucktui.ui.app
from stucktui.ui.app import StuckApp
from stucktui.ui.widgets.process_table import ProcessTable


class LoggedApp(StuckApp):
    # Textual resolves a relative CSS_PATH against the subclass's module, which lives in bench/
    CSS_PATH = str(Path(stucktui.ui.app.__file__).with_name(StuckApp.CSS_PATH))

    def __init__(self, interval: float, log_fd: int) -> None:
        super().__init__(interval=interval)
        self._log_fd = log_fd
        self._table: ProcessTable | None = None
        inner = self.sampler.sample_box  # the box lane reads the list

        def sample(**kw):  # type: ignore[no-untyped-def]
            t0 = time.monotonic()
            snap = inner(**kw)
            t1 = time.monotonic()
            n = len(snap.processes.rows) if snap.processes is not None else -1
            self._log(f"sample {t0:.6f} {t1:.6f} {n}")
            return snap

        self.sampler.sample_box = sample  # type: ignore[method-assign]
        update = self.list_screen.update_processes

        def update_processes(snap):  # type: ignore[no-untyped-def]
            t0 = time.monotonic()
            update(snap)
            self._log(f"update {t0:.6f} {time.monotonic():.6f}")

        self.list_screen.update_processes = update_processes  # type: ignore[method-assign]
        self._watch_gc()

    def _watch_gc(self) -> None:
        began: dict[int, tuple[float, float]] = {}

        def watch(phase: str, info: dict[str, int]) -> None:
            ident = threading.get_ident()
            if phase == "start":
                began[ident] = (time.monotonic(), time.thread_time())
                return
            (t0, c0), t1, gen = began.pop(ident, (0.0, 0.0)), time.monotonic(), info["generation"]
            if gen or t1 - t0 >= 0.002:
                cpu = time.thread_time() - c0
                self._log(f"gc {t0:.6f} {t1:.6f} {gen} {cpu:.6f} {threading.current_thread().name}")

        gc.callbacks.append(watch)

    def _log(self, line: str) -> None:
        # os.write of one short line is atomic, so the two threads never interleave a line
        os.write(self._log_fd, (line + "\n").encode())

    def _display(self, screen, renderable) -> None:  # type: ignore[no-untyped-def]
        # Textual private API (8.2.x): the one place a composed frame goes to the driver.
        super()._display(screen, renderable)
        if renderable is None or self._batch_count:
            return
        if self._table is None:
            try:
                self._table = self.list_screen.query_one(ProcessTable)
            except Exception:
                return
        self._log(f"frame {time.monotonic():.6f} {self._table.cursor_row}")


def main() -> int:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: end with the benchmark
    interval = float(sys.argv[1])
    fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    app = LoggedApp(interval, fd)
    prof_path = os.environ.get("PROCLIST_PROFILE")
    if prof_path:
        import cProfile

        prof = cProfile.Profile()
        prof.runcall(app.run)
        prof.dump_stats(prof_path)
    else:
        app.run()
    os.close(fd)
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
