"""Messages the sampler posts to the UI."""

from __future__ import annotations

from textual.message import Message

from stucktui.model.snapshot import Snapshot


class SnapshotReady(Message):
    """A refresh finished; the newest snapshot replaces any older one still queued."""

    def __init__(self, snapshot: Snapshot, started: float, finished: float, generation: int) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.generation = generation  # the selection it was taken for; stale ones are dropped
        self.started = started
        self.finished = finished

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class SampleFailed(Message):
    """The sampler raised; the UI says so in one line and tries again on the next tick."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class BacktraceReady(Message):
    """gdb finished (or failed) taking every thread's native stack."""

    def __init__(self, result: object) -> None:
        super().__init__()
        self.result = result  # NativeBacktrace | GdbError
