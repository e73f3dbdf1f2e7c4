"""Saving and loading ``.slm`` model files from a tab: dialogs, remembered folder, messages."""
from __future__ import annotations

import pathlib

from PySide6.QtWidgets import QFileDialog

from gui import settings as app_settings

FILE_FILTER = "SpeechLab model (*.slm)"


def _folder(task_key):
    return str(app_settings.settings().value(app_settings.model_dir_key(task_key), app_settings.home()))


def _remember(task_key, path):
    app_settings.settings().setValue(app_settings.model_dir_key(task_key), str(pathlib.Path(path).parent))


def ask_save_path(parent, task_key):
    default = str(pathlib.Path(_folder(task_key)) / f"{task_key}-model.slm")
    path, _ = QFileDialog.getSaveFileName(parent, "Save model", default, FILE_FILTER)
    return path or None


def ask_load_path(parent, task_key):
    path, _ = QFileDialog.getOpenFileName(parent, "Load model", _folder(task_key), FILE_FILTER)
    return path or None


def save(bundle, path, *, task_key):
    """Write ``bundle`` to ``path`` (``.slm`` added); returns the path. Raises SpeechLabError."""
    from core.bundle import save_bundle

    path = str(path)
    if not path.endswith(".slm"):
        path += ".slm"
    save_bundle(bundle, path)
    _remember(task_key, path)
    return path


def remember_loaded(path, *, task_key):
    """A model was loaded from ``path``: the next Load dialog opens in its folder.

    (The file itself is read in the background: :func:`gui.tabs.jobs.load_model_job`.)"""
    _remember(task_key, path)
