"""Hostile strings made safe to show: control characters, bidi overrides and invalid UTF-8
become visible escapes, and very long strings are cut with a count of what was cut.

Invalid UTF-8 shows one way wherever it comes from, as ps shows it: byte 0xff is `\\xff`. Names
and command lines are decoded with backslashreplace, which writes that text; paths from
os.readlink keep the byte as a surrogate (surrogateescape), which printable() turns into the same
text.

Process names, command lines and paths are chosen by whoever started the process. Printed raw,
an ESC sequence could rewrite the operator's terminal; shown through Rich markup, `[bold]` or
`[link=...]` would be interpreted. Everything user-controlled passes through `printable()` and is
then handed to Rich as a plain `Text` (never markup), or to reports as escaped text.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (0x80-0x9f: 0x9b is a one-byte CSI on some terminals), the
# Unicode bidi embedding/override/isolate marks that can reorder what the operator reads
# (CVE-2021-42574 "Trojan Source"), line/paragraph separators, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}
DEFAULT_MAX = 4096


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    named = _NAMED.get(c)
    if named:
        return named
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape (os.readlink,
        o -= 0xDC00  # os.listdir): shown as \xff, as the stat and cmdline readers' backslashreplace
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def printable(value: object, max_len: int | None = DEFAULT_MAX) -> str:
    """A one-line, escape-free rendering of `value`."""
    s = value if isinstance(value, str) else str(value)
    s = _UNSAFE.sub(_escape, s)
    if max_len is not None and len(s) > max_len:
        cut = len(s) - max_len
        s = s[:max_len] + f"…(+{cut} chars)"
    return s


def printable_argv(argv: tuple[str, ...] | list[str], max_len: int | None = DEFAULT_MAX) -> str:
    """argv joined by spaces, each element escaped (an embedded newline can't fake a new line)."""
    return printable(" ".join(printable(a, None) for a in argv), max_len)


# CommonMark/GFM characters that can start emphasis, code, links, HTML, tables or strikethrough.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#&])")


def markdown_escape(value: object, max_len: int | None = DEFAULT_MAX) -> str:
    """printable(), then every Markdown metacharacter backslash-escaped (also safe in tables)."""
    return _MD_SPECIAL.sub(r"\\\1", printable(value, max_len))
