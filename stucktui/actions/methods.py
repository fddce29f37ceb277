"""The ids of the ways to close an fd (stucktui.actions.closefd), kept apart so that the command
line lists them (`close-fd --method`) without importing what runs them."""

from __future__ import annotations

GDB_CLOSE = "gdb-close"
GDB_NULL = "gdb-null"
SHUTDOWN_READ = "shutdown-read"
SHUTDOWN_BOTH = "shutdown-both"
EPOLL_DEL = "epoll-del"
METHOD_IDS = (GDB_CLOSE, GDB_NULL, SHUTDOWN_READ, SHUTDOWN_BOTH, EPOLL_DEL)
