"""Hostile strings become visible escapes, never terminal commands or markup."""

import os

from stucktui.textsafe import markdown_escape, printable, printable_argv


def test_controls_escaped():
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("x\ny\tz\r") == "x\\ny\\tz\\r"
    assert printable("\x9b31m") == "\\x9b31m"  # C1 CSI
    assert printable("\x07\x00\x7f") == "\\x07\\x00\\x7f"


def test_bidi_overrides_escaped():
    assert printable("safe\u202eexe.txt") == "safe\\u202eexe.txt"
    assert printable("\u2066x\u2069") == "\\u2066x\\u2069"


def test_plain_unicode_kept():
    assert printable("naïve 日本 ✓") == "naïve 日本 ✓"


def test_long_strings_cut_with_count():
    s = printable("x" * 5000, 100)
    assert s.startswith("x" * 100) and s.endswith("…(+4900 chars)")


def test_argv_elements_escaped_separately():
    assert printable_argv(("echo", "a\nb")) == "echo a\\nb"


def test_markdown_metacharacters():
    assert markdown_escape("[bold]x[/] *y* `z` a|b") == "\\[bold\\]x\\[/\\] \\*y\\* \\`z\\` a\\|b"
    assert markdown_escape("<script>") == "\\<script\\>"


def test_invalid_utf8_shows_the_same_in_names_and_paths():
    """A name (stat, cmdline: backslashreplace) and a path (os.readlink: surrogateescape) with
    the same stray bytes read the same, as ps shows them."""
    raw = b"job\xff\xc3("
    name = raw.decode("utf-8", "backslashreplace")
    path = os.fsdecode(b"/tmp/" + raw)
    assert printable(name) == "job\\xff\\xc3("
    assert printable(path) == "/tmp/job\\xff\\xc3("
    assert printable_argv((path, name)) == "/tmp/job\\xff\\xc3( job\\xff\\xc3("
    assert printable("\udc00\ud800") == "\\udc00\\ud800"  # other lone surrogates keep \u
