"""The Digits tab: MFCC features and the NumPy MLP (or log-mel images and the Keras CNN), with the course
report's experiments one click away.

This module imports neither TensorFlow nor Keras: a CNN is trained in the training process and a loaded one
predicts in the model host.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
    QSpinBox, QVBoxLayout, QWidget,
)

from core.features import feature_shape
from core.presets import REPORT_PRESETS
from core.tasks import DIGITS
from gui.panels import _select_data
from gui.tabs.base import TaskTab, scrolled
from gui.widgets.cnn_panel import CNNPanel, describe_cnn, is_cnn
from gui.widgets.honest_split import HonestSplit
from gui.widgets.mlp_insides import MLPInsides
from gui.widgets.model_form import ModelPages, choice_of_model, describe_settings
from gui.widgets.new_voices import NewVoicesPanel, NotADigitView, open_voice_test
from gui.widgets.layers_editor import RECOMMENDED, LayersEditor

RECOMMENDED_SEED = 42
# The MLP panel's widgets, also reachable as attributes of the Digits model panel (tests and benchmarks use them).
MLP_WIDGETS = ("layers", "report_combo", "origin_label", "recommended_button", "output", "optimizer", "init", "lr",
               "epochs", "batch", "l2", "standardize", "early", "patience")


class MLPPanel(QWidget):
    """The MLP's settings: hidden layers (editable list with the report's size presets) and the training options.

    ``params()`` are :class:`core.models.mlp.MLPClassifier` keyword arguments without ``random_state``
    (the model panel owns the seed, shared by every model).

    Signals
    -------
    preset_chosen(Preset) : a report experiment was picked ("Reproduce the report")
    recommended_requested() : the "Recommended settings" button
    """

    preset_chosen = Signal(object)
    recommended_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._preset = None  # the report experiment last applied, while its settings are unchanged
        self._preset_params = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        report_row = QHBoxLayout()
        report_row.addWidget(QLabel("Reproduce the report:"))
        self.report_combo = QComboBox()
        self.report_combo.setToolTip("Set features, layers and training exactly as one experiment of the course "
                                     "report (its numbers are on AudioMNIST; other data give other numbers)")
        self.report_combo.addItem("— choose an experiment —", None)
        for preset in REPORT_PRESETS:
            acc = f" (report: {preset.report_accuracy:.1f} % on AudioMNIST)" if preset.report_accuracy is not None else ""
            self.report_combo.addItem(preset.name + acc, preset)
            self.report_combo.setItemData(self.report_combo.count() - 1,
                                          f"{preset.description}\n{preset.data_note}", 3)  # tooltip role
        self.report_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.report_combo.setMinimumContentsLength(8)
        self.report_combo.activated.connect(self._on_report)
        report_row.addWidget(self.report_combo, 1)
        lay.addLayout(report_row)
        # Where the settings come from, always on screen: recommended, a report experiment (and on
        # what data its number was measured), or changed by hand; one click goes back.
        self.origin_label = QLabel()
        self.origin_label.setWordWrap(True)
        self.origin_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.recommended_button = QPushButton("Recommended settings")
        self.recommended_button.setToolTip("Back to the app's best configuration for digits: features, layers "
                                           "and training (benchmarks/RESULTS.md)")
        self.recommended_button.clicked.connect(self.recommended_requested)
        origin_row = QHBoxLayout()
        origin_row.addWidget(self.origin_label, 1)
        origin_row.addWidget(self.recommended_button)
        lay.addLayout(origin_row)
        self.layers = LayersEditor()
        lay.addWidget(self.layers)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(4)
        self.output = QComboBox()
        self.output.addItem("Softmax + cross-entropy", "softmax")
        self.output.addItem("Activation on output + MSE", "mse")
        self.output.addItem("The report's update rule (MSE, bug-compatible)", "mse-report")
        self.output.setToolTip("Softmax + cross-entropy: the modern choice.\n"
                               "MSE: the report's network (activation on the output layer, one-hot targets), exact "
                               "gradient.\nThe report's update rule: the same network trained exactly as the course "
                               "report's code did,\nincluding its shortcuts (output error without the activation's "
                               "derivative, the\nsigmoid's derivative taken of its output), to reproduce its numbers.")
        form.addRow("Output", self.output)
        self.optimizer = QComboBox()
        self.optimizer.addItem("Adam", "adam")
        self.optimizer.addItem("SGD + momentum", "momentum")
        self.optimizer.addItem("SGD (batch 1 = the report)", "sgd")
        self.init = QComboBox()
        for label, key in (("Auto (He/Xavier)", "auto"), ("He", "he"), ("Xavier", "xavier"),
                           ("randn (report v1)", "randn")):
            self.init.addItem(label, key)
        self.init.setToolTip("Weight initialisation")
        row = QHBoxLayout()
        row.addWidget(self.optimizer, 1)
        row.addWidget(QLabel("init"))
        row.addWidget(self.init, 1)
        form.addRow("Optimiser", row)
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
        lay.addLayout(form)
        for combo in (self.output, self.optimizer, self.init):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.set_params(DIGITS.model)
        for signal in (self.layers.changed, self.output.currentIndexChanged, self.optimizer.currentIndexChanged,
                       self.init.currentIndexChanged, self.lr.valueChanged, self.epochs.valueChanged,
                       self.batch.valueChanged, self.l2.valueChanged, self.standardize.toggled, self.early.toggled,
                       self.patience.valueChanged):
            signal.connect(self._update_origin)
        self._update_origin()

    def _on_report(self, index):
        preset = self.report_combo.itemData(index)
        if preset is not None:
            self.preset_chosen.emit(preset)

    def mark_preset(self, preset):
        """The panel now holds ``preset``'s settings (None: forget it)."""
        self._preset = preset
        self._preset_params = None if preset is None else self._comparable(self.params())
        names = [getattr(self.report_combo.itemData(i), "name", None) for i in range(self.report_combo.count())]
        self.report_combo.setCurrentIndex(names.index(preset.name) if preset is not None else 0)
        self._update_origin()

    @staticmethod
    def _comparable(params):
        """The settings the panel shows, per layer (never the random seed)."""
        p = {k: v for k, v in params.items() if k != "random_state"}
        sizes = tuple(p.get("hidden_layer_sizes", ()))
        act = p.get("activation", "relu")
        p["hidden_layer_sizes"] = sizes
        p["activation"] = tuple([act] * len(sizes) if isinstance(act, str) else act)
        return p

    def origin(self):
        """"recommended", "report" (a report experiment, unchanged) or "custom"."""
        now = self._comparable(self.params())
        if self._preset is not None and now == self._preset_params:
            return "report"
        recommended = self._comparable(DIGITS.model)
        return "recommended" if all(now.get(k) == v for k, v in recommended.items() if k in now) else "custom"

    def _update_origin(self, *_):
        origin = self.origin()
        if origin == "report":
            text = f"<b>Settings:</b> the report's experiment “{self._preset.name}”. {self._preset.data_note}"
        elif origin == "recommended":
            text = "<b>Settings:</b> recommended (the app's best for digits)."
        else:
            text = "<b>Settings:</b> changed by hand."
        self.origin_label.setToolTip(text)
        self.origin_label.setText(text)

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

    def describe(self):
        return describe_mlp(self.params())

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
        }


