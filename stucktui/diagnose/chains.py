"""Follows a wait graph from its start process to the end of each chain (pure).

From each wait of the start process, the chain goes to a party that could end it, then to what
that party itself waits for, and so on, until a process that waits on nothing stucktui follows
(stopped, traced, running, idle, in the kernel), a missing party, a process already on the
chain (a cycle), or the depth limit. Where a wait has several parties (or a process several
waits), it is stuck only if every way is stuck; then the most telling end is kept (a cycle or a
debugger before a stopped process).
"""

from __future__ import annotations

from dataclasses import replace

from stucktui.model import waits as W
from stucktui.model.mounts import sleep_text
from stucktui.model.text import human_age

MAX_DEPTH = 8
_FANOUT = 6


def follow(graph: W.WaitGraph) -> tuple[W.WaitChain, ...]:
    """One chain per wait of the start process, in the order of its waits."""
    start = graph.nodes.get(graph.start)
    if start is None:
        return ()
    out = []
    for w in start.waits:
        hops, end = _through(graph, start, w, [], (start.pid,), w.certain, 1)
        out.append(W.WaitChain(tuple(hops), end))
    return tuple(out)


def _hop(node: W.ProcessWaits, w: W.Wait) -> W.Hop:
    who = "; ".join(f"pid {p.pid} ({p.name}) {p.role}" if p.pid is not None else p.role for p in w.parties)
    if not who and w.kind == W.SIGNAL and not w.certain:
        who = "a process that sends it the signal"
    if w.silent_s is not None and who:
        who += f"; {silence(w)}"
    return W.Hop(node.pid, node.name, w.tids, w.kind, w.what, who or "nobody", w.fd, w.silent_s)


def silence(w: W.Wait) -> str:
    """'nothing received for 4m, since a request sent 4m ago' for a socket read."""
    quiet = human_age(w.silent_s or 0.0)
    return f"nothing received from it for {quiet}" + (" after this side last sent" if w.asked else "")


Step = tuple[list[W.Hop], W.ChainEnd]


def _better(a: Step | None, b: Step) -> Step:
    """Of two ways a wait may go, the one that tells its fate: any way that can still end (a
    party that runs, sleeps, reads) means the wait can end, so it wins over stuck ones; among
    equals, the most telling end."""
    if a is None:
        return b
    a_stuck, b_stuck = a[1].kind in W.STUCK_ENDS, b[1].kind in W.STUCK_ENDS
    if a_stuck != b_stuck:
        return a if b_stuck else b
    return b if W.END_RANK[b[1].kind] < W.END_RANK[a[1].kind] else a


def _through(
    graph: W.WaitGraph,
    node: W.ProcessWaits,
    w: W.Wait,
    hops: list[W.Hop],
    visited: tuple[int, ...],
    certain: bool,
    depth: int,
) -> Step:
    hops = [*hops, _hop(node, w)]
    if w.kind in W.OWN_WAITS and not w.certain:
        # a lock wait with a timeout, a signal some process may send: it can end by itself
        return hops, W.ChainEnd(W.IDLE, node.pid, node.name, w.why or "its wait has a timeout")
    if not w.parties:
        if w.kind == W.UNINTERRUPTIBLE:
            why = sleep_text(w.kernel) if w.kernel is not None else in_kernel(node)
            return hops, W.ChainEnd(W.KERNEL, node.pid, node.name, why)
        if w.kind in W.OWN_WAITS:
            return hops, W.ChainEnd(W.UNRELEASABLE, node.pid, node.name, _nobody(w))
        if w.certain:
            return hops, W.ChainEnd(W.MISSING, None, "", f"nobody can end it: {_nobody(w)}")
        return hops, W.ChainEnd(W.UNKNOWN, None, "", "who could end it is not known")
    best: Step | None = None
    for party in w.parties[:_FANOUT]:
        best = _better(best, _at(graph, party, hops, visited, certain, depth))
    assert best is not None
    if best[1].kind == W.REMOTE and len(best[0]) == len(hops) and w.silent_s is not None:
        end = best[1]  # the peer off this box: how long it has been silent is all there is to say
        best = (best[0], W.ChainEnd(end.kind, end.pid, end.name, f"{end.detail}; {silence(w)}"))
    return best


