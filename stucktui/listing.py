"""Pure view logic of the process list: columns, filtering, sorting and the tree order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

from stucktui.model.process import ProcessRow


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    sort_key: Callable[[ProcessRow], Any]
    numeric: bool = False
    default_reverse: bool = False  # numbers sort biggest first, as in htop
    width: int | None = None


def _none_low(v: float | int | None) -> float:
    return -1.0 if v is None else float(v)


COLUMNS: tuple[Column, ...] = (
    Column("pid", "PID", lambda r: r.pid, numeric=True, width=7),
    Column("user", "USER", lambda r: r.user, width=9),
    Column("state", "S", lambda r: r.state, width=1),
    Column("cpu", "CPU%", lambda r: _none_low(r.cpu_percent), numeric=True, default_reverse=True, width=5),
    Column("rss", "RSS", lambda r: r.rss_bytes, numeric=True, default_reverse=True, width=6),
    Column("threads", "THR", lambda r: r.num_threads, numeric=True, default_reverse=True, width=4),
    Column("fds", "FDS", lambda r: _none_low(r.num_fds), numeric=True, default_reverse=True, width=5),
    Column(
        "close_wait",
        "CL_WAIT",
        lambda r: _none_low(r.close_wait),
        numeric=True,
        default_reverse=True,
        width=7,
    ),
    Column(
        "finding",
        "FIND",
        lambda r: {"critical": 3, "warning": 2, "info": 1}.get(r.finding or "", 0),
        numeric=True,
        default_reverse=True,
        width=4,
    ),
    Column("age", "AGE", lambda r: -r.start_time, numeric=True, default_reverse=True, width=6),
    Column("name", "NAME", lambda r: r.name.lower(), width=15),
    Column("command", "COMMAND", lambda r: r.command.lower()),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
_PID = attrgetter("pid")
# the columns that give way, in this order, when the screen is too narrow for them and a
# readable COMMAND (the sort column never does)
NARROW_DROPS = ("threads", "age", "close_wait", "fds")

# programs whose first argument that is not an option names the program that runs
_INTERPRETER = re.compile(
    r"(python|pypy|perl|ruby|php|lua|node|nodejs|bash|sh|dash|zsh|ksh|tclsh|wish|Rscript|deno|bun)[\d.]*"
)
_TAKES_VALUE = frozenset({"-W", "-X", "-Q", "-r", "--require", "-I", "-M", "-o", "-O"})


def _base(arg: str) -> str:
    """The basename of a program path; an argv[0] rewritten into a title ('postgres: writer')
    stays as it is."""
    if "/" in arg and " " not in arg and not arg.endswith("/"):
        return arg.rsplit("/", 1)[1]
    return arg


def short_argv(argv: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """A command line as htop users read it: the program's basename, an interpreter's script
    as '…/name' (`python3 …/api_service.py`), with the index of the element that names the
    program (shown highlighted); -1 for an empty argv."""
    if not argv:
        return (), -1
    out = [_base(argv[0])]
    main, i = 0, 1
    if _INTERPRETER.fullmatch(out[0]):
        while i < len(argv):
            a = argv[i]
            i += 1
            if a in ("-m", "-c", "-e") and i < len(argv):  # a module (named), or inline code
                out += [a, argv[i]]
                main, i = (len(out) - 1 if a == "-m" else 0), i + 1
                break
            if a.startswith("-") and a != "-":
                out.append(a)
                if a in _TAKES_VALUE and i < len(argv):
                    out.append(argv[i])
                    i += 1
                continue
            base = _base(a)
            out.append(a if base == a else "…/" + base)
            main = len(out) - 1
            break
    return (*out, *argv[i:]), main


def matches(row: ProcessRow, query: str) -> bool:
    """Case-insensitive match on pid, user, name and command line."""
    q = query.strip().lower()
    if not q:
        return True
    return (
        q == str(row.pid)
        or str(row.pid).startswith(q)
        or q in row.user.lower()
        or q in row.name.lower()
        or q in row.command.lower()
    )


def filter_rows(rows: Iterable[ProcessRow], query: str) -> list[ProcessRow]:
    if not query.strip():
        return list(rows)  # no filter: no call per row
    return [r for r in rows if matches(r, query)]


def sort_rows(rows: Iterable[ProcessRow], column: str, reverse: bool) -> list[ProcessRow]:
    # pid as a tie-breaker keeps equal rows from swapping places between refreshes: rows in pid
    # order first (a C-speed sort of rows mostly in that order already), then a stable sort by
    # the column, which keeps that order among equals both ways (one key call per row)
    by_pid = sorted(rows, key=_PID)
    return sorted(by_pid, key=COLUMN_BY_KEY[column].sort_key, reverse=reverse)


class TreeLine(NamedTuple):  # one per row each refresh: a NamedTuple costs a quarter of a dataclass
    row: ProcessRow
    prefix: str  # box-drawing guide, e.g. "│  └─ "
    depth: int


def tree_lines(rows: Iterable[ProcessRow], column: str = "pid", reverse: bool = False) -> list[TreeLine]:
    """Depth-first order with htop-style guides; siblings sorted by the chosen column.
    A row whose parent is not shown (filtered out, or pid 0) becomes a root."""
    rows = list(rows)
    present = {r.pid for r in rows}
    children: dict[int, list[ProcessRow]] = {}
    roots: list[ProcessRow] = []
    for r in rows:
        if r.ppid in present and r.ppid != r.pid:
            children.setdefault(r.ppid, []).append(r)
        else:
            roots.append(r)
    out: list[TreeLine] = []
    seen: set[int] = set()

    for r in sort_rows(roots, column, reverse):
        _walk_iter(r, children, column, reverse, out, seen)
    # rows left unvisited sit on a ppid cycle; show them flat rather than drop them
    for r in rows:
        if r.pid not in seen:
            _walk_iter(r, children, column, reverse, out, seen)
    return out


def _walk_iter(
    root: ProcessRow,
    children: dict[int, list[ProcessRow]],
    column: str,
    reverse: bool,
    out: list[TreeLine],
    seen: set[int],
) -> None:
    """Iterative depth-first walk (a deep chain of forks must not hit Python's recursion limit)."""
    stack: list[tuple[ProcessRow, str, bool, int]] = [(root, "", True, 0)]
    while stack:
        row, guide, last, depth = stack.pop()
        if row.pid in seen:
            continue
        seen.add(row.pid)
        prefix = "" if depth == 0 else guide + ("└─ " if last else "├─ ")
        out.append(TreeLine(row, prefix, depth))
        kids = sort_rows(children.get(row.pid, ()), column, reverse)
        child_guide = "" if depth == 0 else guide + ("   " if last else "│  ")
        for i in range(len(kids) - 1, -1, -1):
            stack.append((kids[i], child_guide, i == len(kids) - 1, depth + 1))


def command_len(line: TreeLine) -> int:
    """The length of the line's COMMAND cell as the process table shows it (its guide, then
    short_argv joined by spaces, or [name]), without making it."""
    r = line.row
    if not r.cmdline:
        return len(line.prefix) + len(r.name) + 2  # [name]
    argv = short_argv(r.cmdline)[0]
    return len(line.prefix) + sum(map(len, argv)) + len(argv) - 1  # joined by spaces


def widest_command(lines: list[TreeLine], cache: dict[int, tuple[ProcessRow, str, int]]) -> int:
    """The longest COMMAND cell of the lines, each line's length taken from `cache` (pid ->
    (row, prefix, length), refilled here) while its row is the same object as last time."""
    fresh: dict[int, tuple[ProcessRow, str, int]] = {}
    widest = 0
    for line in lines:
        r = line.row
        hit = cache.get(r.pid)
        if hit is None or hit[0] is not r or hit[1] != line.prefix:
            hit = (r, line.prefix, command_len(line))
        fresh[r.pid] = hit
        widest = max(widest, hit[2])
    cache.clear()
    cache.update(fresh)  # rows gone or filtered out are forgotten
    return widest
