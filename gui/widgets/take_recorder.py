"""One fixed-length microphone take, for the dialogs that collect takes (enrol, test my voice).

A :class:`core.recorder.MicrophoneStream` (its callback only queues blocks) is
polled by a 30 ms QTimer on the GUI thread, which reports the level and, once
the take is long enough, hands it over and closes the stream.
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
        self._mic = None
        self._parts, self._seconds = [], 0.0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll)

    @property
    def recording(self):
        return self._mic is not None

    def start(self, device, seconds):
        """Open ``device`` and record ``seconds``; False (and ``failed``) when it cannot be opened."""
        if self._mic is not None:
            return False
        from core.recorder import MicrophoneStream

        try:
            self._mic = MicrophoneStream(device, on_block=self._on_block, on_error=self._on_error).start()
        except NoAudioDevice as exc:
            self._mic = None
            self.failed.emit(str(exc))
            return False
        self._parts, self._seconds = [], float(seconds)
        self._timer.start(self._mic.POLL_MS)
        return True

    def stop(self):
        """Close the stream; a take not yet complete is dropped."""
        self._timer.stop()
        mic, self._mic = self._mic, None
        if mic is not None:
            mic.stop()

    def _poll(self):
        if self._mic is not None:
            self._mic.poll()

    def _on_block(self, block):
        mic = self._mic
        self.level.emit(float(mic.level_db))
        self._parts.append(block)
        wanted = int(round(self._seconds * mic.samplerate))
        if mic.frames >= wanted:
            sr = mic.samplerate
            self.stop()
            self.finished.emit(np.concatenate(self._parts)[:wanted], int(sr))

    def _on_error(self, exc):
        self.stop()
        self.failed.emit(str(exc))
