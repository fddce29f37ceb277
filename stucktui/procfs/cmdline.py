"""Parser of /proc/PID/cmdline."""

from __future__ import annotations


def parse_cmdline(raw: bytes) -> tuple[str, ...]:
    """NUL-separated argv. Invalid UTF-8 is kept visible as \\xNN escapes, never dropped.

    A process may rewrite its argv area (setproctitle), leaving one string with spaces and no
    trailing NUL; that comes back as a single element, which is what the process asked for.
    """
    if not raw:
        return ()
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return tuple(p.decode("utf-8", "backslashreplace") for p in raw.split(b"\0"))
