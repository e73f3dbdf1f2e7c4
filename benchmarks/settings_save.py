"""Saving a tab's panels at Train: how long the GUI thread is held (issue 18).

Every Train saves the tab's panels (``TaskTab.save_settings``). Up to 78f88fb that was a QSettings value plus
``QSettings.sync()``, which rewrites the settings file on the GUI thread with Python's lock held; since then the
value goes to a JSON file of its own, written by a short-lived Python thread. This times ``save_settings()`` on
the GUI thread of a real ``MainWindow`` (offscreen, a private settings file), for each checkout given, in fresh
processes that alternate, with a CPU hog (one busy loop per core) as in ``training_process.py``. The window's
event loop runs 100 ms between saves, so the background writer's work lands between them (and any time it
holds the GUI thread shows in the next save or in the event loop's gaps, which are timed too).

    python benchmarks/settings_save.py --code-dir <worktree of 78f88fb> --code-dir . [--saves 60] [--no-hog]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from training_process import start_hog  # noqa: E402  (the stall benchmark's hog: one busy loop per core)

_CHILD = r"""
import json, sys, time
n = int(sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.main_window import MainWindow
w = MainWindow()
w.resize(1280, 800)
w.show()
tabs = [w.task_tab(k) for k in ("digits", "genres", "speakers")]
saves, gaps, state = [], [], {"i": 0, "last": None}

def tick():
    now = time.perf_counter()
    if state["last"] is not None:
        gaps.append((now - state["last"]) * 1000 - 10)
    state["last"] = now

def save():
    i = state["i"]
    if i >= n:
        timer.stop(); beat.stop()
        w.close()
        app.quit()
        return
    tab = tabs[i % 3]
    t = time.perf_counter()
    tab.save_settings()
    saves.append((time.perf_counter() - t) * 1000)
    state["i"] = i + 1

beat = QTimer(); beat.timeout.connect(tick); beat.start(10)
timer = QTimer(); timer.timeout.connect(save)
QTimer.singleShot(1500, lambda: timer.start(100))  # after start-up's own work
app.exec()
print(json.dumps({"saves": saves, "gaps": gaps}))
"""


def run_once(code_dir, saves):
    home = pathlib.Path(tempfile.mkdtemp(prefix="settings-save-"))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(code_dir),
               SPEECHLAB_SETTINGS=str(home / "settings.ini"), SPEECHLAB_CACHE_DIR=str(home / "cache"),
               SPEECHLAB_DATA_DIR=str(home / "data"))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(saves)], cwd=code_dir, env=env, capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{code_dir}: rc {out.returncode}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def commit_of(code_dir):
    return subprocess.run(["git", "-C", str(code_dir), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or str(code_dir)


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code-dir", type=pathlib.Path, action="append", default=[])
    ap.add_argument("--saves", type=int, default=60, help="saves per process (the three tabs in turn)")
    ap.add_argument("--repeat", type=int, default=2, help="processes per checkout, alternating")
    ap.add_argument("--no-hog", action="store_true")
    ap.add_argument("--write", action="store_true", help="put the table into RESULTS.md")
    args = ap.parse_args(argv)
    dirs = [d.resolve() for d in (args.code_dir or [ROOT])]
    hog = [] if args.no_hog else start_hog()
    load = os.getloadavg()
    res = {d: {"saves": [], "gaps": []} for d in dirs}
    try:
        for _ in range(args.repeat):
            for d in dirs:
                r = run_once(d, args.saves)
                res[d]["saves"] += r["saves"]
                res[d]["gaps"] += r["gaps"]
                print(f"{commit_of(d)}: median {statistics.median(r['saves']):.2f} ms, max {max(r['saves']):.1f} ms",
                      file=sys.stderr)
    finally:
        for p in hog:
            p.kill()
    base = dirs[0]
    lines = ["### Saving a tab's panels at Train (issue 18): `benchmarks/settings_save.py`", "",
             f"`python benchmarks/settings_save.py {' '.join('--code-dir ' + str(d) for d in dirs)}`: "
             f"`TaskTab.save_settings()` timed on the GUI thread of a real `MainWindow` (offscreen), {args.saves} saves "
             f"per process (the three tabs in turn, 100 ms of event loop between), {args.repeat} processes per checkout "
             f"alternating, {'no CPU hog' if args.no_hog else 'a CPU hog on every core'}; {os.cpu_count()} cores, "
             f"load average before {load[0]:.2f}. The event loop's longest gap beside the saves is the check that "
             "the background writer does not hold the window instead.", "",
             "| checkout | saves | median ms | p95 ms | max ms | median vs the first | longest event-loop gap ms |",
             "|---|---|---|---|---|---|---|"]
    for d in dirs:
        s, g = res[d]["saves"], res[d]["gaps"]
        ratio = statistics.median(s) / statistics.median(res[base]["saves"])
        lines.append(f"| `{commit_of(d)}` | {len(s)} | {statistics.median(s):.2f} | {pct(s, 0.95):.2f} | {max(s):.1f} | "
                     f"{ratio:.2f}× | {max(g):.0f} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        from _results import write_section

        write_section(lines[0], text + "\n")


if __name__ == "__main__":
    main()
