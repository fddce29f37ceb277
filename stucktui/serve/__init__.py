"""`stucktui serve`: the TUI in web browsers through textual-serve, for pairing during an
incident. A front end like ui/: it reads nothing of /proc itself; each browser gets its own
`stucktui` process (options.served_command) that does."""

from __future__ import annotations

import argparse
import sys

from stucktui.serve.options import ServeError, add_serve_parser, plan

__all__ = ["add_serve_parser", "run_serve"]


def run_serve(args: argparse.Namespace) -> int:
    """Exit status: 2 for a bad option, 1 when it cannot serve (textual-serve missing, the
    port taken), 0 after a clean stop."""
    try:
        serve_plan = plan(args)
    except ServeError as exc:
        print(f"stucktui serve: {exc}", file=sys.stderr)
        return 2
    try:
        from stucktui.serve.server import serve_forever
    except ImportError as exc:
        missing = (exc.name or "textual_serve").split(".")[0]
        print(
            f"stucktui serve: needs textual-serve ({missing} is not installed): "
            "pip install 'stucktui[web]' in stucktui's environment",
            file=sys.stderr,
        )
        return 1
    try:
        return serve_forever(serve_plan)
    except ServeError as exc:
        print(f"stucktui serve: {exc}", file=sys.stderr)
        return 1
