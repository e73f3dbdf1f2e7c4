"""Error analysis: the test clips behind one confusion-matrix cell ("true 3, predicted 8").

Each clip: its waveform and spectrogram, the model's probabilities, play it,
play every clip one after another, open its folder. Decoding and predicting
run on a JobQueue thread; the dialog only shows results.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem, QPushButton,
    QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from gui.widgets.audio_view import AudioView
from gui.workers import JobQueue


def clips_in_cell(files, true_label, predicted):
    """The entries of ``files`` (dicts with path, label, predicted, optional bundle) in one cell."""
    return [f for f in files if str(f["label"]) == str(true_label) and str(f["predicted"]) == str(predicted)]


class ClipsDialog(QDialog):
    """The clips of one confusion-matrix cell.

    ``clips``: dicts with ``path``, ``label``, ``predicted`` and ``bundle`` (the
    model that made that prediction, or None: no probabilities then).
    """

    def __init__(self, clips, *, true_label, predicted, parent=None):
        super().__init__(parent)
        self.clips = list(clips)
        self.loaded = {}  # index -> (y, sr, probabilities dict or None, error or None)
        self._playing_all = False
        self._play_index = -1
        kind = "correct" if str(true_label) == str(predicted) else "mistaken"
        self.setWindowTitle(f"Clips: true {true_label} → predicted {predicted}")
        self.header = QLabel(f"<b>True {true_label} → predicted {predicted}</b>: {len(self.clips)} {kind} test "
                             f"clip{'s' if len(self.clips) != 1 else ''}")
        self.list = QListWidget()
        for c in self.clips:
            item = QListWidgetItem(os.path.basename(c["path"]))
            item.setToolTip(c["path"])
            self.list.addItem(item)
        self.list.currentRowChanged.connect(self.show_clip)

        self.audio = AudioView()
        self.probabilities = QTableWidget(0, 2)
        self.probabilities.setHorizontalHeaderLabels(["Class", "Probability"])
        self.probabilities.verticalHeader().setVisible(False)
        self.probabilities.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.probabilities.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.probabilities.horizontalHeader().setStretchLastSection(True)
        self.probabilities.setMaximumWidth(220)
        self.status = QLabel()
        self.status.setWordWrap(True)

        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.play_current)
        self.play_all_button = QPushButton("Play all")
        self.play_all_button.setToolTip("Every clip of this cell, one after another")
        self.play_all_button.clicked.connect(self.toggle_play_all)
        self.folder_button = QPushButton("Open folder")
        self.folder_button.clicked.connect(self.open_folder)
        buttons = QHBoxLayout()
        for b in (self.play_button, self.play_all_button, self.folder_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        right = QWidget()
        rl = QHBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.audio, 1)
        rl.addWidget(self.probabilities)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.list)
        split.addWidget(right)
        split.setSizes([220, 700])
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.resize(980, 520)

        self._next_timer = QTimer(self)
        self._next_timer.setSingleShot(True)
        self._next_timer.timeout.connect(self._play_next)
        self.jobs = JobQueue(self)
        self.jobs.done.connect(self._on_loaded)
        self.jobs.failed.connect(self._on_failed)
        for i, c in enumerate(self.clips):  # short clips: load them all, in order
            self.jobs.submit(_loader(c["path"], c.get("bundle")), i)
        if self.clips:
            self.list.setCurrentRow(0)
        else:
            self.status.setText("No test clips in this cell.")
        self._update_buttons()

    # -------------------------------------------------------------- loading

    @Slot(object, object)
    def _on_loaded(self, index, value):
        self.loaded[index] = value
        if index == self.list.currentRow():
            self.show_clip(index)
        self._update_buttons()

    @Slot(object, str)
    def _on_failed(self, index, message):
        self.loaded[index] = (None, None, None, message)
        if index == self.list.currentRow():
            self.show_clip(index)

    def _update_buttons(self):
        current = self.loaded.get(self.list.currentRow())
        self.play_button.setEnabled(bool(current and current[0] is not None))
        self.play_all_button.setEnabled(bool(self.clips))
        self.folder_button.setEnabled(self.list.currentRow() >= 0)

    def show_clip(self, index):
        if index < 0 or index >= len(self.clips):
            return
        clip = self.clips[index]
        value = self.loaded.get(index)
        if value is None:
            self.status.setText(f"Loading {clip['path']}…")
            self._update_buttons()
            return
        y, sr, probs, error = value
        if error:
            self.status.setText(f"{clip['path']}: {error}")
            self.probabilities.setRowCount(0)
            self._update_buttons()
            return
        self.audio.show_take(y, sr)
        self.status.setText(f"{clip['path']} · {len(y) / sr:.2f} s at {sr} Hz · true {clip['label']}, "
                            f"predicted {clip['predicted']}")
        rows = sorted((probs or {}).items(), key=lambda kv: -kv[1])
        self.probabilities.setRowCount(len(rows))
        for r, (label, p) in enumerate(rows):
            a, b = QTableWidgetItem(str(label)), QTableWidgetItem(f"{100 * p:.1f} %")
            b.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if str(label) == str(clip["label"]):
                a.setText(f"{label} (true)")
            self.probabilities.setItem(r, 0, a)
            self.probabilities.setItem(r, 1, b)
        if probs is None:
            self.probabilities.setRowCount(0)
            self.status.setText(self.status.text() + " · no model to show probabilities")
        self._update_buttons()

    def probability_rows(self):
        t = self.probabilities
        return [(t.item(r, 0).text(), t.item(r, 1).text()) for r in range(t.rowCount())]

    # -------------------------------------------------------------- playing

    def play_current(self):
        return self._play(self.list.currentRow())

    def _play(self, index):
        from core.recorder import NoAudioDevice, play_audio

        value = self.loaded.get(index)
        if not value or value[0] is None:
            return None
        y, sr = value[0], value[1]
        try:
            play_audio(y, sr=sr)
        except NoAudioDevice as exc:
            self.status.setText(str(exc))
            self._playing_all = False
            return None
        return len(y) / sr

    def toggle_play_all(self):
        from core.recorder import stop_playback

        if self._playing_all:
            self._playing_all = False
            self._next_timer.stop()
            stop_playback()
            self.play_all_button.setText("Play all")
            return
        self._playing_all = True
        self.play_all_button.setText("Stop")
        self._play_index = -1
        self._play_next()

    def _play_next(self):
        self._play_index += 1
        if not self._playing_all or self._play_index >= len(self.clips):
            self._playing_all = False
            self.play_all_button.setText("Play all")
            return
        self.list.setCurrentRow(self._play_index)
        seconds = self._play(self._play_index)
        if not self._playing_all:  # no output device
            self.play_all_button.setText("Play all")
            return
        self._next_timer.start(int(1000 * (seconds or 0) + 400))  # the clip, then a short pause

    def open_folder(self):
        row = self.list.currentRow()
        if row >= 0:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(os.path.abspath(self.clips[row]["path"]))))

    def done(self, result):
        from core.recorder import stop_playback

        self._playing_all = False
        self._next_timer.stop()
        stop_playback()
        self.jobs.shutdown()
        super().done(result)


def _loader(path, bundle):
    def job():
        from core.audio import load_audio

        y, sr = load_audio(path, max_seconds=60.0)
        probs = None
        if bundle is not None:
            probs = {str(k): float(v) for k, v in bundle.predict_file(path).get("probabilities", {}).items()}
        return y, sr, probs, None

    return job
