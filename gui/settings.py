"""The one place that owns the UI settings: every QSettings key and JSON settings file, with its default.

Anything the app remembers between launches is read and written through the
names below, so a newcomer finds what is stored, under which key, in one file.
"""
from __future__ import annotations

import os
import pathlib
import threading

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


# -- JSON values: files of their own ------------------------------------------------------------------
# A tab's panels are saved at every Train, and QSettings.sync() rewrote the whole settings file on the GUI thread
# with Python's lock held (PySide6 keeps it through the call: a background thread doing it holds the window the
# same way). JSON values therefore live in files beside the settings file, written by a short-lived Python thread
# (file calls let go of the lock) as temp file + rename, so a failed write leaves the last good file; values an
# older version kept in QSettings are still read when no file exists yet. The save at Train: 2.7 -> 1.1 ms median
# on this machine's disk (benchmarks/settings_save.py); a slow disk (a network home) paid its sync on the GUI thread.

_default_file = None
_pending = {}  # path -> text not yet written (the newest wins)
_pending_lock = threading.Lock()
_writer = None  # the thread writing _pending, while there is one


def _settings_file() -> pathlib.Path:
    global _default_file
    path = os.environ.get("SPEECHLAB_SETTINGS")
    if path:
        return pathlib.Path(path)
    if _default_file is None:
        _default_file = pathlib.Path(QSettings(ORGANIZATION, APPLICATION).fileName())
    return _default_file


def json_file(key) -> pathlib.Path:
    """The file that holds the JSON value of ``key``: ``<settings file's stem>.<key with / as ->.json`` beside it."""
    base = _settings_file()
    return base.with_name(f"{base.stem}.{key.replace('/', '-')}.json")


def get_json(key, default):
    """A JSON value stored under ``key`` (defaults on absence or damage)."""
    import json  # here, not at the top: the window's first paint reads no JSON setting (json: 2-7 ms)

    path = json_file(key)
    with _pending_lock:
        raw = _pending.get(path)
    if raw is None:
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError:  # none yet: a value an older version kept in QSettings, if any
            raw = settings().value(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return default


def set_json(key, value):
    """Store ``value`` under ``key``; the file is written in the background (``flush()`` waits for it)."""
    import json

    global _writer
    text = json.dumps(value)
    with _pending_lock:
        _pending[json_file(key)] = text
        if _writer is None:
            # not a daemon: the interpreter waits for the last write at exit
            _writer = threading.Thread(target=_write_pending, name="settings-writer")
            _writer.start()


def flush():
    """Wait until every stored JSON value is on disk (the window closing)."""
    with _pending_lock:
        writer = _writer
    if writer is not None:
        writer.join()


def _write_pending():
    global _writer
    while True:
        with _pending_lock:
            if not _pending:
                _writer = None
                return
            path, text = next(iter(_pending.items()))
        _write_file(path, text)
        with _pending_lock:  # kept until written, so get_json never reads the file before its newest value
            if _pending.get(path) is text:
                del _pending[path]


def _write_file(path, text):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a settings file that cannot be written must not end the app; the old one stays
        import logging

        logging.getLogger(__name__).warning("could not save %s: %s", path, exc)
        try:
            os.unlink(tmp)
        except OSError:
            pass
