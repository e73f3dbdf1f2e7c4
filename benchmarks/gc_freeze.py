"""What one full garbage collection costs the GUI thread, with and without freezing the heap after imports.

The app collects garbage only on the GUI thread (gui.workers.GuiGarbageCollector); a full collection walks
every tracked object, and the window stalls for as long. This builds the real main window offscreen, loads
what a session loads on first use (scikit-learn, SciPy, librosa), then times ``gc.collect()`` (best of 5)
in three states in one process: after start-up, after those imports, and after the app's collector froze the
heap (``freeze_imports=True``: ``gc.freeze()`` after a wave of imports). The baseline is the same process
before the freeze.

    python benchmarks/gc_freeze.py [--no-write]
"""
from __future__ import annotations

import argparse
import datetime
import gc
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADING = "## Garbage collection on the GUI thread: the heap frozen after imports (issue 15)"


def full_collection_ms(repeats=5):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        gc.collect()
        best = min(best, time.perf_counter() - t0)
    return 1000 * best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    os.environ.setdefault("SPEECHLAB_SETTINGS", str(pathlib.Path(tempfile.mkdtemp()) / "settings.ini"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from gui.workers import ensure_gui_gc

    collector = ensure_gui_gc(freeze_imports=True)
    collector.timer.stop()  # this script decides when to check
    from gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    for _ in range(20):
        app.processEvents()
    rows = [("after start-up (window built)", len(gc.get_objects()), full_collection_ms())]
    import librosa  # noqa: F401  (what a session loads on first use)
    import scipy.signal  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    rows.append(("after scikit-learn, SciPy and librosa loaded", len(gc.get_objects()), full_collection_ms()))
    collector.check()  # a wave of imports: one collection, then gc.freeze()
    rows.append((f"after the collector's freeze ({collector.freezes} freeze)", len(gc.get_objects()),
                 full_collection_ms()))
    from core.datasets import Item

    items = [Item(f"/data/clips/{i}.wav", str(i % 10), f"s{i % 50}") for i in range(100_000)]  # made later
    rows.append(("frozen, then a 100,000-clip dataset's items made", len(gc.get_objects()), full_collection_ms()))
    gc.unfreeze()  # the baseline: the same objects, nothing frozen (what the app did before)
    rows.append(("baseline: the same objects, nothing frozen", len(gc.get_objects()), full_collection_ms()))
    del items
    window.shutdown()
    ratio = rows[4][2] / max(rows[3][2], 1e-3)
    lines = ["| state | objects a full collection walks | full collection (best of 5) |", "|---|---|---|"]
    lines += [f"| {name} | {n:,} | {ms:.1f} ms |" for name, n, ms in rows]
    summary = (f"With a 100,000-clip dataset in memory a full collection takes {rows[3][2]:.1f} ms with the heap "
               f"frozen after imports and {rows[4][2]:.1f} ms without ({ratio:.1f}x); with nothing made since "
               f"the freeze, {rows[2][2]:.1f} ms against {rows[1][2]:.1f} ms.")
    print("\n".join(lines))
    print(summary)
    if not args.no_write:
        from benchmarks._results import write_section

        load = os.getloadavg()[0]
        text = (f"`python benchmarks/gc_freeze.py` ({datetime.datetime.now():%Y-%m-%d %H:%M}, load {load:.1f}): "
                "the real main window offscreen; `gc.collect()` timed in one process after start-up, after the "
                "imports a session makes on first use, and after the app's collector (`freeze_imports=True`, "
                "`gui.app.run`) froze the heap. Objects frozen are still freed by reference counting; a cycle "
                "among objects alive at a freeze would outlive it (a few freezes a session: start-up and "
                "each wave of 50+ new modules). The test session keeps freezing off.\n\n"
                + "\n".join(lines) + "\n\n" + summary + "\n")
        write_section(HEADING, HEADING + "\n\n" + text)


if __name__ == "__main__":
    main()
