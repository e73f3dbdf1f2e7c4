"""Add to training…: the class of the take on screen and where its file goes.

Opened from the Microphone & files panel of any tab. The user picks a class of
the loaded dataset (or types a new one) and a folder for the takes: by default
a new folder beside the dataset, never inside it (the dataset stays as it was;
choosing a folder inside it is allowed and said). The tab then saves the take
in the dataset's layout and retrains on the dataset plus that folder
(:meth:`gui.tabs.base.TaskTab.add_take_to_training`).
"""
from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QWidget,
)


class AddToTrainingDialog(QDialog):
    """Class, folder and "retrain now" for one take; :meth:`choice` after it is accepted."""

    def __init__(self, classes, *, suggested_class="", folder="", noun="class", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add to training")
        self.setMinimumWidth(460)  # room for a folder path
        self.class_combo = QComboBox()
        self.class_combo.setEditable(True)  # a new class is typed in
        self.class_combo.addItems([str(c) for c in classes])
        self.class_combo.setCurrentText(str(suggested_class) if suggested_class else "")
        self.class_combo.setToolTip(f"The {noun} this take is an example of (type a name for a new {noun})")
        self.folder_edit = QLineEdit(str(folder))
        self.folder_edit.setToolTip("Where the take is saved, in the dataset's own layout; an existing file is "
                                    "never overwritten")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(0, 0, 0, 0)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        folder_box = QWidget()
        folder_box.setLayout(folder_row)
        self.retrain = QCheckBox("Retrain now on the dataset plus your takes")
        self.retrain.setChecked(True)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(noun.capitalize(), self.class_combo)
        form.addRow("Folder", folder_box)
        form.addRow(self.retrain)
        form.addRow(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Add")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._ok = buttons.button(QDialogButtonBox.Ok)
        self._classes = {str(c) for c in classes}
        self.class_combo.editTextChanged.connect(self._update)
        self.folder_edit.textChanged.connect(self._update)
        self._update()

    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Folder for your takes", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _update(self, *_):
        label = self.class_combo.currentText().strip()
        self._ok.setEnabled(bool(label) and bool(self.folder_edit.text().strip()))
        self.note.setText("" if not label or label in self._classes
                          else f"'{label}' is a new class: the model will learn it from your takes alone.")

    def choice(self):
        """(class, folder, retrain) as the user left them."""
        return self.class_combo.currentText().strip(), self.folder_edit.text().strip(), self.retrain.isChecked()
