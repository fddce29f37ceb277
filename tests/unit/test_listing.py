"""Filter, sort and tree order of the process list (pure functions)."""

from stucktui.listing import filter_rows, sort_rows, tree_lines
from stucktui.model.process import ProcessRow
from stucktui.model.text import human_age, human_bytes


def row(pid, ppid, name="x", user="root", cpu=None, rss=0, cmd=()):
    return ProcessRow(
        pid=pid,
        ppid=ppid,
        uid=0,
        user=user,
        state="S",
        name=name,
        cmdline=cmd,
        cpu_percent=cpu,
        rss_bytes=rss,
        num_threads=1,
        num_fds=3,
        start_time=1000.0 + pid,
        starttime_ticks=pid,
        is_kernel_thread=False,
    )


ROWS = [
    row(1, 0, "init", cmd=("/sbin/init",)),
    row(10, 1, "sshd", cpu=1.0, rss=5000, cmd=("sshd:", "alice")),
    row(11, 10, "bash", user="alice", cpu=0.0, rss=100, cmd=("-bash",)),
    row(12, 11, "python3", user="alice", cpu=99.0, rss=9000, cmd=("python3", "app.py")),
    row(13, 11, "sleep", user="alice", cmd=("sleep", "100")),
    row(20, 1, "cron", cmd=("cron",)),
]


def test_filter_matches_pid_user_name_cmdline():
    assert [r.pid for r in filter_rows(ROWS, "alice")] == [10, 11, 12, 13]
    assert [r.pid for r in filter_rows(ROWS, "APP.PY")] == [12]
    assert [r.pid for r in filter_rows(ROWS, "13")] == [13]
    assert [r.pid for r in filter_rows(ROWS, "cron")] == [20]
    assert len(filter_rows(ROWS, "  ")) == len(ROWS)


def test_sort_numbers_and_none_last_when_descending():
    assert [r.pid for r in sort_rows(ROWS, "cpu", True)][:3] == [12, 10, 11]
    assert [r.pid for r in sort_rows(ROWS, "rss", True)][0] == 12
    assert [r.pid for r in sort_rows(ROWS, "pid", False)] == [1, 10, 11, 12, 13, 20]


def test_tree_order_and_guides():
    lines = tree_lines(ROWS, "pid", False)
    assert [ln.row.pid for ln in lines] == [1, 10, 11, 12, 13, 20]
    prefixes = {ln.row.pid: ln.prefix for ln in lines}
    assert prefixes[1] == ""
    assert prefixes[10] == "├─ "
    assert prefixes[12] == "│     ├─ "
    assert prefixes[13] == "│     └─ "
    assert prefixes[20] == "└─ "


def test_tree_with_filtered_parent_makes_roots():
    lines = tree_lines(filter_rows(ROWS, "python3"), "pid", False)
    assert [(ln.row.pid, ln.depth) for ln in lines] == [(12, 0)]


def test_tree_survives_ppid_cycle():
    rows = [row(5, 6), row(6, 5)]
    assert sorted(ln.row.pid for ln in tree_lines(rows)) == [5, 6]


def test_tree_deep_chain_no_recursion_limit():
    rows = [row(1, 0)] + [row(i, i - 1) for i in range(2, 3000)]
    assert len(tree_lines(rows)) == 2999


def test_human_units():
    assert human_bytes(512) == "512B"
    assert human_bytes(5 * 1024 * 1024) == "5.0M"
    assert human_bytes(None) == "-"
    assert human_age(59) == "59s" and human_age(3600 * 26) == "1d02h"


def test_commands_shortened_as_htop_users_read_them():
    from stucktui.listing import short_argv

    venv = "/tmp/stucktui-demo-x/.venv/bin/python3"
    assert short_argv((venv, "/tmp/stucktui-demo-x/api_service.py", "--port", "8")) == (
        ("python3", "…/api_service.py", "--port", "8"),
        1,
    )
    assert short_argv(("/usr/sbin/sshd", "-D")) == (("sshd", "-D"), 0)
    assert short_argv(("python3", "-u", "-X", "dev", "srv.py")) == (
        ("python3", "-u", "-X", "dev", "srv.py"),
        4,
    )
    assert short_argv(("python3", "-m", "http.server", "8000")) == (
        ("python3", "-m", "http.server", "8000"),
        2,
    )
    assert short_argv(("sh", "-c", "sleep 5; /bin/true")) == (("sh", "-c", "sleep 5; /bin/true"), 0)
    assert short_argv(("postgres: checkpointer /x",)) == (("postgres: checkpointer /x",), 0)  # a title
    assert short_argv(("/usr/bin/perl", "/opt/x/run.pl")) == (("perl", "…/run.pl"), 1)
    assert short_argv(()) == ((), -1)


