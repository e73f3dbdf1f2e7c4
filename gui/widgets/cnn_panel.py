"""The settings of the Keras CNN on log-mel images, one panel for every tab that offers it.

Conv blocks, head, dense layers, optimiser, training, early stopping,
SpecAugment masks and standardisation, with a live parameter count from
:func:`core.models.cnn.layer_plan` (no TensorFlow in the GUI process).
``params()`` are :class:`core.models.cnn.KerasCNNClassifier` keyword arguments
without ``random_state``: the tab owns the seed (it also seeds the split).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget,
)

from core.models.cnn import HEADS, OPTIMIZERS, layer_plan
from gui.panels import _select_data
from gui.widgets.conv_blocks_editor import ConvBlocksEditor

HEAD_TITLES = {"global-avg": "Global average pooling", "global-max": "Global max pooling",
               "flatten": "Flatten (the report)"}
OPTIMIZER_TITLES = {"adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD"}
assert set(HEAD_TITLES) == set(HEADS) and set(OPTIMIZER_TITLES) == set(OPTIMIZERS)


def is_cnn(model):
    """Whether ``model`` is the Keras CNN: a KerasCNNClassifier, or a RemoteKerasModel held by the model host."""
    from core.errors import SpeechLabError
    from core.models import model_type_of

    try:
        return model_type_of(model) == "keras-cnn"
    except SpeechLabError:
        return False


def describe_cnn(params):
    """One line for a CNN's settings (``get_params()`` of a model, or :meth:`CNNPanel.params`)."""
    filters = "-".join(str(b["filters"]) for b in params.get("conv_blocks", ())) or "no conv"
    dense = "-".join(str(u) for u in params.get("dense_units", ()))
    aug = " +SpecAugment" if (params.get("freq_mask") or params.get("time_mask")) else ""
    return (f"CNN {filters} {params.get('head')}" + (f", dense {dense}" if dense else "")
            + f", {params.get('optimizer')} lr {float(params.get('learning_rate', 0)):g}, "
              f"batch {params.get('batch_size')}{aug}")


