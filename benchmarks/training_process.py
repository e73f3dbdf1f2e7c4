"""What the training's own process costs and buys the GUI (issue 18): stalls, Stop, the process boundary.

Since 0051fcb every GUI training runs in a spawned child process (gui/workers.py
``ChildWorker``, core/child.py); before it (bfc9ef8) it ran in a QThread of the
GUI process. For one or more code dirs (a checkout of either), with a CPU hog
beside it (one busy-loop process per core, started here and killed at the end),
this drives the real MainWindow offscreen through the tabs' public methods and
measures:

1. GUI stalls: a 10 ms QTimer on the GUI thread; every gap beyond 10 ms is time
   the window could not react (longest and 99th percentile), during
   (a) the first Genres CNN training after start (gtzan-dev, cold features),
   (b) a second CNN training in the same process, (e) a genre timeline of a
   2-minute song opened in the Genres tab right after (b), (c) a Digits MLP
   training on FSDD (default settings, 10 epochs), (d) a 2×2 sweep from the
   Digits tab's sweep dialog (demo data). Target: longest < 50 ms.
2. Stop latency: Stop pressed during per-sample SGD (batch 1) on FSDD, until
   the tab is no longer busy; 5 repetitions. Target ≤ 1 s.
3. The process boundary: Train → not busy for the same small Digits training
   (demo data, 10 epochs, default otherwise), median of 3 after one warm-up,
   against the training's own time (``result.seconds``); and the size and
   pickling cost of one epoch report as it crosses the pipe.

Every group of scenarios runs in a fresh Python process (so the first CNN
training is really the first), alternating between the code dirs; each code
dir has its own feature cache for the whole invocation, everything else
(settings, run history, data folder) is fresh per process.

    python benchmarks/training_process.py --code-dir /tmp/thread-baseline --code-dir .   # baseline first
    python benchmarks/training_process.py --no-hog --only genres --trace-stalls 50
"""
from __future__ import annotations

# Top level: standard library only. The training and sweep children are spawned, and spawn
# re-imports this file as their main module.
import argparse
import datetime
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
GTZAN = DATA / "gtzan-dev" / "genres_original"
FSDD = DATA / "fsdd" / "recordings"
HEADING = "## Training in its own process (issue 18)"
TICK_MS = 10
BUDGET_MS = 50
# Scenario groups, each one fresh process: name -> scenarios it measures.
GROUPS = {"genres": ("a", "b", "e"), "digits": ("c",), "sweep": ("d",), "stop": ("stop",), "boundary": ("boundary",)}
TITLES = {
    "a": "(a) first Genres CNN training after start",
    "b": "(b) second CNN training, same process",
    "e": "(e) CNN genre timeline of a 2-min file",
    "c": "(c) Digits MLP on FSDD",
    "d": "(d) 2×2 sweep (Digits, sweep dialog)",
}


# ====================================================================== the parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code-dir", action="append", type=pathlib.Path,
                        help="a checkout to measure (repeat it; the first is the baseline of the ratios); "
                             "default: this repository")
    parser.add_argument("--no-hog", action="store_true", help="no busy-loop processes beside the app")
    parser.add_argument("--only", action="append", choices=sorted(GROUPS), help="run only these groups")
    parser.add_argument("--cnn-epochs", type=int, default=3)
    parser.add_argument("--mlp-epochs", type=int, default=10)
    parser.add_argument("--sweep-epochs", type=int, default=2)
    parser.add_argument("--stop-reps", type=int, default=5)
    parser.add_argument("--boundary-reps", type=int, default=3)
    parser.add_argument("--model-host", choices=("app", "off"), default="app",
                        help="Keras predictions as the code's MainWindow sets them up (app), or in-process (off)")
    parser.add_argument("--trace-stalls", type=float, default=0.0, metavar="MS",
                        help="sample the GUI thread's Python stack during every stall longer than MS")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per group")
    parser.add_argument("--json", type=pathlib.Path, help="write every measurement here")
    parser.add_argument("--record", action="store_true", help="write the section into benchmarks/RESULTS.md")
    parser.add_argument("--from-json", type=pathlib.Path,
                        help="only print (and --record) the report of an earlier --json")
    parser.add_argument("--scenario-group", help=argparse.SUPPRESS)  # the child side
    parser.add_argument("--out", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    code_dirs = [d.resolve() for d in (args.code_dir or [ROOT])]
    if args.scenario_group:
        return run_group(args, code_dirs[0])
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        return publish(args, [pathlib.Path(d) for d in saved["results"]], saved["results"], saved["meta"])

    missing = [str(p) for p in (GTZAN, FSDD) if not p.is_dir()]
    if missing:
        print(f"skipped: data not found: {', '.join(missing)}")
        return 0
    groups = args.only or list(GROUPS)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="speechlab-training-process-"))
    caches = {d: scratch / f"cache-{i}" for i, d in enumerate(code_dirs)}
    results = {str(d): {"code": describe_code(d)} for d in code_dirs}
    hog = [] if args.no_hog else start_hog()
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    try:
        for group in groups:
            for d in code_dirs:
                print(f"[{time.perf_counter() - t_start:6.0f} s] {group} on {d} …", flush=True)
                results[str(d)].update(run_group_process(args, d, group, caches[d], scratch))
    finally:
        for p in hog:
            p.kill()
            p.wait()
    total = time.perf_counter() - t_start
    meta = {"date": str(datetime.date.today()), "cores": os.cpu_count(), "hog": len(hog),
            "load_before": load_before, "load_after": os.getloadavg(), "seconds": total,
            "argv": " ".join(["python benchmarks/training_process.py", *(argv if argv is not None else sys.argv[1:])]),
            "cnn_epochs": args.cnn_epochs, "mlp_epochs": args.mlp_epochs, "sweep_epochs": args.sweep_epochs,
            "model_host": args.model_host}
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    return publish(args, code_dirs, results, meta)


