"""Command line: `stucktui` (the TUI), `stucktui report PID`, `--version`, `--help`."""

from __future__ import annotations

import argparse
import os
import sys

from stucktui import __version__
from stucktui.textsafe import printable

DESCRIPTION = (
    "stucktui: a full-screen inspector for stuck Linux processes. It lists processes live and, "
    "for the one you open, shows what it is and what it is waiting on."
)


def _positive_float(s: str) -> float:
    v = float(s)
    if not 0.1 <= v <= 3600:
        raise argparse.ArgumentTypeError("interval must be between 0.1 and 3600 seconds")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stucktui", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=f"stucktui {__version__}")
    p.add_argument("--pid", type=int, help="open straight on this process")
    p.add_argument(
        "--interval", type=_positive_float, default=2.0, help="refresh interval in seconds (default 2)"
    )
    p.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)  # a fixture tree, for tests and demos
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("report", help="print the facts about one process without starting the TUI")
    r.add_argument("pid", type=int)
    r.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    r.add_argument("--no-python", action="store_true", help="skip py-spy (Python stacks)")
    return p


def run_report(
    pid: int, fmt: str, proc: str = "/proc", *, python: bool = True, no_panels: bool = False
) -> int:
    from stucktui.collect.detail import collect_detail, sample_cpu_percent
    from stucktui.collect.panels import collect_panels_once
    from stucktui.procfs import AccessDenied, ProcessGone, ProcRoot
    from stucktui.report import Report, render

    root = ProcRoot(proc)
    try:
        cpu = sample_cpu_percent(root, pid)
        detail = collect_detail(root, pid, cpu_percent=cpu)
        panels = None if no_panels else collect_panels_once(root, pid, python=python)
    except ProcessGone:
        print(f"stucktui: no process with pid {pid}", file=sys.stderr)
        return 1
    except AccessDenied as exc:
        print(f"stucktui: cannot read process {pid}: {printable(exc)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"stucktui: cannot read process {pid}: {printable(exc)}", file=sys.stderr)
        return 1
    sys.stdout.write(render(Report(detail, panels), fmt))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        return run_report(args.pid, args.format, args.proc, python=not args.no_python)
    if not sys.stdout.isatty() and not os.environ.get("STUCKTUI_FORCE_TUI"):
        print(
            "stucktui: the TUI needs a terminal; use `stucktui report PID` for text output", file=sys.stderr
        )
        return 2
    from stucktui.ui.app import StuckApp

    app = StuckApp(interval=args.interval, start_pid=args.pid, proc=args.proc)
    app.run()
    return app.return_code or 0
