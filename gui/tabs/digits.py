"""The Digits tab: MFCC features and the NumPy MLP, with the seed's experiments one click away."""
from __future__ import annotations


from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout,
)

from core.tasks import DIGITS
from gui.panels import _select_data
from gui.tabs.base import TaskTab
from gui.widgets.layers_editor import RECOMMENDED, LayersEditor


def feature_size(config, n_classes_hint=10):
    """Input size of the MLP for a feature config (None when it depends on the data)."""
    name = config.name
    if name == "mfcc-full":
        return 3 * config.n_mfcc * config.n_frames if config.n_frames else None
    if name == "mfcc-mean":
        return config.n_mfcc
    if name == "mfcc-stats":
        return 12 * config.n_mfcc
    if name == "spectral":
        return 3
    if name == "logmel-128":
        return config.image_size * config.image_size
    return None


class MLPPanel(QGroupBox):
    """Hidden layers (editable list with the seed's presets) and the training options."""

    preset_chosen = Signal(object)

    def __init__(self, parent=None):
        super().__init__("Model: MLP (NumPy, from scratch)", parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Reproduce the seed:"))
        self.seed_combo = QComboBox()
        self.seed_combo.setToolTip("Set features, layers and training exactly as one experiment of the course report")
        self.seed_combo.addItem("— choose an experiment —", None)
        for preset in _seed_presets():
            acc = f" (seed: {preset.seed_accuracy:.1f} %)" if preset.seed_accuracy is not None else ""
            self.seed_combo.addItem(preset.name + acc, preset)
            self.seed_combo.setItemData(self.seed_combo.count() - 1, preset.description, 3)  # tooltip role
        self.seed_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.seed_combo.setMinimumContentsLength(12)
        self.seed_combo.activated.connect(self._on_seed)
        seed_row.addWidget(self.seed_combo, 1)
        lay.addLayout(seed_row)
        self.layers = LayersEditor()
        lay.addWidget(self.layers)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.output = QComboBox()
        self.output.addItem("Softmax + cross-entropy", "softmax")
        self.output.addItem("Activation on output + MSE", "mse")
        self.output.addItem("Seed's update rule (MSE, bug-compatible)", "mse-seed")
        self.output.setToolTip("Softmax + cross-entropy: the modern choice.\n"
                               "MSE: the seed's network (activation on the output layer, one-hot targets), exact gradient.\n"
                               "Seed's update rule: the same network trained exactly as the course report's code did,\n"
                               "including its shortcuts (output error without the activation's derivative, the\n"
                               "sigmoid's derivative taken of its output), to reproduce its numbers.")
        form.addRow("Output", self.output)
        self.optimizer = QComboBox()
        self.optimizer.addItem("Adam", "adam")
        self.optimizer.addItem("SGD with momentum", "momentum")
        self.optimizer.addItem("SGD (batch 1 = the seed)", "sgd")
        self.init = QComboBox()
        for label, key in (("Auto (He/Xavier)", "auto"), ("He", "he"), ("Xavier", "xavier"), ("randn (seed v1)", "randn")):
            self.init.addItem(label, key)
        form.addRow("Optimiser", self.optimizer)
        form.addRow("Initialisation", self.init)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 5.0)
        self.lr.setSingleStep(1e-4)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 5000)
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        row = QHBoxLayout()
        row.addWidget(self.lr, 1)
        row.addWidget(QLabel("epochs"))
        row.addWidget(self.epochs, 1)
        form.addRow("Learning rate", row)
        self.l2 = QDoubleSpinBox()
        self.l2.setDecimals(5)
        self.l2.setRange(0.0, 1.0)
        self.l2.setSingleStep(1e-4)
        row = QHBoxLayout()
        row.addWidget(self.batch, 1)
        row.addWidget(QLabel("L2"))
        row.addWidget(self.l2, 1)
        form.addRow("Batch size", row)
        self.standardize = QCheckBox("Standardise")
        self.standardize.setToolTip("z-score the features with the training data's mean and std")
        self.early = QCheckBox("Early stop, patience")
        self.early.setToolTip("Hold out 10 % of the training clips; stop when their loss stops improving "
                              "and keep the best weights")
        self.patience = QSpinBox()
        self.patience.setRange(1, 500)
        row = QHBoxLayout()
        row.addWidget(self.standardize)
        row.addWidget(self.early)
        row.addWidget(self.patience)
        form.addRow(row)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: weights, shuffling, validation split and the train/test split")
        form.addRow("Random seed", self.seed)
        lay.addLayout(form)
        self.set_params(DIGITS.model)
        self.seed.setValue(42)

    def _on_seed(self, index):
        preset = self.seed_combo.itemData(index)
        if preset is not None:
            self.preset_chosen.emit(preset)

    def set_params(self, p):
        sizes = list(p.get("hidden_layer_sizes", (256, 128)))
        act = p.get("activation", "relu")
        acts = [act] * len(sizes) if isinstance(act, str) else list(act)
        layers = list(zip(sizes, acts))
        if layers == [(256, "relu"), (128, "relu")]:
            self.layers.apply_preset(RECOMMENDED)
        else:
            self.layers.set_layers(layers)
        _select_data(self.output, p.get("output", "softmax"))
        _select_data(self.optimizer, p.get("optimizer", "adam"))
        _select_data(self.init, p.get("init", "auto"))
        self.lr.setValue(float(p.get("learning_rate", 1e-3)))
        self.epochs.setValue(int(p.get("epochs", 60)))
        self.batch.setValue(int(p.get("batch_size", 32)))
        self.l2.setValue(float(p.get("l2", 1e-4)))
        self.standardize.setChecked(bool(p.get("standardize", True)))
        self.early.setChecked(bool(p.get("early_stopping", True)))
        self.patience.setValue(int(p.get("patience", 10)))
        if p.get("random_state") is not None:
            self.seed.setValue(int(p["random_state"]))

    def params(self):
        layers = self.layers.layers()
        return {
            "hidden_layer_sizes": tuple(s for s, _ in layers),
            "activation": tuple(a for _, a in layers) if layers else "relu",
            "output": self.output.currentData(),
            "optimizer": self.optimizer.currentData(),
            "init": self.init.currentData(),
            "learning_rate": self.lr.value(),
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "l2": self.l2.value(),
            "standardize": self.standardize.isChecked(),
            "early_stopping": self.early.isChecked(),
            "patience": self.patience.value(),
            "random_state": self.seed.value(),
        }


