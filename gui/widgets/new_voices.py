"""The Digits tab's "New voices" box: augmentation, "not a digit" and your takes as templates for training,
and "Test my voice…";
and the "Not a digit" view: the threshold of the "unknown" answer, what it costs and what it catches.

Both settings default to the task's (``TaskSpec.augment``, ``TaskSpec.open_set``,
chosen by benchmarks/digits_accuracy.py); :meth:`NewVoicesPanel.train_options`
gives the :func:`core.training.train_model` keyword arguments they mean.

:class:`NotADigitView` is the Speakers tab's threshold view (:class:`gui.widgets.open_set.OpenSetView`)
in digits' words: false rejects are the model's held-out test digits answered "unknown", false accepts
the non-digit sounds the user recorded or picked (**Add non-digit sounds…**) given a digit's name. The
slider's threshold becomes the model's (microphone, files, Save model).
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget,
)

from gui.widgets.open_set import OpenSetView

NOT_A_DIGIT = "not a digit"
DIGIT_WORDS = {
    "known": "digits", "unknown": "non-digit sounds", "unknown_short": "non-digit sounds",
    "empty": 'Train with "Answer unknown for sounds that are not a digit" on to set how strict it is.',
    "no_model": 'This model does not answer "unknown" (train it with "not a digit" on).',
    "add_unknown": "Add non-digit sounds (a whistle, a cough, another word: recorded and saved, or any "
                   "audio files) to measure false accepts.",
    "named_right": "Digits named right",
    "class": "digit",
}
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3);;All files (*)"


class NewVoicesPanel(QGroupBox):
    """Signals: ``voice_test_requested()`` when "Test my voice…" is pressed."""

    voice_test_requested = Signal()

    def __init__(self, spec, parent=None):
        super().__init__("New voices", parent)
        self.spec = spec
        self.augment = QCheckBox("Augment training clips")
        self.augment.setToolTip("Add perturbed copies of every training clip (never of test clips): speed ±15 %,\n"
                                "a synthetic room, level and background noise. Slower training; a model trained\n"
                                "on few speakers does better on new voices (benchmarks/RESULTS.md)")
        self.augment.setChecked(spec.augment is not None)
        self.augment.setEnabled(True)
        self.not_a_digit = QCheckBox("Answer \"unknown\" for sounds that are not a digit")
        self.not_a_digit.setToolTip("A fifth of the training clips is held out to set a threshold on how far a take\n"
                                    "lies from the training data of the digit it resembles most: a whistle, noise or\n"
                                    "another word is answered \"unknown\"")
        self.not_a_digit.setChecked(spec.open_set is not None)
        self.not_a_digit.setEnabled(spec.open_set is not None)
        self.take_templates = QCheckBox("Match added takes directly (your voice)")
        self.take_templates.setToolTip(
            "With takes added to training (Add my takes to training, or a second data folder): an MLP also\n"
            "compares every clip with the takes themselves (dynamic time warping of their MFCC frames) and\n"
            "blends that with what it learned, for clips that sound like the takes. Your voice's digits are\n"
            "named right more often; other voices are answered by the network alone (benchmarks/RESULTS.md)")
        self.take_templates.setChecked(True)
        self.voice_button = QPushButton("Test my voice…")
        self.voice_button.setToolTip("Say every digit into the microphone and see the accuracy on your own voice;\n"
                                     "the takes can be saved as a dataset folder")
        self.voice_button.setEnabled(False)
        self.voice_button.clicked.connect(self.voice_test_requested)
        row = QHBoxLayout()
        row.addWidget(self.augment)
        row.addStretch(1)
        row.addWidget(self.voice_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.not_a_digit)
        lay.addWidget(self.take_templates)

    def train_options(self):
        """``augment`` and ``open_set`` for core.training.train_model (plain values: safe to hand to a worker)."""
        from core.augment import AugmentConfig

        augment = (self.spec.augment or AugmentConfig()) if self.augment.isChecked() else None
        open_set = self.spec.open_set if self.not_a_digit.isChecked() else None
        return {"augment": augment, "open_set": open_set}

    def set_model_ready(self, ready):
        self.voice_button.setEnabled(bool(ready))

    def state(self):
        return {"augment": self.augment.isChecked(), "not_a_digit": self.not_a_digit.isChecked(),
                "take_templates": self.take_templates.isChecked()}

    def restore(self, st):
        if isinstance(st, dict):
            if isinstance(st.get("augment"), bool):
                self.augment.setChecked(st["augment"])
            if isinstance(st.get("not_a_digit"), bool) and self.not_a_digit.isEnabled():
                self.not_a_digit.setChecked(st["not_a_digit"])
            if isinstance(st.get("take_templates"), bool):
                self.take_templates.setChecked(st["take_templates"])


def open_voice_test(tab):
    """Open "Test my voice" for a tab's current model (the tab's microphone and take length)."""
    from gui.dialogs.voice_test import VoiceTestDialog

    if tab.bundle is None:
        tab.message("Train or load a model first.", error=True)
        return None
    dialog = VoiceTestDialog(tab, predict=tab.bundle.predict_signal, labels=tab.bundle.labels,
                             device=tab.recorder.device_combo.currentData(), seconds=tab.spec.record_seconds)
    dialog.open()  # window-modal: the tab stays visible behind it
    return dialog


def never_heard_job(bundle, paths):
    """Score picked non-digit sounds with ``bundle``; returns ``(open-set metrics with them added, skipped)``
    (plain data: the job never touches a widget)."""

    def job(report, should_stop):
        from core.datasets import Dataset, Item
        from core.errors import SpeechLabError
        from core.extraction import build_features
        from core.openset import with_never_heard

        items = [Item(path=str(p), label=NOT_A_DIGIT) for p in paths]
        ds = Dataset(root="", layout="", label_kind="", items=items)
        fs = build_features(ds, bundle.feature_config, progress=lambda p: report("progress", p),
                            should_stop=should_stop)
        if not fs.items:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in fs.skipped[:3])
            raise SpeechLabError(f"None of the picked sounds could be used ({reasons})")
        return with_never_heard(bundle, fs, name=NOT_A_DIGIT), list(fs.skipped)

    return job


class NotADigitView(QWidget):
    """The Digits tab's "Not a digit" view: the threshold slider, false rejects of digits, false accepts
    of non-digit sounds, the DET curve, and **Add non-digit sounds…**.

    It follows the tab's model (``tab.model_changed``) and writes the chosen threshold and scoring into
    ``tab.bundle.open_set``; picked sounds are scored in the tab's worker.
    """

    def __init__(self, tab, parent=None):
        super().__init__(parent)
        self.tab = tab
        self.view = OpenSetView(words=DIGIT_WORDS)
        self.view.auto_button.setToolTip("The threshold set from held-out training clips (1 % of them "
                                         "answered 'unknown')")
        self.add_button = QPushButton("Add non-digit sounds…")
        self.add_button.setToolTip("Pick recordings that are not a digit (a whistle, a clap, another word;\n"
                                   "record them in Microphone & files and save the takes): the false-accept\n"
                                   "rate and the curve are measured on them")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self.pick_sounds)
        self.sounds_label = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.sounds_label, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.view, 1)
        self.view.threshold_changed.connect(self._on_threshold)
        tab.model_changed.connect(self.show_model)

    def show_model(self, bundle):
        os_ = bundle.open_set if bundle is not None else None
        metrics = (bundle.metrics or {}).get("open_set") if bundle is not None else None
        self.add_button.setEnabled(bool(os_ and metrics and "clips" in metrics))
        n = (metrics or {}).get("n_unknown", 0)
        self.sounds_label.setText(f"{n} non-digit sound(s) measured" if n else "")
        if not os_:
            self.view.set_open_set(None, [])
            return
        self.view.set_open_set(metrics, bundle.labels, method=os_["method"],
                               threshold=os_["thresholds"][os_["method"]])

    def _on_threshold(self, method, threshold):
        """The slider's threshold and scoring become the model's (microphone, files, saving)."""
        from core.openset import set_threshold

        bundle = self.tab.bundle
        if bundle is None or not bundle.open_set:
            return
        set_threshold(bundle.open_set, threshold, method)

    def pick_sounds(self, paths=None):
        """Score non-digit sounds (``paths``, or picked in a file dialog) in the background."""
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(self, "Sounds that are not a digit", "", AUDIO_FILTER)
        if not paths or self.tab.bundle is None:
            return
        if self.tab.busy:
            self.tab.message("Wait for the current job to finish, then add the sounds.", error=True)
            return
        self._scored_bundle = self.tab.bundle

        def connect(w):  # bound methods only: they run in the GUI thread
            w.progress.connect(self.tab.progress_panel.show_extraction)
            w.finished.connect(self._on_scored)
            w.failed.connect(self.tab._on_failed)

        self.tab.runner.start(never_heard_job(self.tab.bundle, list(paths)), connect=connect)
        self.tab.message(f"Scoring {len(paths)} non-digit sound(s)…")

    def _on_scored(self, result):
        metrics, skipped = result
        bundle = self.tab.bundle
        if bundle is None or bundle is not getattr(self, "_scored_bundle", None):
            return  # another model came meanwhile: these scores are not its
        bundle.metrics["open_set"] = metrics
        threshold = bundle.open_set["thresholds"][bundle.open_set["method"]]
        self.show_model(bundle)
        self.view.set_threshold(threshold)  # the user's threshold stays
        far = metrics["methods"][bundle.open_set["method"]]["false_accept_rate"]
        self.tab.show_lower(self)
        self.tab.message(f"{metrics['n_unknown']} non-digit sound(s) scored: false accepts "
                         + ("—" if far is None else f"{far:.1%}") + " at the automatic threshold"
                         + (f"; {len(skipped)} file(s) skipped" if skipped else ""))

    def evaluated_message(self, metrics):
        """The "Evaluate on dataset" line for a model that may answer "unknown" (None otherwise)."""
        if "answered_accuracy" not in metrics:
            return None
        answered = metrics["answered_accuracy"]
        return (f"accuracy {metrics['accuracy']:.1%} counting \"unknown\" as wrong; "
                f"unknown_rate {metrics['unknown_rate']:.1%} ({metrics['n_unknown_answers']} clips answered "
                f"\"unknown\"); accuracy on the {metrics['n_answered']} answered clips "
                + ("—" if answered is None else f"{answered:.1%}"))
