"""The main window: its tabs, closing it mid-training, the feature cache, and a real start-up in a subprocess."""
import os
import pathlib
import subprocess
import sys

import numpy as np
from PySide6.QtCore import QSettings, Qt

from core.recorder import list_input_devices
from gui import settings as app_settings

ROOT = pathlib.Path(__file__).resolve().parents[2]
HANG_MS = 180_000


def make_window(qtbot):
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)  # closed (tabs shut down) at teardown even if the test fails
    window.show()
    return window


def test_window_has_the_three_task_tabs(qtbot):
    window = make_window(qtbot)
    assert window.windowTitle() == "SpeechLab"
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Digits", "Genres", "Speakers"]
    assert window.tabs.currentIndex() == 0 and window.current_task_tab() is window.digits
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&File", "&Tools", "&Help"]


def test_window_starts_without_a_sound_device(qtbot):
    """No device in the (empty) settings and, on this machine, none in PortAudio: the app still works."""
    window = make_window(qtbot)
    recorder = window.digits.recorder
    if not list_input_devices():
        assert not recorder.device_message.isHidden()
        assert "No microphone found" in recorder.device_message.text()
        assert not recorder.record_button.isEnabled()
    # Files can always be opened, and training does not need a microphone.
    assert window.digits.load_button.isEnabled() and window.digits.progress_panel.train_button.isEnabled()


def test_closing_the_window_during_training_stops_and_joins_the_thread(qtbot, fsdd_dir, settings_file):
    window = make_window(qtbot)
    tab = window.digits
    tab.dataset_panel.folder_edit.setText(str(fsdd_dir))
    qtbot.keyClick(tab.dataset_panel.folder_edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    # Per-sample SGD for 500 epochs: minutes of work unless closing stops it.
    tab.model_panel.set_params({"hidden_layer_sizes": (32,), "epochs": 500, "batch_size": 1,
                                "early_stopping": False})
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.plot.point_count() >= 1, timeout=HANG_MS)
    thread = tab.runner.thread
    assert thread.isRunning()

    assert window.close()
    assert tab.runner.thread is None and not tab.busy
    assert thread.isFinished()  # joined, not abandoned (checked before Qt deletes it)
    # The results the worker sent while stopping reach a closed window without harm.
    qtbot.waitUntil(lambda: tab.last_result is not None, timeout=HANG_MS)
    assert "stopped" in tab.last_result.stop_reason
    s = QSettings(str(settings_file), QSettings.IniFormat)
    assert s.value("window/geometry") is not None
    # the panels' state file is written before close() returns (a script may end right after it)
    assert '"epochs": 500' in app_settings.json_file("digits/state").read_text()


def test_window_remembers_the_open_tab(qtbot):
    window = make_window(qtbot)
    window.tabs.setCurrentIndex(2)
    window.close()
    again = make_window(qtbot)
    assert again.tabs.currentIndex() == 2 and again.current_task_tab() is again.task_tab("speakers")


def test_feature_cache_dialog_clears_the_cache(qtbot, tmp_path, monkeypatch, message_boxes):
    from core.cache import FeatureCache
    from core.demo import demo_dataset
    from core.extraction import extract
    from core.tasks import DIGITS

    # A private cache: clearing the shared test cache would slow every later test.
    monkeypatch.setenv("SPEECHLAB_CACHE_DIR", str(tmp_path / "cache"))
    files = sorted(demo_dataset("digits").glob("*.flac"))[:3]
    extract(files, DIGITS.feature_config(), n_jobs=1)
    cache = FeatureCache.default()
    assert cache.entry_count() == 3 and cache.size_bytes() > 0

    window = make_window(qtbot)
    shown = message_boxes("Close")
    window.show_cache()
    assert len(shown) == 1 and str(cache.path) in shown[0] and "MB" in shown[0]
    assert cache.entry_count() == 3  # closing the dialog clears nothing

    shown = message_boxes("Clear cache")
    window.show_cache()
    assert len(shown) == 1
    assert cache.entry_count() == 0 and cache.size_bytes() == 0
    assert window.statusBar().currentMessage() == "Feature cache cleared"
    # The next extraction simply computes again and refills the cache.
    again = extract(files, DIGITS.feature_config(), n_jobs=1)
    assert again.cache_hits == 0 and all(isinstance(r, np.ndarray) for r in again.raws)
    assert cache.entry_count() == 3