class DigitsModelPanel(QGroupBox):
    """The model choice (the task's ModelChoices: MLP, CNN, …), the chosen model's settings and the random seed.

    One page per model in a stack, so only the chosen model's settings take room: the MLP's and the CNN's
    own pages, and for any other model a page built from its settings (gui/widgets/model_form.py). The
    MLP's widgets are also attributes of this panel (``epochs``, ``layers``, ``report_combo``, …:
    :data:`MLP_WIDGETS`).

    Signals
    -------
    changed() : a setting of the CNN (or of a generic page), or the choice, changed (the CNN's parameter
        count follows)
    model_switched(str) : another model was chosen (its key)
    preset_chosen(Preset) : a report experiment was picked on the MLP's page
    recommended_requested() : "Recommended settings" on the MLP's page, or "Defaults" beside another model
    """

    changed = Signal()
    model_switched = Signal(str)
    preset_chosen = Signal(object)
    recommended_requested = Signal()

    def __init__(self, spec=DIGITS, parent=None):
        super().__init__("Model", parent)
        self.spec = spec
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        top = QHBoxLayout()
        self.choice = QComboBox()
        for m in spec.models:
            self.choice.addItem(m.title, m.key)
        self.choice.setToolTip("The MLP learns from MFCC features; the CNN from log-mel images of the word")
        self.choice.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.choice.setMinimumContentsLength(12)
        self.cnn_defaults_button = QPushButton("Defaults")
        self.cnn_defaults_button.setToolTip("Back to the chosen model's best settings for digits and its features "
                                            "(benchmarks/RESULTS.md)")
        self.cnn_defaults_button.clicked.connect(self.recommended_requested)
        top.addWidget(self.choice, 1)
        top.addWidget(self.cnn_defaults_button)
        lay.addLayout(top)

        self.mlp = MLPPanel()
        self.mlp.preset_chosen.connect(self.preset_chosen)
        self.mlp.recommended_requested.connect(self.recommended_requested)
        for name in MLP_WIDGETS:
            setattr(self, name, getattr(self.mlp, name))
        self.cnn = CNNPanel(examples="clips", classes="digits")
        self.cnn.set_params(DIGITS.model_choice("cnn").params)
        self.pages = ModelPages(spec, {"mlp": self.mlp, "cnn": self.cnn})
        self.pages.changed.connect(self.changed)
        lay.addWidget(self.pages)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(RECOMMENDED_SEED)
        self.seed.setToolTip("Random seed: weights, shuffling, validation split and the train/test split")
        form.addRow("Random seed", self.seed)
        lay.addLayout(form)
        self.choice.currentIndexChanged.connect(self._on_choice)
        self._show_page()

    @property
    def key(self):
        """The chosen model's key ("mlp" or "cnn")."""
        return self.choice.currentData()

    def choose(self, key):
        """Choose model ``key`` as a user would (``model_switched`` is emitted when it changes)."""
        _select_data(self.choice, key)

    def _show_page(self):
        key = self.key
        self.pages.show_model(key)
        self.cnn_defaults_button.setVisible(key != "mlp")  # the MLP's page has its own "Recommended settings"

    def _on_choice(self, *_):
        self._show_page()
        self.model_switched.emit(self.key)
        self.changed.emit()

    def set_params(self, p, model="mlp"):
        """Show ``p`` (the keyword arguments of ``model``'s class) on that model's page; ``random_state``
        sets the seed. Does not change the chosen model."""
        self.pages.set_params(model, p)
        if p.get("random_state") is not None:
            self.seed.setValue(int(p["random_state"]))

    def params(self, model=None):
        """Keyword arguments of the chosen (or the named) model, with the seed as ``random_state``;
        ValueError for a bad field."""
        return {**self.pages.params(model or self.key), "random_state": self.seed.value()}

    def describe(self):
        """The chosen model's settings in one line."""
        return self.pages.describe(self.key)

    def mark_preset(self, preset):
        self.mlp.mark_preset(preset)

    def origin(self):
        """Where the MLP's settings come from: "recommended", "report" or "custom"."""
        return self.mlp.origin()


