"""The panels' state and other JSON settings: files of their own beside the settings file, written in the
background (QSettings.sync() held the window up at every Train), never lost on a failed write."""
import json
import logging

import pytest

from gui import settings as app_settings

KEY = "digits/state"


def test_a_value_reads_back_at_once_and_is_on_disk_after_flush(settings_file):
    app_settings.set_json(KEY, {"model": {"epochs": 7}})
    assert app_settings.get_json(KEY, None) == {"model": {"epochs": 7}}  # before or after the write
    app_settings.flush()
    path = app_settings.json_file(KEY)
    assert path.parent == settings_file.parent
    assert json.loads(path.read_text()) == {"model": {"epochs": 7}}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_the_newest_of_many_quick_saves_is_the_one_kept(settings_file):
    for epochs in range(50):
        app_settings.set_json(KEY, {"epochs": epochs})
    app_settings.flush()
    assert json.loads(app_settings.json_file(KEY).read_text()) == {"epochs": 49}
    assert app_settings.get_json(KEY, None) == {"epochs": 49}


def test_a_value_an_older_version_kept_in_qsettings_is_read_until_a_file_exists(settings_file):
    app_settings.settings().setValue(KEY, json.dumps({"epochs": 3}))
    assert app_settings.get_json(KEY, None) == {"epochs": 3}
    app_settings.set_json(KEY, {"epochs": 4})
    app_settings.flush()
    assert app_settings.get_json(KEY, None) == {"epochs": 4}


def test_a_failed_write_keeps_the_last_good_file_and_says_which(settings_file, caplog):
    app_settings.set_json(KEY, {"epochs": 1})
    app_settings.flush()
    path = app_settings.json_file(KEY)
    import os

    # the temporary file's name taken by a folder: the write fails the way a full or read-only disk would
    blocker = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    blocker.mkdir()
    with caplog.at_level(logging.WARNING, logger="gui.settings"):
        app_settings.set_json(KEY, {"epochs": 2})
        app_settings.flush()
    assert json.loads(path.read_text()) == {"epochs": 1}
    assert any(str(path) in r.getMessage() for r in caplog.records)
    blocker.rmdir()


@pytest.mark.parametrize("damage", ["", "{half", "[1, 2"])
def test_a_damaged_file_gives_the_default(settings_file, damage):
    app_settings.json_file(KEY).write_text(damage)
    assert app_settings.get_json(KEY, {"x": 1}) == {"x": 1}
