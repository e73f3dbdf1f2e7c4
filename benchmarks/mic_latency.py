"""Latency from the end of a microphone take to the prediction.

A 1 s take at 48 kHz (the usual device rate) holding a real FSDD digit is
predicted by a trained digits MLP through ``ModelBundle.predict_signal``:
resample to 16 kHz, trim, MFCC+Δ+ΔΔ, fixed frames, standardise, forward pass.
Baseline in the same run: the seed's path for the same take
(``librosa.resample`` + ``librosa.feature.mfcc`` + two ``librosa.feature.delta``
+ the same model), so the printed ratio is seed / SpeechLab.

Target (issue "Microphone"): ≤ 100 ms for a 1 s digit take.

Second part (``--part host``, issue 18 "Training in its own process"): with
the model host the GUI process never loads TensorFlow; a Keras model predicts
in a long-lived child process (``core.model_host``). Measured, 200 predictions
each after a warm-up, p50/p95:

* ``bundle.predict_signal`` on 1.5 s takes at 48 kHz with the digits MLP
  (NumPy, in-process as before);
* ``bundle.predict_signal`` on 3 s windows at 48 kHz (a live-listening
  window) with a genres CNN loaded from its model file with the host on
  (``RemoteKerasModel``: features here, the network in the host);
* baseline in the same run, interleaved window by window: the same CNN in this
  process (``KerasCNNClassifier``, TensorFlow loaded here), the path before the host.
  The printed ratio is host / in-process.

Targets: p95 ≤ 30 ms for the MLP, ≤ 60 ms for the CNN via the host. The CNN's
weights do not change its speed, so it is the Genres tab's default network
trained for 2 epochs only.

    python benchmarks/mic_latency.py [--part take|host|all] [--repeat 50] [--predictions 200] [--no-record]
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", choices=("take", "host", "all"), default="all",
                    help="take: end of take -> prediction (MLP, widget, seed); host: MLP and CNN via the model host")
    ap.add_argument("--repeat", type=int, default=50, help="takes in the 'take' part")
    ap.add_argument("--predictions", type=int, default=200, help="timed predictions per path in the 'host' part")
    ap.add_argument("--no-record", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args()
    if not FSDD.is_dir():
        print(f"skipped: FSDD recordings not found at {FSDD}")
        return 0
    if args.part in ("take", "all"):
        _take_latency(args)
    if args.part in ("host", "all"):
        _host_latency(args)
    return 0


def _digits_mlp():
    """(bundle, test clip paths) of the default digits MLP trained on FSDD."""
    from core.datasets import scan_dataset
    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS
    from core.training import train_model

    ds = scan_dataset(FSDD)
    model = MLPClassifier(**DIGITS.model, random_state=0)
    result = train_model(ds, task="digits", feature_config=DIGITS.feature_config(), model=model)
    print(f"model: default digits MLP, test accuracy {result.metrics['accuracy']:.3f}", file=sys.stderr)
    return result.bundle, [f["path"] for f in result.metrics["test_files"]]


def _centred_takes(paths, *, seconds, sr, n):
    """``n`` takes of ``seconds`` at ``sr``: each clip centred in silence, as a microphone gives it."""
    import numpy as np
    import soundfile as sf

    from core.audio import resample

    size = int(seconds * sr)
    takes = []
    for path in paths[:n]:
        y, fsr = sf.read(path, dtype="float32")
        y = resample(y, sr_from=fsr, sr_to=sr)[:size]
        take = np.zeros(size, np.float32)
        start = (size - y.size) // 2
        take[start:start + y.size] = y
        takes.append(take)
    return takes


def _take_latency(args):
    import numpy as np
    import librosa

    bundle, test_paths = _digits_mlp()

    # 1 s takes at 48 kHz: a test clip with silence around it, as a microphone gives.
    sr = 48000
    takes = _centred_takes(test_paths, seconds=1.0, sr=sr, n=args.repeat)

    def ours(take):
        return bundle.predict_signal(take, sr)

    cfg = bundle.feature_config
    n_fft, hop = cfg.frame_sizes(cfg.sr)

    def seed_path(take):
        # the seed's tools (librosa load-time resampling, mfcc, delta) with the model's settings
        y16 = librosa.resample(take, orig_sr=sr, target_sr=cfg.sr)
        m = librosa.feature.mfcc(y=y16, sr=cfg.sr, n_mfcc=cfg.n_mfcc, n_fft=n_fft, hop_length=hop, n_mels=cfg.n_mels)
        full = np.concatenate([m, librosa.feature.delta(m), librosa.feature.delta(m, order=2)])
        x = librosa.util.fix_length(full, size=cfg.n_frames, axis=1).ravel()[None]
        return bundle.model.predict_proba(x)

    for fn in (ours, seed_path):  # warm up imports and caches
        fn(takes[0])
    times = {}
    for name, fn in (("speechlab", ours), ("seed", seed_path)):
        t = []
        for take in takes:
            t0 = time.perf_counter()
            fn(take)
            t.append((time.perf_counter() - t0) * 1000)
        times[name] = t
    times["widget"] = _widget_path(bundle, takes, sr)
    med = {k: statistics.median(v) for k, v in times.items()}
    p95 = {k: sorted(v)[int(0.95 * (len(v) - 1))] for k, v in times.items()}
    ratio = med["seed"] / med["speechlab"]
    load = os.getloadavg()[0]
    print(f"takes: {len(takes)} x 1 s at {sr} Hz; cores: {os.cpu_count()}; load average {load:.2f}")
    print(f"SpeechLab predict_signal: median {med['speechlab']:.2f} ms, p95 {p95['speechlab']:.2f} ms (target <= 100 ms)")
    print(f"RecorderWidget, end of take -> prediction shown: median {med['widget']:.2f} ms, p95 {p95['widget']:.2f} ms")
    print(f"seed's path (librosa resample+mfcc+delta): median {med['seed']:.2f} ms, p95 {p95['seed']:.2f} ms")
    print(f"ratio seed/SpeechLab: {ratio:.1f}x")
    if not args.no_record:
        _record(med, p95, ratio, len(takes), load)


GTZAN_DEV = ROOT.parent / "shared" / "data" / "gtzan-dev" / "genres_original"
HOST_HEADING = "## Microphone latency with the model host (TensorFlow out of the GUI process)"


def _genres_cnn():
    """(bundle, test track paths, data name): the Genres tab's default CNN trained 2 epochs (its speed is what matters)."""
    from core.datasets import scan_dataset
    from core.demo import demo_dataset
    from core.models import make_model
    from core.tasks import GENRES
    from core.training import train_model

    folder, name = (GTZAN_DEV, "gtzan-dev") if GTZAN_DEV.is_dir() else (demo_dataset("genres"), "genres demo")
    choice = GENRES.model_choice("cnn")
    model = make_model(choice.type, **{**choice.params, "epochs": 2}, random_state=0)
    result = train_model(scan_dataset(folder), task="genres", feature_config=GENRES.feature_config(choice.feature),
                         model=model)
    print(f"model: default genres CNN, 2 epochs on {name}", file=sys.stderr)
    return result.bundle, sorted({f["path"] for f in result.metrics["test_files"]}), name


