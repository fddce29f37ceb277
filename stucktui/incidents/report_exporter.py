"""Example 6 of `stucktui demo`: report workers that log their progress to a pipe that stopped moving.

Each worker renders one monthly report to a CSV file and writes a progress line to stderr every
few rows, straight to fd 2 (one write(2) a line, as a C library's logger would); the main thread
touches a heartbeat file for the scheduler while it waits for them. stderr is a pipe read by
log-shipper, which waits for the spool's lock, which a stopped backup holds: the pipe fills and
every worker blocks in write(2), two processes away from the cause.
Usage: report_exporter.py OUTDIR [WORKERS] (prints 'ready').
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time

from stucktui.incidents.prelude import ready, setup

ROWS = 8000
# A line every 2 rows: each worker logs ~300 KB, more than the pipe (64 KB) and the shipper's
# batch (200 lines) hold together, so no worker can finish before the others block, whatever
# the scheduler does on a busy box: every worker ends up blocked in write(2).
LOG_EVERY = 2
REGIONS = ("emea", "apac", "amer", "latam")
HEARTBEAT_SECONDS = 10.0


def export(outdir: str, month: str) -> None:
    rng = random.Random(month)
    started = time.monotonic()
    with open(os.path.join(outdir, f"sales-{month}.csv"), "w") as out:
        out.write("order_id,region,sku,quantity,amount\n")
        for row in range(1, ROWS + 1):
            qty = rng.randint(1, 40)
            out.write(f"{month}-{row:06d},{rng.choice(REGIONS)},SKU-{rng.randint(1000, 9999)},{qty},"
                      f"{qty * rng.uniform(2, 90):.2f}\n")  # fmt: skip
            if row % LOG_EVERY == 0:
                took = time.monotonic() - started
                line = f"INFO report-exporter sales-{month}: {row}/{ROWS} rows rendered ({took:.2f}s)\n"
                os.write(2, line.encode())
    os.write(2, f"INFO report-exporter sales-{month}: done, {ROWS} rows\n".encode())


def main(outdir: str, workers: int) -> None:
    setup("report-exporter")
    os.makedirs(outdir, exist_ok=True)
    months = [f"2024-{m:02d}" for m in range(1, workers + 1)]
    threads = [
        threading.Thread(target=export, args=(outdir, m), name=f"export-{m}", daemon=True) for m in months
    ]
    for t in threads:
        t.start()
    ready()
    heartbeat = os.path.join(outdir, ".heartbeat")
    while any(t.is_alive() for t in threads):
        with open(heartbeat, "w") as f:  # the scheduler's watchdog reads its mtime: still alive
            f.write(f"{time.time():.0f}\n")
        for t in threads:
            t.join(timeout=HEARTBEAT_SECONDS)
    while True:
        time.sleep(3600)  # the next month's run


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
