"""Facts about other processes that a diagnosis of one process needs: who holds the other end
of the pipes its threads are blocked writing to (and whether they read it), the other end of
the sockets its threads are blocked sending on, locks other processes hold on files it has
open, and its children (zombies).

Collected here, in the collect layer, so the rules in stucktui.diagnose stay pure.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from stucktui.collect.fileid import AT_FDCWD, MountTable, fd_key
from stucktui.collect.sockets import SocketCollector
from stucktui.collect.threads import ThreadCollector
from stucktui.model.context import (
    ChildProcess,
    ForeignLock,
    PeerProcess,
    SendPeer,
)
from stucktui.model.files import ProcessFiles
from stucktui.model.locks import LockEntry
from stucktui.model.net import InetSocket, UnixSocket
from stucktui.model.process import ProcessListSnapshot
from stucktui.model.sockets import ProcessSockets
from stucktui.model.threads import ThreadsSnapshot
from stucktui.procfs import netlink as nl
from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.fdtarget import bracket_inode
from stucktui.procfs.locks import parse_locks
from stucktui.procfs.root import ProcRoot

_MAX_PEERS = 16  # a pipe with hundreds of readers is not the incident; read a few
PEER_READ_WINDOW = 0.2  # seconds to watch a pipe reader for reads (only when writers are blocked)


def _own_netns() -> int | None:
    try:
        return bracket_inode(os.readlink("/proc/self/ns/net"))
    except OSError:
        return None


def send_peers(
    root: ProcRoot,
    pid: int,
    sockets: ProcessSockets,
    fds: Iterable[int],
    collector: SocketCollector | None = None,
) -> dict[int, SendPeer]:
    """The other end of each socket on `fds`: for a unix socket its peer; for TCP the socket of
    this box with the swapped endpoints, found with one sock_diag lookup (no dump), and the
    process holding it (through `collector`'s finder when it has one: the kept fd index). A TCP
    peer elsewhere is on_box=False; another network namespace than ours cannot be looked up
    from here (note)."""
    rows = {r.fd: r for r in sockets.rows}
    out: dict[int, SendPeer] = {}
    found: dict[int, InetSocket | UnixSocket] = {}  # by the sender's fd
    own_ns = _own_netns()
    unix_peers: dict[int, int] = {}
    for fd in fds:
        r = rows.get(fd)
        sock = r.sock if r is not None else None
        if r is None or sock is None:
            continue
        if isinstance(sock, UnixSocket):
            if sock.peer_inode:
                unix_peers[fd] = sock.peer_inode
                p = r.peer
                out[fd] = SendPeer(fd, True, sock.peer_inode, None, p.pid if p else None,
                                   p.name if p else None, p.fd if p else None)  # fmt: skip
            continue
        if r.netns is not None and own_ns is not None and r.netns != own_ns:
            out[fd] = SendPeer(fd, None, note="in another network namespace: not looked up")
            continue
        try:
            mine = nl.lookup_inet(sock.family, socket.IPPROTO_TCP, sock.local_addr, sock.local_port,
                                  sock.remote_addr, sock.remote_port)  # fmt: skip
            theirs = nl.lookup_inet(sock.family, socket.IPPROTO_TCP, sock.remote_addr, sock.remote_port,
                                    sock.local_addr, sock.local_port)  # fmt: skip
        except OSError as exc:
            out[fd] = SendPeer(fd, None, note=f"sock_diag lookup failed ({exc.strerror or exc})")
            continue
        zero = mine.timer == nl.TIMER_PERSIST if mine is not None else None
        retries = mine.retrans if mine is not None and mine.timer == nl.TIMER_RETRANSMIT else 0
        info = mine.info if mine is not None else None
        if theirs is None:
            out[fd] = SendPeer(fd, False, zero_window=zero, retransmits=retries, info=info)
        else:
            found[fd] = theirs.sock
            out[fd] = SendPeer(fd, True, theirs.sock.inode or None, theirs.sock.recv_q, zero_window=zero,
                               retransmits=retries, info=info)  # fmt: skip
    if unix_peers:
        try:
            chunks = nl.dump(nl.unix_request())
            queues = {u.inode: u.recv_q for u in nl.iter_unix(chunks, set(unix_peers.values()))}
        except OSError:
            queues = {}
        for fd, ino in unix_peers.items():
            out[fd] = replace(out[fd], recv_q=queues.get(ino))
    wanted = {p.inode for p in found.values() if p.inode}
    own = [(r.fd, r.inode) for r in sockets.rows]
    holders = (collector or SocketCollector(root)).socket_owners(wanted, pid, own) if wanted else {}
    for fd, sock in found.items():
        h = holders.get(sock.inode)
        if h is not None:
            out[fd] = replace(out[fd], pid=h.pid, name=h.name, peer_fd=h.fd)
    return out


def stat_fields(root: ProcRoot, pid: int) -> tuple[str, str, int, int] | None:
    """(comm, state, ppid, starttime) of one process, or None when it is gone or unreadable."""
    try:
        text = root.read_small(pid, "stat", pid=pid).decode("utf-8", "backslashreplace")
        r = text.rindex(")")
        f = text[r + 2 :].split(None, 20)
        return text[text.index("(") + 1 : r], f[0], int(f[1]), int(f[19])
    except (ProcessGone, AccessDenied, OSError, ValueError, IndexError):
        return None


def read_chars(root: ProcRoot, pid: int) -> int | None:
    """rchar of /proc/PID/io: bytes the process has read so far, by any read call. Needs the
    right to ptrace it (root, or its owner): None otherwise."""
    try:
        text = root.read_text(pid, "io", pid=pid)
    except (ProcessGone, AccessDenied, OSError):
        return None
    for line in text.splitlines():
        if line.startswith("rchar:"):
            try:
                return int(line[6:])
            except ValueError:
                return None
    return None


def collect_peers(
    root: ProcRoot,
    pids: Iterable[int],
    *,
    window: float = PEER_READ_WINDOW,
    sleep: Callable[[float], None] = time.sleep,
    limit: int = _MAX_PEERS,
) -> dict[int, PeerProcess]:
    """The processes holding the read end of a pipe that writers are blocked on: their state,
    threads, and whether they read anything during `window` seconds (a reader that sleeps
    between reads looks idle in any one sample; its rchar still grows)."""
    out: dict[int, PeerProcess] = {}
    collector = ThreadCollector(root)
    wanted = list(dict.fromkeys(pids))[:limit]
    before = {pid: read_chars(root, pid) for pid in wanted}
    t0 = time.monotonic()
    for pid in wanted:
        st = stat_fields(root, pid)
        if st is None:
            continue
        threads: ThreadsSnapshot | None
        try:
            with root.pid_dir(pid) as d:
                threads = collector.collect(d)
        except (ProcessGone, AccessDenied, OSError, ValueError):
            threads = None
        out[pid] = PeerProcess(pid, st[0], st[1], threads)
    measured = [pid for pid in out if before.get(pid) is not None]
    if measured and window > 0:
        left = window - (time.monotonic() - t0)
        if left > 0:
            sleep(left)
        took = time.monotonic() - t0
        for pid in measured:
            after = read_chars(root, pid)
            b = before[pid]
            if after is not None and b is not None:
                out[pid] = replace(out[pid], read_during=max(0, after - b), window=took)
    return out


def foreign_locks(
    root: ProcRoot, pid: int, files: ProcessFiles, locks_text: str | None = None
) -> tuple[ForeignLock, ...]:
    """Granted locks on files `pid` has open that none of its own fds hold (fdinfo `lock:`
    lines name the fds that hold a lock, docs/kernel-notes.md §8.1)."""
    try:
        text = root.read_text("locks") if locks_text is None else locks_text
    except OSError:
        return ()
    entries = [e for e in parse_locks(text) if not e.waiting and e.type in ("FLOCK", "POSIX", "OFD")]
    if not entries:
        return ()
    by_inode: dict[int, list[LockEntry]] = {}
    for e in entries:
        by_inode.setdefault(e.inode, []).append(e)
    own = {
        (lk.type, lk.dev_ino, lk.start, lk.end)
        for r in files.rows
        if r.info is not None
        for lk in r.info.locks
    }
    out: list[ForeignLock] = []
    names: dict[int, str] = {}
    mounts = MountTable(root, pid)
    for r in files.rows:
        if r.inode is None or r.inode not in by_inode or not r.target.startswith("/"):
            continue
        # the device from the fd's mount, never a stat of the file (docs/kernel-notes.md §10.5)
        dev_ino = fd_key(AT_FDCWD, root.join(pid, "fd", r.fd), r.info, mounts)
        if dev_ino is None:
            continue
        for e in by_inode[r.inode]:
            if e.dev_ino != dev_ino or (e.type, e.dev_ino, e.start, e.end) in own:
                continue
            if e.pid == pid:
                continue  # held through a fd of ours that fdinfo did not list (a race): not foreign
            if e.pid not in names:
                st2 = stat_fields(root, e.pid) if e.pid > 0 else None
                names[e.pid] = st2[0] if st2 else "?"
            out.append(ForeignLock(r.fd, r.target, e.type, e.mode, e.pid, names[e.pid]))
    return tuple(out)


def _listed_children(root: ProcRoot, pid: int) -> set[int] | None:
    """The pids the kernel lists as children of pid's threads, or None where it does not."""
    out: set[int] = set()
    try:
        for tid in root.listdir(pid, "task", pid=pid):
            if tid.isdigit():
                out.update(int(c) for c in root.read_text(pid, "task", tid, "children", pid=pid).split())
    except (FileNotFoundError, NotADirectoryError):
        return None  # no such files: a kernel without CONFIG_PROC_CHILDREN, or a fixture tree
    except (ProcessGone, AccessDenied, OSError, ValueError):
        return set()  # it exited (or is not ours to read): no children to name
    return out


def children_of(
    root: ProcRoot, pid: int, processes: ProcessListSnapshot | None = None
) -> tuple[ChildProcess, ...]:
    """The children of `pid`: from a process list when one is at hand, else from the kernel's
    /proc/PID/task/TID/children files (each thread's children; CONFIG_PROC_CHILDREN), each
    checked by its own stat; else, without those files, one read of each /proc/*/stat (a
    second on a box of 5,000 processes, where the files cost a read per thread)."""
    if processes is not None:
        return tuple(
            ChildProcess(r.pid, r.name, r.state, r.starttime_ticks) for r in processes.rows if r.ppid == pid
        )
    listed = _listed_children(root, pid)
    out = []
    for p in root.pids() if listed is None else sorted(listed):
        st = stat_fields(root, p)
        if st is not None and st[2] == pid:
            out.append(ChildProcess(p, st[0], st[1], st[3]))
    return tuple(out)
