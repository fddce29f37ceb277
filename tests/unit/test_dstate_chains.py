"""Threads asleep in the kernel on fixture wait graphs: a FUSE reader's chain goes on to the
daemon (stopped, gone, idle, itself blocked), an NFS or disk wait ends in the kernel naming the
mount; the wait-chain and uninterruptible findings that tell them, and the brief D state that
must stay silent."""

from __future__ import annotations

from stucktui.diagnose.chains import follow
from stucktui.diagnose.rules.chains import wait_chain
from stucktui.diagnose.rules.process import uninterruptible
from stucktui.diagnose.subject import Ages
from stucktui.model import waits as W
from stucktui.model.context import Context
from stucktui.model.mounts import FuseDaemon, FuseServer, KernelWait, Mount, object_text
from tests.unit.diagnose_kit import subject, thread, threads

FUSE_MNT = Mount(45, 27, 0, 40, "/", "/srv/my files", "rw", "fuse.sshfs", "host:/data")
NFS_MNT = Mount(52, 27, 0, 53, "/", "/mnt/x", "rw", "nfs4", "server:/export")
STACK = (
    "folio_wait_bit_common",
    "filemap_get_pages",
    "filemap_read",
    "vfs_read",
    "ksys_read",
    "do_syscall_64",
)


def node(pid, name, state="S", waits=(), doing="", blocked=None):
    all_blocked = bool(waits) if blocked is None else blocked
    return W.ProcessWaits(pid, name, state, "", tuple(waits), 0, True, doing, None, all_blocked)


def fuse_read(tids, *daemons, waiting=1, control=False, unreadable=0):
    server = FuseServer(40, tuple(FuseDaemon(p, n, 5) for p, n in daemons), unreadable, waiting, control)
    kw = KernelWait(
        tuple(tids), "D", "read", "folio_wait_bit_common", STACK, 3, "/srv/my files/a", FUSE_MNT, server
    )
    parties = tuple(W.Party(p, n, "serves fuse.sshfs mount /srv/my files (connection 40, /dev/fuse fd 5)")
                    for p, n in daemons)  # fmt: skip
    certain = len(daemons) == 1 or (not daemons and not unreadable)
    return W.Wait(W.FUSE, tuple(tids), object_text(kw), 3, parties, certain, kernel=kw)


def nfs_read(tids):
    kw = KernelWait(tuple(tids), "D", "read", "rpc_wait_bit_killable", (), 3, "/mnt/x/file", NFS_MNT)
    return W.Wait(W.UNINTERRUPTIBLE, tuple(tids), object_text(kw), 3, (), True, kernel=kw)


def pipe_write(tids, fd, party, name):
    return W.Wait(W.PIPE_WRITE, tuple(tids), f"write to fd {fd} (pipe:[77])", fd,
                  (W.Party(party, name, "holds the read end (fd 0)"),))  # fmt: skip


def graph(start, *nodes):
    return W.WaitGraph(start, {n.pid: n for n in nodes})


