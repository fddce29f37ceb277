"""The one runner of external programs: argv in, a frozen result out, a hard timeout always."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# A Rust backtrace turns py-spy's one-line errors into pages (docs/kernel-notes.md §9.4).
SCRUBBED_ENV = ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE")
_DRAIN_TIMEOUT = 2.0  # seconds to collect output after killing a timed-out program
# Programs started and not yet waited for: killed when stucktui exits (kill_all), so none
# outlives it. A program killed that does not die (asleep in D on a hung mount: SIGKILL waits
# for it to wake) is waited for no longer than _DRAIN_TIMEOUT, never for ever.
_RUNNING: set[subprocess.Popen[str]] = set()


def kill_all() -> int:
    """SIGKILL every program still running, with its process group; how many there were."""
    procs = list(_RUNNING)
    for proc in procs:
        _kill_group(proc)
    return len(procs)


def _reap(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_DRAIN_TIMEOUT)


@dataclass(frozen=True, slots=True)
class RunResult:
    argv: tuple[str, ...]
    rc: int | None  # None when the program never ran or was killed on timeout
    stdout: str
    stderr: str
    timed_out: bool
    duration: float  # seconds
    missing: bool = False  # the program does not exist
    timeout: float | None = None  # the limit it was given, when it ran out of it

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else "?"

    @property
    def silence(self) -> str:
        """'py-spy did not answer in 10 s (stopped it)', for a program that timed out."""
        return f"{self.name} did not answer in {round(self.timeout or self.duration, 1):g} s (stopped it)"

    @property
    def killed_by(self) -> str | None:
        """The signal that ended it ('SIGSEGV'), when one did."""
        if self.rc is None or self.rc >= 0:
            return None
        try:
            return signal.Signals(-self.rc).name
        except ValueError:
            return f"signal {-self.rc}"

    @property
    def first_error_line(self) -> str:
        if self.missing:
            return f"{self.argv[0]}: not installed"
        if self.timed_out:
            return self.silence
        lines = self.stderr.strip().splitlines()
        if self.killed_by is not None:
            return f"{self.name} crashed (killed by {self.killed_by})" + (f": {lines[-1]}" if lines else "")
        return lines[0] if lines else f"{self.argv[0]} exited with status {self.rc}"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    if extra:
        env.update(extra)
    return env


def _kill_group(proc: subprocess.Popen[str]) -> None:
    # The child leads its own session, so its pgid is its pid: helpers it spawned die too.
    # A vanished group is fine: it ended between the timeout and now.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class Running:
    """A program started by `start`; `result()` waits for it (until the deadline set at the
    start) and returns its RunResult. Lets a caller do other work while the program runs,
    without a thread."""

    def __init__(
        self, args: tuple[str, ...], t0: float, timeout: float, proc: subprocess.Popen[str] | None,
        stdin: str | None = None, failed: RunResult | None = None,
    ) -> None:  # fmt: skip
        self.args = args
        self._t0 = t0
        self._timeout = timeout
        self._proc = proc
        self._stdin = stdin
        self._failed = failed
        self._result: RunResult | None = failed

    def result(self) -> RunResult:
        if self._result is None:
            self._result = self._wait()
        return self._result

    def _wait(self) -> RunResult:
        proc, args, t0 = self._proc, self.args, self._t0
        assert proc is not None
        left = max(0.0, self._timeout - (time.monotonic() - t0))
        try:
            out, err = proc.communicate(self._stdin, timeout=left)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            try:
                out, err = proc.communicate(timeout=_DRAIN_TIMEOUT)
            except subprocess.TimeoutExpired:
                # A grandchild that left the group still holds the pipes, or the program sleeps
                # in D and cannot die yet: give up on the output, and on waiting for it.
                proc.kill()
                _reap(proc)
                out, err = "", ""
            return RunResult(
                args, None, out or "", err or "", True, time.monotonic() - t0, timeout=self._timeout
            )
        except BaseException:
            _kill_group(proc)
            _reap(proc)
            raise
        finally:
            if proc.returncode is not None:
                _RUNNING.discard(proc)
        return RunResult(args, proc.returncode, out, err, False, time.monotonic() - t0)


def start(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> Running:
    """Start argv without a shell, in its own session; the timeout counts from now. Never
    raises for a missing program."""
    args = tuple(argv)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="backslashreplace",
            env=clean_env(env),
            start_new_session=True,
        )
    except FileNotFoundError:
        gone = RunResult(args, None, "", f"{args[0]}: not found", False, 0.0, missing=True)
        return Running(args, t0, timeout, None, failed=gone)
    except PermissionError as exc:
        denied = RunResult(args, None, "", f"{args[0]}: {exc.strerror}", False, time.monotonic() - t0)
        return Running(args, t0, timeout, None, failed=denied)
    for other in list(_RUNNING):  # reap those whose caller never waited (it failed meanwhile)
        if other.poll() is not None:
            _RUNNING.discard(other)
    _RUNNING.add(proc)
    return Running(args, t0, timeout, proc, stdin)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> RunResult:
    """Run argv without a shell. On timeout, SIGKILL its whole process group and return what
    it printed so far. Never raises for a missing program or a failing one."""
    return start(argv, timeout=timeout, env=env, stdin=stdin).result()