class CNNPanel(QWidget):
    """The CNN's settings.

    Parameters
    ----------
    examples : what validation holds out, in the tab's words ("tracks", "clips")
    classes : what the outputs are ("genres", "digits"), for the parameter count

    Signals
    -------
    changed() : any setting changed
    """

    changed = Signal()

    def __init__(self, *, examples="clips", classes="classes", parent=None):
        super().__init__(parent)
        self._classes = classes
        self._bn_momentum = 0.9  # not shown: the report's preset keeps Keras' 0.99
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.blocks = ConvBlocksEditor()
        self.blocks.changed.connect(self.changed)
        lay.addWidget(self.blocks)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.head = QComboBox()
        for key in HEADS:
            self.head.addItem(HEAD_TITLES[key], key)
        self.dense = QLineEdit()
        self.dense.setPlaceholderText("none")
        self.dense.setToolTip("Hidden dense layers (ReLU) before the output, e.g. 64 or 128,64; empty = none")
        self.dropout = QDoubleSpinBox()
        self.dropout.setRange(0.0, 0.9)
        self.dropout.setSingleStep(0.05)
        self.dropout.setToolTip("Dropout before each dense layer")
        form.addRow("Head", self.head)
        row = QHBoxLayout()
        row.addWidget(self.dense, 1)
        row.addWidget(QLabel("dropout"))
        row.addWidget(self.dropout, 1)
        form.addRow("Dense layers", row)
        self.optimizer = QComboBox()
        for key in OPTIMIZERS:
            self.optimizer.addItem(OPTIMIZER_TITLES[key], key)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        row = QHBoxLayout()
        row.addWidget(self.optimizer, 1)
        row.addWidget(QLabel("lr"))
        row.addWidget(self.lr, 1)
        form.addRow("Optimiser", row)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.batch = QSpinBox()
        self.batch.setRange(1, 1024)
        row = QHBoxLayout()
        row.addWidget(self.epochs, 1)
        row.addWidget(QLabel("batch"))
        row.addWidget(self.batch, 1)
        form.addRow("Epochs", row)
        self.early = QCheckBox("Early stop, patience")
        self.early.setToolTip(f"Hold out whole training {examples}; stop when their loss stops improving.\n"
                              "The best weights (by that loss) are kept in any case.")
        self.patience = QSpinBox()
        self.patience.setRange(1, 200)
        self.validation = QSpinBox()
        self.validation.setRange(0, 50)
        self.validation.setSuffix(" % val")
        self.validation.setToolTip(f"Share of the training {examples} held out for validation (0 = none)")
        row = QHBoxLayout()
        row.addWidget(self.early)
        row.addWidget(self.patience)
        row.addWidget(self.validation)
        form.addRow(row)
        self.freq_mask = QSpinBox()
        self.time_mask = QSpinBox()
        self.time_shift = QSpinBox()
        for w, tip in ((self.freq_mask, "SpecAugment: mask a band of up to this share of the mel rows"),
                       (self.time_mask, "SpecAugment: mask up to this share of the time columns"),
                       (self.time_shift, "Roll each image in time by up to this share (a random window offset)")):
            w.setRange(0, 50)
            w.setSuffix(" %")
            w.setToolTip(tip)
        row = QHBoxLayout()
        row.addWidget(QLabel("freq"))
        row.addWidget(self.freq_mask)
        row.addWidget(QLabel("time"))
        row.addWidget(self.time_mask)
        row.addWidget(QLabel("shift"))
        row.addWidget(self.time_shift)
        form.addRow("Augment", row)
        self.standardize = QCheckBox("Standardise inputs (training mean and std)")
        form.addRow(self.standardize)
        self.param_count = QLabel("")
        self.param_count.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.param_count.setWordWrap(True)
        form.addRow(self.param_count)
        lay.addLayout(form)
        for w in (self.head, self.optimizer):
            w.currentIndexChanged.connect(self.changed)
        self.dense.textChanged.connect(self.changed)
        for w in (self.dropout, self.lr, self.epochs, self.batch, self.patience, self.validation, self.freq_mask,
                  self.time_mask, self.time_shift):
            w.valueChanged.connect(self.changed)
        for w in (self.early, self.standardize):
            w.toggled.connect(self.changed)

    def dense_units(self):
        """The dense layers' sizes; ValueError for text that is not a list of sizes."""
        text = self.dense.text().strip()
        try:
            units = tuple(int(s) for s in text.replace(" ", ",").split(",") if s.strip())
        except ValueError:
            raise ValueError(f"Dense layers must be sizes such as 64 or 128,64, not '{text}'") from None
        if any(u < 1 for u in units):
            raise ValueError(f"Dense layer sizes must be at least 1: '{text}'")
        return units

    def set_params(self, p):
        """Show ``p`` (KerasCNNClassifier keywords; missing ones take the class's defaults, random_state ignored)."""
        self._bn_momentum = float(p.get("bn_momentum", 0.9))
        self.blocks.set_blocks(p.get("conv_blocks", ()))
        _select_data(self.head, p.get("head", "global-avg"))
        self.dense.setText(",".join(str(u) for u in p.get("dense_units", ())))
        self.dropout.setValue(float(p.get("dropout", 0.0)))
        _select_data(self.optimizer, p.get("optimizer", "adam"))
        self.lr.setValue(float(p.get("learning_rate", 1e-3)))
        self.epochs.setValue(int(p.get("epochs", 40)))
        self.batch.setValue(int(p.get("batch_size", 32)))
        self.early.setChecked(bool(p.get("early_stopping", True)))
        self.patience.setValue(int(p.get("patience", 10)))
        self.validation.setValue(int(round(100 * float(p.get("validation_fraction", 0.15)))))
        self.freq_mask.setValue(int(round(100 * float(p.get("freq_mask", 0.0)))))
        self.time_mask.setValue(int(round(100 * float(p.get("time_mask", 0.0)))))
        self.time_shift.setValue(int(round(100 * float(p.get("time_shift", 0.0)))))
        self.standardize.setChecked(bool(p.get("standardize", True)))

    def params(self):
        """KerasCNNClassifier keyword arguments without random_state; ValueError for a bad field."""
        return {
            "conv_blocks": tuple(self.blocks.blocks()),
            "head": self.head.currentData(),
            "dense_units": self.dense_units(),
            "dropout": self.dropout.value(),
            "optimizer": self.optimizer.currentData(),
            "learning_rate": self.lr.value(),
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "early_stopping": self.early.isChecked(),
            "patience": self.patience.value(),
            "validation_fraction": self.validation.value() / 100.0,
            "standardize": self.standardize.isChecked(),
            "freq_mask": self.freq_mask.value() / 100.0,
            "time_mask": self.time_mask.value() / 100.0,
            "time_shift": self.time_shift.value() / 100.0,
            "bn_momentum": self._bn_momentum,
        }

    def describe(self):
        """The settings in one line, as the runs table describes a trained CNN."""
        try:
            return describe_cnn(self.params())
        except ValueError as exc:
            return str(exc)

    def show_param_count(self, image_size, n_classes, *, is_image=True):
        """Live parameter count and output size of the CNN (no TensorFlow needed)."""
        if not is_image:
            self.param_count.setText("<span style='color:#b91c1c'>The CNN needs the log-mel image features.</span>")
            return
        try:
            plan = layer_plan((image_size, image_size), conv_blocks=self.blocks.blocks(), head=self.head.currentData(),
                              dense_units=self.dense_units(), n_classes=n_classes)
        except ValueError as exc:
            self.param_count.setText(f"<span style='color:#b91c1c'>{exc}</span>")
            return
        total = sum(p for _, _, p in plan)
        last_conv = next((s for d, s, _ in reversed(plan) if len(s) == 3), (image_size, image_size, 1))
        self.param_count.setText(f"<b>{total:,}</b> parameters; {image_size}×{image_size} image → "
                                 f"{last_conv[0]}×{last_conv[1]}×{last_conv[2]} maps → {n_classes} {self._classes}")
