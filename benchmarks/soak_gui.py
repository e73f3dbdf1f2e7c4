"""Soak test of the whole window under a CPU hog: does SpeechLab ever freeze or crash? (issue 15)

The real MainWindow (offscreen, private settings/cache/data folders) is
driven through the tabs' public methods for ``--rounds`` rounds while one
busy-loop process per core keeps every core saturated. Each round, in the
Digits (NumPy MLP, demo data, ``--epochs``), Genres (a small Keras CNN on
32×32 log-mel windows of the demo music, ``--cnn-epochs``) and Speakers
(open set: two demo voices ticked as unknown) tabs: Train → Stop shortly
after the first epoch report → Train to the end → Evaluate on dataset →
Save model → Load model → open a WAV file in "Microphone & files" and wait
for its prediction. Every ``--sweep-every`` rounds a 2-run sweep is started
from the Digits tab's Sweep dialog. Only tab-level behaviour is used
(``busy``, ``bundle``, ``train``/``stop``/``save_model``/``load_model``,
status messages, the log, the recorder's ``prediction_made``), so it does not
matter whether training runs in a thread or a child process.

Every wait runs the event loop until a condition holds, polled by a GUI-thread
timer with a deadline; no fixed sleeps. The soak runs in a child process so
that a segfault or abort is counted (with its signal) instead of lost:

* a 10 ms QTimer on the GUI thread is the heartbeat; its gaps give the worst
  and 99th-percentile GUI stall;
* a plain watchdog thread dumps every thread's stack (``faulthandler``) and
  exits the child with code 86 when the heartbeat is silent for 10 s
  ("hang"); a C-level ``faulthandler.dump_traceback_later`` re-armed by the
  heartbeat is the backstop for a deadlock that holds the GIL (no Python
  thread can run then); on the way the watchdog notes where the GUI thread
  is during every stall over 250 ms;
* an operation that never ends while the window still answers (a wait past
  its deadline) dumps the stacks too and exits with 87 ("stuck").

Printed: rounds done, hangs, crashes, stuck operations, worst and p99 GUI
gap, RSS growth per round (least-squares slope over rounds 4..N), RSS and
thread count first → last, time per round; between rounds (not timed) a
census of widgets and Python objects with the types that grew most.
Targets: 0 hangs and 0 crashes in 50 rounds, RSS growth < 5 MB/round. On a
hang or crash the stacks and stderr are copied to
``/tmp/soak-hang-<label>-<n>-<time>.txt``.

    python benchmarks/soak_gui.py [--rounds 50] [--max-minutes M] [--no-hog] [--repeat N]
    python benchmarks/soak_gui.py --code-dir /tmp/before --label before --rounds 10 --repeat 3
"""
from __future__ import annotations

import argparse
import collections
import gc
import json
import multiprocessing
import os
import pathlib
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

HANG_EXIT = 86  # the GUI thread did not answer for HANG_SECONDS
STUCK_EXIT = 87  # an operation did not finish before its deadline (the window still answered)
HARNESS_EXIT = 88  # this script failed (an API it drives changed): not the app's fault
HANG_SECONDS = 10.0
BACKSTOP_SECONDS = 25.0  # faulthandler's C watchdog: a deadlock holding the GIL
STEP_DEADLINE = 300.0  # seconds any one operation may take before it counts as stuck
PARENT_SILENCE = 900.0  # seconds without a line from the child before the parent kills it
HEARTBEAT_MS = 10

# ---------------------------------------------------------------------------------------------- the CPU hog


def _burn():
    while True:
        pass


def start_hog(n):
    procs = [multiprocessing.Process(target=_burn, daemon=True, name=f"soak-hog-{i}") for i in range(n)]
    for p in procs:
        p.start()
    return procs


