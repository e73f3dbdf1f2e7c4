"""Test my voice: say every digit once or twice, see how the model does on *your* voice.

The dialog prompts one digit at a time, records a take of fixed length (the
``core.recorder.MicrophoneStream`` callback only queues blocks; a 30 ms QTimer on the
GUI thread polls it and moves the level meter), checks it (too quiet,
clipped: the take is dropped and the same digit asked again), and has the
model answer in a :class:`gui.workers.JobQueue` thread (results come back to a
bound GUI-thread slot). When every prompt has an answer the accuracy on this
voice is shown. **Save as dataset folder…** writes the takes as
``{digit}_{speaker}_{index}.wav`` (never overwriting), the layout the Digits
tab reads, so they can be evaluated again or added to a training folder.
**Add my takes to training…** (offered once the tab calls :meth:`VoiceTestDialog.offer_training`)
saves them into a folder of the user's choice in the dataset's own layout and emits
``add_to_training(folder)``; the tab retrains on the dataset plus that folder in the background and
hands the new model back (:meth:`VoiceTestDialog.rescore`), and the dialog shows the accuracy on
*your* voice before and after.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QProgressBar, QPushButton,
    QSpinBox, QVBoxLayout,
)

from core.errors import SpeechLabError
from gui.dialogs.enrol import LEVEL_FLOOR_DB, take_problems
from gui.widgets.take_recorder import TakeRecorder

WORDS = dict(zip("0123456789", ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")))


class VoiceTestDialog(QDialog):
    """Prompted takes of every label, the model's answers, the accuracy on this voice.

    Signals
    -------
    take_recorded(int) : the number of kept takes so far
    finished_scoring(object) : the core.voice_test.score_takes dict, once every take has an answer
    """

    take_recorded = Signal(int)
    finished_scoring = Signal(object)
    add_to_training = Signal(str)  # the folder the takes were saved into: retrain on the dataset plus it
    rescored = Signal(object)  # {"before": result, "after": result} once the new model answered every take

    def __init__(self, parent=None, *, predict, labels, device=None, seconds=1.5, repeats=1, folder=""):
        super().__init__(parent)
        from gui.workers import JobQueue

        self.setWindowTitle("Test my voice")
        self.setMinimumWidth(480)
        self._predict = predict
        self._labels = [str(x) for x in labels]
        self._device = device
        self._seconds = float(seconds)
        self._folder = str(folder)
        self._takes = []  # (label, y, sr)
        self._answers = {}  # take index -> predicted label ("" when the take could not be used)
        self._take = TakeRecorder(self)
        self._take.level.connect(self._on_level)
        self._take.finished.connect(self._on_take_recorded)
        self._take.failed.connect(self._on_record_failed)
        self.result = None
        self.saved = []
        self.before = self.after = None  # Add my takes to training: the scores before and after retraining
        self._dataset_root, self._layout = None, "filename"
        self._after = {}  # take index -> the new model's answer
        self._retraining = False
        self._queue = JobQueue(self)
        self._queue.done.connect(self._on_answer)
        self._queue.failed.connect(self._on_answer_failed)

        self.speaker_edit = QLineEdit("me")
        self.speaker_edit.setToolTip("Goes into the saved file names: {digit}_{speaker}_{index}.wav")
        self.repeats_spin = QSpinBox()
        self.repeats_spin.setRange(1, 2)
        self.repeats_spin.setValue(int(repeats))
        self.repeats_spin.setSuffix(" × each")
        self.repeats_spin.valueChanged.connect(self._restart)
        self.prompt = QLabel("")
        self.prompt.setAlignment(Qt.AlignCenter)
        font = self.prompt.font()
        font.setPointSize(font.pointSize() * 2)
        font.setBold(True)
        self.prompt.setFont(font)
        self.record_button = QPushButton("● Record")
        self.record_button.setDefault(True)
        self.record_button.clicked.connect(self.record_take)
        self.redo_button = QPushButton("Redo last")
        self.redo_button.clicked.connect(self.redo_last)
        self.level = QProgressBar()
        self.level.setRange(LEVEL_FLOOR_DB, 0)
        self.level.setValue(LEVEL_FLOOR_DB)
        self.level.setFormat("%v dBFS")
        self.list = QListWidget()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.save_button = QPushButton("Save as dataset folder…")
        self.save_button.setToolTip("Write the takes as {digit}_{speaker}_{index}.wav (never overwriting):\n"
                                    "evaluate on them later, or add them to a training folder")
        self.save_button.clicked.connect(self._save_dialog)
        self.add_button = QPushButton("Add my takes to training…")
        self.add_button.setToolTip("Save the takes into a folder you choose, in the dataset's layout (never\n"
                                   "overwriting), retrain the model on the dataset plus that folder in the\n"
                                   "background, then compare the accuracy on your voice before and after")
        self.add_button.clicked.connect(self._add_dialog)
        self.add_button.setVisible(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)

        form = QFormLayout()
        form.addRow("Speaker", self.speaker_edit)
        form.addRow("Takes", self.repeats_spin)
        row = QHBoxLayout()
        row.addWidget(self.record_button, 2)
        row.addWidget(self.redo_button, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_button)
        bottom.addWidget(self.add_button)
        bottom.addStretch(1)
        bottom.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.prompt)
        lay.addLayout(row)
        lay.addWidget(QLabel("Level"))
        lay.addWidget(self.level)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.summary)
        lay.addWidget(self.status)
        lay.addLayout(bottom)
        self._restart()

    # ----------------------------------------------------------------- API

    def prompts(self):
        from core.voice_test import prompts

        return prompts(self._labels, repeats=self.repeats_spin.value())

    def current_prompt(self):
        """The label to say next, or None when every prompt has a take."""
        p = self.prompts()
        return p[len(self._takes)] if len(self._takes) < len(p) else None

    def takes(self):
        return list(self._takes)

    def is_recording(self):
        return self._take.recording

    def record_take(self):
        """Record one take of the current prompt (it stops by itself after the take length)."""
        if self._take.recording or self.current_prompt() is None:
            return
        if not self._take.start(self._device, self._seconds):
            return
        self.record_button.setText("Recording… speak now")
        self._update()

    def add_take(self, y, sr):
        """Use ``y`` as the take of the current prompt (what a finished recording does).

        Returns
        -------
        True when the take was kept; False when it was too quiet or clipped (the same prompt stays).
        """
        label = self.current_prompt()
        if label is None:
            return False
        y = np.asarray(y, dtype=np.float32)
        problems = take_problems(y)
        if problems:
            self._show(f"That take was {' and '.join(problems)}: say '{self._word(label)}' again "
                       "(closer to the microphone, or adjust the gain).", error=True)
            self._update()
            return False
        index = len(self._takes)
        self._takes.append((label, y, int(sr)))
        self.list.addItem(f"{index + 1}. said {label}: …")
        predict = self._predict
        self._queue.submit(lambda: predict(y, int(sr)), index)
        self._show("")
        self._update()
        self.take_recorded.emit(len(self._takes))
        return True

    def redo_last(self):
        if not self._takes or self._take.recording:
            return
        index = len(self._takes) - 1
        self._takes.pop()
        self._answers.pop(index, None)
        self.list.takeItem(index)
        self.result = self.after = None
        self._update()

    def save(self, folder):
        """Save the takes into ``folder``; returns the paths written."""
        from core.voice_test import save_takes

        paths = save_takes(folder, self.speaker_edit.text(), self._takes)
        self.saved = paths
        self._show(f"Saved {len(paths)} takes into {folder} ({paths[0].name} …): open that folder in the Digits "
                   "tab and press Evaluate on dataset, or copy the files into a training folder.")
        return paths

    def offer_training(self, dataset_root, layout="filename"):
        """Offer "Add my takes to training" for a model trained on ``dataset_root`` (its layout: where the
        takes go, ``filename`` or ``folders``); the tab connects :attr:`add_to_training`."""
        self._dataset_root = None if dataset_root is None else str(dataset_root)
        self._layout = layout if layout in ("filename", "folders") else "filename"
        self.add_button.setVisible(True)
        self._update()

    def suggested_folder(self):
        """A new folder beside the dataset (never inside it), for the takes."""
        from core.voice_test import takes_folder

        return str(takes_folder(self._dataset_root, self.speaker_edit.text().strip() or "me"))

    def add_to_training_at(self, folder):
        """Save the takes into ``folder`` in the dataset's layout (never overwriting), then ask the tab to
        retrain on the dataset plus ``folder`` (:attr:`add_to_training`). Returns the paths written."""
        from core.voice_test import is_inside, save_takes

        if self.result is None:
            raise SpeechLabError("Record and score every take first: the accuracy before training is the baseline")
        paths = save_takes(folder, self.speaker_edit.text(), self._takes, layout=self._layout)
        self.saved = paths
        self.before, self.after, self._after = self.result, None, {}
        self._retraining = True
        inside = self._dataset_root is not None and is_inside(folder, self._dataset_root)
        self._show(f"Saved {len(paths)} takes into {folder}" + (" (inside the dataset folder, as you chose)"
                                                                   if inside else "")
                   + "; retraining the model on the dataset plus your takes in the background…")
        self._update()
        self.add_to_training.emit(str(folder))
        return paths

    def rescore(self, predict):
        """The retrained model (``predict(y, sr) -> {"label": …}``) answers every take again; then the
        summary shows the accuracy before and after."""
        self._predict = predict
        self._after = {}
        for i, (_, y, sr) in enumerate(self._takes):
            self._queue.submit(lambda y=y, sr=sr: predict(y, int(sr)), ("after", i))
        self._show("Retrained: the new model is answering your takes…")

    def training_failed(self, message):
        """The retraining did not give a model: say so (the takes stay saved)."""
        self._retraining = False
        self._show(f"Retraining did not finish: {message} Your takes stay saved in the folder.", error=True)
        self._update()

    def done(self, result):  # noqa: D401 (Qt override): stop the stream and the queue whatever closes the dialog
        self._stop_stream()
        self._queue.shutdown()
        super().done(result)

    # ------------------------------------------------------------ internals

    @staticmethod
    def _word(label):
        return f"{label} ({WORDS[label]})" if label in WORDS else label

    def _restart(self):
        if self._take.recording:
            return
        self._takes, self._answers, self.result = [], {}, None
        self.before = self.after = None
        self.list.clear()
        self._update()

    def _stop_stream(self):
        self._take.stop()

    def _on_level(self, db):
        self.level.setValue(max(LEVEL_FLOOR_DB, min(0, int(round(db)))))

    def _on_record_failed(self, message):
        self._show(message, error=True)
        self._update()

    def _on_take_recorded(self, y, sr):
        self.record_button.setText("● Record")
        self.add_take(y, sr)

    def _on_answer(self, index, result):
        if isinstance(index, tuple):
            self._set_after(index[1], str(result["label"]))
            return
        self._set_answer(index, str(result["label"]))

    def _on_answer_failed(self, index, message):
        if isinstance(index, tuple):
            self._set_after(index[1], "")
            return
        self._set_answer(index, "", note=message)

    def _set_after(self, index, predicted):
        if not self._retraining or index >= len(self._takes):
            return
        self._after[index] = predicted
        if len(self._after) < len(self._takes):
            return
        from core.voice_test import before_after, summarize

        self._retraining = False
        self.after = summarize([{"label": lab, "predicted": self._after[i]}
                                for i, (lab, _, _) in enumerate(self._takes)])
        for i, t in enumerate(self.after["per_take"]):
            first = self.before["per_take"][i]["predicted"] or "—"
            self.list.item(i).setText(f"{i + 1}. said {t['label']}: heard {first} → {t['predicted'] or 'no answer'} "
                                      f"{'✓' if t['ok'] else '✗'}")
        self.summary.setText(f"<b>{before_after(self.before, self.after)}</b> — the new model was trained on "
                             "these takes: record a fresh round to see how it does on new ones.")
        self._show(f"Retrained on the dataset plus {len(self.saved)} takes of yours; the model is the tab's now.")
        self._update()
        self.rescored.emit({"before": self.before, "after": self.after})

    def _set_answer(self, index, predicted, note=""):
        if index >= len(self._takes):  # the take was redone meanwhile
            return
        self._answers[index] = predicted
        label = self._takes[index][0]
        mark = "✓" if predicted == label else "✗"
        heard = predicted if predicted else f"no answer ({note})"
        self.list.item(index).setText(f"{index + 1}. said {label}: heard {heard} {mark}")
        self._update()

    def _show(self, text, *, error=False):
        self.status.setStyleSheet("color: #B00020;" if error else "")
        self.status.setText(text)

    def _update(self):
        label = self.current_prompt()
        total = len(self.prompts())
        recording = self._take.recording
        if label is None:
            self.prompt.setText("Done")
        else:
            self.prompt.setText(f"Say: {self._word(label)}   ({len(self._takes) + 1}/{total})")
        self.record_button.setEnabled(label is not None and not recording)
        self.redo_button.setEnabled(bool(self._takes) and not recording)
        self.repeats_spin.setEnabled(not self._takes and not recording)
        self.save_button.setEnabled(bool(self._takes) and not recording)
        answered = [i for i in range(len(self._takes)) if i in self._answers]
        if self.after is not None:
            pass  # the before/after comparison stays on screen
        elif label is None and len(answered) == len(self._takes) and self.result is None:
            from core.voice_test import summarize

            self.result = summarize([{"label": lab, "predicted": self._answers[i]}
                                     for i, (lab, _, _) in enumerate(self._takes)])
            wrong = sorted({t["label"] for t in self.result["per_take"] if not t["ok"]})
            self.summary.setText(f"<b>Accuracy on your voice: {self.result['accuracy']:.0%}</b> "
                                 f"({sum(t['ok'] for t in self.result['per_take'])} of {self.result['n']} takes)"
                                 + (f"; missed: {', '.join(wrong)}" if wrong else "")
                                 + ". Save the takes to test again later or to train with your voice.")
            self.finished_scoring.emit(self.result)
        elif self.result is None:
            self.summary.setText(f"{len(answered)} of {total} takes answered")
        self.add_button.setEnabled(self.result is not None and not recording and not self._retraining)

    def _add_dialog(self):
        import pathlib

        suggested = pathlib.Path(self.suggested_folder()) if self._dataset_root else None
        start = str(suggested if suggested is not None and suggested.is_dir() else
                    suggested.parent if suggested is not None else self._folder)
        folder = QFileDialog.getExistingDirectory(
            self, f"Folder for your takes (new folder suggested: {suggested.name if suggested else 'any'})", start)
        if not folder:
            return
        try:
            self.add_to_training_at(folder)
        except SpeechLabError as exc:
            self._show(str(exc), error=True)

    def _save_dialog(self):
        folder = QFileDialog.getExistingDirectory(self, "Folder for your takes", self._folder)
        if not folder:
            return
        try:
            self.save(folder)
        except SpeechLabError as exc:
            self._show(str(exc), error=True)