def test_table_cells_are_formatted_again_only_for_changed_rows_and_ages():
    from dataclasses import replace

    from stucktui.listing import TreeLine
    from stucktui.ui.widgets.process_table import _cells, _line_cells

    a, b = row(1, 0, "init", cpu=0.0, cmd=("/sbin/init",)), row(2, 1, "busy", cpu=5.0)
    now = 1000.0 + 3600 + 30  # a is an hour old; the AGE cells show minutes
    cache: dict = {}
    first = [_line_cells(TreeLine(r, "", 0), now, cache) for r in (a, b)]
    assert first == [_cells(TreeLine(a, "", 0), now), _cells(TreeLine(b, "", 0), now)]
    b2 = replace(b, cpu_percent=7.0)  # b changed: a new row object; a is kept as it was
    again = [_line_cells(TreeLine(r, "", 0), now + 1, cache) for r in (b2, a)]
    assert again[1] is first[0] and again[0][3] == "7.0"
    later = now + 60  # a minute on: the same row, its AGE moved on
    moved = _line_cells(TreeLine(a, "", 0), later, cache)
    assert moved == _cells(TreeLine(a, "", 0), later) and moved[9] != first[0][9]
    # a reused pid is another row object: never the old process's cells
    other = row(1, 0, "other", cpu=0.0, cmd=("/bin/other",))
    assert _line_cells(TreeLine(other, "", 0), later, cache)[-1] == "other"
    # the tree guide is part of the cells
    assert _line_cells(TreeLine(other, "└─ ", 1), later, cache)[-1] == "└─ other"


def test_the_widest_command_is_measured_without_formatting_kept_rows(monkeypatch):
    from dataclasses import replace

    from stucktui import listing
    from stucktui.listing import TreeLine, command_len, widest_command
    from stucktui.ui.widgets.process_table import _cells

    rows = [
        row(1, 0, "init", cmd=("/sbin/init", "splash")),
        row(2, 1, "kthreadd", cmd=()),  # [kthreadd]
        row(3, 1, "py", cmd=("/usr/bin/python3", "-u", "/opt/app/serve.py", "--port", "80")),
    ]
    lines = [TreeLine(r, p, 1) for r, p in zip(rows, ("", "├─ ", "└─ "), strict=True)]
    for ln in lines:  # the length is the COMMAND cell's, made or not
        assert command_len(ln) == len(_cells(ln, 2000.0)[-1])
    cache: dict = {}
    assert widest_command(lines, cache) == len("└─ python3 -u …/serve.py --port 80")
    calls = []
    monkeypatch.setattr(listing, "command_len", lambda ln: calls.append(ln.row.pid) or command_len(ln))
    longer = replace(rows[0], cmdline=("/sbin/init", "x" * 60))
    assert widest_command([TreeLine(longer, "", 0), *lines[1:]], cache) == 60 + len("init ")
    assert calls == [1]  # only the changed row was measured
    assert widest_command(lines[1:2], cache) == len("├─ [kthreadd]") and set(cache) == {2}


def test_sort_breaks_ties_by_pid_both_ways():
    import random

    from stucktui.listing import COLUMN_BY_KEY, COLUMNS

    rnd = random.Random(7)
    rows = [
        row(pid, 1, rnd.choice("ab"), rnd.choice("xy"), rnd.choice([None, 0.0, 1.5]), rnd.choice([0, 9]))
        for pid in rnd.sample(range(2, 500), 200)
    ]
    for col in COLUMNS:
        for rev in (False, True):
            key = COLUMN_BY_KEY[col.key].sort_key
            want = sorted(rows, key=lambda r, k=key, rv=rev: (k(r), -r.pid if rv else r.pid), reverse=rev)
            assert [r.pid for r in sort_rows(rows, col.key, rev)] == [r.pid for r in want], (col.key, rev)
