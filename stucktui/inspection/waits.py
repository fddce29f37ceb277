"""Gathers the wait graph of one process: its blocked threads' waits, the parties that could end
them, and the same for each party, level by level, within a budget (stucktui.diagnose.chains
follows it). Reads /proc: call it from a worker.

Cost: per process reached, its stat and its threads (as the Threads panel reads them), status
for a stopped or traced one, its sockets when a thread waits on one (each network namespace's
tables as the box facts keep them, one sock_diag lookup per TCP peer); per level, one lookup
in the box facts' fd owner index when a process of that level waits on a pipe whose holders
are not known yet: a stat of each process's fd directory once per refresh, and a readlink of
each holder found (collect/fdindex.py, docs/kernel-notes.md §A.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stucktui.collect.boxfacts import BoxFacts
from stucktui.collect.files import fd_end
from stucktui.collect.peers import children_of, stat_fields
from stucktui.collect.threads import ThreadCollector
from stucktui.inspection.kernel_waits import kernel_waits
from stucktui.inspection.lock_waits import lock_waits
from stucktui.inspection.socket_waits import connect_waits, socket_waits
from stucktui.inspection.thread_waits import has_thread_wait, named_threads, thread_waits
from stucktui.model import waits as W
from stucktui.model.context import SEND_CALLS, WRITE_CALLS, ChildProcess, Context
from stucktui.model.files import ProcessFiles
from stucktui.model.locks import ProcessLocks
from stucktui.model.mounts import in_kernel_wait
from stucktui.model.process import ProcessListSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import ThreadsSnapshot
from stucktui.procfs.cmdline import parse_cmdline
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.locks import parse_locks
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.status import parse_status

MAX_PROCESSES = 12  # processes one graph looks at, the start included
MAX_DEPTH = 6  # levels of waits followed from the start
_FANOUT = 6  # parties of one wait looked at (a pipe with 200 holders: the first few tell it)


class Facts:
    """What one process of the graph offers, read once."""

    def __init__(
        self,
        pid: int,
        name: str,
        state: str,
        threads: ThreadsSnapshot | None,
        files: ProcessFiles | None = None,
        locks: ProcessLocks | None = None,
        context: Context | None = None,
        sockets: ProcessSockets | None = None,
    ) -> None:
        self.pid, self.name, self.state = pid, name, state
        self.threads, self.files, self.locks, self.context = threads, files, locks, context
        self.sockets = sockets


def _command(root: ProcRoot, pid: int) -> str:
    try:
        argv = parse_cmdline(root.read_bytes(pid, "cmdline", pid=pid))
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return ""
    return " ".join(argv)


def _tracer(root: ProcRoot, pid: int) -> int:
    try:
        return parse_status(root.read_text(pid, "status", pid=pid)).tracer_pid
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return 0


def _pipe_targets(f: Facts) -> dict[tuple[str, int], tuple[list[int], str]]:
    """(kind, fd) -> (tids, link) for the pipe fds its threads are blocked on."""
    if f.threads is None:
        return {}
    links = {a.fd: a.target for t in f.threads.rows for a in t.fd_args}
    pipes = {fd: link[: link.find("]") + 1] for fd, link in links.items() if link.startswith("pipe:[")}
    if f.files is not None:  # FIFOs too, where the Files panel tells them
        pipes.update({r.fd: r.target for r in f.files.rows if r.kind in ("pipe", "fifo")})
    return {key: (tids, pipes[key[1]]) for key, tids in W.fd_waits(f.threads, pipes, *W.PIPE_CALLS).items()}


def _known_holders(f: Facts, fd: int) -> tuple[list[tuple[int, str, int, str]], bool] | None:
    """(pid, name, fd, end) of every holder of the pipe on `fd`, from the Files panel, and
    whether some processes could not be read (an end may be held there, unseen)."""
    if f.files is None:
        return None
    row = next((r for r in f.files.rows if r.fd == fd and r.pipe is not None), None)
    if row is None or row.pipe is None:
        return None
    return [(h.pid, h.name, h.fd, h.end) for h in row.pipe.holders], row.pipe.partial


def _pipe_wait(
    f: Facts,
    kind: str,
    fd: int,
    tids: list[int],
    link: str,
    holders: list[tuple[int, str, int, str]],
    partial: bool,
) -> W.Wait:
    want = ("r", "rw") if kind == W.PIPE_WRITE else ("w", "rw")
    role = "holds the read end" if kind == W.PIPE_WRITE else "holds a write end"
    ends: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for pid, name, hfd, end in holders:
        if end in want and not (pid == f.pid and hfd == fd):
            ends.setdefault(pid, []).append(hfd)
            names[pid] = name
    parties = tuple(
        W.Party(pid, names[pid], f"{role} (fd {', '.join(map(str, sorted(fds)))})")
        for pid, fds in list(ends.items())[:_FANOUT]
    )
    verb = "write to" if kind == W.PIPE_WRITE else "read from"
    # only those holders can end it. No holder at all cannot be: a write with no read end fails
    # (EPIPE) and a read with no write end returns end-of-file, so an empty list means the view
    # missed one (another user's process, a holder that opened it since): not certain
    certain = len(parties) == 1
    return W.Wait(kind, tuple(tids), f"{verb} fd {fd} ({link})", fd, parties, certain)


def _child_waits(root: ProcRoot, f: Facts, processes: ProcessListSnapshot | None) -> list[W.Wait]:
    if f.threads is None:
        return []
    kids: tuple[ChildProcess, ...] | None = None
    by_what: dict[tuple[str, int], list[int]] = {}
    for t in f.threads.rows:
        what = W.awaited_children(t) if t.state in "SD" else None
        if what is not None:
            by_what.setdefault(what, []).append(t.tid)
    out = []
    for (how, ident), tids in by_what.items():
        if kids is None:
            try:  # every child (a Context may hold only the zombies the first pass saw)
                kids = children_of(root, f.pid, processes)
            except OSError:
                kids = ()
        live = [c for c in kids if c.state != "Z"]
        if how == "pid":
            chosen = [c for c in live if c.pid == ident]
            text = f"wait4(pid {ident})"
        elif how == "pidfd":
            chosen = [c for c in live if c.pid == _pidfd_pid(root, f.pid, ident)]
            text = f"waitid(P_PIDFD, fd {ident})"
        else:
            chosen = live  # any child (or one process group: its members are among them)
            text = "wait for any child" if how == "any" else f"wait for process group {ident}"
        parties = tuple(W.Party(c.pid, c.name, "child") for c in chosen[:_FANOUT])
        out.append(W.Wait(W.CHILD, tuple(tids), text, None, parties, certain=len(chosen) == 1))
    return out


def _pidfd_pid(root: ProcRoot, pid: int, fd: int) -> int | None:
    try:
        text = root.read_text(pid, "fdinfo", fd, pid=pid)
    except (ProcessGone, AccessDenied, OSError):
        return None
    for line in text.splitlines():
        if line.startswith("Pid:"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def _node(root: ProcRoot, f: Facts, waits: list[W.Wait]) -> W.ProcessWaits:
    tracer = _tracer(root, f.pid) if f.state in ("t", "T") else 0
    command = _command(root, f.pid) if f.state in ("t", "T") or not waits else ""
    doing = ""
    wchan = None
    all_blocked = False
    if f.threads is not None and f.threads.rows:
        doing = "; ".join(g.summary for g in f.threads.groups[:2])
        wchan = f.threads.rows[0].wchan
        waiting = {tid for w in waits for tid in w.tids}
        all_blocked = all(t.tid in waiting for t in f.threads.rows)
    return W.ProcessWaits(f.pid, f.name, f.state, command, tuple(waits), tracer, f.threads is not None,
                          doing, wchan, all_blocked, named_threads(f, waits))  # fmt: skip


def _facts(root: ProcRoot, pid: int, collector: ThreadCollector) -> Facts | None:
    st = stat_fields(root, pid)
    if st is None:
        return None
    threads: ThreadsSnapshot | None
    try:
        with root.pid_dir(pid) as d:
            threads = collector.collect(d)
    except (ProcessGone, AccessDenied, OSError, ValueError):
        threads = None
    return Facts(pid, st[0], st[1], threads)


# calls in which a thread waits on something a chain follows
FOLLOWED_CALLS = WRITE_CALLS | SEND_CALLS | W.READ_CALLS | W.WAIT_CALLS | W.LOCK_CALLS | {"connect"}


def has_followed_wait(threads: ThreadsSnapshot | None) -> bool:
    """A thread blocked in a call whose wait a chain can follow, or asleep in the kernel (D, a
    FUSE request), or every thread waiting on its own locks: worth a graph."""
    if threads is None or not threads.rows:
        return False
    return (
        any(
            (t.state in "SD" and t.call is not None and t.call.name in FOLLOWED_CALLS) or in_kernel_wait(t)
            for t in threads.rows
        )
        or all(W.private_futex_forever(t) for t in threads.rows)
        or has_thread_wait(threads)
    )


def wait_graph(
    root: ProcRoot,
    pid: int,
    name: str,
    state: str,
    threads: ThreadsSnapshot | None,
    *,
    files: ProcessFiles | None = None,
    locks: ProcessLocks | None = None,
    context: Context | None = None,
    process_sockets: ProcessSockets | None = None,
    processes: ProcessListSnapshot | None = None,
    lock_text: str | None = None,
    facts: BoxFacts | None = None,
    max_processes: int = MAX_PROCESSES,
    max_depth: int = MAX_DEPTH,
) -> W.WaitGraph:
    """The graph from one process whose facts the caller has (its panels and Context are
    reused), through every party reached within the budget. Never raises for a process that
    vanished or may not be read: it is a node with what could be seen. `facts`: the box-wide
    facts the caller keeps (socket tables, the fd owner index, /proc/locks, FUSE daemons); one
    is made for this graph without it."""
    facts = facts or BoxFacts(root)
    if lock_text is None:
        try:
            lock_text = facts.lock_text()
        except OSError:
            lock_text = ""
    entries = parse_locks(lock_text)
    names: dict[int, str] = {r.pid: r.name for r in processes.rows} if processes is not None else {}
    collector = ThreadCollector(root)
    fuse = facts.fuse()  # the /dev/fuse holders from the kept index, if ever asked
    nodes: dict[int, W.ProcessWaits] = {}
    level: list[Facts] = [Facts(pid, name, state, threads, files, locks, context, process_sockets)]
    depth = 0
    while level and len(nodes) < max_processes:
        # the holders of every pipe this level waits on, in one pass over the box's fds
        pending: dict[int, dict[tuple[str, int], tuple[list[int], str]]] = {
            f.pid: _pipe_targets(f) for f in level
        }
        unknown = {
            link
            for f in level
            for (kind, fd), (_, link) in pending[f.pid].items()
            if _known_holders(f, fd) is None
        }
        found, unread = facts.owners(unknown) if unknown else ({}, 0)
        nxt: list[int] = []
        for f in level:
            if f.pid in nodes or len(nodes) >= max_processes:
                continue
            waits: list[W.Wait] = []
            for (kind, fd), (tids, link) in pending[f.pid].items():
                known = _known_holders(f, fd)
                if known is None:
                    known = _holders(root, found.get(link, []), names), unread > 0
                waits.append(_pipe_wait(f, kind, fd, tids, link, *known))
            waits += _child_waits(root, f, processes)
            waits += lock_waits(root, f, entries, names)
            waits += socket_waits(root, f, facts)
            waits += connect_waits(f, facts)
            waits += thread_waits(root, f, waits)
            waits += kernel_waits(f, fuse, waits)
            nodes[f.pid] = _node(root, f, waits)
            nxt += [p.pid for w in waits for p in w.parties if p.pid is not None]
            if nodes[f.pid].tracer_pid:
                nxt.append(nodes[f.pid].tracer_pid)
        depth += 1
        if depth >= max_depth:
            break
        level = [x for x in (_facts(root, p, collector) for p in _new(nxt, nodes)) if x is not None]
    return W.WaitGraph(pid, nodes)


def _new(pids: Iterable[int], seen: Mapping[int, object]) -> list[int]:
    return [p for p in dict.fromkeys(pids) if p not in seen]


def _holders(
    root: ProcRoot, owners: list[tuple[int, int]], names: dict[int, str]
) -> list[tuple[int, str, int, str]]:
    out = []
    for pid, fd in owners:
        try:
            end = fd_end(root, pid, fd)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            continue
        if pid not in names:
            st = stat_fields(root, pid)
            names[pid] = st[0] if st else "?"
        out.append((pid, names[pid], fd, end))
    return out
