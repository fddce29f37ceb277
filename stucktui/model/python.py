"""What py-spy says of a Python process: frames, threads, a dump, or why it could not take one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class PyFrame:
    function: str
    file: str  # full path as py-spy reports it
    short_file: str
    line: int
    module: str | None = None  # set for native frames ('libc.so.6')


@dataclass(frozen=True, slots=True)
class PyThread:
    os_thread_id: int  # the tid as the target's pid namespace numbers it (docs/kernel-notes.md §9.5)
    thread_id: int  # pthread_t
    name: str | None
    active: bool  # py-spy's guess; wrong in other pid namespaces, prefer /proc's state
    owns_gil: bool
    frames: tuple[PyFrame, ...]  # innermost first

    @property
    def idle(self) -> bool:
        return not self.active

    def stack_key(self) -> tuple[PyFrame, ...]:
        """Equal for threads with identical stacks (frames compare by value)."""
        return self.frames


@dataclass(frozen=True, slots=True)
class PyDump:
    pid: int
    threads: tuple[PyThread, ...]  # sorted by os_thread_id: the JSON order is arbitrary
    duration: float  # seconds py-spy took
    nonblocking: bool


class PySpyFailure(Enum):
    NOT_PYTHON = "not a Python process"
    PERMISSION = "no permission"
    GONE = "the process exited"
    MISSING = "py-spy is not installed"
    TIMEOUT = "py-spy did not answer"
    CRASHED = "py-spy crashed"
    PARTIAL = "py-spy could not read all stacks"
    OTHER = "py-spy failed"


_HINTS = {
    PySpyFailure.PERMISSION: "run stucktui as root or as the process owner (ptrace rights are "
    "needed; with Yama ptrace_scope >= 1 even the owner needs CAP_SYS_PTRACE)",
    PySpyFailure.MISSING: "install it with `pip install py-spy` in stucktui's environment",
    PySpyFailure.PARTIAL: "a running thread changed its stack while py-spy read it without "
    "pausing the process (or the process exited); tried 3 times, try again",
}


@dataclass(frozen=True, slots=True)
class PySpyError:
    pid: int
    kind: PySpyFailure
    detail: str  # py-spy's own first stderr line, or the runner's

    @property
    def line(self) -> str:
        """The one line the UI shows."""
        if self.kind is PySpyFailure.TIMEOUT and self.detail.startswith(self.kind.value):
            return self.detail  # 'py-spy did not answer in 10 s (stopped it); ...' says it all
        hint = _HINTS.get(self.kind)
        if hint is None and self.kind in (PySpyFailure.OTHER, PySpyFailure.TIMEOUT, PySpyFailure.CRASHED):
            hint = _reason(self.detail)  # the kind alone says nothing: py-spy's own words
        return f"{self.kind.value}: {hint}" if hint else self.kind.value


def _reason(detail: str) -> str:
    """py-spy's own words, where stucktui has no hint of its own: with more than 4,096
    threads py-spy 0.4.3 says 'Failed to find a python interpreter in the .data section'."""
    detail = " ".join(detail.split())
    if detail.lower().startswith("error: "):
        detail = detail[7:]
    return detail if len(detail) <= 160 else detail[:159] + "…"


# Where the standard library and installed packages live (not the code to fix): a frame whose
# file is under one of these, or frozen, belongs to a library.
_LIBRARY_MARKS = ("/site-packages/", "/dist-packages/", "<frozen ", "<string>")
_STDLIB = re.compile(r"/lib(?:64)?/python\d\.\d+/")


def is_library(path: str) -> bool:
    """A frame of the standard library or of an installed package (by its file's path)."""
    return any(m in path for m in _LIBRARY_MARKS) or bool(_STDLIB.search(path))


def app_frame(frames: tuple[PyFrame, ...]) -> PyFrame | None:
    """The innermost frame of the application's own code (frames are innermost first): the
    place to fix, where the standard library's and packages' frames only say how it waits."""
    return next((f for f in frames if not f.module and f.file and not is_library(f.file)), None)
