"""release_freed gives freed heap pages back (the TUI's RSS does not stay at the peak of its
largest refresh). Run in a child interpreter: its heap is its own."""

import platform
import subprocess
import sys

import pytest

CODE = """
from stucktui.inspection.memory import release_freed

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

# ~60 MB of malloc'd blocks (over pymalloc's 512 bytes, under mmap's threshold), every 64th
# kept so the heap cannot shrink from its top: only a trim gives the pages in between back
blocks = [bytearray(1500) for _ in range(40_000)]
kept = blocks[::64]
del blocks
before = rss_kib()
ok = release_freed()
print(ok, before, rss_kib(), len(kept))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_freed_gives_pages_back():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60, check=True)
    ok, before, after, _ = out.stdout.split()
    assert ok == "True"
    assert int(before) - int(after) > 20_000, (before, after)  # KiB: most of the ~58 MB freed