def describe_mlp(params):
    """One line for an MLP's settings (``get_params()`` of a model, or :meth:`MLPPanel.params`)."""
    sizes = "-".join(str(n) for n in params["hidden_layer_sizes"]) or "no hidden layer"
    act = params["activation"]
    acts = act if isinstance(act, str) else "/".join(dict.fromkeys(act))
    out = {"mse": "MSE", "mse-report": "report's MSE rule"}.get(params["output"], "softmax")
    return (f"MLP {sizes} {acts}, {out}, {params['optimizer']} lr {params['learning_rate']:g}, "
            f"batch {params['batch_size']}, init {params['init']}")


class DigitsTab(TaskTab):
    """Spoken digits with the from-scratch NumPy MLP, or the Keras CNN on log-mel images."""

    class_noun = "digit"

    def check_take_class(self, label, ds):
        """A take is one of the dataset's digits: a word of another kind would clash with them in training."""
        from core.errors import SpeechLabError

        if str(label) not in ds.labels:
            raise SpeechLabError(f"'{label}' is not one of this dataset's digits ({', '.join(ds.labels)}): "
                                 "a take is added to one of them")

    def takes_layout(self, ds):
        """The dataset's own: ``{digit}_{speaker}_{index}.wav`` (FSDD, and the default) or a folder per digit."""
        return ds.layout if ds.layout in ("filename", "folders") else "filename"

    def __init__(self, parent=None):
        self._n_classes = 10
        super().__init__(DIGITS, parent)
        self.features_panel.changed.connect(self._update_io)
        self.model_panel.preset_chosen.connect(self.apply_report_preset)
        self.model_panel.recommended_requested.connect(self.apply_recommended)
        self.model_panel.model_switched.connect(self._on_model_switched)
        self.model_panel.changed.connect(self._update_count)
        self._update_io()
        # The MLP's layers while it learns (weights, gradients, dead or saturated units).
        self.insides = MLPInsides()
        self.lower_tabs.insertTab(1, self.insides, "Insides")
        left = self.model_panel.parentWidget().layout()
        left.insertWidget(left.indexOf(self.model_panel), self.new_voices)  # above the long model box: in view
        self.new_voices.voice_test_requested.connect(self.open_voice_test)
        self.not_a_digit_view = NotADigitView(self)  # the "unknown" threshold: slider, FRR/FAR, curve
        # scrolled: its slider, rates and curve need ~380 px, which on a short screen would otherwise be the
        # lower pane's minimum and leave no room for the strip under the curves
        self.not_a_digit_page = scrolled(self.not_a_digit_view)
        self.lower_tabs.insertTab(2, self.not_a_digit_page, "Not a digit")
        self.model_changed.connect(self.new_voices.set_model_ready)
        self.honest = HonestSplit(self)  # random split vs voices never heard, under the curves
        self._compare_tip = self.honest.view.compare_button.toolTip()
        self._voice_test = None
        self._show_model_kind(self.model_panel.key)  # the restored choice

    def _on_epoch(self, stats):
        super()._on_epoch(stats)
        self.insides.add_epoch(stats)

    def set_bundle(self, bundle):
        super().set_bundle(bundle)
        if bundle is not None:
            self.insides.set_history(bundle.history)

    def build_model_panel(self):
        self.new_voices = NewVoicesPanel(DIGITS)  # augmentation, "not a digit", Test my voice; above the model
        return DigitsModelPanel(self.spec)

    def train_options(self, settings):
        """Augmentation and "not a digit" as the New voices box says."""
        return self.new_voices.train_options()

    def model_request(self):
        panel = self.model_panel
        if panel.key != "mlp":
            choice = self.spec.model_choice(panel.key)
            feature = self.features_panel.config().name
            if choice.feature and feature != choice.feature:
                raise ValueError(f"The {choice.title} model needs the '{choice.feature}' features, not '{feature}'")
            params = panel.params(panel.key)
        else:
            params = self.model_settings()
            acts = params.get("activation")
            if isinstance(acts, (list, tuple)) and len(set(acts)) == 1:
                params["activation"] = acts[0]  # one activation for every layer, as the task and the CLI write it
        seed = int(params.pop("random_state"))
        nv = self.new_voices.state()
        return {"model": panel.key, "model_params": params, "seed": seed,
                "augment": None if nv["augment"] else False, "open_set": None if nv["not_a_digit"] else False,
                "take_templates": nv["take_templates"]}

    def show_request_model(self, request):
        self.model_panel.choose(request.model)  # the panel of *this* model type
        self.model_panel.set_params({**request.model_params, "random_state": request.seed}, model=request.model)
        if request.model == "mlp":
            self.model_panel.mark_preset(None)
        self.new_voices.restore({"augment": bool(request.augment), "not_a_digit": bool(request.open_set),
                                 "take_templates": bool(request.take_templates)})

    def _on_evaluated(self, result):
        super()._on_evaluated(result)
        line = self.not_a_digit_view.evaluated_message(result[0])  # "unknown" is not counted as wrong there
        if line:
            self.message(f"Evaluated the model on {result[0]['n_clips']} clips of {self._evaluated_root}: {line}")

    def _on_trained(self, result):
        super()._on_trained(result)
        bundle = getattr(result, "bundle", None)
        if bundle is not None and (bundle.training or {}).get("open_set_off"):
            # stopped before the threshold was set: the box shows what the model does, not the wish
            self.new_voices.not_a_digit.setChecked(False)

    def open_voice_test(self):
        self._voice_test = open_voice_test(self)
        ds = self.dataset_panel.dataset
        if self._voice_test is not None and ds is not None:  # "Add my takes to training": retrain on data + takes
            self._voice_test.offer_training(ds.root, ds.layout)
            self._voice_test.add_to_training.connect(self.train_with_takes)

    def train_with_takes(self, folder):
        """Retrain in the background on the dataset plus ``folder`` (Test my voice's saved takes: the request
        carries both folders), then the dialog scores the takes again with the new model."""
        from core.errors import SpeechLabError

        dialog, ds = self._voice_test, self.dataset_panel.dataset
        if self.busy or ds is None:
            dialog.training_failed("the tab is busy (wait for it or press Stop)." if self.busy else "no dataset.")
            return
        # later trainings keep the takes too (Leave out drops them); inside the dataset: scanned again
        inside = self.keep_added(folder, ds, n_saved=len(dialog.saved or ()))
        try:
            request = self.train_request()  # the dataset plus every folder of added takes
        except (SpeechLabError, ValueError) as exc:
            dialog.training_failed(str(exc))
            return
        self._bundle_before_takes = self.bundle
        self.runner.busy_changed.connect(self._on_takes_trained)
        self.train_with(request, rescan=inside)

    def _on_takes_trained(self, busy):
        if busy:
            return
        self.runner.busy_changed.disconnect(self._on_takes_trained)
        dialog = self._voice_test
        if dialog is None or not dialog.isVisible():
            return
        if self.bundle is not None and self.bundle is not self._bundle_before_takes:
            dialog.rescore(self.bundle.predict_signal)
        else:
            dialog.training_failed("see the tab's message.")

    def model_settings(self):
        """The MLP's settings (the same-vs-new-voices comparison is offered for the MLP only: with a CNN its
        speaker folds would take many minutes on a laptop)."""
        if self.model_panel.key != "mlp":
            raise ValueError("Comparing same voices with new voices trains the MLP; choose the MLP for it")
        params = self.model_panel.params("mlp")
        params["report_every"] = 50 if params["batch_size"] <= 4 else 0  # keep per-sample SGD visibly alive
        return params

    @staticmethod
    def make_model(settings):
        from core.models.mlp import MLPClassifier

        model = MLPClassifier(**settings)
        model._layer_plan()  # raises ValueError naming the bad setting
        return model

    @staticmethod
    def describe_model(model):  # static: the worker calls it, and a job never holds a widget
        if is_cnn(model):
            return describe_cnn(model.get_params())
        if type(model).__name__ != "MLPClassifier":
            choice = choice_of_model(DIGITS, model)
            return describe_settings(choice, model.get_params()) if choice is not None else type(model).__name__
        return describe_mlp({"hidden_layer_sizes": model.hidden_layer_sizes, "activation": model.activation,
                             "output": model.output, "optimizer": model.optimizer,
                             "learning_rate": model.learning_rate, "batch_size": model.batch_size,
                             "init": model.init})

    def split_seed(self):
        return int(self.model_panel.seed.value())

    def on_dataset(self, ds):
        self._n_classes = len(ds.labels)
        self._update_io()

    def _input_size(self, cfg):
        """The MLP's input size; for features padded to the longest clip it is
        estimated from the longest clip's duration (1 s before a dataset is loaded)."""
        shape = feature_shape(cfg)
        n_in = None if shape is None else int(np.prod(shape))
        if n_in is None:
            summary = self.dataset_panel.summary_info
            longest = summary["duration"]["max"] if summary else 1.0
            _, hop = cfg.frame_sizes(cfg.sr or 16000)
            n_in = 3 * cfg.n_mfcc * (1 + int(longest * (cfg.sr or 16000)) // hop)
        return n_in

    def _update_io(self):
        self.model_panel.layers.set_io_dims(self._input_size(self.features_panel.config()), self._n_classes)
        self._update_count()

    def _update_count(self, *_):
        cfg = self.features_panel.config()
        self.model_panel.cnn.show_param_count(cfg.image_size, self._n_classes, is_image=cfg.name == "logmel-128")

    def _on_model_switched(self, key):
        """Each model comes with its features: the CNN its log-mel images, the MLP the task's default
        (unless the features shown already suit it)."""
        choice = self.spec.model_choice(key)
        name = self.features_panel.config().name
        own = {m.feature for m in self.spec.models if m.feature}
        if choice.feature and name != choice.feature:
            self.features_panel.set_config(self.spec.feature_config(choice.feature))
        elif not choice.feature and name in own:
            self.features_panel.set_config(self.spec.feature_config())
        self._show_model_kind(key)

    def _show_model_kind(self, key):
        """What applies to the MLP only (its Insides, the same-vs-new-voices comparison) follows the choice."""
        mlp = key == "mlp"
        index = self.lower_tabs.indexOf(self.insides)
        if not mlp and self.lower_tabs.currentIndex() == index:
            self.lower_tabs.setCurrentWidget(self.results)
        self.lower_tabs.setTabEnabled(index, mlp)
        self.lower_tabs.setTabToolTip(index, "The MLP's layers while it learns" if mlp
                                      else "The MLP's layers while it learns (choose the MLP)")
        self.honest.view.set_available(mlp, "Trains the MLP: choose the MLP to compare same voices with new voices")
        if mlp:
            self.honest.view.compare_button.setToolTip(self._compare_tip)
        self._update_count()

    def apply_report_preset(self, preset):
        """Set features and model exactly as one of the report's experiments, and say on what data
        the report measured its number."""
        from core.features import FeatureConfig
        from core.presets import resolve_model

        self.model_panel.choose("mlp")  # the report's experiments are MLPs
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
        self.model_panel.mark_preset(preset)
        why = ", as many updates as the report's 5 epochs on AudioMNIST" if n_train else ""
        self.message(f"Report experiment set: {preset.name} ({params['epochs']} epochs{why}). {preset.data_note} "
                     "Press Train.")

    def apply_recommended(self):
        """The app's best configuration for digits and the chosen model: its features, settings and seed 42."""
        key = self.model_panel.key
        choice = self.spec.model_choice(key)
        self.features_panel.set_config(self.spec.feature_config(choice.feature))
        self.model_panel.set_params({**choice.params, "random_state": RECOMMENDED_SEED}, model=key)
        if key == "mlp":
            self.model_panel.mark_preset(None)
            self.message("Recommended settings: default features and MLP (see benchmarks/RESULTS.md).")
        elif key == "cnn":
            self.message("Recommended settings: 32×32 log-mel images and the CNN (see benchmarks/RESULTS.md).")
        else:
            self.message(f"Recommended settings: {choice.title} with its default settings and features.")

    def show_model_params(self, bundle):
        params = bundle.model.get_params()
        if is_cnn(bundle.model):
            self.model_panel.choose("cnn")
            self.model_panel.set_params(params, model="cnn")
            return
        choice = choice_of_model(self.spec, bundle.model)
        if choice is not None and choice.key != "mlp":
            self.model_panel.choose(choice.key)
            self.model_panel.set_params(params, model=choice.key)
            return
        self.model_panel.choose("mlp")
        self.model_panel.set_params(params)
        self.model_panel.mark_preset(None)

    def take_filename(self, label):
        """``{digit}_me_{stamp}.wav`` so saved takes grow a dataset in the FSDD layout."""
        from gui.widgets.recorder import timestamped_name

        digit = label.strip() if label and label.strip().isdigit() else "0"
        return timestamped_name(f"{digit}_me")

    def extra_state(self):
        st = self.model_panel.params("mlp")  # the MLP's settings and the seed, at the top as before the CNN
        try:
            st["cnn"] = self.model_panel.cnn.params()
        except ValueError:
            st["cnn"] = {}
        st["choice"] = self.model_panel.key
        st["pages"] = {}
        for key in self.model_panel.pages.forms():  # models shown by pages built from their settings
            try:
                st["pages"][key] = self.model_panel.pages.params(key)
            except ValueError:
                pass  # a field that cannot be read is not remembered
        st["new_voices"] = self.new_voices.state()
        if self.model_panel.origin() == "report":
            st["report_preset"] = self.model_panel.mlp._preset.name
        return st

    def restore_extra_state(self, st):
        if st:
            self.model_panel.set_params(st)
            if st.get("cnn"):
                self.model_panel.set_params(st["cnn"], model="cnn")
            for key, params in (st.get("pages") or {}).items():
                if key in self.model_panel.pages.forms() and isinstance(params, dict):
                    self.model_panel.set_params(params, model=key)
            self.model_panel.choose(st.get("choice") if st.get("choice") in self.spec.model_keys else "mlp")
            self.new_voices.restore(st.get("new_voices"))
            preset = next((p for p in REPORT_PRESETS if p.name == st.get("report_preset")), None)
            if preset is not None:  # a report experiment survives a restart only visibly
                self.model_panel.mark_preset(preset)
