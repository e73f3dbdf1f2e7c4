"""Saving and loading ``.slm`` model files from a tab: dialogs, remembered folder, messages."""
from __future__ import annotations

import pathlib

from PySide6.QtWidgets import QFileDialog

from core.errors import SpeechLabError
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


def load(path, *, task_key):
    """Read a model for the task ``task_key``. Raises SpeechLabError (wrong file, other task)."""
    from core.bundle import load_bundle

    bundle = load_bundle(path)
    if bundle.task != task_key:
        raise SpeechLabError(f"{path} is a {bundle.task} model; open it in the {bundle.task.title()} tab")
    _remember(task_key, path)
    return bundle