def publish(args, code_dirs, results, meta):
    text = report(code_dirs, results, meta)
    print(text)
    if args.record:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        from _results import write_section

        write_section(HEADING, f"{HEADING}\n\n{text}")
    return 0


def start_hog():
    """One busy-loop process per core; each also ends by itself if this process dies."""
    code = ("import os\nparent = os.getppid()\n"
            "while os.getppid() == parent:\n    for _ in range(1_000_000):\n        pass\n")
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 1)]


def describe_code(code_dir):
    def git(*a):
        return subprocess.run(["git", "-C", str(code_dir), *a], capture_output=True, text=True).stdout

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:].endswith(".py")]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "changed": changed,
            "child_process": (code_dir / "core" / "child.py").is_file()}


def run_group_process(args, code_dir, group, cache, scratch):
    """One fresh interpreter per group, with code_dir first on the path; its answers as a dict."""
    home = pathlib.Path(tempfile.mkdtemp(prefix=f"{group}-", dir=scratch))
    out = home / "result.json"
    env = {**os.environ, "PYTHONPATH": str(code_dir), "QT_QPA_PLATFORM": "offscreen",
           "SPEECHLAB_SETTINGS": str(home / "settings.ini"), "SPEECHLAB_CACHE_DIR": str(cache),
           "SPEECHLAB_DATA_DIR": str(home / "data"), "PYTHONFAULTHANDLER": "1"}
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--scenario-group", group, "--code-dir",
           str(code_dir), "--out", str(out), "--cnn-epochs", str(args.cnn_epochs), "--mlp-epochs",
           str(args.mlp_epochs), "--sweep-epochs", str(args.sweep_epochs), "--stop-reps", str(args.stop_reps),
           "--boundary-reps", str(args.boundary_reps), "--model-host", args.model_host,
           "--trace-stalls", str(args.trace_stalls)]
    log = home / "log.txt"
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=code_dir, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group's own session: its training children too
            proc.wait()
    answers = json.loads(out.read_text()) if out.is_file() else {}
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    for key in GROUPS[group]:
        if key not in answers:
            why = f"the process ended with {proc.returncode} after {time.perf_counter() - t0:.0f} s"
            answers[key] = {"error": f"{why}: {' | '.join(tail)}"}
    for key, value in answers.items():
        for stall in value.get("traces", []):
            print(f"  {key}: stall {stall['gap_ms']:.0f} ms at {stall['at_s']:.1f} s ({stall['context']})")
            for line in stall["main"][-12:]:
                print("     " + line)
            for name, top in stall["others"].items():
                print(f"     [{name}] {top}")
    return answers


# ======================================================================= the report


def _fmt(v, unit="", digits=0):
    return "n/a" if v is None else f"{v:.{digits}f}{unit}"


