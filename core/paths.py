"""Where SpeechLab keeps files on the user's machine: the one home of these folders.

``SPEECHLAB_CACHE_DIR`` and ``SPEECHLAB_DATA_DIR`` override the platform's
folders (the tests point them at a scratch directory).
"""
from __future__ import annotations

import os
import pathlib

APP_NAME = "SpeechLab"


def cache_dir() -> pathlib.Path:
    """The feature cache's folder: ``SPEECHLAB_CACHE_DIR``, else the platform's user cache folder."""
    env = os.environ.get("SPEECHLAB_CACHE_DIR")
    if env:
        return pathlib.Path(env)
    import platformdirs

    return pathlib.Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def data_dir() -> pathlib.Path:
    """Generated data (the genres demo): ``SPEECHLAB_DATA_DIR``, else the platform's user data folder."""
    env = os.environ.get("SPEECHLAB_DATA_DIR")
    if env:
        return pathlib.Path(env)
    import platformdirs

    return pathlib.Path(platformdirs.user_data_dir(APP_NAME))
