"""Start-up: time from process start to the first painted main window.

Each measurement is a fresh ``python`` process. The parent passes its
``time.time()``, taken just before it starts the child, on the command line;
the child starts the app the way ``python main.py`` does (``gui.app.run``),
watches the main window for its first paint event and, once that paint pass is
over, prints the time elapsed since the parent's mark and exits. Interpreter
start, every import, building the window and the first paint are all inside.

Baseline in the same run, started the same way: a bare PySide6 ``QMainWindow``
holding one empty ``QTabWidget`` (what any Qt app pays). The runs alternate
(bare, [before], app) so that load on the machine falls on both alike.
Target (issue 18): the app at most 1.5x the bare window.

``--before DIR`` also times the app from another checkout (e.g.
``git worktree add --detach /tmp/startup-before <commit>``) in the same loop.
One extra run under ``python -X importtime`` lists what the app imported
before its first paint.

    python benchmarks/startup.py [--runs 5] [--before DIR] [--no-record]

Offscreen Qt unless ``QT_QPA_PLATFORM`` or a ``DISPLAY`` is set (so
``xvfb-run -a python benchmarks/startup.py`` times a real X window).
"""
from __future__ import annotations

import argparse
import collections
import datetime
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "librosa", "tensorflow", "keras", "soundfile", "soxr", "numba", "sounddevice")
MARK = "--first-paint--"

# Kept small and the same for both modes: only what runs in it is measured.
_CHILD = r"""
import os, sys, time
t0, mode, root = float(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, root)
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication([sys.argv[0]])


state = {"window": None}


def painted():
    ms = (time.time() - t0) * 1000
    tops = sorted({m.split(".")[0] for m in sys.modules if not m.startswith("_")} - set(sys.stdlib_module_names))
    print("startup_ms", f"{ms:.1f}")
    print("modules", ",".join(tops))
    gui = sys.modules.get("gui")
    print("tree", os.path.dirname(os.path.dirname(gui.__file__)) if gui else "-")
    sys.stdout.flush()
    sys.stderr.write("%s\n")
    sys.stderr.flush()
    window = state["window"]
    if window is None or not hasattr(window, "is_ready") or window.is_ready():
        finish(ms)  # built at once (the bare window, or a checkout that builds every tab before showing)
    else:  # the tabs are built after the first paint: also time the window with every tab in
        window.ready.connect(built)


def built():
    window = state["window"]
    window.installEventFilter(Painted(lambda: finish((time.time() - t0) * 1000), window))
    window.update()


def finish(ready_ms):
    print("ready_ms", f"{ready_ms:.1f}")
    sys.stdout.flush()
    os._exit(0)  # what happens after this is not measured


class Painted(QObject):
    def __init__(self, then, parent=None):
        super().__init__(parent)
        self.then = then

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self.then)  # after this whole paint pass
        return False


first = Painted(painted)
if mode == "bare":
    from PySide6.QtWidgets import QTabWidget

    window = QMainWindow()
    window.setCentralWidget(QTabWidget())
    window.resize(1280, 800)
    window.installEventFilter(first)
    window.show()
    app.exec()
else:
    import gui.main_window

    show = gui.main_window.MainWindow.show

    def watched_show(self):  # the filter sits on the main window only, so it costs nothing elsewhere
        state["window"] = self
        self.installEventFilter(first)
        show(self)

    gui.main_window.MainWindow.show = watched_show
    from gui.app import run

    run()
""" % MARK


