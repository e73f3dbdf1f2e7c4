"""The tabs' settings are written by a background thread (Train saved them on the GUI thread: a file written
there, 57-74 ms stalls under load): a value is read back at once, the last write wins, and closing the window
leaves every value on disk."""
import json

from PySide6.QtCore import QSettings

from gui import settings as app_settings

HANG_MS = 120_000


def test_a_value_is_read_back_at_once_and_is_on_disk_after_flush(settings_file):
    app_settings.set_json("digits/state", {"model": {"epochs": 17}})
    assert app_settings.get_json("digits/state", None) == {"model": {"epochs": 17}}
    assert app_settings.flush()
    assert "epochs" in settings_file.read_text()  # on disk, not only in this process's QSettings
    assert json.loads(QSettings(str(settings_file), QSettings.IniFormat).value("digits/state")) == \
        {"model": {"epochs": 17}}


def test_the_last_of_many_writes_wins(settings_file):
    for i in range(40):
        app_settings.set_json("genres/state", {"n": i})
        assert app_settings.get_json("genres/state", None) == {"n": i}
    assert app_settings.flush()
    assert json.loads(QSettings(str(settings_file), QSettings.IniFormat).value("genres/state")) == {"n": 39}


def test_closing_the_window_leaves_the_tabs_settings_on_disk(qtbot, settings_file, monkeypatch):
    """The writer is slowed down here as a busy disk would (0.5 s a write), so that the values are on disk at
    the end only because closing waits for them."""
    import threading
    import time

    from gui.main_window import MainWindow

    real_set = QSettings.setValue

    def slow_set(self, key, value):
        if threading.current_thread().name == "speechlab-settings-writer":
            time.sleep(0.5)
        return real_set(self, key, value)

    monkeypatch.setattr(QSettings, "setValue", slow_set)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.digits.dataset_panel.folder_edit.setText("/data/zz_distinct_folder")
    window.close()  # shutdown: each tab saves its settings (in the background), then they are flushed
    assert "zz_distinct_folder" in settings_file.read_text()
