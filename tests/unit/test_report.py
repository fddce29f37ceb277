"""`stucktui report` rendering: the JSON contract, and escaping in every format."""

import json

from stucktui.collect.detail import collect_detail
from stucktui.report import Report, render
from tests.fixture_proc import fixture_root, frozen_clock, pid_where

CONTRACT = {
    "pid",
    "ppid",
    "name",
    "cmdline",
    "exe",
    "cwd",
    "user",
    "uid",
    "state",
    "start_time",
    "cpu_percent",
    "rss_bytes",
    "num_threads",
    "num_fds",
    "fd_limit",
}


def _evil_report():
    pid = pid_where(lambda s: "evil" in s.comm)
    return Report(collect_detail(fixture_root(), pid, cpu_percent=1.25, clock=frozen_clock()))


def test_json_contract_keys_and_types():
    data = json.loads(render(_evil_report(), "json"))
    assert set(data) >= CONTRACT
    assert isinstance(data["cmdline"], list) and data["cpu_percent"] == 1.2
    assert data["start_time"][4] == "-" and "T" in data["start_time"]  # ISO 8601
    assert isinstance(data["fd_limit"], int) and isinstance(data["num_fds"], int)
    assert data["parents"][-1]["pid"] == 1


def test_json_is_ascii_and_faithful():
    text = render(_evil_report(), "json")
    assert "\x1b" not in text and "\x07" not in text
    text.encode("ascii")
    data = json.loads(text)
    assert "\x1b]0;pwned\x07" in data["cmdline"]  # the value itself survives, escaped in transit
    assert "[bold]red[/] [link=http://x]click[/link]" in data["cmdline"]


def test_text_escapes_controls():
    text = render(_evil_report(), "text")
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text
    assert "[bold]red[/]" in text  # shown literally
    assert "bad-\\xff-utf8" in text
    assert all(len(line) < 5000 for line in text.splitlines())


def test_markdown_keeps_hostile_text_out_of_the_markup():
    """The facts are a fenced block: the command line reads as it is, with no backslash added,
    and no link or emphasis of it reaches the rendered page (tests/unit/test_report_paste.py
    renders it with a CommonMark parser)."""
    md = render(_evil_report(), "markdown")
    assert "\x1b" not in md and "|---|" not in md  # no table: Slack does not render them
    assert "[bold]red[/] [link=http://x]click[/link]" in md and "\\[" not in md


def test_text_report_never_prints_none_for_a_socket_in_no_table():
    from stucktui.report.sections import text_lines

    item = {
        "fd": 21,
        "proto": "tcp",
        "local": "",
        "remote": "",
        "state": "UNCONN",
        "recv_q": None,
        "send_q": None,
    }
    data = {"sockets": {"states": {"UNCONN": 1}, "items": [item], "by_remote": [], "accept_queues": []}}
    text = "\n".join(text_lines(data))
    assert "None" not in text and "fd    21 tcp   - UNCONN (in no socket table: reset or shut down)" in text


def test_sections_stucktui_could_not_read_say_so_instead_of_zero():
    """Without root, another user's process: its fds and sockets are unreadable, and the
    report says so where the counts would be, and in the findings line."""
    from stucktui.model.files import ProcessFiles
    from stucktui.model.panels import PanelData, unreadable
    from stucktui.model.process import NO_PERMISSION, Unavailable
    from stucktui.model.threads import ThreadsSnapshot
    from stucktui.procfs.errors import NOT_OWNER
    from stucktui.report.sections import findings_text, json_sections, text_lines

    why = f"no permission to list /proc/1/fd ({NOT_OWNER})"
    unlisted = Unavailable("no permission to list /proc/1/fd", NOT_OWNER)
    files = ProcessFiles(1, (), (), None, None, ("open files: " + why,), 0.0, unlisted=unlisted)
    data = json_sections(PanelData(files=files, sockets=Unavailable("no permission", "run stucktui as root")))
    assert data["unavailable_sections"] == {"fds": why, "sockets": "no permission (run stucktui as root)"}
    assert data["fds"] == []  # the key stays: scripts read it
    lines = text_lines(data)
    assert "  Files:" in lines and "  Sockets:" in lines
    assert f"  not available: {why}" in lines
    assert not any(line.startswith("  Files (0") or line.startswith("  Sockets (0") for line in lines)
    from tests.unit.diagnose_kit import thread

    denied = thread(1, None)._replace(syscall=None, call=None, call_text="syscall: no permission")
    snap = ThreadsSnapshot(1, "x86_64", (denied,), (), 0.0)
    blind = unreadable(PanelData(files=files, sockets=NO_PERMISSION, threads=snap))
    assert blind == ["sockets", "files", "syscalls"]
    (head,) = [x for x in findings_text([], blind) if "Findings" in x]
    assert "none in what stucktui could read (sockets, files, syscalls: not readable" in head
    assert "no known stuck pattern" in findings_text([], [])[1]
    # the process view collects only the panel on screen: a refused exe says the rest too
    from dataclasses import replace

    from stucktui.collect.detail import collect_detail
    from stucktui.model.process import NO_PERMISSION
    from tests.fixture_proc import fixture_root, frozen_clock, pid_where

    pid = pid_where(lambda st: st.comm == "sleep")
    detail = collect_detail(fixture_root(), pid, cpu_percent=1.0, clock=frozen_clock())
    assert unreadable(PanelData(), detail) == []
    assert unreadable(PanelData(), replace(detail, exe=NO_PERMISSION)) == ["sockets", "files", "syscalls"]


