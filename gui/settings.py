"""The one place that owns the UI settings: every QSettings key, with its default.

Anything the app remembers between launches is read and written through the
names below, so a newcomer finds what is stored, under which key, in one file.
"""
from __future__ import annotations

import collections
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
    return _open(_location())


def _location():
    """Which settings a write goes to: the ``SPEECHLAB_SETTINGS`` file at the time, or the user's (None)."""
    return os.environ.get("SPEECHLAB_SETTINGS") or None


def _open(location):
    if location:
        return QSettings(location, QSettings.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


# JSON values are written by one background thread: QSettings.sync() writes the file (a lock file, a temporary
# file, a rename) on the thread that calls it, and Train saved the tab's settings on the GUI thread: 57-74 ms
# stalls of the window under a CPU hog (benchmarks/training_process.py, a second CNN training). Until the
# writer has stored a value, get_json answers it from here, so a read always sees the last write; QSettings
# objects of one process share what is stored at once, before it reaches the disk. flush() waits for the
# writer (the window's shutdown calls it: nothing written is lost at quit).
_pending = {}  # (location, key) -> JSON text not yet stored by the writer
_lock = threading.Lock()
_work = threading.Condition(_lock)  # a write was queued
_done = threading.Condition(_lock)  # a write was stored
_queued = collections.deque()  # (location, key, text), oldest first
_writer = None
_unfinished = 0


def _write_loop():
    global _unfinished
    while True:
        with _lock:
            _work.wait_for(lambda: _queued)
            location, key, text = _queued.popleft()
        try:
            s = _open(location)  # a QSettings of this thread's own, made and dropped here (no cycle)
            s.setValue(key, text)
            s.sync()
            del s
        except Exception:  # noqa: BLE001 - a setting that cannot be written must not end the writer
            pass
        finally:
            with _lock:
                if _pending.get((location, key)) is text:
                    del _pending[(location, key)]
                _unfinished -= 1
                _done.notify_all()


def get_json(key, default):
    """A JSON value stored under ``key`` (defaults on absence or damage)."""
    with _lock:
        raw = _pending.get((_location(), key))
    if raw is None:
        raw = settings().value(key)
    if raw is None:
        return default
    import json  # here, not at the top: the window's first paint reads no JSON setting (json: 2-7 ms)

    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return default


def set_json(key, value):
    """Store ``value`` (JSON) under ``key`` in the background; :func:`get_json` sees it at once."""
    import json

    global _writer, _unfinished
    text, location = json.dumps(value), _location()
    with _lock:
        _pending[(location, key)] = text
        _unfinished += 1
        _queued.append((location, key, text))
        _work.notify()
        if _writer is None or not _writer.is_alive():
            _writer = threading.Thread(target=_write_loop, name="speechlab-settings-writer", daemon=True)
            _writer.start()


def flush(timeout=10.0):
    """Wait until every JSON value given to :func:`set_json` is stored; False if ``timeout`` s passed first."""
    with _lock:
        return _done.wait_for(lambda: _unfinished == 0, timeout)
