"""The one place that owns the UI settings (QSettings keys with defaults)."""
from __future__ import annotations

import json
import os

from PySide6.QtCore import QSettings

ORGANIZATION = "SpeechLab"
APPLICATION = "SpeechLab"


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
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return default


def set_json(key, value):
    s = settings()
    s.setValue(key, json.dumps(value))
    s.sync()