def test_signal_masks_of_threads_grouped_and_a_full_mask_said_briefly():
    from stucktui.model.signals import NSIG, mask_names
    from stucktui.report.sections import text_lines

    everything = [n for n in mask_names((1 << NSIG) - 1) if n not in ("SIGKILL", "SIGSTOP")]
    nearly = [n for n in everything if n != "SIGINT"]
    data = {
        "signals": {
            "pending": [], "shared_pending": [], "blocked": everything, "ignored": [], "caught": [],
            "threads": {
                "11": {"blocked": nearly, "pending": []},
                "12": {"blocked": nearly, "pending": []},
                "13": {"blocked": ["SIGALRM"], "pending": ["SIGALRM"]},
            },
        }
    }  # fmt: skip
    lines = text_lines(data)
    assert "  blocked: all" in lines
    assert "  threads 11, 12: blocked all except SIGINT; pending -" in lines
    assert "  thread 13: blocked SIGALRM; pending SIGALRM" in lines


def test_lock_lines_name_an_ofd_waiter_and_who_else_has_the_file_open():
    from stucktui.report.sections import text_lines

    users = [{"pid": 100 + i, "name": "worker", "fd": 3} for i in range(10)]
    lock = {
        "role": "held", "type": "OFD", "mode": "WRITE", "range": "0-EOF", "path": "/var/lock/app",
        "inode": 7, "holder_pid": 42, "waiters": [-1], "others_open": users, "warning": None,
    }  # fmt: skip
    (line,) = [x for x in text_lines({"locks": [lock]}) if "/var/lock/app" in x]
    assert "waiters an OFD waiter (no pid)" in line
    assert "also open in 100 worker fd 3, 101 worker fd 3" in line and line.endswith("and 2 more")


def test_text_report_names_the_threads_that_used_cpu_busiest_first():
    from stucktui.report.sections import markdown_lines, text_lines

    def t(tid, cpu, sys=None, runnable=None, name="w"):
        return {
            "tid": tid,
            "name": name,
            "cpu_percent": cpu,
            "sys_percent": sys,
            "runnable_percent": runnable,
        }

    data = {
        "thread_groups": [{"tids": [1, 2, 3], "summary": "3 threads", "state": "S", "wchan": None}],
        "threads": [t(1, 0.0), t(2, 12.0, 1.0, 95.0), t(3, 97.4, 61.2, name="\x1b[2Jloop")],
    }
    (line,) = [x for x in text_lines(data) if "CPU over" in x]
    assert (
        line
        == "  CPU over the sampled window: 3 (\\x1b[2Jloop) 97% (sys 61%), 2 (w) 12% (sys 1%, runnable 95%)"
    )
    assert any("CPU over" in x for x in markdown_lines(data))
    idle = {**data, "threads": [t(1, 0.0), t(2, None), t(3, 4.9)]}
    assert not [x for x in text_lines(idle) if "CPU over" in x]


def test_text_report_stays_pasteable_with_thousands_of_fds():
    """Each socket was listed three times (Sockets, the epoll watch list, Files): 30,000 lines
    at incident scale. Files lists sockets only when watched, and at most 200 fds."""
    from stucktui.report.sections import markdown_lines, text_lines

    def fd(n, kind, target, **kw):
        return {"fd": n, "kind": kind, "mode": "rw", "target": target, "pipe": None, "epoll": [], **kw}

    sockets = [fd(100 + i, "socket", f"socket:[{900 + i}]") for i in range(3000)]
    files = [fd(4000 + i, "file", "/var/log/app.log") for i in range(500)]
    watches = [{"fd": 100 + i, "events": ["IN"], "target": "socket CLOSE_WAIT"} for i in range(50)]
    ep = fd(3, "epoll", "anon_inode:[eventpoll]", epoll=watches)
    item = {
        "fd": 100,
        "proto": "tcp",
        "local": "a",
        "remote": "b",
        "state": "CLOSE_WAIT",
        "recv_q": 1,
        "send_q": 0,
    }
    data = {
        "sockets": {"states": {"CLOSE_WAIT": 3000}, "items": [item] * 3000, "by_remote": [
            {"count": 3000, "state": "CLOSE_WAIT", "remote": "10.0.0.5:3306"}]},
        "fds": [ep, *sockets, *files],
    }  # fmt: skip
    lines = text_lines(data)
    assert len(lines) < 500
    assert "  fd    3 epoll" in "\n".join(lines) and "    ... and 30 more watched fds" in "\n".join(lines)
    assert any("2950 socket fds listed under Sockets; 351 more fds not listed" in x for x in lines)
    md = markdown_lines(data)
    assert "  3000 x CLOSE_WAIT   to 10.0.0.5:3306" in md  # a fenced block: aligned, as in text
    assert len(md) < 520


def test_a_deep_python_stack_shows_its_outermost_frames_and_how_many_are_left_out():
    from stucktui.report.sections import text_lines

    stack = [{"function": f"f{i}", "file": "x.py", "line": i} for i in range(713)]
    data = {"thread_groups": [], "threads": [{"tid": 7, "name": "w", "python_stack": stack}]}
    lines = text_lines(data)
    assert "      ... 683 more frames (--format json has all) ..." in lines
    assert lines[-1] == "      f712 (x.py:712)" and "      f24 (x.py:24)" in lines