def test_a_fuse_reader_whose_daemon_is_stopped_is_a_stuck_chain_with_the_abort_step():
    g = graph(10, node(10, "cat", "D", [fuse_read([10], (20, "sshfs"))]), node(20, "sshfs", "T"))
    (c,) = follow(g)
    assert [h.wait for h in c.hops] == [W.FUSE] and c.end.kind == W.STOPPED and c.end.pid == 20
    assert (
        c.hops[0].obj
        == "read from fd 3 (/srv/my files/a) on fuse.sshfs mount /srv/my files (host:/data, 0:40)"
    )
    (f,) = wait_chain(subject(pid=10, name="cat", context=Context(waits=g)))
    assert f.severity == "critical" and f.fds == (3,)
    assert (
        "1 thread of pid 10 (cat) waits in the kernel on its read from fd 3 (/srv/my files/a) on fuse.sshfs "
        "mount /srv/my files (host:/data, 0:40), which pid 20 (sshfs) should answer (the FUSE daemon of that "
        "mount)" in f.summary
    )
    assert f.summary.endswith("pid 20 (sshfs) is stopped (state T)")
    steps = " | ".join(f.next_steps)
    assert "stucktui signal 20 CONT" in steps
    assert "`echo 1 > /sys/fs/fuse/connections/40/abort`" in steps
    assert "`mount -t fusectl none /sys/fs/fuse/connections`" in steps  # not mounted here
    assert "`fusermount -u -z '/srv/my files'`" in steps  # quoted for the shell
    # the same with fusectl mounted: no mount step
    g2 = graph(
        10, node(10, "cat", "D", [fuse_read([10], (20, "sshfs"), control=True)]), node(20, "sshfs", "T")
    )
    (f2,) = wait_chain(subject(pid=10, name="cat", context=Context(waits=g2)))
    assert not any("mount -t fusectl" in s for s in f2.next_steps)


def test_a_fuse_mount_nobody_serves_is_missing():
    g = graph(10, node(10, "cat", "D", [fuse_read([10])]))
    (c,) = follow(g)
    assert c.end.kind == W.MISSING and "no process serves the FUSE mount" in c.end.detail
    # one process alone: the uninterruptible rule tells it once it lasts
    assert wait_chain(subject(pid=10, name="cat", context=Context(waits=g))) == []
    ages = Ages({"dstate": {10: 30.0}}, tracked=True)
    s = subject(pid=10, name="cat", state="D", threads=_d_thread(), context=Context(waits=g), ages=ages)
    (f,) = uninterruptible(s)
    assert "served by no process: nobody holds its /dev/fuse connection" in f.summary
    # some processes could not be read: one of them may serve it, so nothing is certain
    g = graph(10, node(10, "cat", "D", [fuse_read([10], unreadable=3)]))
    (c,) = follow(g)
    assert c.end.kind == W.UNKNOWN and not c.stuck


def test_the_chain_goes_on_through_the_daemons_own_waits():
    g = graph(
        10,
        node(10, "cat", "D", [fuse_read([10], (20, "myfs"))]),
        node(20, "myfs", "S", [pipe_write([21], 4, 30, "logger")]),  # its one handler thread
        node(30, "logger", "T"),
    )
    (c,) = follow(g)
    assert [h.pid for h in c.hops] == [10, 20] and c.end.kind == W.STOPPED and c.end.pid == 30
    (f,) = wait_chain(subject(pid=10, name="cat", context=Context(waits=g)))
    assert "pid 20 (myfs) waits to write to fd 4 (pipe:[77]), which pid 30 (logger) should read" in f.summary
    assert any("/sys/fs/fuse/connections/40/abort" in s for s in f.next_steps)


def test_a_daemon_reading_its_own_mount_is_a_deadlock_of_one_process():
    g = graph(20, node(20, "myfs", "D", [fuse_read([21], (20, "myfs"))]))
    (c,) = follow(g)
    assert c.end.kind == W.CYCLE and c.processes == (20,)


def test_an_idle_daemon_is_no_stuck_chain_and_no_wait_chain_finding():
    doing = "3 threads: read(3 -> /dev/fuse, 135168 bytes)"
    g = graph(10, node(10, "cat", "D", [fuse_read([10], (20, "sshfs"))]), node(20, "sshfs", doing=doing))
    (c,) = follow(g)
    assert c.end.kind == W.IDLE and not c.stuck
    assert wait_chain(subject(pid=10, name="cat", context=Context(waits=g))) == []


