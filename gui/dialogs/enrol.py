"""Add a speaker: a name, N takes from the microphone (or picked files), saved without overwriting.

Recording follows the project's audio rule: the ``core.recorder.Recorder``
callback only queues blocks; a 30 ms QTimer on the GUI thread drains them,
moves the level meter and stops the take at its length. Each take is checked
(too quiet, clipped) and listed; the user may delete a bad one and record
again. Accepting the dialog saves nothing by itself: :meth:`EnrolDialog.takes`
and :meth:`EnrolDialog.files` are handed to the tab, which saves them as
``<folder>/<name>/<n>.wav`` (never overwriting) and retrains in the background.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QProgressBar, QPushButton, QSpinBox, QVBoxLayout,
)

from core.errors import SpeechLabError
from gui.widgets.take_recorder import TakeRecorder

QUIET_PEAK_DB = -40.0
LEVEL_FLOOR_DB = -60


def take_problems(y):
    """Quality warnings for one take (an empty list when it is fine)."""
    from core.utterances import is_clipped, peak_dbfs

    problems = []
    peak = peak_dbfs(y)
    if peak < QUIET_PEAK_DB:
        problems.append(f"too quiet (peak {peak:.0f} dBFS)")
    if is_clipped(y):
        problems.append("clipped")
    return problems


class EnrolDialog(QDialog):
    """Name, takes from the microphone (level meter, warnings) or picked files.

    Signals
    -------
    take_recorded(int) : the number of takes so far, after each take
    """

    take_recorded = Signal(int)

    def __init__(self, parent=None, *, folder="", device=None, seconds=2.0, takes=5, existing=()):
        super().__init__(parent)
        self.setWindowTitle("Add speaker")
        self.setMinimumWidth(460)
        self._device = device
        self._existing = {str(x) for x in existing}
        self._takes = []  # (y, sr)
        self._files = []
        self._take = TakeRecorder(self)
        self._take.level.connect(self._on_level)
        self._take.finished.connect(self._on_take_recorded)
        self._take.failed.connect(self._on_record_failed)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. Ada")
        self.name_edit.textChanged.connect(self._update)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 50)
        self.count_spin.setValue(int(takes))
        self.count_spin.setToolTip("How many takes to record: more takes, more reliable recognition")
        self.count_spin.valueChanged.connect(self._update)
        self.seconds_spin = QDoubleSpinBox()
        self.seconds_spin.setRange(0.5, 30.0)
        self.seconds_spin.setSingleStep(0.5)
        self.seconds_spin.setValue(float(seconds))
        self.seconds_spin.setSuffix(" s")
        self.record_button = QPushButton("● Record take")
        self.record_button.clicked.connect(self.record_take)
        self.files_button = QPushButton("Add files…")
        self.files_button.clicked.connect(self._pick_files)
        self.delete_button = QPushButton("Delete selected")
        self.delete_button.clicked.connect(self._delete_selected)
        self.level = QProgressBar()
        self.level.setRange(LEVEL_FLOOR_DB, 0)
        self.level.setValue(LEVEL_FLOOR_DB)
        self.level.setFormat("%v dBFS")
        self.list = QListWidget()
        self.status = QLabel(f"Takes are saved into {folder or 'the dataset folder'}/<name>/<n>.wav; "
                             "existing files are never overwritten.")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Speaker name", self.name_edit)
        row = QHBoxLayout()
        row.addWidget(self.count_spin)
        row.addWidget(QLabel("takes of"))
        row.addWidget(self.seconds_spin)
        form.addRow("Record", row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.record_button, 2)
        buttons.addWidget(self.files_button, 1)
        buttons.addWidget(self.delete_button, 1)
        self.box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.box.button(QDialogButtonBox.StandardButton.Ok).setText("Save and retrain")
        self.box.accepted.connect(self.accept)
        self.box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(QLabel("Level"))
        lay.addWidget(self.level)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.status)
        lay.addWidget(self.box)
        self._update()

    # ----------------------------------------------------------------- API

    def name(self):
        return self.name_edit.text().strip()

    def takes(self):
        """The recorded takes, [(float32 samples, rate)]."""
        return list(self._takes)

    def files(self):
        return list(self._files)

    def is_recording(self):
        return self._take.recording

    def add_files(self, paths):
        for p in paths:
            if p not in self._files:
                self._files.append(str(p))
                self.list.addItem(f"file: {p}")
        self._update()

    def record_take(self):
        """Start one take of the chosen length (it stops by itself)."""
        if self._take.recording:
            return
        if not self._take.start(self._device, self.seconds_spin.value()):
            return
        self.record_button.setText("Recording…")
        self._update()

    def done(self, result):  # noqa: D401 (Qt override): stop the stream whatever closes the dialog
        self._stop_stream()
        super().done(result)

    # ------------------------------------------------------------ internals

    def _stop_stream(self):
        self._take.stop()

    def _on_level(self, db):
        self.level.setValue(max(LEVEL_FLOOR_DB, min(0, int(round(db)))))

    def _on_record_failed(self, message):
        self._show(message, error=True)
        self._update()

    def _on_take_recorded(self, y, sr):
        self._add_take(y, sr)

    def _add_take(self, y, sr):
        self._takes.append((np.asarray(y, dtype=np.float32), int(sr)))
        problems = take_problems(y)
        text = f"take {len(self._takes)}: {len(y) / sr:.1f} s" + (f" — {', '.join(problems)}" if problems else " — ok")
        self.list.addItem(text)
        if problems:
            self._show(f"Take {len(self._takes)} is {' and '.join(problems)}: delete it and record again "
                       "(speak closer or adjust the gain).", error=True)
        else:
            self._show(f"Take {len(self._takes)} recorded.")
        self.record_button.setText("● Record take")
        self._update()
        self.take_recorded.emit(len(self._takes))

    def _pick_files(self):
        paths, _ = QFileDialog.getOpenFileNames(self, "Recordings of the new speaker", "",
                                                "Audio files (*.wav *.flac *.ogg *.mp3)")
        self.add_files(paths)

    def _delete_selected(self):
        row = self.list.currentRow()
        if row < 0:
            return
        text = self.list.item(row).text()
        self.list.takeItem(row)
        if text.startswith("file: "):
            self._files.remove(text[len("file: "):])
        else:  # the n-th take row is the n-th take
            n_before = sum(1 for i in range(row) if not self.list.item(i).text().startswith("file: "))
            del self._takes[n_before]
        self._update()

    def _show(self, text, *, error=False):
        self.status.setStyleSheet("color: #B00020;" if error else "")
        self.status.setText(text)

    def _update(self):
        n = len(self._takes) + len(self._files)
        name = self.name()
        problem = None
        try:
            from core.enrolment import check_speaker_name

            if name:
                check_speaker_name(name)
        except SpeechLabError as exc:
            problem = str(exc)
        if problem:
            self._show(problem, error=True)
        elif name and name in self._existing:
            self._show(f"'{name}' is already a speaker: the takes are added to that speaker.")
        recording = self._take.recording
        self.record_button.setEnabled(not recording and len(self._takes) < self.count_spin.value())
        ok = self.box.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(name) and problem is None and n > 0 and not recording)
        ok.setToolTip("" if n else "Record at least one take or add a file")