def _music_windows(paths, *, seconds, sr, n):
    """``n`` windows of ``seconds`` at ``sr`` cut from the tracks in turn (a rolling live-listening window)."""
    from core.audio import load_audio

    size = int(seconds * sr)
    tracks = [load_audio(p, sr=sr)[0] for p in paths]
    tracks = [t for t in tracks if t.size >= size] or tracks
    out = []
    for i in range(n):
        track = tracks[i % len(tracks)]
        start = (i // len(tracks)) * sr % max(1, track.size - size)  # one second further at each pass
        out.append(track[start:start + size])
    return out


def _percentiles(ms):
    ordered = sorted(ms)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _host_latency(args):
    """MLP in-process, CNN via the model host, and the same CNN in-process as the baseline, interleaved."""
    import tempfile

    from core import model_host
    from core.bundle import load_bundle, save_bundle

    sr, n = 48000, args.predictions
    mlp, test_paths = _digits_mlp()
    takes = _centred_takes(test_paths * (1 + n // max(1, len(test_paths))), seconds=1.5, sr=sr, n=n)
    for take in takes[:5]:  # warm-up
        mlp.predict_signal(take, sr)
    mlp_ms = []
    for take in takes:
        t0 = time.perf_counter()
        mlp.predict_signal(take, sr)
        mlp_ms.append((time.perf_counter() - t0) * 1000)

    cnn, tracks, data_name = _genres_cnn()  # the real Keras model: TensorFlow is loaded in this process
    windows = _music_windows(tracks, seconds=3.0, sr=sr, n=n)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_bundle(cnn, pathlib.Path(tmp) / "genres-cnn.slm")
        model_host.use_host(True)
        try:
            remote = load_bundle(path)
            assert type(remote.model).__name__ == "RemoteKerasModel"
            t0 = time.perf_counter()
            remote.predict_signal(windows[0], sr)  # starts the host: spawn, TensorFlow import, network rebuilt
            cold_ms = (time.perf_counter() - t0) * 1000
            for w in windows[:5]:  # warm-up, both paths
                remote.predict_signal(w, sr)
                cnn.predict_signal(w, sr)
            host_ms, local_ms, differ = [], [], 0.0
            for w in windows:  # interleaved, so load from other work hits both alike
                t0 = time.perf_counter()
                a = remote.predict_signal(w, sr)
                t1 = time.perf_counter()
                b = cnn.predict_signal(w, sr)
                t2 = time.perf_counter()
                host_ms.append((t1 - t0) * 1000)
                local_ms.append((t2 - t1) * 1000)
                differ = max(differ, max(abs(a["probabilities"][k] - b["probabilities"][k]) for k in b["probabilities"]))
            # the GUI warms a model up when it becomes the tab's model (gui.tabs.base.set_bundle): the host then
            # starts and loads the network before the first take, and that take's prediction is a warm one
            model_host.host().stop()
            warmed = load_bundle(path)
            t0 = time.perf_counter()
            warmed.model.warm_up()
            warm_up_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            warmed.predict_signal(windows[1], sr)
            first_warm_ms = (time.perf_counter() - t0) * 1000
            image = _one_image(cnn, windows[0], sr)
            call_host, call_local = [], []
            for _ in range(n):  # the network call alone: the host's round trip vs a call in this process
                t0 = time.perf_counter()
                remote.model.predict_proba(image)
                t1 = time.perf_counter()
                cnn.model.predict_proba(image)
                t2 = time.perf_counter()
                call_host.append((t1 - t0) * 1000)
                call_local.append((t2 - t1) * 1000)
        finally:
            model_host.use_host(False)
            model_host.host().stop()

    rows = {
        "mlp": _percentiles(mlp_ms), "host": _percentiles(host_ms), "local": _percentiles(local_ms),
        "call_host": _percentiles(call_host), "call_local": _percentiles(call_local),
    }
    ratio = (rows["host"][0] / rows["local"][0], rows["host"][1] / rows["local"][1])
    load = os.getloadavg()[0]
    print(f"{n} predictions per path after warm-up; cores: {os.cpu_count()}; load average {load:.2f}")
    for key, title in (("mlp", "digits MLP, 1.5 s take"), ("host", "genres CNN via the host, 3 s window"),
                       ("local", "genres CNN in-process (baseline), 3 s window"),
                       ("call_host", "CNN call only, via the host"), ("call_local", "CNN call only, in-process")):
        print(f"{title}: p50 {rows[key][0]:.2f} ms, p95 {rows[key][1]:.2f} ms")
    print(f"first prediction via the host (host start, TensorFlow import, rebuild): {cold_ms:.0f} ms")
    print(f"after a warm-up ({warm_up_ms:.0f} ms, in the background in the GUI): first prediction {first_warm_ms:.0f} ms")
    print(f"ratio host / in-process: p50 {ratio[0]:.2f}x, p95 {ratio[1]:.2f}x; "
          f"largest probability difference host vs in-process: {differ:.1e}")
    if not args.no_record:
        _record_host(rows, ratio, cold_ms, n, load, data_name, differ, (warm_up_ms, first_warm_ms))


def _one_image(bundle, window, sr):
    """The (1, h, w) feature image the CNN gets for ``window``."""
    from core.features import window_features_of_signal
    from core.prediction import _prediction_config

    X, _ = window_features_of_signal(window, sr, _prediction_config(bundle.feature_config))
    return X[:1]


def _record_host(rows, ratio, cold_ms, n, load, data_name, differ, warm):
    mlp_ok, cnn_ok = rows["mlp"][1] <= 30, rows["host"][1] <= 60

    def row(title, key, target=""):
        return f"| {title} | {rows[key][0]:.2f} ms | {rows[key][1]:.2f} ms | {target} |\n"

    section = (
        f"{HOST_HEADING}\n\n"
        f"`python benchmarks/mic_latency.py --part host` — {datetime.date.today()}, {os.cpu_count()} cores, "
        f"load average {load:.2f} (other work was running when this is high).\n\n"
        f"`bundle.predict_signal`, {n} predictions per path after a warm-up, takes and windows at 48 kHz. "
        "With the model host on (as in the GUI) a Keras model loaded from its file predicts in a long-lived "
        "child process: the GUI process never imports TensorFlow. The CNN paths run interleaved, window by "
        f"window (the Genres tab's default CNN, 64×64 log-mel images, 2 epochs on {data_name}).\n\n"
        "| path | p50 | p95 | target (p95) |\n|---|---|---|---|\n"
        + row("digits MLP (NumPy, in-process), 1.5 s take", "mlp", f"≤ 30 ms: **{'met' if mlp_ok else 'NOT met'}**")
        + row("genres CNN via the model host, 3 s window", "host", f"≤ 60 ms: **{'met' if cnn_ok else 'NOT met'}**")
        + row("baseline: the same CNN in-process (TensorFlow in this process), 3 s window", "local")
        + row("CNN call only (one image), via the host", "call_host")
        + row("CNN call only (one image), in-process", "call_local")
        + f"\nRatio host / in-process: **{ratio[0]:.2f}×** at p50, **{ratio[1]:.2f}×** at p95. The first "
        f"prediction after loading the model starts the host (spawn, TensorFlow import, network rebuilt): "
        f"{cold_ms / 1000:.1f} s, spent in the host while the asking thread waits on a pipe; the GUI process "
        "itself never imports TensorFlow. Since the GUI warms a model up when it becomes the tab's model "
        f"(`RemoteKerasModel.warm_up` in a background thread: host started, network loaded and traced; "
        f"{warm[0] / 1000:.1f} s here), the first take after a training or a load is answered in "
        f"**{warm[1]:.0f} ms** instead. Largest difference between the two paths' probabilities: "
        f"{differ:.1e}.\n\n"
        "The host calls each network as a traced `tf.function` graph; the in-process baseline is Keras' eager "
        "call as `KerasCNNClassifier.predict_proba` makes it (mostly Python overhead), so the gain is the "
        "compiled call, not the process (the call-only rows). What remains of a CNN prediction is the 3 s "
        "window's log-mel image, computed in the asking process, and the pipe. The tails are the other work "
        "on this 2-core machine (see the load average).\n"
    )
    from _results import write_section

    write_section(HOST_HEADING, section)


def _widget_path(bundle, takes, sr):
    """The GUI path: the widget shows the take (waveform, spectrogram) and
    predicts it in its thread pool; timed until the prediction is on screen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.widgets.recorder import RecorderWidget

    app = QApplication.instance() or QApplication([])
    widget = RecorderWidget(device="no-device-needed-for-this-benchmark")
    widget.set_predictor(bundle.predict_signal)
    widget.resize(1000, 640)
    widget.show()
    loop = QEventLoop()
    widget.prediction_made.connect(lambda _: loop.quit())
    out = []
    for take in [takes[0], *takes]:
        t0 = time.perf_counter()
        widget._show_take(take, sr, source="take")  # what the widget does when a take ends
        QTimer.singleShot(5000, loop.quit)
        loop.exec()
        app.processEvents()  # the repaint that puts the label on screen
        out.append((time.perf_counter() - t0) * 1000)
    widget.shutdown()
    return out[1:]


def _record(med, p95, ratio, n, load):
    section = (
        "## Microphone latency (end of take → prediction)\n\n"
        f"`python benchmarks/mic_latency.py` — {datetime.date.today()}, {os.cpu_count()} cores, "
        f"load average {load:.2f} (other work was running when this is high).\n\n"
        f"{n} one-second takes at 48 kHz (FSDD test clips centred in silence), default digits MLP.\n\n"
        "| path | median | p95 |\n|---|---|---|\n"
        f"| SpeechLab `predict_signal` (soxr, trim, MFCC+Δ+ΔΔ, MLP) | {med['speechlab']:.2f} ms | {p95['speechlab']:.2f} ms |\n"
        f"| RecorderWidget: end of take → waveform, spectrogram, prediction on screen | {med['widget']:.2f} ms | {p95['widget']:.2f} ms |\n"
        f"| seed's path (librosa resample + mfcc + delta, same MLP) | {med['seed']:.2f} ms | {p95['seed']:.2f} ms |\n\n"
        f"Ratio seed / SpeechLab: **{ratio:.1f}×**. Target ≤ 100 ms: "
        f"**{'met' if p95['widget'] <= 100 else 'NOT met'}** (p95 of the widget path).\n"
    )
    from _results import write_section

    write_section('## Microphone latency (end of take → prediction)', section)


if __name__ == "__main__":
    sys.exit(main())
