"""The one place that owns the UI settings: every QSettings key, with its default.

Anything the app remembers between launches is read and written through the
names below, so a newcomer finds what is stored, under which key, in one file.
"""
from __future__ import annotations

import os
import pathlib

from PySide6.QtCore import QSettings

ORGANIZATION = "SpeechLab"
APPLICATION = "SpeechLab"

# -- keys (defaults beside them) ------------------------------------------------------
#: QByteArray from QMainWindow.saveGeometry(); default: sized to the screen it opens on.
WINDOW_GEOMETRY = "window/geometry"
#: index of the task tab shown last; default 0 (Digits).
WINDOW_TAB = "window/tab"
WINDOW_TAB_DEFAULT = 0
#: the microphone's name; default: the system's default input.
RECORDER_DEVICE = "recorder/device"
#: folder the last take was saved into; default: the home folder.
RECORDER_SAVE_DIR = "recorder/save_dir"


#: where extraction and sweeps run (Tools → Compute…), JSON {"use_cluster": bool, "address": "tcp://HOST:PORT"};
#: default: this machine.
COMPUTE = "compute/cluster"

#: the most memory (GB) a training process may use before it is ended with "out of memory";
#: default: three quarters of the machine's memory.
TRAINING_MEMORY_GB = "training/memory_limit_gb"


def default_training_memory_gb() -> float:
    from core.child import total_memory_bytes

    total = total_memory_bytes()
    return round(0.75 * total / 2**30, 1) if total else 8.0


def training_memory_limit() -> int | None:
    """The training process's memory limit in bytes (``SPEECHLAB_TRAINING_MEMORY_GB`` overrides the setting)."""
    value = os.environ.get("SPEECHLAB_TRAINING_MEMORY_GB") or settings().value(TRAINING_MEMORY_GB)
    try:
        gb = float(value) if value not in (None, "") else default_training_memory_gb()
    except (TypeError, ValueError):
        gb = default_training_memory_gb()
    return int(gb * 2**30) if gb > 0 else None


def task_state_key(task_key: str) -> str:
    """JSON of a tab's panels: ``{"dataset": …, "features": …, "model": …}``; default: the task's defaults."""
    return f"{task_key}/state"


def model_dir_key(task_key: str) -> str:
    """Folder a tab last saved or loaded a model in; default: the home folder."""
    return f"{task_key}/model_dir"


def home() -> str:
    """The default folder for file dialogs."""
    return str(pathlib.Path.home())


def settings():
    """The app's QSettings; ``SPEECHLAB_SETTINGS`` (a file path) keeps tests away from the user's."""
    path = os.environ.get("SPEECHLAB_SETTINGS")
    if path:
        return QSettings(path, QSettings.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def get_json(key, default):
    """A JSON value stored under ``key`` (defaults on absence or damage)."""
    raw = settings().value(key)
    if raw is None:
        return default
    import json  # here, not at the top: the window's first paint reads no JSON setting (json: 2-7 ms)

    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return default


def set_json(key, value):
    import json

    s = settings()
    s.setValue(key, json.dumps(value))
    s.sync()
