"""silent-peer: threads read a reply from a peer (a database, an API, a server on this box or
off it) that has sent nothing for a long time since it was asked. Alone it is information, not
an alarm: a long poll or a blocking queue read (Redis BLPOP) looks the same. When connections
wait behind it, event-loop-blocked and workers-wait-on-peer tell it as the cause
(docs/kernel-notes.md §A.8).
"""

from __future__ import annotations

from stucktui.diagnose.chains import follow
from stucktui.diagnose.spec import RuleSpec
from stucktui.diagnose.subject import Subject, id_list, plural
from stucktui.model import waits as W
from stucktui.model.findings import Finding
from stucktui.model.text import human_age

# A reply this late is worth a line in the findings of the process that waits for it.
LATE = 60.0


def silent_peer(s: Subject) -> list[Finding]:
    graph = s.context.waits
    if graph is None:
        return []
    out = []
    for c in follow(graph):
        h = c.hops[0] if c.hops else None
        if h is None or h.wait != W.SOCKET_RECV or h.silent_s is None or h.silent_s < LATE or c.stuck:
            continue
        node = graph.nodes.get(h.pid)
        wait = next((w for w in node.waits if w.tids == h.tids), None) if node is not None else None
        if wait is None or not wait.asked:
            continue
        peer = W.party_names(wait.parties) or "its peer"
        summary = (
            f"{plural(len(h.tids), 'thread')} of {s.label} {'wait' if len(h.tids) > 1 else 'waits'} to "
            f"{h.obj}, and {peer} has sent nothing for {human_age(h.silent_s)} since this side last sent "
            "(a reply that never came, or a subscription or long poll with nothing to say)"
        )
        where = s.app_site(h.tids)
        if where is not None:
            summary += f", from {where}"
        evidence = [f"threads {id_list(list(h.tids))}: {h.obj}: {h.detail}", "chain: " + W.chain_text(c)]
        steps = [
            "if a reply was due, find out why the peer does not answer"
            + (f": `stucktui report {c.end.pid}`" if c.end.pid is not None and c.end.pid != s.pid else ""),
            "give the read a timeout, so a silent peer costs an error instead of a hang",
        ]
        fds = (h.fd,) if h.fd is not None else ()
        out.append(s.finding("silent-peer", "info", summary, evidence, steps, panel="sockets", fds=fds,
                             tids=h.tids))  # fmt: skip
    return out


SILENT_PEER = RuleSpec(
    "silent-peer",
    silent_peer,
    clues=frozenset(),  # the process view and `report PID` only: never a triage row by itself
    needs=frozenset({"threads", "sockets"}),
    cause_rank=4,
    ladder=f"info: a reply asked for has not come for {int(LATE)}s (a long poll looks the same; with "
    "connections waiting behind it, event-loop-blocked or workers-wait-on-peer tells it)",
)
