"""One fixed-length microphone take, for the dialogs that collect takes (enrol, test my voice).

The recorder's callback only queues blocks (core.recorder); a 30 ms QTimer on
the GUI thread drains them, reports the level and, once the take is long
enough, hands it over and closes the stream.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.errors import NoAudioDevice


class TakeRecorder(QObject):
    """Signals: ``level(float)`` dBFS of each block, ``finished(y, sr)`` the take, ``failed(str)``."""

    level = Signal(float)
    finished = Signal(object, int)
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._recorder = None
        self._parts, self._collected, self._seconds = [], 0, 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._drain)

    @property
    def recording(self):
        return self._recorder is not None

    def start(self, device, seconds):
        """Open ``device`` and record ``seconds``; False (and ``failed``) when it cannot be opened."""
        if self._recorder is not None:
            return False
        from core.recorder import Recorder

        try:
            self._recorder = Recorder(device)
            self._recorder.start()
        except NoAudioDevice as exc:
            self._recorder = None
            self.failed.emit(str(exc))
            return False
        self._parts, self._collected, self._seconds = [], 0, float(seconds)
        self._timer.start()
        return True

    def stop(self):
        """Close the stream; a take not yet complete is dropped."""
        self._timer.stop()
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None

    def _drain(self):
        from core.utterances import level_dbfs

        rec = self._recorder
        if rec is None:
            return
        try:
            block = rec.read()
        except NoAudioDevice as exc:
            self.stop()
            self.failed.emit(str(exc))
            return
        if block.size == 0:
            return
        self.level.emit(float(level_dbfs(block)))
        self._parts.append(block)
        self._collected += block.size
        wanted = int(round(self._seconds * rec.samplerate))
        if self._collected >= wanted:
            sr = rec.samplerate
            self.stop()
            self.finished.emit(np.concatenate(self._parts)[:wanted], int(sr))
