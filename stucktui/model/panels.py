"""The panels of one process as one refresh collected them, and what could not be read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stucktui.model.process import NO_PERMISSION, ProcessDetail, Unavailable

if TYPE_CHECKING:  # the panels' types load with their collectors (the sampler's worker thread)
    from stucktui.model.files import ProcessFiles
    from stucktui.model.locks import ProcessLocks
    from stucktui.model.signals import SignalsSnapshot
    from stucktui.model.sockets import ProcessSockets
    from stucktui.model.threads import ThreadsSnapshot

ALL_PANELS = frozenset({"sockets", "files", "locks", "threads", "signals"})


@dataclass(frozen=True, slots=True)
class PanelData:
    """Each panel field is the panel's snapshot, Unavailable (why it could not be read), or None
    when it was not asked for."""

    threads: ThreadsSnapshot | Unavailable | None = None
    signals: SignalsSnapshot | Unavailable | None = None
    files: ProcessFiles | Unavailable | None = None
    locks: ProcessLocks | Unavailable | None = None
    sockets: ProcessSockets | Unavailable | None = None
    # read ahead of its tab being shown (stucktui.inspection.request.plan_prefetch): shown with
    # its age until a refresh for that tab replaces it
    read_ahead: bool = False


def unreadable(panels: PanelData | None, detail: ProcessDetail | None = None) -> list[str]:
    """What could not be read, for a 'no findings' line: a rule cannot fire on facts it never
    saw. Panels refused, an fd table that could not be listed, syscalls refused; and when the
    detail shows the process's ptrace-guarded exe refused, its fds, sockets and syscalls,
    whether or not their panels were collected (the process view collects only the panel on
    screen)."""
    from stucktui.model.files import ProcessFiles
    from stucktui.model.threads import ThreadsSnapshot

    names = ("sockets", "files", "locks", "threads", "signals")
    out = [name for name in names if panels is not None and isinstance(getattr(panels, name), Unavailable)]
    if panels is not None and isinstance(panels.files, ProcessFiles) and panels.files.unlisted:
        out.append("files")
    t = panels.threads if panels is not None else None
    if isinstance(t, ThreadsSnapshot) and any(r.call_text == "syscall: no permission" for r in t.rows):
        out.append("syscalls")
    guarded = (
        detail is not None
        and not detail.is_kernel_thread
        and isinstance(detail.exe, Unavailable)
        and detail.exe.reason == NO_PERMISSION.reason
    )
    if guarded:
        out += ["sockets", "files", "syscalls"]
    return list(dict.fromkeys(out))
