"""Resident memory of a long session's allocation pattern, with and without core.memory.return_large_blocks.

Each mode runs in a fresh process: for ``--rounds`` rounds, 4 worker threads (as the GUI's job threads)
allocate 40 NumPy arrays of 0.16–3.2 MB each; a tenth is kept for a few rounds (results a tab holds),
the rest freed at once, and the kept ones are freed on the main thread later. Printed: resident
memory after every 5 rounds and at the end, in both modes; the ratio is tuned / glibc's default.

    python benchmarks/allocator.py [--rounds 30] [--no-record]
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

_CHILD = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
import numpy as np
rounds, tuned = int(sys.argv[2]), sys.argv[3] == "1"
if tuned:
    from core.memory import return_large_blocks
    assert return_large_blocks()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
keep = []
rng = np.random.default_rng(0)
sizes = rng.integers(20_000, 400_000, size=(rounds, 4, 40))
def work(r, i):
    arrays = [np.ones(int(n)) for n in sizes[r, i]]
    keep.append(arrays[::10])
for r in range(rounds):
    threads = [threading.Thread(target=work, args=(r, i)) for i in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    if len(keep) > 12:
        del keep[:4]
    if (r + 1) % 5 == 0:
        print("rss", r + 1, f"{rss():.1f}", flush=True)
"""


def run(rounds, tuned):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), str(rounds), "1" if tuned else "0"],
                         capture_output=True, text=True, check=True).stdout
    return [(int(a), float(b)) for _, a, b in (line.split() for line in out.splitlines() if line.startswith("rss"))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    default, tuned = run(args.rounds, False), run(args.rounds, True)
    rows = []
    for (r, a), (_, b) in zip(default, tuned):
        rows.append(f"| {r} | {a:.0f} MB | {b:.0f} MB | {b / a:.2f}× |")
        print(f"round {r:3d}: glibc default {a:6.0f} MB, return_large_blocks {b:6.0f} MB, ratio {b / a:.2f}")
    ratio = tuned[-1][1] / default[-1][1]
    print(f"at the end: {ratio:.2f}x the default's resident memory")
    if args.no_record:
        return 0
    section = (
        "## Allocator: freed arrays given back (issue 15's memory growth)\n\n"
        f"`python benchmarks/allocator.py --rounds {args.rounds}` — {datetime.date.today()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}. A long session's pattern in a fresh process per mode: 4 worker "
        "threads allocate 40 NumPy arrays of 0.16–3.2 MB per round, a tenth kept for a few rounds. Baseline: "
        "glibc's default (a dynamic mmap threshold that rises to each freed block's size, up to 32 MB); "
        "`core.memory.return_large_blocks()` fixes it at 256 KB (the app's window and model host call it at start).\n\n"
        "| rounds | glibc default | return_large_blocks | ratio |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Resident memory at the end: **{ratio:.2f}×** the default's.\n")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _results import write_section

    write_section("## Allocator: freed arrays given back (issue 15's memory growth)", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
