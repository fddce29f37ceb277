"""Parsers of /proc/PID/task/TID/wchan and /proc/PID/task/TID/stack (proc(5))."""

from __future__ import annotations

import re

# GCC clones a function under a suffixed name (.constprop.0, .isra.0, .part.0, .cold) and LTO
# adds .llvm.N / .lto_priv.N; the user wants the function (docs/kernel-notes.md §1.3).
_SUFFIX = re.compile(r"(?:\.(?:constprop|isra|part|cold|llvm|lto_priv)(?:\.\d+)?)+$")
# '[<0>] anon_pipe_write+0x1d1/0x5b0' (the address is hidden from non-root readers as <0>)
_STACK_LINE = re.compile(r"^\[<[0-9a-fx]+>\]\s+([^+\s]+)")


def clean_symbol(name: str) -> str:
    return _SUFFIX.sub("", name)


def parse_wchan(text: str) -> str | None:
    """The function the thread sleeps in, or None: '0' (or empty) means running, or that the
    reader lacks permission, which the kernel reports as '0' instead of an error
    (docs/kernel-notes.md §10.1)."""
    text = text.strip()
    if not text or text == "0":
        return None
    return clean_symbol(text)


def parse_stack(text: str) -> tuple[str, ...]:
    """Function names of a kernel stack, innermost first."""
    out = []
    for line in text.splitlines():
        m = _STACK_LINE.match(line.strip())
        if m:
            out.append(clean_symbol(m.group(1)))
    return tuple(out)
