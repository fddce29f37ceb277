"""Command line: `stucktui` (the TUI), `stucktui report PID|--all`, `stucktui demo`, `--version`,
`--help`."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from stucktui import __version__
from stucktui.cli_help import (
    DEMO_DESCRIPTION,
    REPORT_DESCRIPTION,
    REPORT_EXIT_CODES,
    SEVERITIES,
    Shown,
    count_arg,
)
from stucktui.textsafe import printable

if TYPE_CHECKING:
    from stucktui.model.process import ProcessRow
    from stucktui.report import BoxReport
    from stucktui.ui.app import StuckApp

DESCRIPTION = (
    "stucktui: a full-screen inspector for stuck Linux processes. It lists processes live and, "
    "for the one you open, shows what it is and what it is waiting on."
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (exit status 2), not a usage block; subcommand
    parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument -*(\w+): (?=\1 )", "", message)  # "argument pid: pid must..."
        self.exit(2, f"{self.prog}: {printable(message)} (see {self.prog} --help)\n")


def _number(s: str, what: str, low: float, high: float) -> float:
    try:
        v = float(s)
    except ValueError:
        v = math.nan
    if not low <= v <= high:  # also nan and inf
        raise argparse.ArgumentTypeError(
            f"{what} must be a number of seconds from {low:g} to {high:g}, not {s!r}"
        )
    return v


def _positive_float(s: str) -> float:
    return _number(s, "interval", 0.1, 3600)


def _seconds(s: str) -> float:
    return _number(s, "timeout", 1, 3600)


def build_parser() -> argparse.ArgumentParser:
    from stucktui.actions.command import add_subcommands, audit_help, pid_arg

    p = _Parser(prog="stucktui", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=f"stucktui {__version__}")
    p.add_argument("--pid", type=pid_arg, help="open straight on this process")
    p.add_argument(
        "--interval", type=_positive_float, default=2.0, help="refresh interval in seconds (default 2)"
    )
    p.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)  # a fixture tree, for tests and demos
    p.add_argument(
        "--read-only",
        action="store_true",
        help="refuse every action (signals, closing fds); refusals are logged",
    )
    p.add_argument(
        "--no-triage", action="store_true", help="start on the process list, not on the box's findings"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser(
        "report",
        help="print the findings and facts about one process (or the findings of every process, "
        "with --all) without starting the TUI",
        description=REPORT_DESCRIPTION,
        epilog=REPORT_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("pid", type=pid_arg, nargs="?")
    r.add_argument("--all", action="store_true", help="the findings of every process on the box")
    r.add_argument(
        "--format",
        choices=("text", "markdown", "json", *FLEET_FORMATS),
        default="text",
        help="openmetrics (node_exporter's textfile collector) and jsonl (one object a line: "
        "Ansible, pssh) are for --all",
    )
    r.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the report to FILE atomically (a new file in its directory, renamed over it) "
        "when it has something to say (exit status 0 or 4); FILE is left as it was otherwise",
    )
    r.add_argument(
        "--brief",
        action="store_true",
        help="text and markdown: each finding with its one-line wait chains and first next steps "
        "(at most 25 lines for one process)",
    )
    r.add_argument(
        "--severity",
        choices=SEVERITIES,
        help="only findings this severe or worse (critical > warning > info)",
    )
    r.add_argument("--limit", type=count_arg, metavar="N", help="at most N findings, the most severe")
    r.add_argument("--no-python", action="store_true", help="skip py-spy (Python stacks)")
    r.add_argument(
        "--timeout",
        type=_seconds,
        default=20.0,
        dest="report_timeout",
        help="seconds to read for (default 20): past them the report prints what it has, says "
        "what it could not read (a hung file system?), and exits with status 4",
    )
    d = sub.add_parser(
        "demo",
        help="start one live example of each incident stucktui is built for (as children, "
        "loopback only), open the TUI on them, and end them all on exit",
        description=DEMO_DESCRIPTION,
    )
    d.add_argument("--no-tui", action="store_true", help="print the demo's pids and findings, then stop")
    d.add_argument("--interval", type=_positive_float, dest="demo_interval", help="TUI refresh interval")
    d.add_argument(
        "--timeout", type=_seconds, default=60.0, help="--no-tui: seconds to wait for every finding"
    )
    add_subcommands(sub)
    from stucktui.serve import add_serve_parser

    add_serve_parser(sub)
    p.epilog = audit_help()
    return p


FLEET_FORMATS = ("openmetrics", "jsonl")  # `report --all` only: a box's answer to a fleet
INCOMPLETE = 4  # exit status of a report cut short by its deadline: what was read is printed


def run_report(
    pid: int,
    fmt: str,
    proc: str = "/proc",
    *,
    python: bool = True,
    timeout: float = 20.0,
    shown: Shown = Shown(),  # noqa: B008 (frozen)
) -> int:
    from stucktui.inspection.bounded import examine_pid_bounded
    from stucktui.inspection.examine import ExitedDuringReport
    from stucktui.procfs.errors import AccessDenied, ProcessGone
    from stucktui.procfs.root import ProcRoot
    from stucktui.report import Report, exited_json, render
    from stucktui.report.brief import select

    try:
        seen = examine_pid_bounded(ProcRoot(proc), pid, python=python, timeout=timeout)
    except ExitedDuringReport:
        line = (
            f"pid {pid} exited during the report: nothing is printed, as what was read could mix "
            "it with a new process that got its pid"
        )
        if fmt == "json":  # a script reads stdout: one document that says so
            sys.stdout.write(exited_json(pid, line))
        print(f"stucktui: {line}", file=sys.stderr)
        return 1
    except ProcessGone:
        print(f"stucktui: no process with pid {pid}", file=sys.stderr)
        return 1
    except (AccessDenied, OSError, ValueError) as exc:
        print(f"stucktui: cannot read process {pid}: {printable(exc)}", file=sys.stderr)
        return 1
    if seen.detail is None:
        return _incomplete(seen.incomplete, fmt, {"pid": pid})
    found = select(seen.findings, shown.severity, shown.limit)
    rep = Report(seen.detail, seen.panels, found, seen.chains, incomplete=seen.incomplete)
    sys.stdout.write(render(rep, fmt, brief=shown.brief))
    for line in seen.incomplete:
        print(f"stucktui: {printable(line)}", file=sys.stderr)
    return INCOMPLETE if seen.incomplete else 0


def _incomplete(lines: tuple[str, ...], fmt: str, keys: dict[str, object]) -> int:
    """Nothing to print but what could not be read: one line each on stderr, and for a
    script reading JSON on stdout, one document that says so."""
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps({**keys, "incomplete": list(lines)}, indent=2, ensure_ascii=True) + "\n")
    for line in lines:
        print(f"stucktui: {printable(line)}", file=sys.stderr)
    return INCOMPLETE


def run_report_all(
    fmt: str,
    proc: str = "/proc",
    *,
    python: bool = True,
    window: float = 0.4,
    timeout: float = 20.0,
    shown: Shown = Shown(),  # noqa: B008 (frozen)
) -> int:
    """`stucktui report --all`: the box-wide triage, its CPU% (which feeds epoll-spin) measured
    over `window` seconds, within `timeout` seconds."""
    from stucktui.collect.proclist import ProcessListCollector
    from stucktui.inspection.deadline import Overdue, run_bounded
    from stucktui.inspection.triage import triage_box
    from stucktui.model.findings import TriageResult
    from stucktui.model.process import ProcessListSnapshot
    from stucktui.procfs.root import ProcRoot
    from stucktui.report import BoxReport, render_box
    from stucktui.report.brief import select

    root = ProcRoot(proc)
    step = ["the box's process list (/proc/*/stat, cmdline)"]
    listed: list[ProcessListSnapshot] = []

    def work() -> TriageResult:
        collector = ProcessListCollector(root)
        if window > 0:
            collector.prime(window)  # CPU ticks read once: the snapshot's CPU% is over the window
        processes = collector.collect()
        listed.append(processes)  # the fleet formats sum its CLOSE_WAIT column
        step[0] = "the suspect processes of the box (the triage)"
        return triage_box(root, processes=processes, python=python, cpu_window=window)

    try:
        result = run_bounded(work, timeout, lambda: step[0], name="report-all")
    except OSError as exc:
        print(f"stucktui: cannot read {printable(proc)}: {printable(exc)}", file=sys.stderr)
        return 1
    if isinstance(result, Overdue):
        if fmt in FLEET_FORMATS:
            return _fleet(fmt, None, (), (str(result),), timeout)
        return _incomplete((str(result),), fmt, {})
    rep = BoxReport(
        select(result.findings, shown.severity, shown.limit), result.processes, result.suspects,
        result.taken_at, result.duration,
        chains=result.chains, visibility=result.visibility, cpu_window=result.cpu_window,
    )  # fmt: skip
    if fmt in FLEET_FORMATS:
        return _fleet(fmt, rep, listed[-1].rows, (), timeout)
    sys.stdout.write(render_box(rep, fmt, brief=shown.brief))
    return 0


def _fleet(
    fmt: str, rep: BoxReport | None, rows: Sequence[ProcessRow], cut: tuple[str, ...], timeout: float
) -> int:
    """A box's answer to a fleet (report.openmetrics, report.jsonl); `rep` None when the scan
    was cut short by its timeout (`cut` says why: exit status 4, as for the other formats)."""
    import socket
    import time

    from stucktui.report.fleet import FleetBox, close_wait

    started = rep.taken_at if rep is not None else time.time() - timeout
    cw = close_wait(rows) if rep is not None else None
    box = FleetBox(socket.gethostname(), started, rep, cw, cut, timeout)
    if fmt == "jsonl":
        from stucktui.report.jsonl import render_jsonl

        sys.stdout.write(render_jsonl(box))
    else:
        from stucktui.diagnose.rules import all_specs
        from stucktui.report.openmetrics import render_openmetrics

        sys.stdout.write(render_openmetrics(box, [s.id for s in all_specs()]))
    for line in cut:
        print(f"stucktui: {printable(line)}", file=sys.stderr)
    return INCOMPLETE if cut else 0


def _to_file(path: str, run: Callable[[], int]) -> int:
    """`report --output FILE`: what `run` prints goes to FILE, written atomically (a temporary
    file in FILE's directory, fsynced, renamed over FILE: a reader such as node_exporter sees
    the old file or the new one, never a part), only when the report has something to say
    (exit status 0 or 4)."""
    import contextlib
    import io
    import tempfile

    with contextlib.redirect_stdout(io.StringIO()) as buf:
        code = run()
    if code not in (0, INCOMPLETE):
        return code
    folder, base = os.path.split(os.path.abspath(path))
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            mask = os.umask(0o022)
            os.umask(mask)
            os.fchmod(f.fileno(), 0o666 & ~mask)  # mkstemp's 0600 would hide it from node_exporter
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = ""
    except OSError as exc:
        print(f"stucktui: cannot write {printable(path)}: {printable(exc)}", file=sys.stderr)
        return 1
    finally:
        if tmp:  # not renamed: an error, or an interrupt
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return code


def build_app(args: argparse.Namespace, app_class: Callable[..., StuckApp] | None = None) -> StuckApp:
    """The TUI as `stucktui` runs it (bench/sick_tui.py builds its logged subclass here too).
    Starting on the triage, its first look begins before Textual is even imported
    (stucktui.inspection.first_look)."""
    from stucktui.inspection.sampler import Sampler

    triage_at_start = not args.no_triage and args.pid is None
    sampler = Sampler.for_path(args.proc)
    if triage_at_start:
        from stucktui.inspection.first_look import start_first_look

        start_first_look(sampler)
    from stucktui.ui.app import StuckApp

    return (app_class or StuckApp)(
        interval=args.interval,
        start_pid=args.pid,
        proc=args.proc,
        read_only=args.read_only,
        triage_at_start=triage_at_start,
        sampler=sampler,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        print("stucktui: interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # `stucktui report --all | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    return _leave(code)


def _leave(code: int) -> int:
    """No program stucktui started outlives it (py-spy, gdb), and a worker thread still
    blocked in the kernel does not hold up its exit (it ends with os._exit then)."""
    from stucktui.inspection.deadline import finish
    from stucktui.tools.runner import kill_all

    kill_all()
    return finish(code)


def _report(args: argparse.Namespace) -> int:
    py, timeout = not args.no_python, args.report_timeout
    shown = Shown(args.severity, args.limit, args.brief)
    if args.all:
        return run_report_all(args.format, args.proc, python=py, timeout=timeout, shown=shown)
    return run_report(args.pid, args.format, args.proc, python=py, timeout=timeout, shown=shown)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "report":
        if args.all == (args.pid is not None):
            parser.error("report: give a PID or --all (not both)")
        if args.brief and args.format not in ("text", "markdown"):
            parser.error(f"report: --brief is for --format text or markdown, not {args.format}")
        if args.format in FLEET_FORMATS and (args.severity or args.limit):
            parser.error(f"report: --severity and --limit are not for --format {args.format}")
        if not args.all and args.format in FLEET_FORMATS:
            parser.error(f"report: --format {args.format} is for --all (a box's findings); use --format json")
        if args.output is not None:
            return _to_file(args.output, lambda: _report(args))
        return _report(args)
    if args.command in ("signal", "close-fd"):
        from stucktui.actions.command import run_command

        return run_command(args)
    if args.command == "serve":
        from stucktui.serve import run_serve

        return run_serve(args)
    if args.command == "demo":
        from stucktui.demo import run_demo

        interval = args.demo_interval or args.interval
        return run_demo(interval=interval, tui=not args.no_tui, timeout=args.timeout)
    if not sys.stdout.isatty() and not os.environ.get("STUCKTUI_FORCE_TUI"):
        print(
            "stucktui: the TUI needs a terminal; use `stucktui report PID` for text output", file=sys.stderr
        )
        return 2
    app = build_app(args)
    app.run()
    return app.return_code or 0