def _seed_presets():
    try:
        from core.presets import SEED_PRESETS
    except ImportError:
        return []
    return SEED_PRESETS


class DigitsTab(TaskTab):
    """Spoken digits with the from-scratch NumPy MLP."""

    def __init__(self, parent=None):
        super().__init__(DIGITS, parent)
        self.features_panel.changed.connect(self._update_io)
        self.model_panel.preset_chosen.connect(self.apply_seed_preset)
        self._n_classes = 10
        self._update_io()

    def build_model_panel(self):
        return MLPPanel()

    def model_settings(self):
        params = self.model_panel.params()
        params["report_every"] = 50 if params["batch_size"] <= 4 else 0  # keep per-sample SGD visibly alive
        return params

    @staticmethod
    def make_model(settings):
        from core.models.mlp import MLPClassifier

        model = MLPClassifier(**settings)
        model._layer_plan()  # raises ValueError naming the bad setting
        return model

    def describe_model(self, model):
        sizes = "-".join(str(n) for n in model.hidden_layer_sizes) or "no hidden layer"
        acts = model.activation if isinstance(model.activation, str) else "/".join(dict.fromkeys(model.activation))
        out = {"mse": "MSE", "mse-seed": "seed MSE rule"}.get(model.output, "softmax")
        return (f"MLP {sizes} {acts}, {out}, {model.optimizer} lr {model.learning_rate:g}, "
                f"batch {model.batch_size}, init {model.init}")

    def split_seed(self):
        return int(self.model_panel.seed.value())

    def on_dataset(self, ds):
        self._n_classes = len(ds.labels)
        self._update_io()

    def _input_size(self, cfg):
        """The MLP's input size; for features padded to the longest clip it is
        estimated from the longest clip's duration (1 s before a dataset is loaded)."""
        n_in = feature_size(cfg)
        if n_in is None:
            summary = self.dataset_panel.summary_info
            longest = summary["duration"]["max"] if summary else 1.0
            _, hop = cfg.frame_sizes(cfg.sr or 16000)
            n_in = 3 * cfg.n_mfcc * (1 + int(longest * (cfg.sr or 16000)) // hop)
        return n_in

    def _update_io(self):
        self.model_panel.layers.set_io_dims(self._input_size(self.features_panel.config()), self._n_classes)

    def apply_seed_preset(self, preset):
        """Set features and model exactly as one of the seed's experiments."""
        from core.features import FeatureConfig
        from core.presets import resolve_model

        cfg = FeatureConfig(**preset.feature)
        self.features_panel.set_config(cfg)
        summary = self.dataset_panel.summary_info
        n_in = self._input_size(cfg)
        n_train = None
        if summary:
            _, test_size = self.dataset_panel.split()
            n_train = int(summary["n_files"] * (1 - test_size))
        params = resolve_model(preset, n_in, self._n_classes, n_train=n_train)
        self.model_panel.set_params(params)
        why = ", as many updates as the seed's 5 epochs on AudioMNIST" if n_train else ""
        self.message(f"Seed experiment set: {preset.name} ({params['epochs']} epochs{why}). Press Train.")

    def take_filename(self, label):
        """``{digit}_{speaker}_{index}.wav`` so saved takes grow a dataset in the FSDD layout."""
        import datetime

        digit = label.strip() if label and label.strip().isdigit() else "0"
        stamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        return f"{digit}_me_{stamp}.wav"

    def extra_state(self):
        return self.model_panel.params()

    def restore_extra_state(self, st):
        if st:
            self.model_panel.set_params(st)
