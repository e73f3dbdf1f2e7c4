"""The Digits tab's "New voices" box: augmentation and "not a digit" for training, and "Test my voice…".

Both settings default to the task's (``TaskSpec.augment``, ``TaskSpec.open_set``,
chosen by benchmarks/digits_accuracy.py); :meth:`NewVoicesPanel.train_options`
gives the :func:`core.training.train_model` keyword arguments they mean.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QPushButton, QVBoxLayout


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

    def train_options(self):
        """``augment`` and ``open_set`` for core.training.train_model (plain values: safe to hand to a worker)."""
        from core.augment import AugmentConfig

        augment = (self.spec.augment or AugmentConfig()) if self.augment.isChecked() else None
        open_set = self.spec.open_set if self.not_a_digit.isChecked() else None
        return {"augment": augment, "open_set": open_set}

    def set_model_ready(self, ready):
        self.voice_button.setEnabled(bool(ready))

    def state(self):
        return {"augment": self.augment.isChecked(), "not_a_digit": self.not_a_digit.isChecked()}

    def restore(self, st):
        if isinstance(st, dict):
            if isinstance(st.get("augment"), bool):
                self.augment.setChecked(st["augment"])
            if isinstance(st.get("not_a_digit"), bool) and self.not_a_digit.isEnabled():
                self.not_a_digit.setChecked(st["not_a_digit"])


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
