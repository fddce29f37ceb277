"""The views the first screen does not show (the process view and its panels, the box's
sockets, the dialogs), imported in a background thread once the first refresh is on
screen: the TUI starts without them, and the first key that opens one finds it loaded instead
of importing it on the UI thread. Importing defines classes only: nothing here touches the app."""

from __future__ import annotations

import importlib
import threading

VIEWS = (
    "stucktui.ui.screens.process",
    "stucktui.ui.widgets.overview",
    "stucktui.ui.widgets.threads_panel",
    "stucktui.ui.widgets.sockets_panel",
    "stucktui.ui.widgets.files_panel",
    "stucktui.ui.widgets.locks_panel",
    "stucktui.ui.widgets.signals_panel",
    "stucktui.ui.screens.why_stuck",
    "stucktui.ui.screens.box_sockets",
    "stucktui.ui.screens.actions",
    "stucktui.ui.screens.confirm",
    "stucktui.ui.screens.backtrace",
)

_lock = threading.Lock()
_started = False


def preload_views() -> None:
    """Start importing VIEWS in a daemon thread, once per process; returns at once."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    threading.Thread(target=_load, name="stucktui-preload", daemon=True).start()


def _load() -> None:
    for name in VIEWS:
        try:
            importlib.import_module(name)
        except Exception:  # the view's own import, when it opens, raises it where it is seen
            continue