def stop_hog(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(5)


# ---------------------------------------------------------------------------------------------- the child


def _rss_mb():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def _emit(kind, **data):
    sys.stdout.write(f"SOAK_{kind} {json.dumps(data)}\n")
    sys.stdout.flush()


class _State:
    last_beat = time.monotonic()
    armed = False
    shutting_down = False
    phase = "start"
    stall_stacks = collections.Counter()  # where the GUI thread was during stalls > STALL_SAMPLE_MS
    lock = threading.Lock()


STALL_SAMPLE_MS = 250  # a silent heartbeat this long: note where the GUI thread is (once per stall)


def _dump_stacks(reason, stacks_file):
    import faulthandler

    for f in (sys.stderr, stacks_file):
        try:
            f.write(f"\n=== {reason} (phase: {_State.phase}) ===\n")
            f.flush()
            faulthandler.dump_traceback(file=f, all_threads=True)
            f.flush()
        except Exception:  # noqa: BLE001 - best effort, we are about to exit anyway
            pass


def _gui_frames(depth=5):
    """The GUI thread's innermost frames of the app (this script's left out), innermost first, as one line.

    This thread needs the GIL to look, so a GUI thread blocked in Qt's C++ code or waiting for the GIL
    shows no app frame: "Qt event loop".
    """
    frame = sys._current_frames().get(threading.main_thread().ident)
    parts = []
    while frame is not None and len(parts) < depth:
        code = frame.f_code
        if pathlib.Path(code.co_filename).name != pathlib.Path(__file__).name:
            parts.append(f"{pathlib.Path(code.co_filename).name}:{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(parts) or "Qt event loop (C++ work, or waiting for the GIL)"


def _traceback_census(top=6):
    """Where the live traceback objects were raised (innermost frame of each chain, as file:function:line),
    the types that hold the outermost ones, and the bytes of NumPy arrays their frames keep alive: a kept
    exception holds every frame of its chain and their locals."""
    import types

    import numpy as np

    tbs = [o for o in gc.get_objects() if isinstance(o, types.TracebackType)]
    inner = {id(tb.tb_next) for tb in tbs if tb.tb_next is not None}
    where, holders, frames = collections.Counter(), collections.Counter(), {}
    for tb in tbs:
        if id(tb) in inner:
            continue  # not the head of a chain
        last = tb
        while last.tb_next is not None:
            frames[id(last.tb_frame)] = last.tb_frame
            last = last.tb_next
        frames[id(last.tb_frame)] = last.tb_frame
        code = last.tb_frame.f_code
        where[f"{pathlib.Path(code.co_filename).name}:{code.co_name}:{last.tb_lineno}"] += 1
        for ref in gc.get_referrers(tb):
            if ref is not tbs and not isinstance(ref, types.FrameType):
                holders[type(ref).__name__] += 1
    array_bytes = sum(v.nbytes for f in frames.values() for v in f.f_locals.values() if isinstance(v, np.ndarray))
    del tbs
    return {"chains": sum(where.values()), "raised_at": dict(where.most_common(top)),
            "held_by": dict(holders.most_common(top)), "frame_array_mb": round(array_bytes / 2**20, 1)}


def _holder_census(names=("TrainResult", "ModelBundle", "KFoldResult", "SplitComparison", "RotationResult")):
    """How many results and models of trainings are alive, and what holds them: for each, the chain of
    referrer types up to two levels (a dict's owner shown as its owner's type)."""
    import types

    found = [o for o in gc.get_objects() if type(o).__name__ in names]
    counts = collections.Counter(type(o).__name__ for o in found)
    holders = collections.Counter()
    skip = {id(found)}
    for o in found:
        for ref in gc.get_referrers(o):
            if id(ref) in skip or isinstance(ref, types.FrameType):
                continue
            name = type(ref).__name__
            if isinstance(ref, types.CellType):  # a closure: name its function and what holds the function
                fns = [f for t in gc.get_referrers(ref) if isinstance(t, tuple)
                       for f in gc.get_referrers(t) if isinstance(f, types.FunctionType)]
                for f in fns[:1]:
                    owners = [type(u).__name__ for u in gc.get_referrers(f)
                              if id(u) not in skip and not isinstance(u, types.FrameType)][:3]
                    name = f"closure of {f.__qualname__} held by {','.join(owners)}"
            elif isinstance(ref, (dict, list, tuple)):
                ups = [type(u).__name__ for u in gc.get_referrers(ref)
                       if id(u) not in skip and u is not found and not isinstance(u, types.FrameType)][:2]
                name += "<" + ",".join(ups) + ">"
            holders[f"{type(o).__name__} in {name}"] += 1
    del found
    return {"alive": dict(counts), "held_by": dict(holders.most_common(10))}


def _malloc_census(r, first, traced, top=8):
    """--tracemalloc N: tracing starts at the end of round N; each later round lists the call paths whose
    memory, allocated since then and still alive, is largest, as (KB, blocks, innermost app frames).
    NumPy reports its array buffers to tracemalloc, so arrays held from round to round show here."""
    import tracemalloc

    if r < first:
        return []
    if r == first:
        tracemalloc.start(25)
        traced["base"] = tracemalloc.take_snapshot()
        return []
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    out = []
    for stat in snap.compare_to(traced["base"], "traceback")[:top]:
        frames = [f"{pathlib.Path(f.filename).name}:{f.lineno}" for f in stat.traceback
                  if "site-packages" not in f.filename and "/lib/python" not in f.filename][-6:]
        out.append((round(stat.size_diff / 1024), stat.count_diff, " < ".join(reversed(frames))))
    return out


def _watchdog(stacks_file):
    """Plain thread: exit with HANG_EXIT when the GUI heartbeat is silent for HANG_SECONDS; on the way,
    note where the GUI thread is during each stall longer than STALL_SAMPLE_MS."""
    sampled = None
    while True:
        time.sleep(0.05)
        if not _State.armed:
            continue
        beat = _State.last_beat
        silent = time.monotonic() - beat
        if silent * 1000 > STALL_SAMPLE_MS and sampled != beat:
            sampled = beat
            where = f"[{_State.phase}] {_gui_frames()}"
            with _State.lock:
                _State.stall_stacks[where] += 1
        limit = 30.0 if _State.shutting_down else 300.0 if "census" in _State.phase else HANG_SECONDS
        if silent > limit:
            _dump_stacks(f"HANG: the GUI thread did not answer for {silent:.1f} s", stacks_file)
            _emit("HANG", phase=_State.phase, silent=silent)
            os._exit(HANG_EXIT)


class Stuck(Exception):
    pass


def child_main(args):
    import faulthandler

    stacks_file = open(args.stacks_file, "w", buffering=1)  # noqa: SIM115 - open for the process's life
    faulthandler.enable(file=stacks_file, all_threads=True)  # segfault/abort: every thread's stack
    faulthandler.register(signal.SIGUSR1, file=stacks_file, all_threads=True)  # the parent's last resort
    threading.Thread(target=_watchdog, args=(stacks_file,), name="soak-watchdog", daemon=True).start()

    code_dir = pathlib.Path(args.code_dir).resolve()
    sys.path.insert(0, str(code_dir))
    os.chdir(code_dir)

    import numpy as np
    import pyqtgraph as pg
    import soundfile as sf
    from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    import gui

    if not pathlib.Path(gui.__file__).resolve().is_relative_to(code_dir):
        raise RuntimeError(f"gui imported from {gui.__file__}, not from {code_dir}")

    tmp = pathlib.Path(args.tmp)
    models = tmp / "models"
    models.mkdir(exist_ok=True)

    # Files to open in "Microphone & files": WAVs made from the demo data, once.
    # (before the window and the heartbeat: making the genres demo takes seconds and is not the app's GUI work)
    from core.demo import demo_dataset

    digits_root = pathlib.Path(demo_dataset("digits"))
    clips = sorted(digits_root.glob("*_nycm7_*.*"))
    y, sr = sf.read(clips[7 * 3] if len(clips) > 21 else clips[0], dtype="float32")
    digits_wav = tmp / "seven.wav"
    sf.write(digits_wav, y, sr)
    ys = [sf.read(c, dtype="float32")[0] for c in clips[:4]]
    speakers_wav = tmp / "nycm7-4-digits.wav"
    sf.write(speakers_wav, np.concatenate(ys), sr)
    genres_root = pathlib.Path(demo_dataset("genres"))
    song = sorted(genres_root.rglob("*.wav"))[0]
    genres_wav = tmp / "song.wav"
    shutil.copyfile(song, genres_wav)

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    try:  # as gui.app.run does (the heap frozen after imports), unless --no-freeze; older code: the default
        from gui.workers import ensure_gui_gc

        ensure_gui_gc(freeze_imports=not args.no_freeze)
    except (ImportError, TypeError):
        pass
    app.setApplicationName("SpeechLab")
    app.setOrganizationName("SpeechLab")

    class Driver(QObject):
        """GUI-thread helper: the heartbeat, waits, and signal counters (one object, no per-wait QObjects)."""

        def __init__(self):
            super().__init__()
            self.gaps = collections.Counter()  # gap in whole ms -> ticks, this round
            self.ticks = 0
            self.max_gap = 0.0
            self.max_gap_phase = ""
            self._last = time.monotonic()
            self._armed_at = 0.0
            self.predictions = 0
            self.sweeps_done = 0
            self.messages = []
            self.heart = QTimer(self)
            self.heart.setInterval(HEARTBEAT_MS)
            self.heart.timeout.connect(self.beat)
            self.loop = QEventLoop(self)
            self.poll = QTimer(self)
            self.poll.setInterval(20)
            self.poll.timeout.connect(self._check)
            self._cond = None
            self._deadline = 0.0

        @Slot()
        def beat(self):
            now = time.monotonic()
            gap = (now - self._last) * 1000.0
            self._last = now
            _State.last_beat = now
            self.gaps[int(gap)] += 1
            self.ticks += 1
            if gap > self.max_gap:
                self.max_gap, self.max_gap_phase = gap, _State.phase
            if now - self._armed_at > 1.0:  # re-arm the C-level backstop once a second
                faulthandler.dump_traceback_later(BACKSTOP_SECONDS, exit=True, file=stacks_file)
                self._armed_at = now

        def reset_gaps(self):
            self.gaps, self.ticks, self.max_gap, self.max_gap_phase = collections.Counter(), 0, 0.0, ""
            self._last = time.monotonic()  # the census before it (seconds with --census) is not a stall

        @Slot()
        def _check(self):
            if self._cond() or time.monotonic() > self._deadline:
                self.loop.quit()

        def wait(self, cond, what, timeout=STEP_DEADLINE):
            """Run the event loop until ``cond()``; past ``timeout`` s the operation is stuck."""
            if cond():
                return
            self._cond, self._deadline = cond, time.monotonic() + timeout
            self.poll.start()
            self.loop.exec()
            self.poll.stop()
            self._cond = None
            if not cond():
                raise Stuck(f"{what}: not done after {timeout:.0f} s")

        @Slot(dict)
        def on_prediction(self, _prediction):
            self.predictions += 1

        @Slot(object)
        def on_sweep(self, _out):
            self.sweeps_done += 1

        @Slot(str)
        def on_message(self, text):
            self.messages.append(text)

    drv = Driver()
    drv.heart.start()

    phase_times = {}
    phase_start = [time.monotonic()]

    def phase(text):
        now = time.monotonic()
        phase_times[_State.phase] = phase_times.get(_State.phase, 0.0) + now - phase_start[0]
        phase_start[0] = now
        _State.phase = text
        _emit("PHASE", phase=text)

    phase("building the window")
    try:  # as gui.app.run does before its window (older code has no core.memory)
        from core.memory import return_large_blocks

        return_large_blocks()
    except ImportError:
        pass
    from gui.main_window import MainWindow

    window = MainWindow()
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    try:
        from gui.app import _preload

        _preload()
    except ImportError:
        pass
    drv.wait(lambda: drv.ticks > 5, "first heartbeats", 60)
    _State.armed = True  # from here on the GUI thread must answer within HANG_SECONDS

    tabs = {key: window.task_tab(key) for key in ("digits", "genres", "speakers")}
    for tab in tabs.values():
        tab.recorder.prediction_made.connect(drv.on_prediction)
        tab.status_message.connect(drv.on_message)

    # Scan the demo data of every tab once, then the small models.
    for key, tab in tabs.items():
        phase(f"{key}: scanning the demo data")
        window.show_task(key)
        tab.scan("")
        drv.wait(lambda t=tab: not t.busy, f"{key}: scan")
    d = tabs["digits"].model_panel
    d.epochs.setValue(args.epochs)
    g = tabs["genres"]
    g.windows_panel.image.setValue(32)
    if args.genres_folds == 1:  # one training: a random hold-out split instead of the automatic k-fold
        combo = g.dataset_panel.split_combo
        combo.setCurrentIndex(combo.findData("random"))
        if combo.currentData() != "random":
            raise RuntimeError("could not choose the Genres tab's random split")
    elif args.genres_folds:  # the automatic split's k (5 by default: most of a round under the hog)
        g.dataset_panel.folds.setValue(args.genres_folds)
        if g.dataset_panel.folds.value() != args.genres_folds:
            raise RuntimeError(f"could not set {args.genres_folds} genre folds (max {g.dataset_panel.folds.maximum()})")
    from core.tasks import GENRES

    cnn = dict(GENRES.model_choice("cnn").params)
    cnn.update(conv_blocks=(dict(filters=8, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True,
                                 dropout=0.0),
                            dict(filters=16, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True,
                                 dropout=0.0)),
               dense_units=(16,), epochs=args.cnn_epochs, early_stopping=False, random_state=42)
    g.model_panel.set_params("cnn", cnn)
    s = tabs["speakers"]
    voices = sorted({it.label for it in s.dataset_panel.dataset.items})
    unknown = [v for v in ("uswhisper", "usstorm") if v in voices] or voices[-2:]
    s.model_panel.set_unknown(unknown)
    if sorted(s.model_panel.unknown_speakers()) != sorted(unknown):
        raise RuntimeError(f"could not mark {unknown} as unknown speakers")
    _emit("SETUP", code_dir=str(code_dir), gui=gui.__file__, unknown=unknown, cnn_image=32,
          cnn_epochs=args.cnn_epochs, digits_epochs=args.epochs,
          genres_split=g.dataset_panel.split_combo.currentData(), genres_folds=g.dataset_panel.folds.value())

    def log_lines(tab):
        return tab.log.document().blockCount()

    def epoch_after(tab, mark):
        doc = tab.log.document()
        return any(doc.findBlockByNumber(i).text().startswith("epoch ") for i in range(max(0, mark - 1),
                                                                                      doc.blockCount()))

    def cycle(key, wav, problems):
        tab = tabs[key]
        window.show_task(key)
        # 1. Train, Stop shortly after the first epoch report.
        phase(f"{key}: train, then stop after the first epoch")
        mark = log_lines(tab)
        tab.train()
        if not tab.busy:
            problems.append(f"{key}: Train did not start: {drv.messages[-1:] }")
        drv.wait(lambda: not tab.busy or epoch_after(tab, mark), f"{key}: first epoch report")
        stopped = tab.busy
        tab.stop()
        drv.wait(lambda: not tab.busy, f"{key}: stop")
        phase(f"{key}: train to the end")
        before = tab.bundle
        tab.train()
        drv.wait(lambda: not tab.busy, f"{key}: training")
        if tab.bundle is None or tab.bundle is before:
            problems.append(f"{key}: training gave no new model: {drv.messages[-1:]}")
            return stopped
        phase(f"{key}: evaluate on dataset")
        n = len(drv.messages)
        tab.evaluate_on_dataset()
        drv.wait(lambda: not tab.busy, f"{key}: evaluate")
        if not any(m.startswith("Evaluated") for m in drv.messages[n:]):
            problems.append(f"{key}: evaluation: {drv.messages[n:][-1:]}")
        phase(f"{key}: save, load")
        path = models / f"{key}.slm"
        if not tab.save_model(str(path)):
            problems.append(f"{key}: save failed: {drv.messages[-1:]}")
        n = len(drv.messages)
        if not tab.load_model(str(path)):  # reads the file in the background
            problems.append(f"{key}: load did not start: {drv.messages[-1:]}")
        drv.wait(lambda: not tab.busy, f"{key}: load")
        if not any(m.startswith("Loaded model") for m in drv.messages[n:]):
            problems.append(f"{key}: load failed: {drv.messages[-1:]}")
        phase(f"{key}: open {wav.name} and predict")
        n = drv.predictions
        if not tab.recorder.open_file(str(wav)):
            problems.append(f"{key}: could not open {wav}")
        else:
            drv.wait(lambda: drv.predictions > n, f"{key}: prediction of {wav.name}")
        return stopped

    def sweep(problems):
        tab = tabs["digits"]
        window.show_task("digits")
        phase("digits: sweep of 2 runs")
        dialog = tab.sweep_dialog()
        if dialog is None:
            problems.append(f"sweep: no dialog: {drv.messages[-1:]}")
            return
        dialog.finished_sweep.connect(drv.on_sweep)
        dialog.set_grid([("epochs", f"{max(1, args.epochs - 1)};{args.epochs}")])
        dialog.processes.setValue(2)
        n = drv.sweeps_done
        dialog.start()
        drv.wait(lambda: drv.sweeps_done > n and not dialog.runner.busy, "sweep")
        done = sum(1 for a in dialog.answers.values() if a.get("accuracy") is not None)
        if done != 2:
            problems.append(f"sweep: {done} of 2 runs recorded: {dialog.current.text()}")
        dialog.close()

    rss0, _ = _rss_mb()
    _emit("READY", rss_mb=rss0)
    last_counts = collections.Counter()
    traced = {}  # --tracemalloc: the snapshot of the round it starts after
    soak_start = time.monotonic()
    for r in range(1, args.rounds + 1):
        if args.max_minutes and time.monotonic() - soak_start > 60 * args.max_minutes:
            _emit("CAPPED", rounds=r - 1, minutes=args.max_minutes)
            break
        drv.reset_gaps()
        phase_times.clear()
        with _State.lock:
            _State.stall_stacks.clear()
        t0 = time.monotonic()
        problems, stopped = [], {}
        for key, wav in (("digits", digits_wav), ("genres", genres_wav), ("speakers", speakers_wav)):
            stopped[key] = cycle(key, wav, problems)
        if args.sweep_every and r % args.sweep_every == 0:
            sweep(problems)
        phase(f"round {r} done")
        rss, threads = _rss_mb()
        with _State.lock:
            stalls = dict(_State.stall_stacks.most_common(8))
        seconds = time.monotonic() - t0
        census = {}
        if args.census:  # outside the round's clock and gap statistics (the next round resets them)
            phase(f"round {r}: object census")
            counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
            grown = {k: v - last_counts.get(k, 0) for k, v in counts.items()}
            census = {"widgets": len(app.allWidgets()), "gc_objects": sum(counts.values()),
                      "grown": dict(sorted(grown.items(), key=lambda kv: -kv[1])[:8]) if last_counts else {},
                      "tracebacks": _traceback_census(), "held": _holder_census()}
            last_counts.clear()
            last_counts.update(counts)
            del counts
        if args.tracemalloc:
            census["malloc_growth"] = _malloc_census(r, args.tracemalloc, traced)
        _emit("ROUND", round=r, seconds=seconds, census=census, rss_mb=rss, threads=threads, ticks=drv.ticks,
              max_gap_ms=drv.max_gap, max_gap_phase=drv.max_gap_phase,
              phase_seconds={k: round(v, 2) for k, v in phase_times.items()},
              stall_stacks=stalls, gaps={str(k): v for k, v in drv.gaps.items()}, problems=problems,
              stopped_mid_training=stopped)

    phase("closing the window")
    _State.shutting_down = True
    window.close()
    app.processEvents()
    _emit("DONE")
    faulthandler.cancel_dump_traceback_later()
    drv.heart.stop()
    return 0


def child_entry(args):
    try:
        return child_main(args)
    except Stuck as exc:
        with open(args.stacks_file, "a") as f:
            _dump_stacks(f"STUCK: {exc}", f)
        _emit("STUCK", phase=_State.phase, what=str(exc))
        os._exit(STUCK_EXIT)
    except Exception:  # noqa: BLE001 - the driver broke: report it as the harness's failure
        import traceback

        traceback.print_exc()
        _emit("HARNESS", phase=_State.phase, error=traceback.format_exc())
        os._exit(HARNESS_EXIT)


# ---------------------------------------------------------------------------------------------- the parent


def code_version(code_dir):
    """``<commit>`` of a git checkout, with "+N uncommitted files" when its tree differs; None elsewhere."""
    try:
        head = subprocess.run(["git", "-C", str(code_dir), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(code_dir), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + (f" +{len(dirty)} uncommitted files" if dirty else "")


def run_soak(args, label, index):
    """One soak in a child process; returns a dict of what happened."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="speechlab-soak-"))
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", SPEECHLAB_SETTINGS=str(tmp / "settings.ini"),
               SPEECHLAB_CACHE_DIR=str(tmp / "cache"), SPEECHLAB_DATA_DIR=str(tmp / "data"),
               PYTHONPATH=str(args.code_dir), TF_CPP_MIN_LOG_LEVEL="2", PYTHONFAULTHANDLER="1")
    stacks = tmp / "stacks.txt"
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--child", "--code-dir", str(args.code_dir),
           "--rounds", str(args.rounds), "--tmp", str(tmp), "--stacks-file", str(stacks),
           "--epochs", str(args.epochs), "--cnn-epochs", str(args.cnn_epochs), "--sweep-every", str(args.sweep_every),
           "--genres-folds", str(args.genres_folds),
           "--max-minutes", str(args.max_minutes), "--tracemalloc", str(args.tracemalloc)] \
        + ([] if args.census else ["--no-census"]) + (["--no-freeze"] if args.no_freeze else [])
    err_path = tmp / "stderr.txt"
    started = time.monotonic()
    load_start = os.getloadavg()
    version = code_version(args.code_dir)
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, cwd=args.code_dir, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
        rounds, outcome, phase, detail, setup, capped = [], None, "", "", {}, False
        last = time.monotonic()
        while True:
            try:
                line = lines.get(timeout=10)
            except queue.Empty:
                if time.monotonic() - last > PARENT_SILENCE:  # wedged so hard even the watchdogs failed
                    proc.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack
                    time.sleep(5)
                    proc.kill()
                    outcome, detail = "hang", f"no output for {PARENT_SILENCE:.0f} s; killed by the parent"
                continue
            if line is None:
                break
            last = time.monotonic()
            if not line.startswith("SOAK_"):
                continue
            kind, _, payload = line.partition(" ")
            data = json.loads(payload or "{}")
            if kind == "SOAK_PHASE":
                phase = data["phase"]
            elif kind == "SOAK_SETUP":
                setup = data
            elif kind == "SOAK_ROUND":
                rounds.append(data)
                census = data.get("census") or {}
                print(f"  [{label} #{index}] round {data['round']}/{args.rounds}: {data['seconds']:.1f} s, "
                      f"RSS {data['rss_mb']:.0f} MB, {data['threads']} threads"
                      + (f", {census['widgets']} widgets, {census['gc_objects']} objects" if census else "")
                      + ", worst gap "
                      f"{data['max_gap_ms']:.0f} ms ({data['max_gap_phase']})"
                      + (f"; problems: {data['problems']}" if data["problems"] else "")
                      + "; longest: " + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(
                          (data.get("phase_seconds") or {}).items(), key=lambda kv: -kv[1])[:3]),
                      flush=True)
            elif kind == "SOAK_CAPPED":
                capped = True
            elif kind in ("SOAK_HANG", "SOAK_STUCK", "SOAK_HARNESS"):
                detail = data.get("what") or data.get("error") or f"GUI silent {data.get('silent', 0):.1f} s"
        rc = proc.wait()
    stderr = err_path.read_text(errors="replace")
    stack_text = stacks.read_text(errors="replace") if stacks.exists() else ""
    if outcome is None:
        if rc == 0:
            outcome = "ok"
            if capped:
                detail = f"time cap: no new round after {args.max_minutes:g} minutes"
        elif rc == HANG_EXIT:
            outcome = "hang"
        elif rc == STUCK_EXIT:
            outcome = "stuck"
        elif rc == HARNESS_EXIT:
            outcome = "harness error"
        elif rc == 1 and "Timeout (" in stack_text:
            outcome, detail = "hang", f"faulthandler backstop: GUI silent {BACKSTOP_SECONDS:.0f} s (GIL held)"
        elif rc < 0:
            outcome, detail = "crash", f"killed by {signal.Signals(-rc).name}"
        else:
            outcome, detail = "crash", f"exit code {rc}"
    saved = None
    if outcome != "ok":
        saved = pathlib.Path(f"/tmp/soak-hang-{label}-{index}-{time.strftime('%Y%m%d-%H%M%S')}.txt")
        saved.write_text(f"{outcome}: {detail}\nphase: {phase}\ncode: {args.code_dir}\nexit status: {rc}\n"
                         f"rounds done: {len(rounds)}\n\n--- stacks ---\n{stack_text}\n"
                         f"--- stderr (last 20000 chars) ---\n{stderr[-20000:]}\n")
    if not args.keep_tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"label": label, "index": index, "rounds_asked": args.rounds, "outcome": outcome, "detail": detail,
            "phase": phase, "rc": rc, "rounds": rounds, "wall": time.monotonic() - started, "setup": setup,
            "load_start": load_start, "version": version,
            "load_end": os.getloadavg(),
            "saved": str(saved) if saved else None}


def summarize(run, hog):
    rounds = run["rounds"]
    gaps = collections.Counter()
    for r in rounds:
        gaps.update({int(k): v for k, v in r["gaps"].items()})
    total = sum(gaps.values())
    p99 = None
    if total:
        need, seen = 0.99 * total, 0
        for ms in sorted(gaps):
            seen += gaps[ms]
            if seen >= need:
                p99 = ms
                break
    slope = None
    if len(rounds) >= 5:
        xs = [r["round"] for r in rounds[3:]]
        ys = [r["rss_mb"] for r in rounds[3:]]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    secs = sorted(r["seconds"] for r in rounds)
    stalls = collections.Counter()
    for r in rounds:
        stalls.update(r.get("stall_stacks", {}))
    censused = [r for r in rounds if r.get("census")]
    grown = collections.Counter()
    for r in censused[3:]:
        grown.update(r["census"]["grown"])
    return {
        "widgets_first": censused[0]["census"]["widgets"] if censused else None,
        "widgets_last": censused[-1]["census"]["widgets"] if censused else None,
        "objects_first": censused[0]["census"]["gc_objects"] if censused else None,
        "objects_last": censused[-1]["census"]["gc_objects"] if censused else None,
        "types_grown": [kv for kv in grown.most_common(8) if kv[1] > 0],
        "label": run["label"], "run": run["index"], "rounds": len(rounds), "rounds_asked": run["rounds_asked"],
        "outcome": run["outcome"],
        "detail": run["detail"], "phase": run["phase"], "hangs": int(run["outcome"] == "hang"),
        "crashes": int(run["outcome"] == "crash"), "stuck": int(run["outcome"] == "stuck"),
        "worst_gap_ms": max((r["max_gap_ms"] for r in rounds), default=None), "p99_gap_ms": p99,
        "rss_slope_mb": slope, "rss_first": rounds[0]["rss_mb"] if rounds else None,
        "rss_last": rounds[-1]["rss_mb"] if rounds else None,
        "threads_first": rounds[0]["threads"] if rounds else None,
        "threads_last": rounds[-1]["threads"] if rounds else None,
        "sec_mean": sum(secs) / len(secs) if secs else None, "sec_median": secs[len(secs) // 2] if secs else None,
        "problems": sum(len(r["problems"]) for r in rounds), "wall": run["wall"], "hog": hog, "saved": run["saved"],
        "version": run["version"],
        "load": [run["load_start"][0], run["load_end"][0]],
        "stops_mid_training": sum(sum(r.get("stopped_mid_training", {}).values()) for r in rounds),
        "stall_stacks": stalls.most_common(5),
    }


def _fmt(v, spec="{:.0f}"):
    return "—" if v is None else spec.format(v)


def print_table(rows):
    head = ("run", "rounds", "outcome", "hangs", "crashes", "stuck", "worst gap", "p99 gap", "RSS MB/round",
            "RSS first→last", "threads", "s/round", "problems")
    out = [head]
    for s in rows:
        out.append((f"{s['label']} #{s['run']}", f"{s['rounds']}/{s['rounds_asked']}", s["outcome"], str(s["hangs"]),
                    str(s["crashes"]),
                    str(s["stuck"]), _fmt(s["worst_gap_ms"], "{:.0f} ms"), _fmt(s["p99_gap_ms"], "{:.0f} ms"),
                    _fmt(s["rss_slope_mb"], "{:+.2f}"),
                    f"{_fmt(s['rss_first'])}→{_fmt(s['rss_last'])}",
                    f"{_fmt(s['threads_first'])}→{_fmt(s['threads_last'])}", _fmt(s["sec_mean"], "{:.1f}"),
                    str(s["problems"])))
    widths = [max(len(r[i]) for r in out) for i in range(len(head))]
    for i, r in enumerate(out):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for s in rows:
        print(f"{s['label']} #{s['run']}: code {s['version'] or '(not a git checkout)'}, {s['wall']:.0f} s wall, "
              f"load average {s['load'][0]:.1f} → {s['load'][1]:.1f}, Stop pressed mid-training "
              f"{s['stops_mid_training']} times")
    for s in rows:
        if s["widgets_first"] is not None:
            print(f"{s['label']} #{s['run']}: widgets {s['widgets_first']}→{s['widgets_last']}, Python objects "
                  f"{s['objects_first']}→{s['objects_last']}; types grown most after round 3: "
                  + ", ".join(f"{k} +{v}" for k, v in s["types_grown"]))
    for s in rows:
        if s["stall_stacks"]:
            print(f"{s['label']} #{s['run']}: where the GUI thread was in stalls > {STALL_SAMPLE_MS} ms (count):")
            for where, n in s["stall_stacks"]:
                print(f"  {n:4d}  {where}")
    for s in rows:
        if s["outcome"] == "ok" and s["detail"]:
            print(f"{s['label']} #{s['run']}: {s['detail']}")
        if s["outcome"] != "ok":
            print(f"{s['label']} #{s['run']}: {s['outcome']} in '{s['phase']}': {s['detail'][:2000]}"
                  + (f"; stacks in {s['saved']}" if s["saved"] else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--code-dir", type=pathlib.Path, default=ROOT,
                        help="the SpeechLab checkout to drive (default: this script's repository)")
    parser.add_argument("--no-hog", action="store_true", help="do not load every core with a busy loop")
    parser.add_argument("--repeat", type=int, default=1, help="soaks in a row, each in a fresh process")
    parser.add_argument("--label", default=None, help="name of this code in the table (default: the folder)")
    parser.add_argument("--epochs", type=int, default=4, help="Digits MLP epochs (the sweep: epochs-1 and epochs)")
    parser.add_argument("--cnn-epochs", type=int, default=3)
    parser.add_argument("--genres-folds", type=int, default=0,
                        help="k of the Genres tab's automatic k-fold split (0: the app's default, 5; 1: a random "
                             "hold-out split, one training)")
    parser.add_argument("--sweep-every", type=int, default=5, help="a 2-run sweep every N rounds (0: never)")
    parser.add_argument("--json-out", type=pathlib.Path, default=None, help="write the per-round data here")
    parser.add_argument("--max-minutes", type=float, default=0,
                        help="start no new round after this many minutes (0: no limit); the table says how many ran")
    parser.add_argument("--keep-tmp", action="store_true")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="ROUND",
                        help="trace Python and NumPy allocations from this round on; each later round's census "
                             "lists where memory grew most since it (slows the window: for finding leaks)")
    parser.add_argument("--no-census", dest="census", action="store_false",
                        help="skip the per-round count of widgets and Python objects (between rounds, not timed)")
    parser.add_argument("--no-freeze", action="store_true",
                        help="the GUI collector without gc.freeze after imports (the app before a35356d)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--stacks-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_entry(args)
    args.code_dir = args.code_dir.resolve()
    label = args.label or ("after" if args.code_dir == ROOT else args.code_dir.name)
    n_hog = 0 if args.no_hog else (os.cpu_count() or 1)
    print(f"soak: {args.rounds} rounds of {args.code_dir} ({label}), {os.cpu_count()} cores, "
          f"CPU hog: {n_hog} busy-loop processes", flush=True)
    hog = start_hog(n_hog)
    summaries, runs = [], []
    try:
        for i in range(1, args.repeat + 1):
            run = run_soak(args, label, i)
            runs.append(run)
            summaries.append(summarize(run, n_hog))
            print(f"  [{label} #{i}] {run['outcome']} after {len(run['rounds'])} rounds, {run['wall']:.0f} s",
                  flush=True)
    finally:
        stop_hog(hog)
    print()
    print_table(summaries)
    if args.json_out:
        args.json_out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "summaries": summaries, "runs": runs}, indent=1))
    ok = all(s["outcome"] == "ok" for s in summaries)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
