"""The catalogue of keys: one entry per action, feeding bindings, the footer, help and the palette."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class KeyAction:
    action: str  # Textual action string
    keys: str  # comma-separated Textual key names; the first is shown in the footer
    title: str  # short footer label
    help: str  # one line for the help screen and the command palette
    show: bool = True  # in the footer
    palette: bool = True  # offered by the command palette


LIST_KEYS: tuple[KeyAction, ...] = (
    KeyAction("open", "enter", "Open", "Open the selected process: its facts and panels"),
    KeyAction(
        "filter", "slash,backslash,f4,f3", "Filter", "Filter as you type: pid, user, name or command line"
    ),
    KeyAction("clear_filter", "escape", "Clear", "Clear the filter", show=False, palette=False),
    KeyAction("toggle_tree", "t,f5", "Tree", "Show processes as a tree of parents and children"),
    KeyAction("box_sockets", "s", "Sockets", "Box-wide sockets: TCP states, processes ranked by CLOSE_WAIT"),
    KeyAction("triage", "exclamation_mark", "Findings", "The box's findings, most severe first"),
    KeyAction("toggle_pause", "p,Z", "Pause", "Pause or resume refreshing"),
    KeyAction("sort('cpu')", "P", "CPU", "Sort by CPU use", show=False),
    KeyAction("sort('rss')", "M", "Mem", "Sort by resident memory", show=False),
    KeyAction("sort('age')", "T", "Age", "Sort by age (newest first)", show=False),
    KeyAction("sort('pid')", "N", "PID", "Sort by pid", show=False),
    KeyAction("sort('fds')", "F", "FDs", "Sort by open fds", show=False),
    KeyAction("sort('finding')", "X", "Findings", "Sort by findings (most severe first)", show=False),
    KeyAction("sort('close_wait')", "W", "CLOSE_WAIT", "Sort by CLOSE_WAIT sockets held", show=False),
    KeyAction("next_sort", "f6,greater_than_sign", "Sort", "Sort by the next column"),
    KeyAction("prev_sort", "less_than_sign", "Sort back", "Sort by the previous column", show=False),
    KeyAction("invert_sort", "I", "Invert", "Invert the sort order", show=False),
    KeyAction("help", "question_mark,f1", "Help", "Show all keys"),
    KeyAction("quit", "q,f10", "Quit", "Quit stucktui"),
)

# q on the screen stucktui started on (the triage of `--triage`, the process of `--pid`)
# quits, and says so in the footer; on a screen opened from another, it goes back like Esc
_QUIT_HERE = KeyAction(
    "quit_here", "q", "Quit", "Quit on the screen stucktui started on, else back", palette=False
)

DETAIL_KEYS: tuple[KeyAction, ...] = (
    KeyAction("back", "escape,backspace", "Back", "Back to the process list"),
    _QUIT_HERE,
    KeyAction("tab(1)", "1", "Overview", "Show the Overview panel", show=False),
    KeyAction("tab(2)", "2", "Threads", "Show the Threads panel: what every thread waits on", show=False),
    KeyAction("tab(3)", "3", "Sockets", "Show the Sockets panel: TCP states, queues, peers", show=False),
    KeyAction("tab(4)", "4", "Files", "Show the Files panel: every fd, pipe peers, epoll lists", show=False),
    KeyAction("tab(5)", "5", "Locks", "Show the Locks panel: file locks held and waited for", show=False),
    KeyAction("tab(6)", "6", "Signals", "Show the Signals panel: masks decoded by name", show=False),
    KeyAction("show_findings", "f", "Findings", "Every finding of this process with evidence and next steps"),
    # in the footer only while a thread of the process waits on another process (ProcessScreen)
    KeyAction(
        "why_stuck", "w", "Why", "Why stuck? The chains of waits from its blocked threads to their end"
    ),
    KeyAction("send_signal", "k,f9", "Signal", "Send a signal chosen by name (confirmed, verified, logged)"),
    # in the footer only once the process exited and another one got its pid (ProcessScreen)
    KeyAction(
        "open_successor", "O", "Open new", "After it exited: open the new process that now has its pid"
    ),
    KeyAction("python_stacks", "y", "Py stacks", "Take Python stacks now (py-spy)"),
    KeyAction(
        "toggle_pyspy_mode",
        "B",
        "py-spy mode",
        "Toggle py-spy between nonblocking and pausing (consistent)",
        show=False,
    ),
    # not in the footer: it has no room left at 80 columns once q quits there (help lists it)
    KeyAction("toggle_pause", "p,Z", "Pause", "Pause or resume refreshing", show=False),
    KeyAction("help", "question_mark,f1", "Help", "Show all keys"),
)


# keys of one panel, active while the focus is in it (each tab focuses its table)
THREADS_KEYS: tuple[KeyAction, ...] = (
    KeyAction("toggle_grouped", "g", "Groups", "Threads: group by what they wait on, or list every one"),
    KeyAction("kernel_stacks", "K", "Kernel stacks", "Threads: read each thread's kernel stack (root)"),
    KeyAction("native", "n", "Native frames", "Threads: py-spy with native (C) frames (pauses it)"),
    KeyAction("gdb", "G", "gdb stacks", "Threads: every thread's native stack with gdb (pauses it)"),
)
_CLOSE_FD = KeyAction(
    "close_fd", "c", "Close fd", "Close the selected fd inside the process (confirmed, logged)"
)
SOCKETS_KEYS: tuple[KeyAction, ...] = (
    KeyAction("toggle_group", "g", "Group by remote", "Sockets: group rows by remote endpoint and state"),
    _CLOSE_FD,
)
FILES_KEYS: tuple[KeyAction, ...] = (
    _CLOSE_FD,
    KeyAction("next_sort", "o", "Order", "Files: order by fd, kind, target, position, problems"),
    KeyAction("filter", "slash", "Filter fds", "Files: filter by fd number or words"),
)

TRIAGE_KEYS: tuple[KeyAction, ...] = (
    KeyAction("open", "enter", "Open", "Open the process of the selected finding"),
    KeyAction("back", "escape,backspace", "Process list", "Back to the process list"),
    _QUIT_HERE,
    KeyAction("severity", "s", "Severity", "Findings: show every one, warnings and worse, or critical only"),
    KeyAction("search", "slash", "Search", "Findings: search by pid, name, rule or words (Esc clears)"),
    KeyAction("toggle_pause", "p,Z", "Pause", "Pause or resume refreshing"),
    KeyAction("help", "question_mark,f1", "Help", "Show all keys"),
)

# keys the triage's table handles itself (not bindings): listed on the help screen
TRIAGE_TABLE_KEYS: tuple[tuple[str, str], ...] = (
    ("→", "Show the findings of the processes that wait on the selected root, folded under it"),
    ("←", "Fold them again"),
    ("Home, End", "The first, the last finding"),
)

# keys every screen has: the help screen lists them once, not under each screen
COMMON_KEYS: tuple[KeyAction, ...] = (
    KeyAction("toggle_pause", "p,Z", "Pause", "Pause or resume refreshing"),
    KeyAction("help", "question_mark,f1", "Help", "Show all keys"),
    KeyAction("command_palette", "ctrl+p", "Palette", "The command palette: every key of the screen by name"),
    KeyAction(
        "quit", "ctrl+c,ctrl+q", "Quit", "Quit stucktui (Ctrl+C copies instead while text is selected)"
    ),
)

WHY_STUCK_KEYS: tuple[KeyAction, ...] = (
    KeyAction("open", "enter", "Open", "Why stuck: open the process of the selected hop or end"),
    KeyAction("back", "escape,backspace,q,w", "Back", "Back to the process view"),
    KeyAction("toggle_pause", "p,Z", "Pause", "Pause or resume refreshing"),
    KeyAction("help", "question_mark,f1", "Help", "Show all keys"),
)

BOX_SOCKET_KEYS: tuple[KeyAction, ...] = (
    KeyAction("open", "enter", "Open", "Open the selected process on its Sockets panel"),
    KeyAction("rank", "o", "Rank", "Rank processes by CLOSE_WAIT sockets or by all sockets"),
    KeyAction("back", "escape,backspace,q", "Back", "Back to the process list"),
    KeyAction("toggle_pause", "p,Z", "Pause", "Pause or resume refreshing"),
    KeyAction("help", "question_mark,f1", "Help", "Show all keys"),
)


FOOTER_WHEN_ABLE = "footer"  # the argument of a binding shown only when the screen allows it


def bindings(
    actions: tuple[KeyAction, ...], *, shown_when_able: frozenset[str] = frozenset()
) -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    """The bindings of a screen. An action in `shown_when_able` (no arguments of its own) is
    bound twice: first as ACTION('footer'), shown, which the screen's check_action allows only
    while the footer should offer it (when it does not, the key falls through), then as itself,
    hidden, so the key and the command palette work whatever the footer shows."""
    out: list[Binding | tuple[str, str] | tuple[str, str, str]] = []
    for a in actions:
        if a.action in shown_when_able:
            out.append(Binding(a.keys, f"{a.action}('{FOOTER_WHEN_ABLE}')", a.title, show=a.show))
            out.append(Binding(a.keys, a.action, a.title, show=False))
        else:
            out.append(Binding(a.keys, a.action, a.title, show=a.show))
    return out


def key_label(keys: str) -> str:
    names = {
        "slash": "/",
        "backslash": "\\",
        "question_mark": "?",
        "greater_than_sign": ">",
        "less_than_sign": "<",
        "exclamation_mark": "!",
        "escape": "Esc",
        "enter": "Enter",
        "backspace": "Backspace",
        "home": "Home",
        "end": "End",
    }
    return ", ".join(_one_key(k, names) for k in keys.split(","))


def _one_key(k: str, names: dict[str, str]) -> str:
    if k in names:
        return names[k]
    if k.startswith("f") and k[1:].isdigit():
        return k.upper()
    if k.startswith("ctrl+"):
        return "Ctrl+" + k.removeprefix("ctrl+").upper()
    return k
