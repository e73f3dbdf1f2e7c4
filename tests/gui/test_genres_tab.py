"""The Genres tab driven as a user drives it: demo genres, a real Keras CNN in the worker thread,
Stop, save and load, a song on the timeline, and TensorFlow kept out of the start-up.

Images are shrunk to 24×24 (a setting a user can change) so that real trainings take seconds.
Every wait is on a condition; its timeout only guards against a hang.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

ROOT = pathlib.Path(__file__).resolve().parents[2]
HANG_MS = 300_000


def demo_and_small(tab, qtbot, *, epochs):
    """Demo data, the CNN (the pretrained encoder is the default) on 24×24 images from 32 mel bands, a small
    training."""
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    split = tab.dataset_panel.split_combo  # one training on a random split (Automatic is 5-fold on the demo)
    split.setCurrentIndex(split.findData("random"))
    tab.model_panel.choice.setCurrentIndex(tab.model_panel.choice.findData("cnn"))
    tab.features_panel.n_mels.setValue(32)
    tab.windows_panel.image.setValue(24)
    tab.model_panel.epochs.setValue(epochs)
    tab.model_panel.batch.setValue(16)
    assert tab.features_panel.config().image_size == 24 and tab.features_panel.config().window_seconds == 3.0


def test_training_on_demo_genres_shows_live_curves_and_track_results(make_genres_tab, qtbot):
    tab = make_genres_tab()
    demo_and_small(tab, qtbot, epochs=12)
    assert "parameters" in tab.model_panel.param_count.text()
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    assert tab.busy
    qtbot.waitUntil(lambda: tab.plot.point_count() >= 2, timeout=HANG_MS)  # curves grow while it trains
    assert tab.busy
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert result is not None, tab.progress_panel.status.text()
    m = result.metrics
    assert m["accuracy"] >= 0.5  # six synthetic genres, 18 test tracks: chance is 17 %
    assert m["n_windows"] > m["n_clips"] == result.n_test
    assert tab.results.score_text("accuracy") == f"{100 * m['accuracy']:.1f} %"
    assert tab.results.score_text("window_accuracy") == f"{100 * m['window_accuracy']:.1f} %"
    assert tab.runs_table.rowCount() == 1
    assert tab.save_button.isEnabled() and tab.live.button.isEnabled()


def test_stop_mid_training_keeps_a_usable_model(make_genres_tab, qtbot, tmp_path):
    tab = make_genres_tab()
    demo_and_small(tab, qtbot, epochs=500)
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.plot.point_count() >= 2, timeout=HANG_MS)
    qtbot.mouseClick(tab.progress_panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert result.stop_reason.startswith("stopped by user")
    assert len(result.history) < 500 and tab.bundle is result.bundle
    # the kept model classifies a file: the timeline fills
    song = tmp_path / "song.wav"
    clip = next(pathlib.Path(tab.dataset_panel.dataset.root).glob("*/*.wav"))
    y, sr = sf.read(clip, dtype="float32")
    sf.write(song, np.concatenate([y, y]), sr)
    with qtbot.waitSignal(tab.recorder.prediction_made, timeout=HANG_MS):
        tab.recorder.open_file(str(song))
    qtbot.waitUntil(lambda: tab.timeline.last is not None, timeout=HANG_MS)
    windows = tab.timeline.bar.windows
    assert len(windows) >= 3 and windows[-1]["end"] == pytest.approx(len(y) * 2 / sr, abs=0.01)
    assert tab.timeline.summary.text().count("%") == 3  # the track's top 3


def test_save_and_load_give_the_same_predictions(make_genres_tab, qtbot, tmp_path, load_model):
    from core.bundle import load_bundle

    tab = make_genres_tab()
    demo_and_small(tab, qtbot, epochs=2)
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    path = tmp_path / "genres.slm"
    assert tab.save_model(str(path))
    other = make_genres_tab()
    assert load_model(other, str(path))
    clip = next(pathlib.Path(tab.dataset_panel.dataset.root).glob("*/*.wav"))
    y, sr = sf.read(clip, dtype="float32")
    before, after = tab.bundle.predict_signal(y, sr), other.bundle.predict_signal(y, sr)
    assert after["probabilities"] == pytest.approx(before["probabilities"], abs=1e-6)
    assert list(load_bundle(path).model.conv_blocks) == tab.bundle.model.get_state()[0]["params"]["conv_blocks"]


def test_report_preset_and_model_switch_set_their_features(make_genres_tab, qtbot):
    tab = make_genres_tab()
    qtbot.mouseClick(tab.model_panel.report_button, Qt.LeftButton)
    cfg = tab.features_panel.config()
    assert cfg.window_seconds is None and cfg.image_size == 128 and tab.windows_panel.window.value() == 0
    assert "1,230,538" in tab.model_panel.param_count.text()  # the report's network, counted without TensorFlow
    params = tab.model_panel.params()
    assert params["learning_rate"] == 1e-4 and params["epochs"] == 30 and params["head"] == "flatten"
    tab.model_panel.choice.setCurrentIndex(tab.model_panel.choice.findData("features-logreg"))
    assert tab.features_panel.config().name == "music-stats"
    tab.model_panel.choice.setCurrentIndex(tab.model_panel.choice.findData("cnn"))
    assert tab.features_panel.config().name == "logmel-128"


_START = """
import sys
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([sys.argv[0]])
polls = [0]


def look_and_quit():
    polls[0] += 1
    window = next((w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow"), None)
    ready = window is not None and window.is_ready() and window.digits.dataset_panel.dataset is not None and not window.digits.busy
    if not ready and polls[0] < 400:
        QTimer.singleShot(50, look_and_quit)
        return
    window.tabs.setCurrentIndex([window.tabs.tabText(i) for i in range(window.tabs.count())].index("Genres"))
    app.processEvents()
    print("genres tab", type(window.tabs.currentWidget().tab).__name__)
    print("tensorflow loaded", "tensorflow" in sys.modules)
    window.close()
    app.quit()


QTimer.singleShot(0, look_and_quit)
import main

sys.exit(main.main([]))
"""


def test_start_up_and_the_genres_tab_do_not_import_tensorflow(tmp_path):
    env = os.environ.copy()
    env.update(QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               SPEECHLAB_SETTINGS=str(tmp_path / "settings.ini"),
               PULSE_SERVER=str(tmp_path / "no-pulse"), XDG_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", _START, str(ROOT)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "genres tab GenresTab" in proc.stdout
    assert "tensorflow loaded False" in proc.stdout
