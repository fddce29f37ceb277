"""The "Why stuck?" view of the open process: its wait chains (stucktui.diagnose.chains) as a
tree, one root per chain (the threads that wait and where the chain ends), the hops and the end
under it. Enter on a hop or the end opens that process. It follows the process's snapshots like
the process view under it; every name, object and detail is the processes' own text: escaped."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, Tree
from textual.widgets.tree import TreeNode

from stucktui.model import waits as W
from stucktui.model.process import DetailGone
from stucktui.model.snapshot import Snapshot
from stucktui.ui.keys import WHY_STUCK_KEYS, bindings
from stucktui.ui.messages import HelpRequested, OpenPidRequested, PauseToggled, RefreshRequested
from stucktui.ui.safe import safe_text
from stucktui.ui.view import SnapshotScreen, ViewContext
from stucktui.ui.widgets import HEADER_ICON

# what the threads of a hop do, in words
WAIT_WORDS: dict[str, str] = {
    W.PIPE_WRITE: "write to a full pipe",
    W.PIPE_READ: "read an empty pipe",
    W.CHILD: "wait for a child",
    W.LOCK: "wait for a file lock",
    W.SOCKET_SEND: "send on a socket nobody reads",
    W.FUTEX: "wait for a lock",
    W.SIGNAL: "wait for a signal",
    W.FUSE: "wait for a FUSE daemon's answer",
    W.UNINTERRUPTIBLE: "sleep in the kernel (D)",
}
END_WORDS: dict[str, str] = {W.CYCLE: "cycle (a deadlock)"}

NO_CHAINS = "No thread of process {pid} waits on another process that stucktui follows"
NO_CHAINS_WHAT = (
    "(a pipe's other end, a child, a file lock's holder, a socket's receiver): nothing to follow. "
    "Its Threads panel (2) tells what each thread does."
)

# a node's data: the pid Enter opens (None: nothing to open), and the full text of the node
NodeData = tuple[int | None, Text]


def _process(pid: int | None, name: str, style: str = "") -> Text:
    t = Text(f"pid {pid} " if pid is not None else "", style=style)
    if pid is not None:
        t.append_text(safe_text(f"({name})", style, max_len=200))
    return t


def end_text(end: W.ChainEnd, stuck: bool) -> Text:
    """'traced: pid 12 (gdb) held in tracing stop ...', the kind in red when the chain is stuck."""
    t = Text(f"{END_WORDS.get(end.kind, end.kind)}: ", style="bold red" if stuck else "bold")
    who = _process(end.pid, end.name, "bold" if stuck else "")
    if who:
        t.append_text(who)
        t.append(" ")
    t.append_text(safe_text(end.detail, max_len=1000))
    return t


def chain_label(chain: W.WaitChain) -> Text:
    """A chain's root: 'STUCK 3 threads wait → ends: traced: pid 12 (gdb) ...'."""
    n = len(chain.tids)
    t = Text("STUCK ", style="bold red") if chain.stuck else Text("may end ", style="dim")
    t.append(f"{n} thread{'s wait' if n != 1 else ' waits'} → ends: ")
    t.append_text(end_text(chain.end, chain.stuck))
    return t


def hop_label(hop: W.Hop) -> Text:
    """'pid 10 (api) write to a full pipe: write to fd 1 (pipe:[77]) ← pid 11 (tee) holds ...'."""
    t = _process(hop.pid, hop.name, "bold")
    t.append(f" {WAIT_WORDS.get(hop.wait, hop.wait)}: ", style="cyan")
    t.append_text(safe_text(hop.obj, max_len=500))
    t.append(" ← ", style="dim")
    t.append_text(safe_text(hop.detail, max_len=1000))
    return t


def hop_detail(hop: W.Hop) -> Text:
    """The hop in full, wrapped under the tree: its threads, what they wait on, who could end it."""
    t = _process(hop.pid, hop.name, "bold")
    tids = " ".join(str(x) for x in hop.tids[:12]) + (f" +{len(hop.tids) - 12}" if len(hop.tids) > 12 else "")
    t.append(f", thread{'s' if len(hop.tids) != 1 else ''} {tids}: {WAIT_WORDS.get(hop.wait, hop.wait)}\n")
    t.append("waits on ", style="dim")
    t.append_text(safe_text(hop.obj, max_len=500))
    t.append("\ncould end it: ", style="dim")
    t.append_text(safe_text(hop.detail, max_len=1000))
    return t


