"""The Files panel: every fd, pipe peers and fill, epoll interest lists, special fds."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from stucktui.collect.files import ProcessFiles, pipe_summary
from stucktui.collect.panels import PanelData
from stucktui.ui.panels import DetailPanel
from stucktui.ui.safe import safe_text
from stucktui.ui.widgets.keyed_table import KeyedTable

COLUMNS = (
    ("fd", "FD"),
    ("kind", "KIND"),
    ("mode", "MODE"),
    ("flags", "FLAGS"),
    ("pos", "POS"),
    ("target", "TARGET"),
)


def _target(r) -> Text:
    t = safe_text(r.target, max_len=300)
    if r.socket_state:
        t.append(f" {r.socket_state}", style="bold red" if r.socket_state == "CLOSE_WAIT" else "")
    if r.detail:
        t.append("  ")
        t.append_text(safe_text(r.detail, "cyan", 200))
    if r.pipe is not None:
        bad = r.pipe.no_reader or r.pipe.no_writer
        t.append("  ")
        t.append_text(safe_text(pipe_summary(r.pipe), "bold red" if bad else "cyan", 300))
        peers = ", ".join(f"{p.pid} {p.name} fd {p.fd} ({p.end})" for p in r.pipe.peers[:6]) or "nobody"
        t.append("  other end: ", style="dim")
        t.append_text(safe_text(peers, max_len=300))
    for w in r.epoll[:50]:
        t.append("\n  watches ", style="dim")
        t.append_text(safe_text(f"fd {w.tfd} [{' '.join(w.event_names)}] {w.describe()}", max_len=300))
    return t


class FilesPanel(DetailPanel):
    data_key = "files"

    def compose(self) -> ComposeResult:
        yield Static(id="files-summary")
        yield KeyedTable(COLUMNS, id="files-table")

    def update_panels(self, panels: PanelData) -> None:
        summary = self.query_one("#files-summary", Static)
        files = panels.files
        if files is None:
            return
        if isinstance(files, str):
            summary.update(safe_text(f"files: {files}", "yellow"))
            self.query_one(KeyedTable).set_rows([])
            return
        assert isinstance(files, ProcessFiles)
        head = Text(f"{files.fd_count} fds", style="bold")
        if files.fd_soft_limit:
            head.append(f" of {files.fd_soft_limit} (RLIMIT_NOFILE)")
        head.append("  " + ", ".join(f"{k} {n}" for k, n in files.counts), style="dim")
        for n in files.notes:
            head.append("\n! ", style="yellow")
            head.append_text(safe_text(n))
        summary.update(head)
        rows = []
        for r in files.rows:
            rows.append(
                (
                    str(r.fd),
                    [
                        Text(str(r.fd), justify="right"),
                        Text(r.kind),
                        Text(r.mode or "?"),
                        Text(" ".join(f.removeprefix("O_") for f in r.flags), style="dim"),
                        Text("" if r.pos is None else str(r.pos), justify="right"),
                        _target(r),
                    ],
                )
            )
        self.query_one(KeyedTable).set_rows(rows)
