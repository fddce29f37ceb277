"""children_of without a process list (`report PID`): the kernel's task/TID/children files
name the candidates, each checked by its own stat; without those files every stat is read."""

from __future__ import annotations

from pathlib import Path

from stucktui.collect.peers import children_of
from stucktui.procfs.root import ProcRoot


def _proc(root: Path, pid: int, ppid: int, state: str = "S", threads: dict[int, str] | None = None) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    rest = " ".join(["0"] * 18)
    (d / "stat").write_text(f"{pid} (p{pid}) {state} {ppid} {rest} {1000 + pid} 0 0\n")
    for tid, kids in (threads or {}).items():
        (d / "task" / str(tid)).mkdir(parents=True)
        (d / "task" / str(tid) / "children").write_text(kids)


def test_the_children_files_of_every_thread_name_the_children(tmp_path):
    _proc(tmp_path, 10, 1, threads={10: "11 ", 12: "13 14 "})  # a child forked by thread 12
    _proc(tmp_path, 11, 10)
    _proc(tmp_path, 13, 10, state="Z")
    _proc(tmp_path, 14, 99)  # exited and its pid reused meanwhile: its stat says another parent
    _proc(tmp_path, 15, 10)  # not listed: never read (the files are the kernel's word)
    kids = children_of(ProcRoot(str(tmp_path)), 10)
    assert [(c.pid, c.state) for c in kids] == [(11, "S"), (13, "Z")]


def test_without_those_files_every_process_is_read(tmp_path):
    _proc(tmp_path, 10, 1)
    _proc(tmp_path, 11, 10)
    _proc(tmp_path, 12, 1)
    assert [c.pid for c in children_of(ProcRoot(str(tmp_path)), 10)] == [11]