class WhyStuckScreen(SnapshotScreen):
    """Pushed over the process view (w); Esc goes back to it."""

    # Enter before the tree's own (which would only fold a chain): it opens the hop's process
    BINDINGS = [
        replace(b, priority=True) if isinstance(b, Binding) and b.action == "open" else b
        for b in bindings(WHY_STUCK_KEYS)
    ]
    VIEW = "process"  # the open process's facts, findings and chains; no panel

    def __init__(self, pid: int, name: str, chains: tuple[W.WaitChain, ...] | None) -> None:
        super().__init__()  # no id: nested process views each have their own
        self.pid = pid
        self.process_name = name
        self.chains = chains
        self.gone = False
        self._shown: tuple[W.WaitChain, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon=HEADER_ICON)
        yield Static(self._title(), id="why-title")
        tree: Tree[NodeData] = Tree("wait chains", id="why-tree")
        tree.show_root = False
        tree.guide_depth = 3
        yield tree
        yield Static("", id="why-detail")
        yield Static(Text(self.freshness), id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._show()
        self.query_one(Tree).focus()

    def show_snapshot(self, snap: Snapshot, context: ViewContext) -> None:
        super().show_snapshot(snap, context)
        if snap.selected_pid != self.pid or snap.detail is None:
            return  # another process's refresh (one opened from here), or none yet
        if isinstance(snap.detail, DetailGone):
            self.gone = True
        elif not self.gone:  # once it exited, nothing read under its pid is its own
            self.process_name = snap.detail.name
            if snap.chains is not None:
                self.chains = snap.chains
        if self.is_mounted:
            self._show()
            self.update_status(self.freshness)

    def update_status(self, freshness: str) -> None:
        super().update_status(freshness)
        for w in self.query("#status").results(Static):  # none while composing or closing
            w.update(Text(freshness))

    def _title(self) -> Text:
        t = Text("Why stuck? ", style="bold")
        t.append_text(_process(self.pid, self.process_name, "bold"))
        if self.gone:
            t.append("  has exited: the chains below are the last ones seen", style="bold red")
        elif self.chains is None:
            t.append("  looking…", style="dim")
        elif self.chains:
            stuck = sum(c.stuck for c in self.chains)
            n = len(self.chains)
            t.append(f"  {n} chain{'s' if n != 1 else ''} of waits, ")
            t.append(f"{stuck} stuck", style="bold red" if stuck else "green")
        return t

    def _show(self) -> None:
        self.query_one("#why-title", Static).update(self._title())
        tree = self.query_one("#why-tree", Tree)
        chains = self.chains
        if chains == self._shown:
            return  # unchanged: keep the cursor and what is folded
        self._shown = chains
        line = tree.cursor_line
        folded = {i for i, n in enumerate(tree.root.children) if n.children and not n.is_expanded}
        tree.clear()
        if not chains:
            text = Text("looking…", style="dim") if chains is None else self._nothing()
            tree.root.add_leaf(text, data=(None, text))
        for i, chain in enumerate(chains or ()):
            label = chain_label(chain)
            node = tree.root.add(label, data=(None, label), expand=i not in folded)
            for hop in chain.hops:
                node.add_leaf(hop_label(hop), data=(hop.pid, hop_detail(hop)))
            end = Text("end: ", style="dim")
            end.append_text(end_text(chain.end, chain.stuck))
            node.add_leaf(end, data=(chain.end.pid, end))
        tree.cursor_line = max(0, min(line, tree.last_line)) if line >= 0 else 0
        self._describe(tree.cursor_node)

    def _nothing(self) -> Text:
        t = Text(NO_CHAINS.format(pid=self.pid), style="green")
        t.append(" " + NO_CHAINS_WHAT, style="dim")
        return t

    def _describe(self, node: TreeNode[NodeData] | None) -> None:
        """The highlighted node in full, wrapped (the tree cuts long lines at 80 columns)."""
        text = Text()
        if node is not None and node.data is not None:
            pid, full = node.data
            text = full.copy()
            text.no_wrap = False  # in full, wrapped
            if pid == self.pid:
                text.append("\nEnter: back to its process view", style="dim")
            elif pid is not None:
                text.append(f"\nEnter: open process {pid}", style="dim")
        self.query_one("#why-detail", Static).update(text)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        self._describe(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        # a click on the highlighted line (Enter comes as action_open)
        self._open(event.node)

    def action_open(self) -> None:
        node = self.query_one("#why-tree", Tree).cursor_node
        if node is not None and node.children:  # a chain: fold or unfold it
            node.toggle()
        elif node is not None:
            self._open(node)

    def _open(self, node: TreeNode[NodeData]) -> None:
        if node.data is None or node.children or node.parent is None or node.parent.is_root:
            return  # a chain (Enter folds it), or the line saying there is none
        pid = node.data[0]
        if pid is None:
            self.app.notify("no process on this box to open", timeout=2)
        elif pid == self.pid:
            self.action_back()
        else:
            self.post_message(OpenPidRequested(pid))

    def action_back(self) -> None:
        self.app.post_message(RefreshRequested())  # the process view's panel, again
        self.app.pop_screen()

    def action_toggle_pause(self) -> None:
        self.post_message(PauseToggled())

    def action_help(self) -> None:
        self.post_message(HelpRequested())