def _nobody(w: W.Wait) -> str:
    if w.kind == W.PIPE_WRITE:
        return "no process holds the pipe's read end"
    if w.kind == W.PIPE_READ:
        return "no process holds the pipe's write end"
    if w.kind == W.CHILD:
        return "no such child is alive"
    if w.kind in W.OWN_WAITS and w.why:
        return w.why
    if w.kind == W.FUSE:
        return "no process serves the FUSE mount (nobody holds its /dev/fuse connection)"
    if w.kind == W.FUTEX:
        return (
            "every thread of it waits, without a timeout, on a lock private to the process (a "
            "futex): no thread is left to release it, only a signal could"
        )
    return "no process holds it"


def _at(
    graph: W.WaitGraph,
    party: W.Party,
    hops: list[W.Hop],
    visited: tuple[int, ...],
    certain: bool,
    depth: int,
) -> Step:
    if party.tid is not None and party.pid is not None:
        return _at_thread(graph, party.pid, party.tid, hops, visited, certain, depth)
    if party.pid is None:
        if party.endpoint:
            return hops, W.ChainEnd(W.REMOTE, None, "", f"{party.role} is {party.endpoint}")
        return hops, W.ChainEnd(W.MISSING, None, "", party.role)
    if party.pid in visited:
        again = graph.nodes.get(party.pid)
        if certain and again is not None and again.all_blocked:
            where = "the first process of the chain" if party.pid == visited[0] else "already on the chain"
            return hops, W.ChainEnd(W.CYCLE, party.pid, party.name, where)
        why = "back to a process already on the chain, but another party or thread could end a wait"
        return hops, W.ChainEnd(W.UNKNOWN, party.pid, party.name, why)
    node = graph.nodes.get(party.pid)
    if node is None:
        return hops, W.ChainEnd(W.UNKNOWN, party.pid, party.name, "not looked at")
    end = _end_of(graph, node)
    if end is not None:
        return hops, end
    if depth >= MAX_DEPTH:
        return hops, W.ChainEnd(W.DEPTH, node.pid, node.name, "the chain goes on")
    best: Step | None = None
    if not node.all_blocked:
        # another of its threads, not blocked on anything the chain follows, may end the wait
        others = f"other threads of it may end the wait ({node.doing})" if node.doing else "other threads"
        best = (hops, W.ChainEnd(W.IDLE, node.pid, node.name, others))
    for w in node.waits[:_FANOUT]:
        step = _through(graph, node, w, hops, (*visited, node.pid), certain and w.certain, depth + 1)
        best = _better(best, step)
    assert best is not None
    return best


# where a chain ends at a thread that waits on nothing followed, by its state letter
_THREAD_ENDS = {
    "R": (W.RUNNING, "running"),
    "S": (W.IDLE, "asleep"),
    "D": (W.KERNEL, "in uninterruptible sleep"),
    "T": (W.STOPPED, "stopped (state T)"),
    "Z": (W.MISSING, "exited"),
}


