"""Reports that paste into a chat channel: Markdown that renders the same in GitHub (CommonMark
and GFM) and Slack (mrkdwn), and text lines no wider than 100 columns.

Markdown keeps user-controlled text out of the markup with code spans and fenced blocks, not
backslash escapes (`pipe:[123]`, not pipe:\\[123\\]): inside a code span or a fenced block
CommonMark and Slack take every character literally. Prose (a finding's summary, which names a
process) is split into words, and a word that holds a character either syntax gives a meaning to
becomes a code span of its own; a command a rule wrote between backticks stays one code span.
Tables (Slack does not render them) and `**bold**` (Slack shows the asterisks) are not used:
headings are `*bold*` lines, the one emphasis both read.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from stucktui.textsafe import printable

WIDTH = 100  # columns a text report's line (and a line in a fenced block) is wrapped at

# characters that start markup in CommonMark, GFM or Slack: emphasis, code, links, HTML,
# entities, tables, strikethrough, headings, mentions (@channel); and autolinked URLs, emoji
_MARKUP = re.compile(r"[\\`*_\[\]<>|~#&@!]|://|^www\.|:[a-z0-9_+-]*[a-z][a-z0-9_+-]*:")
_PUNCT = re.compile(r"^(\(?)(.*?)([),.;:]*)$", re.S)  # a word's own parenthesis and punctuation
_TICKS = re.compile(r"`+")
_QUOTED = re.compile(r"`([^`\n]+)`")


def code(value: object) -> str:
    """`value` as one code span, however many backticks it holds (CommonMark: a longer fence,
    padded when the value starts or ends with a backtick)."""
    s = printable(value)
    if not s:
        return "` `"
    if "`" not in s:
        return f"`{s}`"
    fence = "`" * (max(len(m) for m in _TICKS.findall(s)) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _word(w: str) -> str:
    if not _MARKUP.search(w):
        return w
    m = _PUNCT.match(w)
    assert m is not None  # matches any string
    opening, core, closing = m.groups()
    return opening + code(core) + closing if _MARKUP.search(core) else code(w)


def _words(s: str) -> str:
    return " ".join(_word(w) for w in s.split(" "))


def prose(value: object) -> str:
    """A sentence for a Markdown line: words that would be markup become code spans, text a rule
    quoted between backticks (a command) stays one code span; nothing is backslash-escaped."""
    s = printable(value)
    out, at = [], 0
    for m in _QUOTED.finditer(s):
        out += [_words(s[at : m.start()]), code(m.group(1))]
        at = m.end()
    out.append(_words(s[at:]))
    return "".join(out)


def fenced(lines: Iterable[str]) -> list[str]:
    """Lines (already printable) as a fenced code block, wrapped at WIDTH; the fence is longer
    than any run of backticks in them, so no line can close it."""
    body = wrap(lines)
    runs = [len(m) for line in body for m in _TICKS.findall(line)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence, *body, fence]


def heading(title: str) -> str:
    """A section heading both GitHub and Slack show as one: a line of emphasis."""
    return f"*{title}*"


def wrap(lines: Iterable[str], width: int = WIDTH) -> list[str]:
    """Each line cut at word boundaries to `width` columns; the continuation is indented two
    columns past the line's own indent (the items under a line are four: they stay apart). A
    word longer than the width (a path) is not broken."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        out += textwrap.wrap(
            line[len(indent) :],
            width,
            initial_indent=indent,
            subsequent_indent=indent + "  ",
            break_long_words=False,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [line]
    return out