def test_an_nfs_wait_ends_in_the_kernel_naming_the_mount():
    g = graph(10, node(10, "cp", "D", [nfs_read([10])]))
    (c,) = follow(g)
    assert c.end.kind == W.KERNEL and c.end.pid == 10 and not c.stuck
    assert c.end.detail == (
        "in uninterruptible sleep in rpc_wait_bit_killable, reading fd 3 (/mnt/x/file) on nfs4 mount /mnt/x "
        "(server:/export, 0:53)"
    )
    assert wait_chain(subject(pid=10, name="cp", context=Context(waits=g))) == []
    # reached through a pipe: the reader in D ends the writer's chain with the same words
    g = graph(9, node(9, "tar", "S", [pipe_write([9], 1, 10, "cp")]), node(10, "cp", "D", [nfs_read([10])]))
    (c,) = follow(g)
    assert c.end.kind == W.KERNEL and c.end.pid == 10 and "on nfs4 mount /mnt/x" in c.end.detail


def test_a_process_in_d_reached_by_a_chain_goes_on_to_its_fuse_daemon():
    g = graph(
        9,
        node(9, "tar", "S", [pipe_write([9], 1, 10, "cat")]),
        node(10, "cat", "D", [fuse_read([10], (20, "sshfs"))]),
        node(20, "sshfs", "T"),
    )
    (c,) = follow(g)
    assert [h.wait for h in c.hops] == [W.PIPE_WRITE, W.FUSE] and c.end.kind == W.STOPPED and c.end.pid == 20


def _d_thread(tid=10):
    return threads(thread(tid, "read", (3, 0, 4096), state="D", wchan="folio_wait_bit_common"), pid=10)


def test_uninterruptible_names_the_mount_and_the_daemon_once_it_lasts():
    doing = "1 thread: read(3 -> /dev/fuse, 135168 bytes)"
    g = graph(10, node(10, "cat", "D", [fuse_read([10], (20, "sshfs"))]), node(20, "sshfs", doing=doing))
    ctx = Context(waits=g)

    def rule(age):
        ages = Ages({"dstate": {10: age}}, tracked=True)
        return uninterruptible(
            subject(pid=10, name="cat", state="D", threads=_d_thread(), context=ctx, ages=ages)
        )

    assert rule(0.05) == [] and rule(5.0) == []  # a brief D state (a disk read) says nothing
    (f,) = rule(30.0)
    assert f.severity == "warning"
    assert (
        "in folio_wait_bit_common, reading fd 3 (/srv/my files/a) on fuse.sshfs mount /srv/my files "
        "(host:/data, 0:40), served by pid 20 (sshfs), 1 request waiting for an answer" in f.summary
    )
    assert "SIGKILL only a killable wait" in f.summary
    steps = " | ".join(f.next_steps)
    assert "stucktui report 20" in steps and "/sys/fs/fuse/connections/40/abort" in steps
    assert any("filemap_get_pages <- filemap_read" in e for e in f.evidence)
    assert rule(200.0)[0].severity == "critical"


def test_uninterruptible_leaves_a_stuck_fuse_chain_to_the_wait_chain_finding():
    g = graph(10, node(10, "cat", "D", [fuse_read([10], (20, "sshfs"))]), node(20, "sshfs", "T"))
    ages = Ages({"dstate": {10: 60.0}}, tracked=True)
    s = subject(pid=10, name="cat", state="D", threads=_d_thread(), context=Context(waits=g), ages=ages)
    assert uninterruptible(s) == [] and len(wait_chain(s)) == 1


def test_uninterruptible_on_nfs_names_the_server():
    g = graph(10, node(10, "cp", "D", [nfs_read([10])]))
    ages = Ages({"dstate": {10: 60.0}}, tracked=True)
    s = subject(pid=10, name="cp", state="D", threads=_d_thread(), context=Context(waits=g), ages=ages)
    (f,) = uninterruptible(s)
    assert "on nfs4 mount /mnt/x (server:/export, 0:53)" in f.summary
    assert any("server of nfs4 mount /mnt/x (server:/export)" in s for s in f.next_steps)
    assert any("umount -f -l /mnt/x" in s for s in f.next_steps)
