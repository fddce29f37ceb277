"""Clues: what the box-wide first pass notices cheaply about a process, and what the rules'
clocks (History) follow. One spelling per concept, shared by collect (which notices), the rule
specs (which declare the clues they answer and the kinds they track) and inspection.
"""

from __future__ import annotations

from typing import Final

# A thread sleeps writing to a full pipe (wait channel). History: (fd, pipe inode) written to.
PIPE_WRITE: Final = "pipe_write"
# A thread sleeps sending on a socket whose send buffer is full. History: (fd, socket inode).
SOCKET_SEND: Final = "socket_send"
# Several threads of a pool sleep in the same kind of wait (a send, a lock, a connect).
POOL_WAIT: Final = "pool_wait"
# CLOSE_WAIT sockets held, or TCP sockets in no table (reset leaks). History: socket inodes.
CLOSE_WAIT: Final = "close_wait"
# Busy on a CPU: looked at for an epoll loop that never sleeps.
BUSY: Final = "busy"
# A pending signal that every thread it is directed at blocks. History: signal numbers.
STUCK_SIGNAL: Final = "stuck_signal"
# A thread waits for a file lock (a waiter in /proc/locks or a lock wait channel). History:
# /proc/locks ids of the locks waited for.
LOCK_WAIT: Final = "lock_wait"
# A lock holder (or a process with the locked file open) that may retry with LOCK_NB.
LOCK_POLL: Final = "lock_poll"
# Open fds close to RLIMIT_NOFILE.
FD_LIMIT: Final = "fd_limit"
# A thread in uninterruptible sleep (state D). History: tids.
DSTATE: Final = "dstate"
# Children that exited and were not reaped. History: (pid, starttime) of each zombie.
ZOMBIES: Final = "zombies"
# A listener whose accept queue is over its backlog. History: (listener fd, client endpoint)
# of each connection waiting to be accepted.
ACCEPT_QUEUE: Final = "accept_queue"
# An event loop whose epoll set connections wait on, and no thread polls it. History: (epoll
# fd, the loop's thread).
LOOP_BLOCKED: Final = "loop_blocked"

# Every thread of a small process sleeps in a futex wait: perhaps no thread is left to release
# the lock they wait for (a child forked while another thread held it; two threads' locks taken
# in opposite orders).
LOCKED_UP: Final = "locked_up"

CLUES: Final = frozenset(
    {
        PIPE_WRITE,
        SOCKET_SEND,
        POOL_WAIT,
        CLOSE_WAIT,
        BUSY,
        STUCK_SIGNAL,
        LOCK_WAIT,
        LOCK_POLL,
        FD_LIMIT,
        DSTATE,
        ZOMBIES,
        ACCEPT_QUEUE,
        LOCKED_UP,
    }
)
# Kinds History follows that no first pass notices (the full look at a process tells them).
TRACKED_ONLY: Final = frozenset({LOOP_BLOCKED})
