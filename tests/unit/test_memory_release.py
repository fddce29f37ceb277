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


ARENAS = """
import ctypes, sys, threading
from stucktui.inspection.memory import limit_arenas

if sys.argv[1] == "limit":
    print(limit_arenas(2), flush=True)
# four threads alive at once, each allocating: glibc gives each its own arena unless capped
barrier = threading.Barrier(5)

def work():
    blocks = [bytearray(2000) for _ in range(100)]
    barrier.wait()
    barrier.wait()
    del blocks

threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
barrier.wait()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" section per arena, on stderr
barrier.wait()
for t in threads:
    t.join()
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_ARENA_MAX) is glibc's")
def test_limit_arenas_caps_the_arenas_threads_get():
    def arenas(mode: str) -> tuple[str, int]:
        out = subprocess.run(
            [sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, timeout=60, check=True
        )
        return out.stdout.strip(), sum(1 for line in out.stderr.splitlines() if line.startswith("Arena "))

    assert arenas("limit") == ("True", 2)
    _, free = arenas("free")
    assert free >= 4  # the main thread's and (nearly) one per thread, without the cap


MMAP = """
import ctypes, sys
from stucktui.inspection.memory import MMAP_FROM, limit_arenas

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"

class Info(ctypes.Structure):  # struct mallinfo2
    _fields_ = [(n, ctypes.c_size_t) for n in FIELDS.split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "limit":
    print(limit_arenas(2), flush=True)
before = libc.mallinfo2().hblks
blocks = [bytearray(MMAP_FROM + 4096) for _ in range(20)]  # under glibc's default of 128 KiB
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_MMAP_THRESHOLD) is glibc's")
def test_limit_arenas_maps_large_blocks_on_their_own():
    def mapped(mode: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", MMAP, mode], capture_output=True, text=True, timeout=60, check=True
        )
        return out.stdout.split()

    ok, n = mapped("limit")
    assert ok == "True" and int(n) >= 18  # (nearly) each its own mapping, unmapped when freed
    assert int(mapped("free")[0]) <= 2  # without: inside the heap, where they fragment it
