"""wait-chain: threads wait on another process that cannot go on by itself (stopped, held by a
debugger, part of a cycle of waits, gone): the whole chain in one sentence, and the fix at its
end. A chain of one hop whose end its own rule already tells (a pipe reader stopped: see
pipe-writers-blocked) is left to that rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from stucktui.diagnose.chains import follow, passes_stops_on, tracer_of
from stucktui.diagnose.mounts import chain_steps
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject, plural
from stucktui.model import clues
from stucktui.model import waits as W
from stucktui.model.findings import Finding, Severity
from stucktui.model.lock_polls import POLLING
from stucktui.model.waits import chain_text

# one-hop chains that the rule of their wait kind tells already, by the end it names
_TOLD = {
    W.PIPE_WRITE: frozenset({W.STOPPED, W.ZOMBIE, W.MISSING}),
    W.SOCKET_SEND: frozenset({W.STOPPED, W.MISSING}),
    W.LOCK: frozenset({W.MISSING}),
}


def _who(pid: int | None, name: str) -> str:
    return f"pid {pid} ({name})" if pid is not None else "nobody"


def _step(h: W.Hop, nxt: str, many: bool) -> str:
    """One hop in words; `nxt` names the process the chain goes to; `many`: the subject is
    several threads."""
    s = "" if many else "s"
    if h.wait == W.CONNECT:
        return f"wait{s} to {h.obj}, which {nxt} should accept"
    if h.wait in W.OWN_WAITS:
        return f"wait{s} for {h.obj}"
    if h.wait == W.FUSE:
        return (
            f"wait{s} in the kernel on its {h.obj}, which {nxt} should answer (the FUSE daemon of that mount)"
        )
    if h.wait == W.UNINTERRUPTIBLE:
        return f"wait{s} in the kernel on its {h.obj}"
    if h.wait == W.CHILD:
        return f"wait{s} for its child {nxt} to exit ({h.obj})"
    if h.wait == W.LOCK and h.obj.startswith(POLLING):  # retries without blocking
        return f"keep{s} {h.obj} held by {nxt}"
    if h.wait == W.LOCK:
        return f"wait{s} for a {h.obj} held by {nxt}"
    if h.wait in (W.PIPE_READ, W.SOCKET_RECV):
        return f"wait{s} to {h.obj}, which {nxt} should write to"
    return f"wait{s} to {h.obj}, which {nxt} should read"


def _between_threads(c: W.WaitChain) -> bool:
    """A cycle of threads of one process, each waiting for a lock the next holds."""
    return c.end.kind == W.CYCLE and len(c.processes) == 1 and any(h.wait == W.FUTEX for h in c.hops)


def _thread_list(c: W.WaitChain) -> str:
    tids = [str(t) for h in c.hops for t in h.tids[:1]]
    return ", ".join(tids[:-1]) + f" and {tids[-1]}" if len(tids) > 1 else tids[0]


def _end_words(graph: W.WaitGraph, c: W.WaitChain) -> str:
    e = c.end
    who = _who(e.pid, e.name)
    if _between_threads(c) and len(c.hops) == 1:
        return f"it holds that lock itself: a deadlock of thread {c.hops[0].tids[0]} with itself in {who}"
    if _between_threads(c):
        return f"a deadlock between threads {_thread_list(c)} of {who}: each waits for a lock the next holds"
    if e.kind == W.CYCLE:
        return f"{who} is already on the chain: a deadlock, each waits for the next"
    if e.kind == W.MISSING:
        return e.detail
    if e.kind == W.ZOMBIE:
        return f"{who} has exited and was not reaped"
    if e.kind == W.UNRELEASABLE:
        if c.hops[-1].wait == W.SIGNAL:
            return f"in {who}, {e.detail}" if len(c.processes) > 1 else e.detail
        if len(c.hops) == 1:
            return f"a deadlock in the process: {e.detail}"
        return f"in {who}, {e.detail}"
    return f"{who} is {e.detail}"


def _steps(graph: W.WaitGraph, c: W.WaitChain) -> list[str]:
    e = c.end
    node = graph.nodes.get(e.pid) if e.pid is not None else None
    if e.kind == W.STOPPED and e.pid is not None:
        return [
            f"resume it: `stucktui signal {e.pid} CONT` (k in stucktui's view of pid {e.pid})",
            "find out who stopped it (Ctrl+Z in a terminal, SIGSTOP from a script or supervisor)",
        ]
    if e.kind == W.TRACED and e.pid is not None and node is not None:
        tracer = tracer_of(graph, node)
        tname = tracer.name if tracer is not None else "its tracer"
        if tracer is not None and passes_stops_on(tracer.name):
            return [
                f"SIGCONT should resume it: `stucktui signal {e.pid} CONT` ({tname} passes job-control "
                "stops on)",
                f"or end the tracer, pid {node.tracer_pid} ({tname}): the kernel then lets pid {e.pid} go",
            ]
        return [
            f"continue or detach pid {e.pid} in its tracer, pid {node.tracer_pid} ({tname}): `continue` "
            f"or `detach` at a debugger's prompt, or end the tracer; SIGCONT will not resume pid {e.pid}",
            "then the chain's waits end by themselves, from the end back to the first process",
        ]
    if _between_threads(c) and e.pid is not None:
        return [
            "the threads take the same locks in opposite orders: take them in one order everywhere (or "
            "use a trylock and back off)",
            f"see where each thread took its locks: G in stucktui's Threads panel of pid {e.pid} (native "
            "stacks), or y (py-spy)",
            f"nothing inside releases them: restart it, `stucktui signal {e.pid} TERM` (KILL if it does not "
            "exit)",
        ]
    if e.kind == W.UNRELEASABLE and e.pid is not None and c.hops[-1].wait == W.SIGNAL:
        return [
            "block the signal in every thread but the one that waits for it (pthread_sigmask before "
            "starting threads), or send it to that thread alone (tgkill)",
            f"see the masks and handlers: the Signals panel (6) of pid {e.pid}",
        ]
    if e.kind == W.CYCLE:
        steps = [
            f"end one process of the cycle whose work can be lost (pids {', '.join(map(str, c.processes))})"
        ]
        if any(h.wait == W.CHILD for h in c.hops) and any(
            h.wait in (W.PIPE_WRITE, W.PIPE_READ) for h in c.hops
        ):
            steps.append(
                "fix the parent: read the child's output while waiting for it (communicate(), a reader "
                "thread), or send the output to a file; never wait() on a child whose pipe it must read"
            )
        return steps
    if e.kind == W.ZOMBIE:
        return ["its parent must reap it (wait for it); ending the parent lets init reap it"]
    if e.kind == W.UNRELEASABLE and e.pid is not None:
        return [
            f"see where each thread waits: y in stucktui's Threads panel of pid {e.pid} (py-spy), or G "
            "for native stacks; the lock it waits for was taken and never released",
            "a child forked by a multi-threaded parent inherits locks held at that moment (logging, "
            "malloc): start children with spawn or forkserver, or exec right after fork",
            f"end it: `stucktui signal {e.pid} TERM` (KILL if it does not exit)",
        ]
    return ["start the process the chain is missing, or end the first process of the chain"]


def _told_elsewhere(c: W.WaitChain) -> bool:
    if len(c.hops) != 1:
        return False
    return c.end.kind in _TOLD.get(c.hops[0].wait, frozenset())


def wait_chain(s: Subject) -> list[Finding]:
    graph = s.context.waits
    if graph is None:
        return []
    out: list[Finding] = []
    seen: set[tuple[str, str, int | None]] = set()
    for c in follow(graph):
        alone = len(c.processes) < 2
        if not c.stuck or (alone and c.end.kind != W.UNRELEASABLE and not _between_threads(c)):
            continue
        if _told_elsewhere(c):
            continue
        key = (c.hops[0].wait, c.end.kind, c.end.pid)
        if key in seen:
            continue  # several fds or groups waiting on the same end: the first tells it
        seen.add(key)
        parts = []
        for i, h in enumerate(c.hops):
            nxt = c.hops[i + 1] if i + 1 < len(c.hops) else None
            target = _who(nxt.pid, nxt.name) if nxt is not None else _who(c.end.pid, c.end.name)
            if i == 0:
                who = f"{plural(len(h.tids), 'thread')} of {s.label}"
                if h.wait in W.OWN_WAITS and len(h.tids) <= 3:  # which threads, within one process
                    who = f"thread{'s' if len(h.tids) > 1 else ''} {', '.join(map(str, h.tids))} of {s.label}"
                parts.append(f"{who} {_step(h, target, len(h.tids) > 1)}")
            elif h.pid == c.hops[i - 1].pid:  # the next thread of the same process
                parts.append(f"thread {h.tids[0]} {_step(h, target, False)}")
            else:
                parts.append(f"{_who(h.pid, h.name)} {_step(h, target, False)}")
        where = s.app_site(c.hops[0].tids)
        if where:
            parts[0] += f", from {where}"
        parts.append(_end_words(graph, c))
        summary = "; ".join(parts)
        evidence = [
            f"hop {i + 1}: {_who(h.pid, h.name)} threads {', '.join(map(str, h.tids[:8]))}: {h.obj} "
            f"(could be ended by: {h.detail})"
            for i, h in enumerate(c.hops)
        ]
        evidence.append(f"end: {c.end.kind}: {_who(c.end.pid, c.end.name)} {c.end.detail}")
        if where:
            evidence.append(f"where the first threads wait, in the application's code: {where}")
        steps = _steps(graph, c) + chain_steps(graph, c)
        fds = (c.hops[0].fd,) if c.hops[0].fd is not None else ()
        # alone, a process whose every thread waits on its own locks may still be woken by a
        # signal handler; others stuck behind it make it certain enough to be critical
        # a cycle of threads on their mutexes is certain: nothing but those threads releases them
        severity: Severity = "warning" if alone and not _between_threads(c) else "critical"
        out.append(s.finding("wait-chain", severity, summary, evidence, steps, panel="threads",
                             fds=fds, tids=c.hops[0].tids))  # fmt: skip
    return out


WAIT_CHAIN = RuleSpec(
    "wait-chain",
    wait_chain,
    clues=frozenset({clues.PIPE_WRITE, clues.LOCK_WAIT, clues.SOCKET_SEND, clues.POOL_WAIT, clues.LOCKED_UP}),
    needs=frozenset({"threads", "files"}),
    cause_rank=5,
    ladder="critical: the chain ends in a process that cannot go on by itself (stopped, held by a "
    "debugger, a cycle of waits, a missing party, every thread on its own locks), or threads of one "
    "process wait for each other's mutexes; a process alone whose every thread waits on its own locks, "
    "or whose thread waits for a lock or a signal nothing can release or send it: warning",
)


def root_findings(chains: tuple[W.WaitChain, ...], roots: Mapping[int, tuple[str, int]]) -> list[Finding]:
    """The same stuck chains told from their end: one finding on each root process (a stopped,
    traced or exited process others wait on), naming every process that waits on it. `roots`:
    pid -> (name, starttime) of the processes of the box (a root not there has gone)."""
    by_end: dict[int, list[W.WaitChain]] = {}
    for c in chains:
        pid = c.end.pid
        if c.stuck and c.end.kind != W.CYCLE and pid is not None and pid in roots and len(c.processes) > 1:
            by_end.setdefault(pid, []).append(c)
    out = []
    for pid, group in sorted(by_end.items()):
        name, starttime = roots[pid]
        waiting = list(dict.fromkeys(c.hops[0].pid for c in group))
        who = ", ".join(
            f"pid {p} ({next(c.hops[0].name for c in group if c.hops[0].pid == p)})" for p in waiting[:8]
        )
        more = f" and {len(waiting) - 8} more" if len(waiting) > 8 else ""
        end = group[0].end
        summary = (
            f"pid {pid} ({name}) is {end.detail}, and {plural(len(waiting), 'process', 'processes')} "
            f"wait on it through chains of waits: {who}{more}"
        )
        evidence = [chain_text(c) for c in group[:10]]
        if end.kind == W.TRACED:  # the tracer is named in the end's detail
            steps = [f"continue or detach pid {pid} in its tracer, or end the tracer; the waiters then go on"]
        else:
            steps = _steps(W.WaitGraph(pid), group[0])
        out.append(Finding("wait-chain", "critical", pid, name, summary, tuple(evidence), tuple(steps),
                           "threads", (), (), starttime))  # fmt: skip
    return out
