"""What a rule reads (Subject) and what it returns (Finding): plain frozen data, no /proc access.

Strings in a Finding are raw: process names, paths and peers come from whoever started the
process, so every renderer escapes them (stucktui.textsafe), exactly as it does the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from stucktui.diagnose.clock import ClockAges
from stucktui.model.context import Context
from stucktui.model.files import FdRow, ProcessFiles
from stucktui.model.findings import Finding, Severity
from stucktui.model.locks import ProcessLocks
from stucktui.model.python import app_frame
from stucktui.model.signals import SignalsSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.text import human_age
from stucktui.model.threads import ThreadRow, ThreadsSnapshot


@dataclass(frozen=True, slots=True)
class Ages:
    """How long stucktui has seen each tracked thing, in seconds, by kind ('close_wait' socket
    inodes, 'dstate' tids, 'zombie' (pid, starttime), 'stuck_signal' numbers, 'lock_wait' lock
    ids, 'pipe_write' (fd, pipe inode) written to by blocked threads). Empty without a
    History: one-shot callers (reports) cannot tell age."""

    by_kind: Mapping[str, Mapping[object, float]] = field(default_factory=dict)
    tracked: bool = False  # a History was given: an absent key means "new", not "unknown"
    at: float | None = None  # the wall-clock time (time.time()) the ages are measured at

    def since(self, age: float | None) -> float | None:
        """The wall-clock time stucktui first saw what is `age` seconds old now, if known."""
        return None if age is None or self.at is None else self.at - age

    def age(self, kind: str, key: object) -> float | None:
        if not self.tracked:
            return None
        return self.by_kind.get(kind, {}).get(key, 0.0)

    def brief(self, kind: str, keys: list[object] | tuple[object, ...], seconds: float) -> bool:
        """Tracked and seen for less than `seconds`: a condition that may pass by itself is
        reported only once it has lasted (no flicker in a refreshing view)."""
        age = self.oldest(kind, keys)
        return age is not None and age < seconds

    def oldest(self, kind: str, keys: list[object] | tuple[object, ...]) -> float | None:
        if not self.tracked:
            return None
        ages = self.by_kind.get(kind, {})
        if isinstance(ages, ClockAges):
            return ages.oldest(keys)  # many socket inodes: one C pass
        return max((ages.get(k, 0.0) for k in keys), default=0.0)


NO_AGES = Ages()


@dataclass(frozen=True, slots=True)
class Subject:
    """Everything the rules may look at for one process. A panel is None when it was not
    collected or could not be read: every rule then stays silent rather than guess."""

    pid: int
    name: str
    state: str  # of the main thread (proc(5) letter)
    starttime: int | None = None
    ppid: int = 0
    cpu_percent: float | None = None  # 100 = one core; None: unknown (first sample)
    num_fds: int | None = None
    fd_soft_limit: int | None = None  # None: unlimited or unreadable
    threads: ThreadsSnapshot | None = None
    signals: SignalsSnapshot | None = None
    files: ProcessFiles | None = None
    locks: ProcessLocks | None = None
    sockets: ProcessSockets | None = None
    context: Context = field(default_factory=Context)
    ages: Ages = NO_AGES

    @property
    def label(self) -> str:
        """'pid 123 (python3)' for summaries."""
        return f"pid {self.pid} ({self.name})"

    def app_site(self, tids: Iterable[int]) -> str | None:
        """'handle (app/views.py:42)': the innermost application frame of the first of `tids`
        with a Python stack (the standard library's and packages' frames skipped)."""
        if self.threads is None:
            return None
        for tid in tids:
            row = self.threads.row(tid)
            frame = app_frame(row.python.frames) if row is not None and row.python is not None else None
            if frame is not None:
                return f"{frame.function} ({frame.short_file}:{frame.line})"
        return None

    def fd_row(self, fd: int) -> FdRow | None:
        if self.files is None:
            return None
        return next((r for r in self.files.rows if r.fd == fd), None)

    def finding(
        self,
        rule: str,
        severity: Severity,
        summary: str,
        evidence: list[str] | tuple[str, ...],
        next_steps: list[str] | tuple[str, ...],
        *,
        panel: str | None = None,
        fds: tuple[int, ...] = (),
        tids: tuple[int, ...] = (),
        age: float | None = None,
    ) -> Finding:
        """`age`: how long (seconds, from self.ages) stucktui has seen what the finding rests
        on, for a finding that depends on time; it becomes the finding's `since`."""
        return Finding(
            rule,
            severity,
            self.pid,
            self.name,
            summary,
            tuple(evidence),
            tuple(next_steps),
            panel,
            fds,
            tids,
            self.starttime,
            self.ages.since(age),
        )


Rule = Callable[[Subject], list[Finding]]

# Calls in which a thread waits; used to name what the threads of a process are doing.
BLOCKED_STATES = frozenset("SD")
# Multiplexing waits: which fds they wait on is in the target's memory (docs/kernel-notes.md §1.2), so a
# thread in one of them may be about to read (or accept on) any fd.
POLL_CALLS = frozenset(
    {"poll", "ppoll", "select", "_newselect", "pselect6", "ppoll_time64", "pselect6_time64"}
)
EPOLL_WAITS = frozenset({"epoll_wait", "epoll_pwait", "epoll_pwait2"})


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def seen_for(age: float | None) -> str | None:
    """'seen for 5m' once stucktui has watched something for a while; None when unknown/new."""
    if age is None or age < 1:
        return None
    return f"seen by stucktui for {human_age(age)}"


def id_list(values: list[int] | tuple[int, ...], limit: int = 8) -> str:
    """'7, 8, 9 and 12 more'."""
    shown = ", ".join(str(v) for v in values[:limit])
    more = len(values) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def thread_activity(threads: ThreadsSnapshot | None, limit: int = 3) -> str | None:
    """What the threads are doing, biggest groups first: '10 threads: write(2 -> pipe:[..])'."""
    if threads is None or not threads.groups:
        return None
    return "; ".join(g.summary for g in threads.groups[:limit])


def call_name(r: ThreadRow) -> str | None:
    return r.call.name if r.call is not None else None
