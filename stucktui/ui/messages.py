"""The UI's messages. Data goes down as attributes and method arguments (the app hands each
snapshot to the screens); requests go up as messages (Textual's "attributes down, messages
up"): a widget or screen posts one, it bubbles to the app (or stops at the screen that answers
it), and the handler named after it (on_open_process_requested ...) acts."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from stucktui.inspection.backtrace import GdbError, NativeBacktrace
    from stucktui.inspection.request import Lane
    from stucktui.model.files import ProcessFiles
    from stucktui.model.snapshot import Snapshot

# -- from the worker threads -------------------------------------------------------------------


class SnapshotReady(Message):
    """A lane's refresh finished (final), or posted what it has read so far (the process
    lane: the detail, then its panels); the newest of a lane replaces an older one still
    queued (a later partial holds all an earlier one did)."""

    def __init__(
        self,
        snapshot: Snapshot,
        started: float,
        finished: float,
        generation: int,
        lane: Lane = "process",
        final: bool = True,
        shown: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.shown = shown  # set once a frame with it is painted (the lane waits to go on)
        self.generation = generation  # the selection it was taken for; stale ones are dropped
        self.started = started
        self.finished = finished
        self.lane = lane
        self.final = final

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady) and message.lane == self.lane


class SampleFailed(Message):
    """A lane's sampler raised; the UI says so in one line and tries again on the next tick."""

    def __init__(self, error: str, lane: Lane = "process") -> None:
        super().__init__()
        self.error = error
        self.lane = lane


class BacktraceReady(Message):
    """gdb finished (or failed) taking every thread's native stack."""

    def __init__(self, result: NativeBacktrace | GdbError) -> None:
        super().__init__()
        self.result = result


class FdDetailsReady(Message):
    """The Files rows asked for, read in full (sent to the panel that asked)."""

    def __init__(self, pid: int, files: ProcessFiles) -> None:
        super().__init__()
        self.pid = pid
        self.files = files


# -- navigation: screens ask the app ----------------------------------------------------------


class OpenProcessRequested(Message):
    """Open the process view of this process (starttime None: whatever now has the pid),
    on the tab given or the first one; `replace`: in place of the process view on screen (an
    exited process's, for the new process that got its pid)."""

    def __init__(
        self, pid: int, starttime: int | None, tab: str | None = None, *, replace: bool = False
    ) -> None:
        super().__init__()
        self.pid = pid
        self.starttime = starttime
        self.tab = tab
        self.replace = replace


class OpenPidRequested(Message):
    """From a view that knows only the pid: the app takes its start time from the last process
    list, so a pid reused since then reads as gone."""

    def __init__(self, pid: int, tab: str | None = None) -> None:
        super().__init__()
        self.pid = pid
        self.tab = tab


class CloseProcessRequested(Message):
    """Leave the process view (and unpin the process)."""


class TriageRequested(Message):
    """Show the box's findings."""


class BoxSocketsRequested(Message):
    """Show the box-wide Sockets view."""


class HelpRequested(Message):
    """Show every key."""


# -- sampling: what to read, and when ---------------------------------------------------------


class RefreshRequested(Message):
    """The view changed (another tab, back to the list, an action done): sample now."""


class PauseToggled(Message):
    """Stop refreshing, or start again."""


class PythonStacksRequested(Message):
    """Take Python stacks with py-spy on the next refresh (now)."""


class PyspyBlockingToggled(Message):
    """py-spy pauses the process (consistent stacks) or not."""


class PyspyNativeToggled(Message):
    """py-spy with native (C) frames or not."""


class KernelStacksToggled(Message):
    """Read each thread's kernel stack every refresh (root only), or stop."""


# -- actions on the process -------------------------------------------------------------------


class NativeBacktraceRequested(Message):
    """Ask, then take every thread's native stack with gdb (it stops the process)."""

    def __init__(self, pid: int, name: str) -> None:
        super().__init__()
        self.pid = pid
        self.name = name


class SignalRequested(Message):
    """Pick a signal, confirm, send it to the process."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid


class CloseFdRequested(Message):
    """Pick a method, confirm, close (or shut down) this fd inside the process."""

    def __init__(self, pid: int, fd: int) -> None:
        super().__init__()
        self.pid = pid
        self.fd = fd


# -- inside the process view: a panel asks its screen -----------------------------------------


class ShowSocketRequested(Message):
    """From a socket fd elsewhere (Files): the Sockets panel, cursor on that fd."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd


class FdDetailsWanted(Message):
    """The Files table shows rows whose fdinfo was not read: read these fds now (off the UI
    thread) and on every refresh after; None: every fd (a filter or an order needs them all).
    The answer, FdDetailsReady, goes to `reply_to`."""

    def __init__(self, reply_to: MessagePump, pid: int, fds: frozenset[int] | None) -> None:
        super().__init__()
        self.reply_to = reply_to
        self.pid = pid
        self.fds = fds