def start(mode, root, *, bytecode, importtime=False):
    """One child process; returns (milliseconds to the first paint, modules, tree, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SPEECHLAB_SETTINGS=os.path.join(tmp, "settings.ini"),
                   SPEECHLAB_CACHE_DIR=os.path.join(tmp, "cache"), SPEECHLAB_DATA_DIR=os.path.join(tmp, "data"))
        # Compiled modules are kept, as in an installed app, but outside the trees being timed.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = bytecode
        if "QT_QPA_PLATFORM" not in env and not env.get("DISPLAY"):
            env["QT_QPA_PLATFORM"] = "offscreen"
        cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", _CHILD]
        t0 = time.time()
        proc = subprocess.run([*cmd, repr(t0), mode, str(root)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    if proc.returncode != 0 or "startup_ms" not in out:
        raise SystemExit(f"{mode} child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return (float(out["startup_ms"]), float(out.get("ready_ms", out["startup_ms"]))), out["modules"].split(","), \
        out["tree"], proc.stderr


def import_times(stderr):
    """Milliseconds spent in each top-level package's own module code before the first paint."""
    per = collections.Counter()
    for line in stderr.split(MARK)[0].splitlines():
        if line.startswith("import time:") and "|" in line:
            own, _, name = line[len("import time:"):].split("|")
            if own.strip().isdigit():
                per[name.strip().split(".")[0]] += int(own) / 1000
    return per


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--before", type=pathlib.Path, help="also time the app from this checkout")
    ap.add_argument("--no-record", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args()
    trees = {"bare": ROOT, **({"before": args.before.resolve()} if args.before else {}), "app": ROOT}
    bytecode = tempfile.mkdtemp(prefix="speechlab-startup-pyc-")
    for mode, tree in trees.items():  # compile, warm the disk cache, check each child runs its own tree
        _, _, where, _ = start("bare" if mode == "bare" else "app", tree, bytecode=bytecode)
        if mode != "bare" and pathlib.Path(where) != tree:
            raise SystemExit(f"the {mode} child imported gui from {where}, not {tree}")
    times = {mode: [] for mode in trees}  # first paint
    ready = {mode: [] for mode in trees}  # every tab built and painted
    for i in range(args.runs):
        for mode, tree in trees.items():
            (ms, ready_ms), _, _, _ = start("bare" if mode == "bare" else "app", tree, bytecode=bytecode)
            times[mode].append(ms)
            ready[mode].append(ready_ms)
            print(f"run {i + 1}: {mode:6s} first paint {ms:7.0f} ms, every tab in {ready_ms:7.0f} ms", flush=True)
    _, modules, _, stderr = start("app", ROOT, bytecode=bytecode, importtime=True)
    shutil.rmtree(bytecode, ignore_errors=True)
    heavy = [m for m in modules if m in HEAVY]
    own = import_times(stderr)
    med = {mode: statistics.median(v) for mode, v in times.items()}
    med_ready = {mode: statistics.median(v) for mode, v in ready.items()}
    for mode, v in times.items():
        print(f"{mode:6s} first paint median {med[mode]:6.0f} ms  ({med[mode] / med['bare']:.2f}x bare)  runs "
              + ", ".join(f"{x:.0f}" for x in v))
        print(f"{mode:6s} every tab in median {med_ready[mode]:6.0f} ms  ({med_ready[mode] / med['bare']:.2f}x bare)"
              "  runs " + ", ".join(f"{x:.0f}" for x in ready[mode]))
    print("third-party packages imported before the first paint:", ", ".join(modules))
    print("heavy ones among them:", ", ".join(heavy) or "none")
    print("import time by package (own code, ms):",
          ", ".join(f"{k} {v:.0f}" for k, v in own.most_common(8)))
    if not args.no_record:
        _record(args, times, med, ready, med_ready, modules, heavy, own)
    return 0


def _commit(tree):
    proc = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def _record(args, times, med, ready, med_ready, modules, heavy, own):
    platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb (X display)" if os.environ.get("DISPLAY") else "offscreen")
    names = {"bare": "baseline: bare `QMainWindow` + one `QTabWidget`",
             "before": f"SpeechLab before (`{_commit(args.before)}`, checkout `{args.before}`)" if args.before else "",
             "app": f"SpeechLab (`{_commit(ROOT)}`{', with uncommitted changes' if _dirty() else ''})"}
    rows = "".join(
        f"| {names[mode]} | **{med[mode]:.0f} ms** | {med[mode] / med['bare']:.2f}× | "
        + ", ".join(f"{x:.0f}" for x in v) + f" | {med_ready[mode]:.0f} ms | {med_ready[mode] / med['bare']:.2f}× | "
        + ", ".join(f"{x:.0f}" for x in ready[mode]) + " |\n" for mode, v in times.items())
    ratio = med["app"] / med["bare"]
    section = (
        "## Start-up (process start → first painted main window)\n\n"
        f"`python benchmarks/startup.py{' --before ' + str(args.before) if args.before else ''}` — "
        f"{datetime.date.today()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
        f"Qt platform {platform}. Each run is a fresh process started by the benchmark; it starts the app as "
        "`python main.py` does (`gui.app.run`), and the clock stops when the main window's first paint pass is "
        f"over. Runs alternate; medians of {args.runs}. Since the staged window (issue 18) the first paint shows "
        "the menus, the tab bar and \"Opening Digits…\" in each tab, and the tabs are built right after it, one "
        "per turn of the event loop; \"every tab in\" stops the clock at the paint after the last tab is built "
        "(the same moment as the first paint for the bare window and for a checkout that builds every tab first)."
        "\n\n"
        "| | first paint (median) | × bare window | runs (ms) | every tab in (median) | × bare window | runs (ms) |"
        "\n|---|---|---|---|---|---|---|\n" + rows + "\n"
        f"Target ≤ 1.5× the bare window: **{'met' if ratio <= 1.5 else 'NOT met'}** ({ratio:.2f}×).\n\n"
        "Third-party packages in `sys.modules` at the first paint: " + ", ".join(f"`{m}`" for m in modules)
        + f". Heavy ones ({', '.join(HEAVY)}): **{', '.join(heavy) or 'none'}**.\n"
        "Where import time went before the first paint (`-X importtime`, each package's own module code): "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in own.most_common(8)) + ".\n"
    )
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _results import write_section

    write_section("## Start-up (process start → first painted main window)", section)


def _dirty():
    proc = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "core", "gui"],
                          capture_output=True, text=True)
    return bool(proc.stdout.strip())


if __name__ == "__main__":
    sys.exit(main())
