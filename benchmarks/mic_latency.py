"""Latency from the end of a microphone take to the prediction.

A 1 s take at 48 kHz (the usual device rate) holding a real FSDD digit is
predicted by a trained digits MLP through ``ModelBundle.predict_signal``:
resample to 16 kHz, trim, MFCC+Δ+ΔΔ, fixed frames, standardise, forward pass.
Baseline in the same run: the seed's path for the same take
(``librosa.resample`` + ``librosa.feature.mfcc`` + two ``librosa.feature.delta``
+ the same model), so the printed ratio is seed / SpeechLab.

Target (issue "Microphone"): ≤ 100 ms for a 1 s digit take.

    python benchmarks/mic_latency.py [--repeat 50]
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
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--no-record", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args()
    if not FSDD.is_dir():
        print(f"skipped: FSDD recordings not found at {FSDD}")
        return 0
    import numpy as np
    import librosa
    import soundfile as sf

    from core.audio import resample
    from core.datasets import scan_dataset
    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS
    from core.training import train_model

    ds = scan_dataset(FSDD)
    model = MLPClassifier(**DIGITS.model, random_state=0)
    result = train_model(ds, task="digits", feature_config=DIGITS.feature_config(), model=model)
    bundle = result.bundle
    print(f"model: default digits MLP, test accuracy {result.metrics['accuracy']:.3f}", file=sys.stderr)

    # 1 s takes at 48 kHz: a test clip with silence around it, as a microphone gives.
    sr = 48000
    takes = []
    for f in result.metrics["test_files"][: args.repeat]:
        y, fsr = sf.read(f["path"], dtype="float32")
        y = resample(y, sr_from=fsr, sr_to=sr)
        take = np.zeros(sr, np.float32)
        start = (sr - min(y.size, sr)) // 2
        take[start : start + min(y.size, sr)] = y[:sr]
        takes.append(take)

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
    return 0


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
