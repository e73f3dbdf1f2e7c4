"""Opening a long audio file in the microphone panel: how long the GUI thread is held.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/open_long_file.py [--minutes 10] [--write]

A generated WAV (44.1 kHz) is opened with ``RecorderWidget.open_file`` while a 5 ms timer runs on
the GUI thread; the longest gap between its ticks until the file is shown is the stall a user
feels. Baseline in the same run: what the widget did before (every sample drawn, the spectrogram,
silence trim and level computed on the GUI thread), timed directly on the same signal.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from core.audio import trim_silence
    from core.utterances import is_clipped, peak_dbfs
    from gui.widgets.audio_view import spectrogram
    from gui.widgets.recorder import RecorderWidget

    app = QApplication([])
    tmp = pathlib.Path(tempfile.mkdtemp())
    sr = 44100
    n = int(args.minutes * 60 * sr)
    y = (0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / sr)).astype(np.float32)
    y += np.random.default_rng(0).normal(0, 0.01, n).astype(np.float32)
    path = tmp / "long.wav"
    sf.write(path, y, sr)
    widget = RecorderWidget(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
                            device="no-such-mic")
    widget.resize(900, 500)
    widget.show()
    app.processEvents()

    # baseline: the old GUI-thread work on the same signal
    t0 = time.perf_counter()
    widget.view.waveform_curve.setData(np.arange(n) / sr, y)
    trim_silence(y, sr=sr)
    widget.view.spectrogram_image.setImage(spectrogram(y, sr), autoLevels=False, levels=(-80, 0))
    is_clipped(y)
    peak_dbfs(y)
    app.processEvents()
    baseline_ms = 1000 * (time.perf_counter() - t0)
    widget.view.clear_live()
    app.processEvents()

    gaps, clock = [], QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick():
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    t0 = time.perf_counter()
    widget.open_file(path)
    while "Opened" not in widget.status_label.text() and time.perf_counter() - t0 < 300:
        app.processEvents()
    for _ in range(20):  # the draw itself
        app.processEvents()
        time.sleep(0.005)
    timer.stop()
    shown_s = time.perf_counter() - t0
    worst = max(gaps) if gaps else float("nan")
    widget.shutdown()
    text = "\n".join([
        "## Opening a long file (microphone panel)",
        "",
        f"`benchmarks/open_long_file.py` — {time.strftime('%Y-%m-%d')}, a {args.minutes:g}-minute 44.1 kHz WAV, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}. Stall = the longest gap between the "
        "ticks of a 5 ms timer on the GUI thread while the file opens.",
        "",
        "| | GUI thread held |",
        "|---|---|",
        f"| before (every sample drawn; spectrogram, trim and level on the GUI thread), timed directly | "
        f"{baseline_ms:.0f} ms |",
        f"| now (decoded and prepared in the worker, a 20,000-point envelope drawn) | worst gap {worst:.0f} ms "
        f"({baseline_ms / max(worst, 1):.0f}× shorter); shown after {shown_s:.1f} s |",
    ])
    print(text)
    if args.write:
        from _results import write_section

        write_section(text.splitlines()[0], text)


if __name__ == "__main__":
    main()
