"""Parsers of stat, status, cmdline, limits, cgroup and whole-box files, on real /proc text."""

from pathlib import Path

import pytest

from stucktui.procfs.cgroup import CgroupEntry, cgroup_hint, parse_cgroup
from stucktui.procfs.cmdline import parse_cmdline
from stucktui.procfs.limits import parse_limits
from stucktui.procfs.stat import parse_stat
from stucktui.procfs.status import parse_status
from stucktui.procfs.system import parse_boot_time, parse_cpu_times, parse_meminfo, parse_uptime

PROC = Path(__file__).parent.parent / "fixtures" / "proc"


def _pid_with_comm(fragment: str) -> Path:
    for d in PROC.iterdir():
        if d.is_dir() and fragment in (d / "comm").read_text(errors="replace"):
            return d
    raise LookupError(fragment)


def test_stat_of_hostile_comm_splits_after_last_paren():
    d = _pid_with_comm("evil")
    st = parse_stat((d / "stat").read_text())
    assert st.comm == "\x1b[31mevil) S 1 (x"[:15]  # TASK_COMM_LEN cuts at 15 bytes
    assert st.state == "S"
    assert st.ppid != 1  # the fake " S 1 (" in comm must not be read as fields
    assert st.num_threads == 1
    assert not st.is_kernel_thread


def test_stat_zombie_and_kernel_thread():
    zombie = next(
        parse_stat((d / "stat").read_text())
        for d in PROC.iterdir()
        if d.is_dir() and parse_stat((d / "stat").read_text()).state == "Z"
    )
    assert zombie.rss_pages == 0
    kthreadd = parse_stat((PROC / "2" / "stat").read_text())
    assert kthreadd.is_kernel_thread and kthreadd.comm == "kthreadd" and kthreadd.ppid == 0


def test_stat_fields_match_status():
    for d in PROC.iterdir():
        if not d.is_dir():
            continue
        st = parse_stat((d / "stat").read_text())
        status = parse_status((d / "status").read_text())
        assert st.pid == status.pid == int(d.name)
        assert st.ppid == status.ppid
        assert st.num_threads == status.threads


def test_status_masks_and_ids():
    status = parse_status((PROC / "1" / "status").read_text())
    assert status.uids == (0, 0, 0, 0)
    assert status.nspid[0] == 1
    assert isinstance(status.sig_blk, int) and isinstance(status.sig_cgt, int)
    assert status.sigq is not None and status.sigq[1] > 0
    k = parse_status((PROC / "2" / "status").read_text())
    assert k.kthread is True


def test_status_minimal_text():
    s = parse_status("Name:\tx\nState:\tS (sleeping)\nPid:\t5\nPPid:\t1\nSigBlk:\t0000000000002000\n")
    assert s.sig_blk == 1 << 13 and s.uids == (-1, -1, -1, -1) and s.kthread is None


def test_cmdline_invalid_utf8_and_markup_kept_visible():
    d = _pid_with_comm("evil")
    argv = parse_cmdline((d / "cmdline").read_bytes())
    assert "[bold]red[/] [link=http://x]click[/link]" in argv
    assert "\x1b]0;pwned\x07" in argv
    assert "bad-\\xff-utf8" in argv


def test_cmdline_edge_cases():
    assert parse_cmdline(b"") == ()
    assert parse_cmdline(b"a\0b\0") == ("a", "b")
    assert parse_cmdline(b"nginx: worker process") == ("nginx: worker process",)  # setproctitle
    assert parse_cmdline(b"a\0\0b\0") == ("a", "", "b")


def test_limits():
    lim = parse_limits((PROC / "1" / "limits").read_text())
    nofile = lim["Max open files"]
    assert nofile.soft and nofile.hard and nofile.units == "files"
    assert lim["Max cpu time"].soft is None
    assert lim["Max realtime timeout"].units == "us"


def test_cgroup_and_hints():
    entries = parse_cgroup((PROC / "1" / "cgroup").read_text())
    assert entries[-1] == CgroupEntry(0, (), "/")
    assert cgroup_hint(parse_cgroup("0::/\n")) is None
    docker = (
        "0::/system.slice/docker-4f3a9c1e2b7d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f.scope\n"
    )
    assert cgroup_hint(parse_cgroup(docker)) == "docker container 4f3a9c1e2b7d"
    k8s = (
        "0::/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-pod1b2c3d4e_5f60_7a8b_9c0d_1e2f3a4b5c6d.slice/"
        "cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n"
    )
    assert cgroup_hint(parse_cgroup(k8s)) == "containerd container 0123456789ab"
    svc = "0::/system.slice/nginx.service\n"
    assert cgroup_hint(parse_cgroup(svc)) == "systemd service nginx.service"


def test_system_files():
    text = (PROC / "stat").read_text()
    assert parse_boot_time(text) > 1_600_000_000
    cpu = parse_cpu_times(text)
    assert cpu.total >= cpu.idle > 0
    assert parse_uptime((PROC / "uptime").read_text()) > 0
    assert parse_meminfo((PROC / "meminfo").read_text())["MemTotal"] > 1 << 20
    with pytest.raises(ValueError):
        parse_boot_time("cpu 1 2 3\n")


def test_schedstat_on_cpu_and_run_queue_wait():
    from stucktui.procfs.stat import parse_schedstat

    # a bash process's /proc/PID/schedstat on this kernel: ns on a CPU, ns waiting, timeslices
    assert parse_schedstat("686918755 306911627 2523\n") == (686918755, 306911627)
    with pytest.raises((ValueError, IndexError)):
        parse_schedstat("")
