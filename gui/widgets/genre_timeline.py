"""The genre timeline: which genre each window of a song chose, with confidence, and the track's top 3.

:class:`GenreTimeline` draws a prediction dict (``label``, ``probabilities``,
``windows`` [{start, end, label, probabilities}]) as one coloured band per
window (colour = genre, opacity = confidence) over a time axis. It listens
to :class:`gui.widgets.recorder.RecorderWidget`'s ``prediction_made`` (files
and takes), and to its own live listener (:class:`LiveGenreListener`): the
microphone's last few seconds, classified once a second, appended to a
scrolling timeline.
"""
from __future__ import annotations

import collections
import math

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolTip, QVBoxLayout, QWidget,
)

from gui.workers import JobQueue

# Tableau 10: distinct, readable on white, as many as GTZAN has genres.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")
LIVE_KEEP_SECONDS = 60.0


def genre_color(labels, label):
    """The colour of ``label`` among ``labels`` (stable: sorted order)."""
    ordered = sorted(str(x) for x in labels)
    i = ordered.index(str(label)) if str(label) in ordered else len(ordered)
    return QColor(PALETTE[i % len(PALETTE)])


def top_k(probabilities, k=3):
    """[(label, p)] of the ``k`` most probable labels."""
    return sorted(((str(a), float(p)) for a, p in probabilities.items()), key=lambda t: -t[1])[:k]



class TimelineBar(QWidget):
    """The painted band: one segment per window, time axis below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.windows = []
        self.labels = []
        self.t0 = 0.0
        self.t1 = 1.0
        self.setMinimumHeight(64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def set_windows(self, windows, labels, *, t0=None, t1=None):
        self.windows = list(windows)
        self.labels = list(labels)
        if self.windows:
            self.t0 = min(w["start"] for w in self.windows) if t0 is None else t0
            self.t1 = max(w["end"] for w in self.windows) if t1 is None else t1
        if self.t1 <= self.t0:
            self.t1 = self.t0 + 1.0
        self.update()

    def segments(self):
        """(x0_seconds, x1_seconds, window) per window; overlapping windows each own the
        part up to the next window's start, so every second is drawn once."""
        ws = sorted(self.windows, key=lambda w: w["start"])
        out = []
        for i, w in enumerate(ws):
            end = ws[i + 1]["start"] if i + 1 < len(ws) and ws[i + 1]["start"] < w["end"] else w["end"]
            out.append((w["start"], max(end, w["start"]), w))
        return out

    def _x(self, t, width):
        return 4 + (width - 8) * (t - self.t0) / (self.t1 - self.t0)

    def paintEvent(self, event):  # noqa: N802 (Qt override)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        w, h = self.width(), self.height()
        band = QRectF(4, 4, w - 8, h - 26)
        p.fillRect(band, QColor("#f3f4f6"))
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        p.setFont(small)
        for a, b, win in self.segments():
            x0, x1 = self._x(a, w), self._x(b, w)
            conf = float(win["probabilities"].get(win["label"], 0.0))
            color = genre_color(self.labels, win["label"])
            color.setAlphaF(0.25 + 0.75 * conf)
            rect = QRectF(x0, band.top(), max(1.0, x1 - x0), band.height())
            p.fillRect(rect, color)
            text = f"{win['label']} {conf:.0%}"
            if p.fontMetrics().horizontalAdvance(text) + 6 < rect.width():
                p.setPen(QColor("#111827"))
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        # time axis: about one tick per 80 px, on round seconds
        p.setPen(QPen(QColor("#6b7280")))
        span = self.t1 - self.t0
        step = _nice_step(span / max(1, (w - 8) / 80))
        t = math.ceil(self.t0 / step) * step
        while t <= self.t1 + 1e-9:
            x = self._x(t, w)
            p.drawLine(int(x), int(band.bottom()), int(x), int(band.bottom()) + 4)
            p.drawText(QRectF(x - 30, band.bottom() + 4, 60, 16), Qt.AlignmentFlag.AlignCenter, _clock(t))
            t += step
        p.end()

    def window_at(self, x):
        for a, b, win in self.segments():
            if self._x(a, self.width()) <= x <= self._x(b, self.width()):
                return win
        return None

    def mouseMoveEvent(self, event):  # noqa: N802 (Qt override)
        win = self.window_at(event.position().x())
        if win is None:
            QToolTip.hideText()
            return
        tops = ", ".join(f"{a} {p:.0%}" for a, p in top_k(win["probabilities"]))
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"{_clock(win['start'])}–{_clock(win['end'])}: {tops}", self)