def _at_thread(
    graph: W.WaitGraph,
    pid: int,
    tid: int,
    hops: list[W.Hop],
    visited: tuple[int, ...],
    certain: bool,
    depth: int,
) -> Step:
    """A party that is one thread of a process (a mutex's owner): only that thread can end the
    wait, so the chain goes on through its own wait, or ends at what it does. Back at a thread
    already on the chain through waits only their parties end, it is a deadlock between threads
    (docs/kernel-notes.md §A.5)."""
    node = graph.nodes.get(pid)
    if node is None:
        return hops, W.ChainEnd(W.UNKNOWN, pid, "?", "not looked at")
    if any(h.pid == pid and tid in h.tids for h in hops):
        if certain:
            return hops, W.ChainEnd(W.CYCLE, pid, node.name, f"thread {tid} is already on the chain")
        why = f"back to thread {tid}, already on the chain, but a wait on the way may end by itself"
        return hops, W.ChainEnd(W.UNKNOWN, pid, node.name, why)
    w = next((w for w in node.waits if tid in w.tids), None)
    if w is not None:
        if depth >= MAX_DEPTH:
            return hops, W.ChainEnd(W.DEPTH, pid, node.name, "the chain goes on")
        mine = replace(w, tids=(tid,))  # the hop of that thread alone
        return _through(graph, node, mine, hops, visited, certain and w.certain, depth + 1)
    t = next((t for t in node.owners if t.tid == tid), None)
    if t is None:
        unread = f"holding the lock in thread {tid}, which was not read"
        return hops, W.ChainEnd(W.UNKNOWN, pid, node.name, unread)
    kind, words = _THREAD_ENDS.get(t.state, (W.UNKNOWN, f"in state {t.state}"))
    doing = f": {t.doing}" if t.doing and kind in (W.IDLE, W.KERNEL, W.STOPPED) else ""
    return hops, W.ChainEnd(kind, pid, node.name, f"holding the lock in thread {tid}, {words}{doing}")


def _end_of(graph: W.WaitGraph, node: W.ProcessWaits) -> W.ChainEnd | None:
    """Where the chain ends at this process, or None when it goes on through its waits."""
    if node.state == "T":
        return W.ChainEnd(W.STOPPED, node.pid, node.name, "stopped (state T)")
    if node.state == "t":
        return W.ChainEnd(W.TRACED, node.pid, node.name, _traced(graph, node))
    if node.state in ("Z", "X"):
        return W.ChainEnd(W.ZOMBIE, node.pid, node.name, "exited (a zombie)")
    if node.state == "D" and not any(w.kind == W.FUSE for w in node.waits):
        return W.ChainEnd(W.KERNEL, node.pid, node.name, in_kernel(node))
    if not node.readable:
        return W.ChainEnd(W.UNREADABLE, node.pid, node.name, "its threads could not be read")
    if node.waits:
        return None
    if node.state == "R":
        return W.ChainEnd(
            W.RUNNING, node.pid, node.name, f"running ({node.doing})" if node.doing else "running"
        )
    return W.ChainEnd(W.IDLE, node.pid, node.name, node.doing or "asleep")


def in_kernel(node: W.ProcessWaits) -> str:
    """What its thread in uninterruptible sleep waits on: the wait channel, the kernel stack,
    and the fd or path of its call with the mount under it, where stucktui could tell."""
    kw = next((w.kernel for w in node.waits if w.kernel is not None and w.kernel.state == "D"), None)
    if kw is not None:
        return sleep_text(kw)
    return f"in uninterruptible sleep in {node.wchan}" if node.wchan else "in uninterruptible sleep"


def tracer_of(graph: W.WaitGraph, node: W.ProcessWaits) -> W.ProcessWaits | None:
    return graph.nodes.get(node.tracer_pid) if node.tracer_pid else None


def passes_stops_on(name: str) -> bool:
    """A tracer under which SIGCONT resumes a stopped process (strace), unlike a debugger."""
    return name in W.PASS_STOPS_ON


def _traced(graph: W.WaitGraph, node: W.ProcessWaits) -> str:
    if not node.tracer_pid:
        return "in a tracing stop"
    tracer = tracer_of(graph, node)
    name = tracer.name if tracer is not None else "?"
    cmd = f", `{tracer.command}`" if tracer is not None and tracer.command else ""
    return f"held in tracing stop by pid {node.tracer_pid} ({name}{cmd})"


def by_root(chains: tuple[W.WaitChain, ...]) -> tuple[W.WaitChain, ...]:
    """The chains grouped by the process they end at (roots named most often first), each
    group in the order of its first process."""
    count: dict[int | None, int] = {}
    for c in chains:
        count[c.end.pid] = count.get(c.end.pid, 0) + 1
    return tuple(
        sorted(chains, key=lambda c: (-count[c.end.pid], c.end.pid or 0, c.hops[0].pid if c.hops else 0))
    )
