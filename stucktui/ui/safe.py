"""Turn user-controlled strings into Rich Text that can never be read as markup or escapes."""

from __future__ import annotations

from rich.console import JustifyMethod
from rich.text import Text

from stucktui.textsafe import printable, printable_argv


def safe_text(
    value: object, style: str = "", max_len: int | None = 4096, justify: JustifyMethod | None = None
) -> Text:
    return Text(printable(value, max_len), style=style, justify=justify, no_wrap=True, end="")


def safe_argv(argv: tuple[str, ...], style: str = "", max_len: int | None = 4096) -> Text:
    return Text(printable_argv(argv, max_len), style=style, no_wrap=True, end="")