def _nice_step(raw):
    for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if s >= raw:
            return s
    return 3600


def _clock(t):
    t = max(0.0, float(t))
    return f"{int(t // 60)}:{t % 60:04.1f}" if t >= 60 else f"{t:.1f} s"


class GenreTimeline(QWidget):
    """Title line (source and the track's top 3), the band, and a legend of the genres in it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("Open a song or record music: each window's genre is shown here over time.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = TimelineBar()
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(2)
        lay.addWidget(self.summary)
        lay.addWidget(self.bar)
        lay.addWidget(self.legend)
        self.labels = []
        self.last = None

    def set_labels(self, labels):
        self.labels = [str(x) for x in labels]
        self.bar.set_windows(self.bar.windows, self.labels)

    def show_prediction(self, prediction):
        """Slot for ``prediction_made``: draw the windows (a whole-clip prediction is one window)."""
        self.last = dict(prediction)
        windows = prediction.get("windows") or []
        if not windows:
            return
        labels = self.labels or list(prediction.get("probabilities", {}))
        self.bar.set_windows(windows, labels)
        tops = ", ".join(f"<b>{a}</b> {p:.0%}" if i == 0 else f"{a} {p:.0%}"
                         for i, (a, p) in enumerate(top_k(prediction.get("probabilities", {}))))
        source = prediction.get("source") or "prediction"
        span = max(w["end"] for w in windows)
        self.summary.setText(f"{source} ({_clock(span)}, {len(windows)} window{'s' if len(windows) != 1 else ''}): "
                             f"{tops}")
        self._legend(windows, labels)

    def _legend(self, windows, labels):
        counts = collections.Counter(w["label"] for w in windows)
        parts = [f"<span style='color:{genre_color(labels, lab).name()}'>■</span> {lab} {n}"
                 for lab, n in counts.most_common()]
        self.legend.setText("Windows per genre: " + " &nbsp; ".join(parts))


LISTEN_TEXT = "♫ Listen live"


class LiveGenreListener(QWidget):
    """Continuous listening for music: the last ``window`` seconds classified every ``every`` seconds.

    A rolling window suits music (always on), where the recorder's word
    detector (pauses between utterances) does not. Each result is appended to
    the timeline at the time it covers; the newest genre is shown big.
    """

    result = Signal(dict)

    def __init__(self, timeline, parent=None):
        super().__init__(parent)
        self.timeline = timeline
        self._predictor = None
        self._recorder = None
        self._buffer = np.zeros(0, np.float32)
        self._heard = 0  # samples since listening started
        self._next_at = 0
        self._busy = False
        self._windows = collections.deque()
        # The one background mechanism (gui.workers): predictions in order, results to GUI-thread slots.
        self._jobs = JobQueue(self)
        self._jobs.done.connect(self._on_result)
        self._jobs.failed.connect(self._on_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(30)  # core.recorder.MicrophoneStream.POLL_MS (not imported before listening)
        self._timer.timeout.connect(self._poll)

        self.button = QPushButton(LISTEN_TEXT)
        self.button.setCheckable(True)
        self.button.setToolTip("Classify what the microphone hears: the last few seconds, once a second")
        self.button.toggled.connect(self._on_toggled)
        self.window_spin = QDoubleSpinBox()
        self.window_spin.setRange(1.0, 30.0)
        self.window_spin.setValue(3.0)
        self.window_spin.setSuffix(" s")
        self.window_spin.setToolTip("How much of the latest sound each prediction hears")
        self.every_spin = QDoubleSpinBox()
        self.every_spin.setRange(0.25, 10.0)
        self.every_spin.setValue(1.0)
        self.every_spin.setSuffix(" s")
        self.every_spin.setToolTip("How often a new prediction is made")
        self.now_label = QLabel("")
        font = QFont(self.now_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.now_label.setFont(font)
        self.status = QLabel("")
        for label in (self.now_label, self.status):  # long texts are elided by the layout, never widen the window
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
            label.setMinimumWidth(40)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.addWidget(self.button)
        row.addWidget(QLabel("last"))
        row.addWidget(self.window_spin)
        row.addWidget(QLabel("every"))
        row.addWidget(self.every_spin)
        row.addWidget(self.now_label, 1)
        row.addWidget(self.status)
        self.set_predictor(None)

    def set_predictor(self, predictor, *, window_seconds=None):
        """``predictor(y, sr) -> prediction dict`` or None (then listening is off)."""
        self._predictor = predictor
        if window_seconds:
            self.window_spin.setValue(float(window_seconds))
        if predictor is None and self.button.isChecked():
            self.button.setChecked(False)
        self.button.setEnabled(predictor is not None)
        if predictor is None:
            self.status.setText("train or load a model to listen")
        else:
            self.status.setText("")

    @property
    def listening(self):
        return self._recorder is not None

    def _on_toggled(self, on):
        if on:
            self.start()
        else:
            self.stop()

    def start(self, device=None):
        from core.errors import SpeechLabError
        from core.recorder import MicrophoneStream

        if self._predictor is None or self._recorder is not None:
            return False
        try:
            rec = MicrophoneStream(device, on_block=self._on_block, on_error=self._on_stream_lost).start()
        except SpeechLabError as exc:
            self.status.setText(str(exc))
            self.button.blockSignals(True)
            self.button.setChecked(False)
            self.button.blockSignals(False)
            return False
        self._recorder = rec
        self._buffer = np.zeros(0, np.float32)
        self._heard, self._windows = 0, collections.deque()
        self._next_at = int(self.window_spin.value() * rec.samplerate)
        self._timer.start()
        self.button.setText("Stop listening")
        self.status.setText(f"listening on {rec.device.name}")
        return True

    def stop(self):
        self._timer.stop()
        rec, self._recorder = self._recorder, None
        if rec is not None:
            rec.stop()
        self.button.blockSignals(True)
        self.button.setChecked(False)
        self.button.blockSignals(False)
        self.button.setText(LISTEN_TEXT)

    def shutdown(self):
        self.stop()
        self._jobs.shutdown(5000)

    def _poll(self):
        """Timer slot: the stream hands what the audio callback queued to :meth:`_on_block`."""
        if self._recorder is not None:
            self._recorder.poll()

    def _on_stream_lost(self, exc):
        self.stop()
        self.status.setText(str(exc))

    def _on_block(self, block):
        """New audio (GUI thread): keep the last window; start a prediction when one is due."""
        rec = self._recorder
        sr = rec.samplerate
        window = int(self.window_spin.value() * sr)
        self._heard += block.size
        self._buffer = np.concatenate([self._buffer, block])[-window:]
        if self._heard >= self._next_at and not self._busy and self._buffer.size >= window:
            self._next_at = self._heard + int(self.every_spin.value() * sr)
            self._busy = True
            y, predictor = self._buffer.copy(), self._predictor
            end = self._heard / sr
            request = {"start": end - y.size / sr, "end": end}
            self._jobs.submit(lambda: predictor(y, sr), request)

    def _on_result(self, request, prediction):
        self._busy = False
        if self._recorder is None and not self._windows:
            return
        window = {"start": round(request["start"], 2), "end": round(request["end"], 2),
                  "label": prediction["label"], "probabilities": dict(prediction["probabilities"])}
        self._windows.append(window)
        while self._windows and self._windows[-1]["end"] - self._windows[0]["start"] > LIVE_KEEP_SECONDS:
            self._windows.popleft()
        p = window["probabilities"].get(window["label"], 0.0)
        self.now_label.setText(f"{window['label']} {p:.0%}")
        shown = {"label": window["label"], "probabilities": window["probabilities"], "windows": list(self._windows),
                 "source": "microphone, live"}
        self.timeline.show_prediction(shown)
        self.result.emit(shown)

    def _on_failed(self, request, message):
        self._busy = False
        self.status.setText(message)