_START_AND_QUIT = """
import sys
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([sys.argv[0]])
polls = [0]


def look_and_quit():
    # Runs inside main.py's event loop: wait for the start-up scan of the demo data, then close as a user would.
    polls[0] += 1
    window = next((w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow"), None)
    ready = window is not None and window.is_ready() and window.digits.dataset_panel.dataset is not None and not window.digits.busy
    if not ready and polls[0] < 400:  # a guard against a hang, far above the usual second
        QTimer.singleShot(50, look_and_quit)
        return
    print("visible", window.isVisible())
    print("tabs", ",".join(window.tabs.tabText(i) for i in range(window.tabs.count())))
    dataset = window.digits.dataset_panel.dataset
    print("dataset", None if dataset is None else len(dataset.items))
    window.close()
    app.quit()


QTimer.singleShot(0, look_and_quit)
import main

sys.exit(main.main([]))
"""


def test_gui_starts_and_quits_in_a_subprocess(tmp_path):
    """``python main.py`` with no arguments, as a user starts it: the window opens on the demo data.

    A timer inside the child closes the window once the start-up scan is done.
    """
    env = os.environ.copy()
    env.update(QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               SPEECHLAB_SETTINGS=str(tmp_path / "settings.ini"))
    # No audio server either: a machine without sound must still start.
    env.update(PULSE_SERVER=str(tmp_path / "no-pulse"), XDG_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", _START_AND_QUIT, str(ROOT)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "visible True" in proc.stdout
    assert "tabs Digits,Genres,Speakers" in proc.stdout
    assert "dataset 300" in proc.stdout  # first launch: the built-in demo digits
    assert "Traceback" not in proc.stderr
    # Closing saved the window state into the settings file it was given.
    assert "geometry" in (tmp_path / "settings.ini").read_text()


def test_the_app_window_paints_first_then_builds_its_tabs_the_one_in_view_first(qtbot, settings_file):
    """``MainWindow(deferred=True)`` (how ``gui.app.run`` builds it): menus, tab bar and an "Opening …" line per
    tab at once; then one tab per turn of the event loop, the remembered tab first, and ``ready`` at the end."""
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow

    s = QSettings(str(settings_file), QSettings.IniFormat)
    s.setValue("window/tab", 2)  # Speakers in view at the last exit
    s.sync()
    window = MainWindow(deferred=True)
    qtbot.addWidget(window)
    window.show()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Digits", "Genres", "Speakers"]
    assert window.task_tabs() == [] and not window.is_ready() and window.current_task_tab() is None
    assert window.tabs.currentWidget().widget().text() == "Opening Speakers…"
    assert window.statusBar().currentMessage() == "Starting…"
    order = []
    window.tabs.currentWidget().widget().destroyed.connect(lambda *_: order.append("placeholder gone"))
    prepared = []
    with qtbot.waitSignal(window.ready, timeout=HANG_MS):
        window.build_tabs_later(prepare=lambda: prepared.append(len(window.task_tabs())))
        window.build_tabs_later()  # a second call changes nothing
    assert prepared == [0]  # before the first tab
    assert window.is_ready() and [t.spec.key for t in window.task_tabs()] == ["digits", "genres", "speakers"]
    assert window.current_task_tab() is window.task_tab("speakers") and window.tabs.currentIndex() == 2
    assert "Ready" in window.statusBar().currentMessage()
    window.show_task("genres")
    assert window.current_task_tab() is window.task_tab("genres")


def test_closing_the_app_window_while_its_tabs_are_built_ends_cleanly(qtbot, settings_file):
    from gui.main_window import MainWindow

    window = MainWindow(deferred=True)
    qtbot.addWidget(window)
    window.show()
    built = []
    window.build_tabs_later(prepare=lambda: built.append("prepared"))
    qtbot.waitUntil(lambda: len(window.task_tabs()) >= 1, timeout=HANG_MS)
    assert window.close()
    qtbot.wait(200)  # turns of the event loop in which the remaining tabs would have been built
    assert len(window.task_tabs()) < 3 and not window.is_ready()


def test_a_status_message_too_long_for_the_window_ends_in_an_ellipsis(qtbot):
    """The bar used to cut a long message off mid-number ("kept the weights of epoch 4" for epoch 41)."""
    window = make_window(qtbot)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.statusBar().width() <= 1024, timeout=HANG_MS)
    tab = window.current_task_tab()
    long = ("Test accuracy 98.3% (train 100.0%) on 60 clips, 33.0 s. Early stopping after epoch 51: the validation "
            "loss has not improved for 10 epochs; kept the weights of epoch 41. ") * 2
    tab.status_message.emit(long)
    bar = window.statusBar()
    shown = bar.currentMessage()
    assert shown.endswith("…") and long.startswith(shown[:-1]) and bar.toolTip() == long
    assert bar.fontMetrics().horizontalAdvance(shown) < bar.width()
    tab.status_message.emit("Feature cache cleared")
    assert bar.currentMessage() == "Feature cache cleared" and bar.toolTip() == ""
