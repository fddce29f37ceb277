"""Mounts and threads asleep in the kernel: the mountinfo parser (hostile paths included), the
fuse_connection line of fdinfo, the lexical mount of a path, and the collection side on fixture
/proc trees: fdinfo mnt_id -> mountinfo, a path argument read from memory, the FUSE daemon
found by its /dev/fuse fd, and a Files panel that never stats a file on a FUSE mount."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stucktui.collect import fileid as fileid_mod
from stucktui.collect.files import collect_files
from stucktui.collect.mounts import (
    FuseLookup,
    fuse_control,
    fuse_daemons,
    kernel_waits_of,
    local_span,
    path_argument,
    read_string,
)
from stucktui.model.mounts import (
    FuseDaemon,
    FuseServer,
    KernelWait,
    Mount,
    in_kernel_wait,
    memory_may_wait,
    mount_of_path,
    object_text,
    server_text,
    sleep_text,
)
from stucktui.model.syscall import CallKind, SyscallLine
from stucktui.model.threads import FdArg, ThreadRow
from stucktui.procfs.fdinfo import fuse_connection
from stucktui.procfs.mountinfo import parse_mountinfo, parse_mounts, unescape
from stucktui.procfs.root import ProcRoot
from stucktui.procfs.syscall import decode_call

# Real lines of this kernel's mountinfo (the FUSE one from the live test's daemon), an NFS and a
# block device mount, and hostile mount points: a space, a tab, a newline, a backslash and a
# fake ' - ' separator inside the path, as the kernel escapes them.
MOUNTINFO = (
    "27 1 0:26 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u\n"
    "24 27 0:5 / /dev rw,nosuid - devtmpfs udev rw,size=10m\n"
    "45 27 0:40 / /tmp/dst/mnt rw,nosuid,nodev,relatime - fuse.hangfs hangfs rw,user_id=0,group_id=0\n"
    "52 27 0:53 / /mnt/x rw,relatime shared:7 master:2 - nfs4 server:/export rw,vers=4.2\n"
    "60 27 8:1 / /data rw,noatime - ext4 /dev/sda1 rw\n"
    r"61 27 0:60 / /mnt/a\040b\011c\012d\134e\040-\040x rw - fuse sshfs\040host: rw"
    "\n"
    "62 27 8:1 /sub /data/inner rw - ext4 /dev/sda1 rw\n"
    "63 60 0:70 / /data/stacked rw - tmpfs tmpfs rw\n"
    "64 60 0:71 / /data/stacked rw - tmpfs tmpfs2 rw\n"
    "65 27 0:72 / /trunc rw -\n"  # truncated: left out
    "garbage\n"
)


def test_mountinfo_lines_with_their_paths_unescaped():
    ms = {m.mount_id: m for m in parse_mounts(MOUNTINFO)}
    assert sorted(ms) == [24, 27, 45, 52, 60, 61, 62, 63, 64]
    fuse = ms[45]
    assert (fuse.point, fuse.fstype, fuse.source, fuse.device) == (
        "/tmp/dst/mnt",
        "fuse.hangfs",
        "hangfs",
        "0:40",
    )
    assert fuse.fuse and fuse.remote and fuse.fuse_connection == 40
    nfs = ms[52]
    assert nfs.fstype == "nfs4" and nfs.source == "server:/export" and nfs.remote and not nfs.fuse
    assert nfs.super_options == "rw,vers=4.2"
    assert not ms[60].remote and ms[60].device == "8:1" and ms[62].root == "/sub"
    hostile = ms[61]
    assert hostile.point == "/mnt/a b\tc\nd\\e - x" and hostile.source == "sshfs host:" and hostile.fuse
    assert unescape(r"\134040") == "\\040"  # an escaped backslash is not an escape itself


def test_parse_mountinfo_reads_only_ids_and_types():
    types = parse_mountinfo(MOUNTINFO)
    assert types[45] == "fuse.hangfs" and types[52] == "nfs4" and types[61] == "fuse" and 65 not in types
    assert types == {m.mount_id: m.fstype for m in parse_mounts(MOUNTINFO)}


def test_a_fuseblk_connection_is_its_whole_device_number():
    m = Mount(1, 0, 8, 17, "/", "/media/usb", "rw", "fuseblk", "/dev/sdb1")
    assert m.fuse and m.fuse_connection == (8 << 20) | 17


def test_the_mount_of_a_path_is_its_longest_mount_point():
    ms = parse_mounts(MOUNTINFO)
    assert mount_of_path(ms, "/data/inner/f").mount_id == 62  # type: ignore[union-attr]
    assert mount_of_path(ms, "/data/innerfile").mount_id == 60  # type: ignore[union-attr]
    assert mount_of_path(ms, "/data/stacked/f").mount_id == 64  # type: ignore[union-attr]  # the top one
    assert mount_of_path(ms, "/data/../etc/passwd").mount_id == 27  # type: ignore[union-attr]
    assert mount_of_path(ms, "/mnt/a b\tc\nd\\e - x/y").mount_id == 61  # type: ignore[union-attr]
    assert mount_of_path(ms, "relative/path") is None and mount_of_path((), "/x") is None


def test_fuse_connection_of_a_dev_fuse_fdinfo():
    # as this kernel prints it: the last line has no newline
    text = "pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t89\nfuse_connection:\t40"
    assert fuse_connection(text) == 40
    assert fuse_connection("pos:\t0\nflags:\t02\nmnt_id:\t24\nino:\t3\n") is None


def _row(tid: int, call: str | None, nr: int, args: tuple[int, ...], state="D", wchan=None, fd=None):
    if call is None:
        line = SyscallLine(CallKind.NOT_IN_SYSCALL)
        return ThreadRow(tid, "app", state, None, line, None, "not in a syscall", (), wchan)
    line = SyscallLine(CallKind.IN_SYSCALL, nr, (*args, 0, 0, 0, 0, 0, 0)[:6], 0, 0)
    decoded = decode_call(line, "x86_64")
    fd_args = (FdArg(fd, "?"),) if fd is not None else ()
    return ThreadRow(tid, "app", state, None, line, decoded, call, fd_args, wchan)


def _proc(tmp_path: Path, pid: int = 300) -> tuple[ProcRoot, Path]:
    d = tmp_path / "proc" / str(pid)
    for sub in ("fd", "fdinfo", "task/301", "task/302"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "mountinfo").write_text(MOUNTINFO)
    (d / "maps").write_text("00000000-00004000 rw-p 00000000 00:00 0 [stack]\n")  # its memory: anonymous
    (d / "stat").write_text(f"{pid} (app) D 1 {pid} {pid} 0 -1 0 " + "0 " * 40 + "\n")
    return ProcRoot(str(tmp_path / "proc")), d


def test_threads_in_d_name_the_mount_of_their_fd_from_fdinfo(tmp_path):
    root, d = _proc(tmp_path)
    os.symlink("/mnt/x/db/data.db", d / "fd" / "3")  # never followed: a readlink only
    (d / "fdinfo" / "3").write_text("pos:\t0\nflags:\t0100002\nmnt_id:\t52\nino:\t77\n")
    (d / "task" / "301" / "stack").write_text(
        "[<0>] rpc_wait_bit_killable+0x1d/0x90\n[<0>] __rpc_execute+0x10/0x20\n"
        "[<0>] nfs_file_read+0x1/0x2\n[<0>] do_syscall_64+0x71/0x290\n"
    )
    rows = [
        _row(301, "read", 0, (3, 0, 4096), wchan="rpc_wait_bit_killable", fd=3),
        _row(302, "read", 0, (3, 0, 4096), wchan="rpc_wait_bit_killable", fd=3),
        _row(303, "futex", 202, (0, 128), state="S", wchan="futex_wait_queue"),
    ]
    (kw,) = kernel_waits_of(root, 300, rows)
    assert kw.tids == (301, 302) and kw.fd == 3 and kw.path == "/mnt/x/db/data.db"
    assert kw.mount is not None and kw.mount.mount_id == 52 and not kw.on_fuse
    assert kw.stack[:2] == ("rpc_wait_bit_killable", "__rpc_execute")
    assert sleep_text(kw) == (
        "in uninterruptible sleep in rpc_wait_bit_killable (__rpc_execute <- nfs_file_read), reading fd 3 "
        "(/mnt/x/db/data.db) on nfs4 mount /mnt/x (server:/export, 0:53)"
    )


def test_a_path_argument_is_read_from_memory_and_made_absolute(tmp_path):
    root, d = _proc(tmp_path)
    mem = bytearray(3 * 4096)
    mem[4090 : 4090 + 12] = b"slow\0garbage"  # across no page: ends before 4096
    mem[8190 : 8190 + 20] = b"/tmp/dst/mnt/hang\0xx"  # crosses a page boundary
    mem[12000:12200] = b"A" * 200
    (d / "mem").write_bytes(bytes(mem))
    # the strings on the stack, and a page of a file on the FUSE mount (0:40, mount 45)
    (d / "maps").write_text(
        "00000000-00003000 rw-p 00000000 00:00 0 [stack]\n"
        "00003000-00004000 r--p 00000000 00:28 2 /tmp/dst/mnt/slow\n"
    )
    os.symlink("/tmp/dst/mnt", d / "fd" / "7")
    os.symlink("/data", d / "cwd")
    assert read_string(root, 300, 8190) == "/tmp/dst/mnt/hang"
    assert read_string(root, 300, 12000, limit=16) is None  # no NUL within the limit
    assert read_string(root, 300, 0) is None
    assert path_argument(root, 300, "openat", (7, 4090, 0)) == "/tmp/dst/mnt/slow"
    assert path_argument(root, 300, "openat", (0xFFFFFF9C, 4090, 0)) == "/data/slow"  # AT_FDCWD
    assert path_argument(root, 300, "stat", (8190,)) == "/tmp/dst/mnt/hang"
    assert path_argument(root, 300, "getpid", (8190,)) is None
    row = _row(301, "newfstatat", 262, (0xFFFFFF9C, 8190, 0, 0), state="S", wchan="request_wait_answer")
    assert in_kernel_wait(row)
    (kw,) = kernel_waits_of(root, 300, [row])
    assert kw.on_fuse and kw.path == "/tmp/dst/mnt/hang" and kw.mount is not None and kw.mount.mount_id == 45
    # a path in a page of the FUSE file itself is never read (its fault could hang stucktui)
    mounts = parse_mounts(MOUNTINFO)
    assert local_span(root, 300, 8190, mounts) == 3 * 4096 - 8190
    assert local_span(root, 300, 0x3010, mounts) == 0 and local_span(root, 300, 0x9000, mounts) == 0
    assert path_argument(root, 300, "stat", (0x3010,), mounts) is None
    assert path_argument(root, 300, "stat", (8190,), mounts) == "/tmp/dst/mnt/hang"
    fused = _row(302, "newfstatat", 262, (0xFFFFFF9C, 0x3010, 0, 0), state="S", wchan="request_wait_answer")
    (kw,) = kernel_waits_of(root, 300, [fused])
    assert kw.path is None
    assert sleep_text(kw).startswith(
        "waiting in request_wait_answer for a FUSE daemon's answer, in newfstatat()"
    )


def test_memory_is_not_read_while_a_thread_may_hold_the_mmap_lock(tmp_path):
    """A read of /proc/PID/mem waits behind a thread holding (or queued for) the mmap lock for
    writing: no path argument is read while a thread sleeps in D in a page fault, a call that
    changes the mappings, or a read-write semaphore."""
    root, d = _proc(tmp_path)
    mem = bytearray(8192)
    mem[100:120] = b"/tmp/dst/mnt/hang\0xx"
    (d / "mem").write_bytes(bytes(mem))
    stat = _row(301, "newfstatat", 262, (0xFFFFFF9C, 100, 0, 0), state="S", wchan="request_wait_answer")
    (kw,) = kernel_waits_of(root, 300, [stat])
    assert kw.path == "/tmp/dst/mnt/hang"
    fault = _row(302, None, 0, (), wchan="folio_wait_bit_common")  # D outside a syscall
    mmap = _row(303, "mmap", 9, (0, 4096), wchan="rwsem_down_write_slowpath")
    sem = _row(304, "read", 0, (5, 0, 1), wchan="rwsem_down_read_slowpath", fd=5)
    disk = _row(305, "read", 0, (5, 0, 1), wchan="folio_wait_bit_common", fd=5)
    assert memory_may_wait([fault]) and memory_may_wait([mmap]) and memory_may_wait([sem])
    assert not memory_may_wait([stat, disk])
    for other in (fault, mmap, sem):
        waits = kernel_waits_of(root, 300, [stat], [stat, other])
        assert (
            waits[0].path is None and object_text(waits[0]) == "newfstatat(): what it waits on is not known"
        )


def test_a_thread_whose_call_names_no_file_says_so(tmp_path):
    root, _ = _proc(tmp_path)
    rows = [
        _row(301, None, 0, (), wchan="folio_wait_bit_common"),
        _row(302, "vfork", 58, (), wchan="kernel_clone"),
    ]
    a, b = kernel_waits_of(root, 300, rows)
    assert object_text(a) == "outside a syscall (a page fault, or the kernel's own work)"
    assert object_text(b) == "vfork(): what it waits on is not known"
    assert object_text(b, ing=True) == "in vfork(): what it waits on is not known"
    assert not in_kernel_wait(_row(303, "read", 0, (3,), state="S", wchan="pipe_read", fd=3))


def test_the_fuse_daemon_is_the_holder_of_its_connection(tmp_path):
    root, _ = _proc(tmp_path)
    _, daemon = _proc(tmp_path, 400)
    os.symlink("/dev/fuse", daemon / "fd" / "5")
    (daemon / "fdinfo" / "5").write_text(
        "pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t89\nfuse_connection:\t40"
    )
    _, other = _proc(tmp_path, 500)  # another mount's daemon
    os.symlink("/dev/fuse", other / "fd" / "3")
    (other / "fdinfo" / "3").write_text("pos:\t0\nflags:\t02\nmnt_id:\t24\nino:\t89\nfuse_connection:\t60\n")
    found, unreadable = fuse_daemons(root)
    assert found == {40: (FuseDaemon(400, "app", 5),), 60: (FuseDaemon(500, "app", 3),)} and unreadable == 0
    ctl = tmp_path / "fusectl"
    (ctl / "40").mkdir(parents=True)
    (ctl / "40" / "waiting").write_text("3\n")
    assert fuse_control(40, str(ctl)) == (True, 3) and fuse_control(41, str(ctl)) == (False, None)
    server = FuseLookup(root, str(ctl)).server(40)
    assert server == FuseServer(40, (FuseDaemon(400, "app", 5),), 0, 3, True)
    assert server_text(server) == "served by pid 400 (app), 3 requests waiting for an answer"
    assert server_text(FuseServer(41, ())) == "served by no process: nobody holds its /dev/fuse connection"


def test_the_files_panel_never_stats_a_file_on_a_fuse_network_or_unknown_mount(tmp_path, monkeypatch):
    root, d = _proc(tmp_path)
    real = tmp_path / "plain.txt"
    real.write_text("x")
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/tmp/dst/mnt/slow", d / "fd" / "3")
    os.symlink("/mnt/x/db", d / "fd" / "4")
    os.symlink(str(real), d / "fd" / "5")
    os.symlink(str(tmp_path / "fifo"), d / "fd" / "6")  # a FIFO on a mount not in mountinfo
    os.symlink(str(tmp_path / "fifo"), d / "fd" / "7")  # ... and on a local one
    for fd, mnt in ((3, 45), (4, 52), (5, 27), (6, 99), (7, 60)):
        (d / "fdinfo" / str(fd)).write_text(f"pos:\t0\nflags:\t0100000\nmnt_id:\t{mnt}\nino:\t{fd}\n")
    (d / "limits").write_text("Limit Soft Limit Hard Limit Units\nMax open files 1024 4096 files\n")
    statted: list[str] = []
    real_statx = fileid_mod.statx_cached

    def spy(dirfd, path):
        statted.append(path)
        return real_statx(dirfd, path)

    monkeypatch.setattr(fileid_mod, "statx_cached", spy)
    view = collect_files(root, 300, measure_fill=False)
    assert [r.fd for r in view.rows] == [3, 4, 5, 6, 7] and statted == ["fd/5", "fd/7"]
    kinds = {r.fd: r.kind for r in view.rows}
    assert kinds == {3: "file", 4: "file", 5: "file", 6: "file", 7: "fifo"}


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        (KernelWait((1,), "D", "write", None, fd=4, path="pipe:[9]"), "write to fd 4 (pipe:[9])"),
        (
            KernelWait((1,), "D", "fsync", None, fd=4, path="/gone/f"),
            "fsync() on fd 4 (/gone/f), on a mount not known",
        ),
        (KernelWait((1,), "D", "openat", None), "openat(): what it waits on is not known"),
    ],
)
def test_object_words(kw, text):
    assert object_text(kw) == text
