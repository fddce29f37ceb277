"""docs/incidents.md §3 for `stucktui demo`: a child started from a thread that blocks every signal.

uWSGI blocks every signal in all threads but the first; a child started from such a thread
inherits the mask across fork and exec, so its SIGALRM is never delivered.
Usage: uwsgi.py CHILD.py (hping3.py; prints 'CHILD_PID ready').
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from stucktui.incidents import ENV_PARENT
from stucktui.incidents.prelude import ready, setup


def request_thread(program: str) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    env = dict(os.environ, **{ENV_PARENT: str(os.getpid())})
    child = subprocess.Popen([sys.executable, program], env=env, stdin=subprocess.DEVNULL)
    ready(child.pid)
    child.wait()


def main(program: str) -> None:
    setup("uwsgi")
    threading.Thread(target=request_thread, args=(program,), name="uwsgi-req", daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1])