def report(code_dirs, results, meta):
    lines = [f"`{meta['argv']}` — {meta['date']}, {meta['cores']} cores, "
             + (f"CPU hog: {meta['hog']} busy-loop processes (one per core) for the whole run"
                if meta["hog"] else "no CPU hog")
             + f"; load average {meta['load_before'][0]:.1f} before, {meta['load_after'][0]:.1f} after; "
             f"{meta['seconds'] / 60:.1f} min. Qt offscreen; a 10 ms QTimer on the GUI thread, a stall = a gap "
             f"between its ticks minus 10 ms. CNN {meta['cnn_epochs']} epochs (gtzan-dev, 50 tracks, 3 s "
             f"windows), Digits MLP {meta['mlp_epochs']} epochs (FSDD), sweep {meta['sweep_epochs']} epochs "
             f"(demo digits); Keras predictions: "
             + ("as the code sets them up." if meta["model_host"] == "app" else "in-process (model host off)."), ""]
    for d in code_dirs:
        r = results[str(d)]
        code = r["code"]
        kind = "child process" if code["child_process"] else "QThread in the GUI process"
        dirty = f", with uncommitted changes to {', '.join(code['changed'])}" if code["changed"] else ""
        foreign = r.get("_foreign_modules")
        came = f" Modules it lacks came from the installed package: {', '.join(foreign)}." if foreign else ""
        lines += [f"**`{d}`** — `{code['commit']}`{dirty}; training in a {kind}.{came}", "",
                  "| scenario | wall | longest stall | p99 stall | stalls > 50 ms | GUI thread in them: running / "
                  "waiting for a core / blocked | target < 50 ms |",
                  "|---|---|---|---|---|---|---|"]
        idles = [v for k, v in r.items() if k.startswith("idle-") and "worst_ms" in v]
        if idles:
            lines.append(f"| the window idle, 5 s before each group ({len(idles)}×): the noise floor | | "
                         f"{max(v['worst_ms'] for v in idles):.0f} ms | {max(v['p99_ms'] for v in idles):.0f} ms | "
                         f"{sum(v['n_over'] for v in idles)} | {where([x for v in idles for x in v['long']])} | |")
        for key, title in TITLES.items():
            s = r.get(key, {})
            if "error" in s or not s:
                lines.append(f"| {title} | n/a | n/a | n/a | n/a | | {s.get('error', 'not run')} |")
                continue
            met = "met" if s["worst_ms"] < BUDGET_MS else "NOT met"
            lines.append(f"| {title} | {s['wall_s']:.1f} s | {s['worst_ms']:.0f} ms | {s['p99_ms']:.0f} ms | "
                         f"{s['n_over']} | {where(s['long'])} | **{met}** |")
        st = r.get("stop", {})
        if "latencies_s" in st:
            lat = st["latencies_s"]
            lines.append(f"| Stop during per-sample SGD (FSDD), {len(lat)}× | median {statistics.median(lat):.2f} s, "
                         f"max {max(lat):.2f} s | {st['worst_ms']:.0f} ms | {st['p99_ms']:.0f} ms | {st['n_over']} | "
                         f"{where(st['long'])} | Stop ≤ 1 s: **{'met' if max(lat) <= 1.0 else 'NOT met'}** |")
        else:
            lines.append(f"| Stop during per-sample SGD | n/a | | | | | {st.get('error', 'not run')} |")
        b = r.get("boundary", {})
        if "walls_s" in b:
            lines.append(f"| Train → done, demo digits {meta['mlp_epochs']} epochs, median of {len(b['walls_s'])} | "
                         f"{statistics.median(b['walls_s']):.2f} s (training itself "
                         f"{statistics.median(b['inner_s']):.2f} s, first {b['first_wall_s']:.2f} s) | "
                         f"{b['worst_ms']:.0f} ms | {b['p99_ms']:.0f} ms | {b['n_over']} | {where(b['long'])} | |")
        else:
            lines.append(f"| Train → done, demo digits | n/a | | | | | {b.get('error', 'not run')} |")
        lines.append("")
        if st.get("phases"):
            order = sorted(range(len(st["latencies_s"])), key=lambda i: st["latencies_s"][i])
            median_rep = st["phases"][order[len(order) // 2]]
            lines += ["Where the Stop with the median latency went (seconds after Stop: the tab's background thread, "
                      "its frame in gui/workers.py > the innermost frame; the training process):", "", "```"]
            shown = median_rep if len(median_rep) <= 30 else median_rep[:15] + [(None, "…")] + median_rep[-14:]
            lines += [("        " if t is None else f"{t:7.3f}  ") + state for t, state in shown] + ["```", ""]
        if b.get("report"):
            rep = b["report"]
            lines += [f"One epoch report across the pipe: {rep['bytes']:.0f} bytes pickled, dumps + loads "
                      f"{rep['pickle_us']:.0f} µs, through a pipe {_fmt(rep.get('pipe_us'), ' µs')} (median of "
                      f"{rep['n']} reports of the training above, this process).", ""]
    if len(code_dirs) > 1:
        base, new = (results[str(d)] for d in (code_dirs[0], code_dirs[-1]))
        lines += [f"Ratios `{code_dirs[-1]}` / `{code_dirs[0]}`:", "",
                  "| | longest stall | p99 stall | wall |", "|---|---|---|---|"]
        for key, title in TITLES.items():
            lines.append(f"| {title} | {_ratio(base, new, key, 'worst_ms')} | {_ratio(base, new, key, 'p99_ms')} | "
                         f"{_ratio(base, new, key, 'wall_s')} |")
        if "latencies_s" in base.get("stop", {}) and "latencies_s" in new.get("stop", {}):
            a, c = base["stop"]["latencies_s"], new["stop"]["latencies_s"]
            lines.append(f"| Stop latency (median / max) | {statistics.median(c) / statistics.median(a):.2f}× / "
                         f"{max(c) / max(a):.2f}× | | |")
        if "walls_s" in base.get("boundary", {}) and "walls_s" in new.get("boundary", {}):
            a, c = base["boundary"], new["boundary"]
            wa, wc = statistics.median(a["walls_s"]), statistics.median(c["walls_s"])
            oa = statistics.median(w - i for w, i in zip(a["walls_s"], a["inner_s"]))
            oc = statistics.median(w - i for w, i in zip(c["walls_s"], c["inner_s"]))
            lines.append(f"| Train → done (demo digits) | | | **{wc / wa:.2f}×** ({wc - wa:+.2f} s; outside the "
                         f"training itself {oa:.2f} → {oc:.2f} s) |")
        lines.append("")
    return "\n".join(lines)


def where(long_stalls):
    """Where the GUI thread's time went during the stalls over 50 ms, summed: "running / queued / blocked"."""
    if not long_stalls:
        return "—"
    running = sum(x["running_ms"] for x in long_stalls)
    queued = sum(x["queued_ms"] for x in long_stalls)
    blocked = sum(max(0.0, x["stall_ms"] - x["running_ms"] - x["queued_ms"]) for x in long_stalls)
    return f"{running:.0f} / {queued:.0f} / {blocked:.0f} ms"


def _ratio(base, new, key, field):
    a, b = base.get(key, {}).get(field), new.get(key, {}).get(field)
    if a is None or b is None:
        return "n/a"
    return f"{b / a:.2f}×" if a > 0 else "—"


# ===================================================================== the child side


def run_group(args, code_dir):
    """Measure one group of scenarios in this fresh process; write the answers to ``args.out``."""
    sys.path.insert(0, str(code_dir))
    os.chdir(code_dir)
    answers = {}

    def save():
        args.out.write_text(json.dumps(answers, default=str))

    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(antialias=True, background="w", foreground="k")  # as gui.app.run
    app = QApplication.instance() or QApplication([])
    window = open_window(args)
    window.app = app  # kept alive as long as the window
    try:
        idle(window, args, answers, save, f"idle-{args.scenario_group}")
        fn = {"genres": group_genres, "digits": group_digits, "sweep": group_sweep, "stop": group_stop,
              "boundary": group_boundary}[args.scenario_group]
        fn(window, args, answers, save)
    finally:
        # The venv's editable install of this repository answers for modules a checkout lacks:
        # say so if any of ours came from elsewhere.
        foreign = sorted(name for name, m in list(sys.modules.items())
                         if name.split(".")[0] in ("core", "gui", "cli") and getattr(m, "__file__", None)
                         and not str(pathlib.Path(m.__file__).resolve()).startswith(str(code_dir)))
        if foreign:
            answers["_foreign_modules"] = foreign
        save()
        window.close()
    return 0


def open_window(args):
    from gui.app import _preload
    from gui.main_window import MainWindow

    try:  # the app's collector, as gui.app.run sets it up (before 2026-12-07 this benchmark left it to the
        from gui.workers import ensure_gui_gc  # first worker, without the freezes after imports)

        ensure_gui_gc(freeze_imports=True)
    except (ImportError, TypeError):
        pass  # a checkout from before the GUI-thread collector, or before its freezes
    window = MainWindow()
    if args.model_host == "off":
        try:
            from core.model_host import use_host
        except ImportError:
            pass
        else:
            use_host(False)
    window.resize(1280, 800)
    window.show()
    _preload()  # as gui.app.run does after the first paint
    import threading

    wait_until(lambda: not any(t.name == "speechlab-preload" for t in threading.enumerate()), 300, "preload")
    return window


def idle(window, args, answers, save, key, seconds=5.0):
    """The noise floor: the same timer for ``seconds`` while the app does nothing (the hog and
    other processes still compete for the cores)."""
    meter = _meter_class()(None, args.trace_stalls)
    n = int(seconds * 1000 / TICK_MS)
    guarded(answers, save, key, lambda: measured(meter, lambda: None, lambda: meter.ticks() >= n, seconds * 10,
                                                     "idle ticks", settle_ticks=0))


def wait_until(condition, timeout, what):
    """Run the GUI event loop (blocking in it, as app.exec does) until ``condition()`` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    loop = QEventLoop()
    deadline = time.monotonic() + timeout
    state = {"timed_out": False}

    def check():
        if condition():
            loop.quit()
        elif time.monotonic() > deadline:
            state["timed_out"] = True
            loop.quit()

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if state["timed_out"]:
        raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _meter_class():
    from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Slot

    class GapMeter(QObject):
        """A 10 ms timer on the GUI thread; the gaps between its ticks."""

        def __init__(self, context=None, trace_ms=0.0):
            super().__init__()
            self.context = context or (lambda: "")
            self.trace_ms = trace_ms
            self.timer = QTimer(self)
            self.timer.setTimerType(Qt.PreciseTimer)
            self.timer.setInterval(TICK_MS)
            self.timer.timeout.connect(self.tick)
            self.clock = QElapsedTimer()
            self.gaps, self.long, self.traces = [], [], []
            self.last = 0.0
            self.last_wall = time.perf_counter()
            self.sampler = None

        def start(self):
            self.gaps, self.long, self.traces = [], [], []
            if getattr(self, "sched_fd", None) is None:  # the GUI thread's: cpu time, run-queue wait (ns)
                self.sched_fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
            self.sched = self.schedstat()
            self.clock.start()
            self.last = 0.0
            self.last_wall = time.perf_counter()
            self.timer.start()
            if self.trace_ms:
                self.sampler = StallSampler(self)
                self.sampler.start()

        def schedstat(self):
            run, queued = os.pread(self.sched_fd, 100, 0).split()[:2]
            return int(run) / 1e6, int(queued) / 1e6

        @Slot()
        def tick(self):
            now = self.clock.nsecsElapsed() / 1e6
            gap = now - self.last
            self.gaps.append(gap)
            sched = self.schedstat()
            if gap - TICK_MS > BUDGET_MS:
                # When, what the tab showed right after, and where the GUI thread's time went: running
                # (work on it), runnable but waiting for a core (CPU contention), or neither (blocked:
                # the GIL, a lock, a system call).
                run, queued = sched[0] - self.sched[0], sched[1] - self.sched[1]
                self.long.append({"at_s": round(self.last / 1000, 2), "stall_ms": round(gap - TICK_MS, 1),
                                  "running_ms": round(run, 1), "queued_ms": round(queued, 1),
                                  "blocked_ms": round(max(0.0, gap - TICK_MS - run - queued), 1),
                                  "context": self.context()})
            self.sched = sched
            self.last = now
            self.last_wall = time.perf_counter()

        def ticks(self):
            return len(self.gaps)

        def stop(self):
            self.timer.stop()
            if self.sampler is not None:
                self.sampler.done = True
                self.sampler.join()
                self.traces = self.sampler.stalls
                self.sampler = None
            stalls = sorted(g - TICK_MS for g in self.gaps[1:]) or [0.0]
            return {"worst_ms": max(stalls), "p99_ms": stalls[int(0.99 * (len(stalls) - 1))],
                    "ticks": len(self.gaps), "n_over": sum(s > BUDGET_MS for s in stalls), "long": self.long,
                    "traces": self.traces}

    return GapMeter


def _sampler_base():
    import threading

    return threading.Thread


def thread_stacks(fd):
    """Every thread's Python stack as faulthandler writes it, innermost frame first:
    ``{thread id: [(file, line, function), ...]}``.

    faulthandler reads the frames without taking a reference to them. A sampler that held
    another thread's frame (``sys._current_frames``) could hold the last reference to a QObject
    in it, say a finished worker, and delete it on the sampler's thread: the app crashed so."""
    import faulthandler

    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    faulthandler.dump_traceback(fd, all_threads=True)
    size = os.lseek(fd, 0, os.SEEK_END)
    stacks, current = {}, None
    for line in os.pread(fd, size, 0).decode(errors="replace").splitlines():
        if line.startswith(("Thread 0x", "Current thread 0x")):
            current = int(next(w for w in line.split() if w.startswith("0x")), 16)
            stacks[current] = []
        elif line.startswith("  File ") and current is not None:
            head, _, func = line.strip().rpartition(" in ")
            file, _, number = head.partition('", line ')
            stacks[current].append((file[len('File "'):], int(number or 0), func))
    return stacks


def _frame(entry):
    return f"{pathlib.Path(entry[0]).name}:{entry[1]} {entry[2]}"


class StallSampler(_sampler_base()):
    """Every 5 ms: when the GUI timer is late by more than ``trace_ms``, keep every thread's stack.

    It needs the GIL like any Python thread: when another thread holds it in native code (an
    import loading a library), the samples come once it is released, with that thread's frame."""

    def __init__(self, meter):
        super().__init__(name="stall-sampler", daemon=True)
        self.meter = meter
        self.done = False
        self.stalls = []

    def run(self):
        import threading

        main_id, me = threading.main_thread().ident, threading.get_ident()
        fd = os.open(tempfile.mkstemp(prefix="stacks-")[1], os.O_RDWR)
        sampled_for = None
        while not self.done:
            time.sleep(0.005)
            since = time.perf_counter() - self.meter.last_wall
            if since * 1000 <= self.meter.trace_ms + TICK_MS or sampled_for == self.meter.last_wall:
                continue
            sampled_for = self.meter.last_wall
            stacks = thread_stacks(fd)
            names = {t.ident: t.name for t in threading.enumerate()}
            others = {names.get(ident, hex(ident)): " < ".join(_frame(f) for f in stack[:4])
                      for ident, stack in stacks.items() if ident not in (main_id, me)}
            self.stalls.append({"at_s": round(self.meter.last / 1000, 2), "gap_ms": since * 1000,
                                "context": self.meter.context(),
                                "main": [_frame(f) for f in reversed(stacks.get(main_id, []))], "others": others})
        os.close(fd)


class WorkerPhases(_sampler_base()):
    """Every 5 ms after Stop: where the tab's background thread is (its frame in gui/workers.py and the
    innermost one) and whether the training process still runs; consecutive repeats dropped."""

    def __init__(self, child_pid):
        super().__init__(name="worker-phases", daemon=True)
        self.child_pid = child_pid
        self.t0 = None
        self.done = False
        self.samples = []

    def child_state(self):
        if self.child_pid is None:
            return ""
        try:
            with open(f"/proc/{self.child_pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return "; child gone"
        return "; child exited, not yet reaped" if state == "Z" else "; child alive"

    def run(self):
        import threading

        me, main = threading.get_ident(), threading.main_thread().ident
        fd = os.open(tempfile.mkstemp(prefix="stacks-")[1], os.O_RDWR)
        last = None
        while not self.done:
            time.sleep(0.005)
            if self.t0 is None:
                continue
            where = "no worker thread"
            for ident, stack in thread_stacks(fd).items():
                ours = [f for f in stack if f[0].endswith(os.path.join("gui", "workers.py"))]
                if ident not in (me, main) and ours:
                    where = f"workers.py:{ours[0][1]} {ours[0][2]} > {pathlib.Path(stack[0][0]).name} {stack[0][2]}"
                    break
            state = where + self.child_state()
            if state != last:
                self.samples.append((round(time.perf_counter() - self.t0, 3), state))
                last = state
        os.close(fd)


def _observer():
    from PySide6.QtCore import QObject, Slot

    class EpochObserver(QObject):
        """Lives on the GUI thread: the epoch reports as the tab receives them (queued)."""

        def __init__(self):
            super().__init__()
            self.reports = []

        @Slot(object)
        def on_epoch(self, stats):
            self.reports.append((time.perf_counter(), stats))

    return EpochObserver()


def scan(tab, folder):
    """Load ``folder`` ("" = the task's demo data) through the tab, as the dataset panel does."""
    tab.dataset_panel.folder_edit.setText(folder)
    tab.scan(folder)
    wait_until(lambda: not tab.busy and tab.dataset_panel.dataset is not None, 600, f"scan of {folder or 'demo'}")


def measured(meter, start, done, timeout, what, settle_ticks=10):
    """``start()``, then the event loop until ``done()``; wall time and the stalls meanwhile."""
    meter.start()
    wait_until(lambda: meter.ticks() >= 3, 10, "the timer")  # a steady timer before the action
    t0 = time.perf_counter()
    start()
    wait_until(done, timeout, what)
    wall = time.perf_counter() - t0
    n = meter.ticks()
    wait_until(lambda: meter.ticks() >= n + settle_ticks, 30, "the paints after it")  # results drawn
    return {"wall_s": wall, **meter.stop()}


def context_of(tab):
    return lambda: f"{tab.progress_panel.bar.format()} | {tab.progress_panel.status_text()[:80]}"


def train_measured(tab, meter, what, timeout=1200):
    before = tab.last_result
    out = measured(meter, tab.train, lambda: not tab.busy, timeout, what)
    if tab.last_result is None or tab.last_result is before:
        raise RuntimeError(f"{what}: no result: {tab.progress_panel.status_text()}")
    out["accuracy"] = tab.last_result.metrics.get("accuracy")
    out["inner_s"] = tab.last_result.seconds
    return out


def guarded(answers, save, key, fn):
    import traceback

    try:
        answers[key] = fn()
    except Exception as exc:  # noqa: BLE001 - reported as n/a with the reason
        traceback.print_exc()
        answers[key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    save()
    print(key, json.dumps({k: v for k, v in answers[key].items() if k != "traces"}, default=str)[:600], flush=True)
    return "error" not in answers[key]


def group_genres(window, args, answers, save):
    tab = window.task_tab("genres")
    window.show_task("genres")
    scan(tab, str(GTZAN))
    panel = tab.model_panel
    panel.choice.setCurrentIndex(panel.choice.findData("cnn"))
    panel.epochs.setValue(args.cnn_epochs)
    panel.early.setChecked(False)
    meter = _meter_class()(context_of(tab), args.trace_stalls)
    if not guarded(answers, save, "a", lambda: train_measured(tab, meter, "the first CNN training")):
        return
    guarded(answers, save, "b", lambda: train_measured(tab, meter, "the second CNN training"))
    guarded(answers, save, "e", lambda: timeline(tab, meter))


def two_minute_song():
    """120 s of four gtzan-dev clips of different genres, one 16-bit WAV (as a user's song would be)."""
    import numpy as np
    import soundfile as sf

    parts, sr = [], None
    for genre in ("blues", "classical", "metal", "reggae"):
        clip = sorted((GTZAN / genre).glob("*.wav"))[0]
        y, rate = sf.read(str(clip), dtype="float32", always_2d=False)
        sr = sr or rate
        if rate != sr:
            raise RuntimeError(f"{clip} is at {rate} Hz, not {sr}")
        parts.append(y[: 30 * sr])
    path = pathlib.Path(tempfile.mkdtemp()) / "song-2min.wav"
    sf.write(str(path), np.concatenate(parts)[: 120 * sr], sr, subtype="PCM_16")
    return path


def timeline(tab, meter):
    path = two_minute_song()
    tab.lower_tabs.setCurrentWidget(tab.mic_split)  # the timeline on screen
    done = lambda: (tab.timeline.last or {}).get("source") == path.name  # noqa: E731
    out = measured(meter, lambda: tab.recorder.open_file(str(path)), done, 900, "the genre timeline")
    out["windows"] = len(tab.timeline.last.get("windows") or [])
    out["file_mb"] = path.stat().st_size / 1e6
    return out


def group_digits(window, args, answers, save):
    tab = window.digits
    scan(tab, str(FSDD))
    tab.model_panel.epochs.setValue(args.mlp_epochs)
    meter = _meter_class()(context_of(tab), args.trace_stalls)
    guarded(answers, save, "c", lambda: train_measured(tab, meter, "the Digits MLP training"))


def group_sweep(window, args, answers, save):
    tab = window.digits
    scan(tab, "")
    tab.model_panel.epochs.setValue(args.sweep_epochs)
    meter = _meter_class()(lambda: dialog.current.text()[:100], args.trace_stalls)
    dialog = tab.sweep_dialog()
    dialog.set_grid([("hidden", "64;32"), ("activation", "relu;tanh")])

    def sweep():
        out = measured(meter, dialog.start, lambda: not dialog.runner.busy, 1200, "the sweep")
        result = getattr(dialog, "result", None)
        if not isinstance(result, dict):
            raise RuntimeError(f"the sweep did not finish: {dialog.current.text()}")
        out["runs"] = sum(1 for a in dialog.answers.values() if a.get("accuracy") is not None)
        out["processes"] = dialog.processes.value()
        return out

    guarded(answers, save, "d", sweep)
    dialog.close()


def group_stop(window, args, answers, save):
    tab = window.digits
    scan(tab, str(FSDD))
    p = tab.model_panel
    p.optimizer.setCurrentIndex(p.optimizer.findData("sgd"))
    p.lr.setValue(0.01)
    p.batch.setValue(1)
    p.epochs.setValue(1000)
    p.early.setChecked(False)
    meter = _meter_class()(context_of(tab), args.trace_stalls)

    def stops():
        latencies, starts, worst, p99, n_over, longs, traces, stop_phases = [], [], 0.0, 0.0, 0, [], [], []
        for _ in range(args.stop_reps):
            observer = _observer()
            t0 = time.perf_counter()
            tab.train()
            tab.runner.worker.epoch.connect(observer.on_epoch)
            # Well into the training: three reports of its mini-batches have arrived.
            wait_until(lambda: len(observer.reports) >= 3, 900, "per-sample SGD to report")
            starts.append(time.perf_counter() - t0)
            phases = WorkerPhases(getattr(tab.runner.worker, "pid", None))
            phases.start()

            def press():
                phases.t0 = time.perf_counter()
                tab.stop()

            result = measured(meter, press, lambda: not tab.busy, 300, "the stop")
            phases.done = True
            phases.join()
            stop_phases.append(phases.samples + [(result["wall_s"], "the tab is no longer busy")])
            if tab.last_result is None or not tab.last_result.stop_reason:
                raise RuntimeError(f"Stop kept no model: {tab.progress_panel.status_text()}")
            latencies.append(result["wall_s"])
            worst, p99 = max(worst, result["worst_ms"]), max(p99, result["p99_ms"])
            n_over += result["n_over"]
            longs += result["long"]
            traces += result["traces"]
        return {"latencies_s": latencies, "train_to_stop_s": starts, "worst_ms": worst, "p99_ms": p99,
                "n_over": n_over, "long": longs, "traces": traces, "stop_reason": tab.last_result.stop_reason,
                "phases": stop_phases}

    guarded(answers, save, "stop", stops)


def group_boundary(window, args, answers, save):
    tab = window.digits
    scan(tab, "")
    tab.model_panel.epochs.setValue(args.mlp_epochs)
    meter = _meter_class()(context_of(tab), args.trace_stalls)

    def boundary():
        first = train_measured(tab, meter, "the warm-up training")
        walls, inner, worst, p99, n_over, reports, longs, traces = [], [], 0.0, 0.0, 0, [], [], []
        for _ in range(args.boundary_reps):
            observer = _observer()
            out = measured(meter, lambda: (tab.train(), tab.runner.worker.epoch.connect(observer.on_epoch)),
                           lambda: not tab.busy, 600, "the training")
            walls.append(out["wall_s"])
            inner.append(tab.last_result.seconds)
            worst, p99, n_over = max(worst, out["worst_ms"]), max(p99, out["p99_ms"]), n_over + out["n_over"]
            longs, traces = longs + out["long"], traces + out["traces"]
            reports = [s for _, s in observer.reports]
        return {"walls_s": walls, "inner_s": inner, "first_wall_s": first["wall_s"],
                "first_inner_s": first["inner_s"], "worst_ms": worst, "p99_ms": p99, "n_over": n_over,
                "epochs_reported": len(reports), "report": report_cost(reports), "long": longs, "traces": traces}

    guarded(answers, save, "boundary", boundary)


def report_cost(reports):
    """What one epoch report costs to cross core.child's pipe (None where the code has no child)."""
    if not reports or not pathlib.Path("core/child.py").is_file():  # cwd: the code dir
        return None
    from core import child
    import multiprocessing as mp

    sizes, pickle_us, pipe_us = [], [], []
    receive, send = mp.Pipe(duplex=False)
    for stats in reports:
        msg = ("report", "epoch", stats)
        t0 = time.perf_counter()
        for _ in range(20):
            data = child.dumps(msg)
            child.loads(data)
        pickle_us.append((time.perf_counter() - t0) / 20 * 1e6)
        sizes.append(len(data))
        if len(data) < 60_000:  # fits the pipe's buffer: one thread can write, then read
            t0 = time.perf_counter()
            for _ in range(20):
                send.send_bytes(data)
                receive.recv_bytes()
            pipe_us.append((time.perf_counter() - t0) / 20 * 1e6)
    return {"n": len(reports), "bytes": statistics.median(sizes), "pickle_us": statistics.median(pickle_us),
            "pipe_us": statistics.median(pipe_us) if pipe_us else None}


if __name__ == "__main__":
    sys.exit(main())
