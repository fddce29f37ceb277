"""What every demo program does first: take its name, die with the demo, and say 'ready'."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from stucktui.incidents import ENV_PARENT

_PR_SET_PDEATHSIG = 1  # prctl(2)
_PR_SET_NAME = 15
_libc = ctypes.CDLL(None, use_errno=True)


def setup(name: str) -> None:
    """Take `name` as the process name (its comm, what ps and stucktui show), and ask the kernel
    for a SIGKILL when the demo dies (PR_SET_PDEATHSIG)."""
    _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(os.environ[ENV_PARENT]):
        os._exit(0)  # the demo died before PR_SET_PDEATHSIG took hold


def ready(*words: object) -> None:
    """One 'WORDS ready' line on stdout: the demo reads the words (a port, a pid) and goes on."""
    sys.stdout.write(" ".join(map(str, [*words, "ready"])) + "\n")
    sys.stdout.flush()
