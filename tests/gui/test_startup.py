"""Start-up stays light: nothing heavier than Qt, pyqtgraph and NumPy loads before the window first
paints; after it, every tab's remembered folder is rescanned.

Each check runs in a fresh interpreter (sys.modules as a user's ``python main.py`` has it). The
subprocess timeouts only guard against a hang; start-up speed is measured by benchmarks/startup.py.
"""
import json
import os
import pathlib
import subprocess
import sys
import wave

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "scipy", "librosa", "tensorflow", "soundfile", "numba")
HANG_S = 120


def _env(tmp_path, settings_file):
    env = os.environ.copy()
    env.update(QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"), SPEECHLAB_SETTINGS=str(settings_file),
               SPEECHLAB_CACHE_DIR=str(tmp_path / "cache"), SPEECHLAB_DATA_DIR=str(tmp_path / "data"),
               # no audio server: the same on every machine
               PULSE_SERVER=str(tmp_path / "no-pulse"), XDG_RUNTIME_DIR=str(tmp_path))
    return env


def _loaded(stdout, label):
    line = next(line for line in stdout.splitlines() if line.startswith(label))
    return [m for m in line[len(label):].strip().split(",") if m]


_BUILD_AND_SHOW = f"""
import sys
sys.path.insert(0, sys.argv[1])
from PySide6.QtWidgets import QApplication

app = QApplication([sys.argv[0]])
from gui.main_window import MainWindow

window = MainWindow()
window.show()
app.processEvents()
print("tabs", window.tabs.count())
print("heavy", ",".join(m for m in {HEAVY!r} if m in sys.modules))
window.close()
"""


def test_building_and_showing_the_main_window_loads_no_heavy_module(tmp_path, settings_file):
    proc = subprocess.run([sys.executable, "-c", _BUILD_AND_SHOW, str(ROOT)], cwd=ROOT,
                          env=_env(tmp_path, settings_file), capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tabs 3" in proc.stdout
    assert _loaded(proc.stdout, "heavy") == []


_RUN_THE_APP = f"""
import sys
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([sys.argv[0]])
import gui.main_window


class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            loaded = [m for m in {HEAVY!r} + ("sounddevice", "numpy", "pyqtgraph") if m in sys.modules]
            print("at first paint", ",".join(loaded))
            print("tabs built at first paint", len(obj.task_tabs()), "of", obj.tabs.count())
            print("datasets at first paint", sum(t.dataset_panel.dataset is not None for t in obj.task_tabs()))
        return False


first = FirstPaint()
show = gui.main_window.MainWindow.show


def watched_show(self):
    self.installEventFilter(first)
    show(self)


gui.main_window.MainWindow.show = watched_show
polls = [0]


def look_and_quit():
    polls[0] += 1
    window = next(w for w in app.topLevelWidgets() if isinstance(w, gui.main_window.MainWindow))
    tabs = window.task_tabs()
    ready = window.is_ready() and all(t.dataset_panel.dataset is not None and not t.busy for t in tabs)
    if not ready and polls[0] < 1000:  # a guard against a hang
        QTimer.singleShot(50, look_and_quit)
        return
    for t in tabs:
        ds = t.dataset_panel.dataset
        print("tab", t.spec.key, t.dataset_panel.folder_edit.text() or "-",
              "none" if ds is None else f"{{len(ds.items)}} {{ds.label_kind}}")
    print("microphones listed", all(t.recorder.device_combo.count() > 0 or not t.recorder.device_message.isHidden()
                                    for t in tabs))
    window.close()
    app.quit()


QTimer.singleShot(0, look_and_quit)
from gui.app import run

sys.exit(run())
"""


def _tiny_genres(folder):
    """Two genres of two 1 s noise clips each, GTZAN-style names."""
    rng = np.random.default_rng(0)
    for genre in ("jazz", "rock"):
        (folder / genre).mkdir(parents=True)
        for i in range(2):
            samples = (rng.uniform(-0.3, 0.3, 22050) * 32767).astype("<i2")
            with wave.open(str(folder / genre / f"{genre}.{i:05d}.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(22050)
                f.writeframes(samples.tobytes())


def test_the_app_paints_before_loading_heavy_modules_then_rescans_every_remembered_folder(tmp_path, settings_file):
    """As after a restart: Genres and Speakers remember folders; Digits has none (its demo data)."""
    from PySide6.QtCore import QSettings

    from core.demo_digits import DEMO_DIGITS_DIR

    genres = tmp_path / "my genres"
    _tiny_genres(genres)
    s = QSettings(str(settings_file), QSettings.IniFormat)
    s.setValue("genres/state", json.dumps({"dataset": {"folder": str(genres)}}))
    s.setValue("speakers/state", json.dumps({"dataset": {"folder": str(DEMO_DIGITS_DIR), "label": "speaker"}}))
    s.setValue("window/tab", 2)  # Speakers in view
    s.sync()

    proc = subprocess.run([sys.executable, "-c", _RUN_THE_APP, str(ROOT)], cwd=ROOT,
                          env=_env(tmp_path, settings_file), capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The window paints before NumPy and pyqtgraph (its tab bar, "Opening …" in each tab); sounddevice too:
    # microphones are listed after
    assert _loaded(proc.stdout, "at first paint") == []
    assert "tabs built at first paint 0 of 3" in proc.stdout
    assert "datasets at first paint 0" in proc.stdout  # the scans start once the window is on screen
    assert "tab digits - 300 digit" in proc.stdout  # no folder: the demo digits, as before
    assert f"tab genres {genres} 4 folder" in proc.stdout  # was "No dataset loaded" after a restart
    assert f"tab speakers {DEMO_DIGITS_DIR} 300 speaker" in proc.stdout
    assert "microphones listed True" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_tab_titles_known_before_start_up_are_the_tasks_titles_in_order():
    """gui.tabs repeats each task's title so the window paints its tab bar before core loads."""
    from core.tasks import TASKS
    from gui.tabs import TAB_CLASSES

    assert [(key, title) for key, (title, _) in TAB_CLASSES.items()] == [(t.key, t.title) for t in TASKS.values()]
