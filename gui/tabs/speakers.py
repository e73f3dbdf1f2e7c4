"""The Speakers tab: who is speaking, "unknown" for voices never heard, and new speakers from the microphone.

Models: scikit-learn logistic regression and SGD (the report's Q4, one
click away) and the NumPy MLP, all with live curves and Stop. Every model
is trained with an open set (:mod:`core.openset`): speakers the user marks
as unknown are left out of training and tested as voices never heard, and
the "unknown" threshold is set from held-out training clips. The results get
an "Unknown speakers" view (threshold slider, confusion matrix with an
"unknown" row and column, DET curve), and "Add speaker…" records a new
voice, saves the takes into the dataset folder and retrains in the background.
"""
from __future__ import annotations

import pathlib

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
    QListWidgetItem, QPushButton, QSpinBox, QVBoxLayout,
)

from core.errors import SpeechLabError
from core.models.choices import REPORT_MODELS, REPORT_PRESETS
from core.openset import DEFAULT_METHOD, METHODS, TARGET_FRR, method_title
from core.tasks import SPEAKERS
from gui.panels import _select_data, disable_unavailable_models
from gui.tabs.base import TaskTab, scrolled
from gui.widgets.model_form import ModelPages, choice_of_model, describe_settings
from gui.widgets.open_set import OpenSetView


class SpeakersModelPanel(QGroupBox):
    """Model choice and the chosen model's settings page (built from the settings its model type declares:
    gui/widgets/model_form.py), the report's presets, the random seed, and the open-set options."""

    preset_chosen = Signal(object)
    enrol_clicked = Signal()
    model_switched = Signal(str)  # another model was chosen (its key)

    def __init__(self, spec=SPEAKERS, parent=None):
        super().__init__("Model", parent)
        self.spec = spec
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.model_combo = QComboBox()
        for choice in spec.models:
            self.model_combo.addItem(choice.title, choice.key)
        self.model_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(12)
        disable_unavailable_models(self.model_combo, spec)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        form.addRow("Model", self.model_combo)
        self.report_combo = QComboBox()
        self.report_combo.addItem("— reproduce the report —", None)
        for p in REPORT_PRESETS:
            self.report_combo.addItem(f"{p['title']} (report: {p['report_accuracy']:.1f} %)", p)
        self.report_combo.setToolTip("Set features and model exactly as one of the course report's Q4 experiments")
        self.report_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.report_combo.setMinimumContentsLength(12)
        self.report_combo.activated.connect(self._on_report)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(42)
        self.seed.setToolTip("Random seed: the split, the threshold hold-out and the model")
        row = QHBoxLayout()  # the seed beside the report's experiments: one row less on a short screen
        row.addWidget(self.report_combo, 1)
        row.addWidget(QLabel("seed"))
        row.addWidget(self.seed)
        form.addRow("Report", row)
        lay.addLayout(form)
        # one settings page per model, built from the settings its model type declares (core.models.choices)
        self.pages = ModelPages(spec)
        lay.addWidget(self.pages)

        box = QGroupBox("Unknown speakers")
        olay = QVBoxLayout(box)
        olay.setContentsMargins(6, 6, 6, 6)
        hint = QLabel("Ticked speakers are left out of training and tested as voices never heard.")
        hint.setWordWrap(True)
        olay.addWidget(hint)
        self.unknown_list = QListWidget()
        self.unknown_list.setMaximumHeight(90)
        self.unknown_list.setToolTip("Ticked speakers are never trained on; the results show how often the "
                                     "model wrongly names them (false accepts)")
        olay.addWidget(self.unknown_list)
        oform = QFormLayout()
        self.method = QComboBox()
        for m in METHODS:
            self.method.addItem(method_title(m), m)
        _select_data(self.method, DEFAULT_METHOD)
        self.method.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(20)  # long titles never widen the column (1024-px screens)
        self.target = QDoubleSpinBox()
        self.target.setRange(0.01, 0.3)
        self.target.setSingleStep(0.01)
        self.target.setValue(TARGET_FRR)
        self.target.setToolTip("The automatic threshold rejects this share of known speakers' held-out training clips")
        self.other = QCheckBox("test noise/other folders")
        self.other.setToolTip("Folders such as _background_noise_ or other (never classes) are tested as "
                              "voices never heard")
        self.other.setChecked(True)
        oform.addRow("Scoring", self.method)
        oform.addRow("Target false rejects", self.target)
        olay.addLayout(oform)
        self.enrol_button = QPushButton("Add speaker…")
        self.enrol_button.setToolTip("Record a new voice (or pick files), save it into the dataset folder and retrain")
        self.enrol_button.clicked.connect(self.enrol_clicked)
        row = QHBoxLayout()
        row.addWidget(self.other, 1)
        row.addWidget(self.enrol_button)
        olay.addLayout(row)
        lay.addWidget(box)
        self.set_model(spec.models[0].key, spec.models[0].params)

    # ------------------------------------------------------------------ model

    @property
    def key(self):
        return self.model_combo.currentData()

    def _choice(self):
        return self.spec.model_choice(self.key)

    def _on_model(self, _):
        self.pages.show_model(self.key)
        self.model_switched.emit(self.key)

    def _on_report(self, index):
        preset = self.report_combo.itemData(index)
        if preset is not None:
            self.preset_chosen.emit(preset)

    def set_model(self, key, params):
        """Choose model ``key`` and show ``params`` (keyword arguments of its class) on its page."""
        self.model_combo.blockSignals(True)
        _select_data(self.model_combo, key)
        self.model_combo.blockSignals(False)
        self.pages.set_params(key, params)
        self.pages.show_model(key)

    def params(self, key=None):
        """Keyword arguments of the chosen (or the named) model, without the seed; ValueError naming a bad field."""
        return self.pages.params(key or self.key)

    def describe(self):
        """The chosen model's settings in one line."""
        return self.pages.describe(self.key)

    # --------------------------------------------------------------- open set

    def set_speakers(self, labels, checked=()):
        checked = set(checked)
        self.unknown_list.clear()
        for lab in labels:
            it = QListWidgetItem(str(lab))
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if lab in checked else Qt.CheckState.Unchecked)
            self.unknown_list.addItem(it)

    def unknown_speakers(self):
        return [self.unknown_list.item(i).text() for i in range(self.unknown_list.count())
                if self.unknown_list.item(i).checkState() == Qt.CheckState.Checked]

    def set_unknown(self, names):
        names = set(names)
        for i in range(self.unknown_list.count()):
            it = self.unknown_list.item(i)
            it.setCheckState(Qt.CheckState.Checked if it.text() in names else Qt.CheckState.Unchecked)

    def open_set(self):
        return {"unknown_labels": tuple(self.unknown_speakers()), "method": self.method.currentData(),
                "target_frr": self.target.value(), "use_other_folders": self.other.isChecked()}


class SpeakersTab(TaskTab):
    """Speaker recognition with an open set and enrolment."""

    class_noun = "speaker"

    enrolled = Signal(object)  # the TrainResult of an enrolment

    def __init__(self, parent=None):
        self.enrol_device = None  # None: the microphone chosen in the Microphone tab
        self._pending_unknown = []
        super().__init__(SPEAKERS, parent)
        self.open_set_view = OpenSetView()
        # scrolled, as the Digits tab's "Not a digit": on a short screen its matrix keeps a readable height
        self.open_set_page = scrolled(self.open_set_view)
        self.lower_tabs.insertTab(1, self.open_set_page, "Unknown speakers")
        self.open_set_view.threshold_changed.connect(self._on_threshold)
        self.model_changed.connect(self._on_model_changed)
        self.model_panel.model_switched.connect(self._on_model_switched)
        self.recorder.enable_evidence(self.evidence_rates, self.decide_over_words)
        self.model_panel.preset_chosen.connect(self.apply_report_preset)
        self.model_panel.enrol_clicked.connect(self.enrol_dialog)

    # --------------------------------------------------------------- hooks

    def build_model_panel(self):
        return SpeakersModelPanel(self.spec)

    def model_settings(self):
        from core.openset import OpenSetConfig

        p = self.model_panel
        choice = p._choice()
        params = p.params()  # the seed is given to the model as random_state where it takes one (make_model)
        open_set = p.open_set()
        OpenSetConfig(**open_set, random_state=p.seed.value())  # a bad setting fails here, in one line
        # the plot's x range: an MLP runs its epochs; a linear model usually ends long before max_iter
        epochs = params.get("epochs") if choice.type == "mlp" else None
        return {"type": choice.type, "params": params, "open_set": open_set, "epochs": epochs,
                "seed": p.seed.value()}

    def model_request(self):
        settings = self.model_settings()
        params = dict(settings["params"])
        params.pop("random_state", None)
        open_set = dict(settings["open_set"], unknown_labels=list(settings["open_set"]["unknown_labels"]))
        return {"model": self.model_panel.key, "model_params": params, "seed": int(settings["seed"]),
                "augment": False, "open_set": open_set}

    def show_request_model(self, request):
        p = self.model_panel
        p.set_model(request.model, request.model_params)  # the page of *this* model
        p.seed.setValue(int(request.seed))
        os_ = request.open_set or {}
        _select_data(p.method, os_.get("method"))
        if "target_frr" in os_:
            p.target.setValue(float(os_["target_frr"]))
        p.other.setChecked(bool(os_.get("use_other_folders", True)))
        p.set_unknown(list(os_.get("unknown_labels") or ()))
        self._pending_unknown = list(os_.get("unknown_labels") or ())  # ticked once a rescan lists the speakers

    @staticmethod
    def make_model(settings):
        import inspect

        from core.models import make_model, model_class

        params = dict(settings["params"])
        if "random_state" in inspect.signature(model_class(settings["type"]).__init__).parameters:
            params["random_state"] = settings["seed"]
        return make_model(settings["type"], **params)

    def train_options(self, settings):
        from core.openset import OpenSetConfig

        return {"open_set": OpenSetConfig(**settings["open_set"], random_state=settings["seed"])}

    def split_seed(self):
        return int(self.model_panel.seed.value())

    @staticmethod
    def describe_model(model):  # static: the worker calls it, and a job never holds a widget
        name = type(model).__name__
        if name == "LinearClassifier":
            if model.kind == "logreg":
                return f"logistic regression C={model.C:g}, {model.solver}"
            return f"SGD log loss alpha={model.alpha:g}, {model.learning_rate}"
        if name == "MLPClassifier":
            sizes = "-".join(str(n) for n in model.hidden_layer_sizes) or "no hidden layer"
            return f"MLP {sizes}, lr {model.learning_rate:g}"
        choice = choice_of_model(SPEAKERS, model)
        return describe_settings(choice, model.get_params()) if choice is not None else name

    def show_model_params(self, bundle):
        """A model file without its request (an older version's): its model's page and settings."""
        choice = choice_of_model(self.spec, bundle.model)
        if choice is not None:
            self.model_panel.set_model(choice.key, bundle.model.get_params())

    def on_dataset(self, ds):
        keep = set(self.model_panel.unknown_speakers()) | set(self._pending_unknown)
        self._pending_unknown = []
        self.model_panel.set_speakers(ds.labels, keep & set(ds.labels))

    def take_filename(self, label):
        """``<speaker>/<date>_<time>.wav``: a take goes into the folder of the speaker typed in the label field."""
        import datetime

        name = (label or "").strip() or "take"
        return f"{name}/{datetime.datetime.now():%Y%m%d_%H%M%S}.wav"

    def extra_state(self):
        p = self.model_panel
        pages = {}
        for key in p.pages.keys():
            try:
                pages[key] = p.params(key)
            except ValueError:
                pass  # a field that cannot be read is not remembered
        return {"model": p.key, "params": pages.get(p.key, {}), "pages": pages, "open_set": p.open_set(),
                "seed": p.seed.value()}

    def restore_extra_state(self, st):
        if not st:
            return
        p = self.model_panel
        for key, params in (st.get("pages") or {}).items():
            if key in p.pages.keys() and isinstance(params, dict):
                p.pages.set_params(key, params)
        key = st.get("model")
        if key in self.spec.model_keys:
            p.set_model(key, st.get("params") or self.spec.model_choice(key).params)
        os_ = st.get("open_set") or {}
        _select_data(p.method, os_.get("method"))
        if "target_frr" in os_:
            p.target.setValue(float(os_["target_frr"]))
        p.other.setChecked(bool(os_.get("use_other_folders", True)))
        self._pending_unknown = list(os_.get("unknown_labels", ()))
        if "seed" in st:
            p.seed.setValue(int(st["seed"]))

    # ---------------------------------------------------------------- presets

    def apply_report_preset(self, preset):
        """Features and model exactly as one of the report's Q4 experiments."""
        from core.features import FeatureConfig

        self.features_panel.set_config(FeatureConfig(**preset["feature"]))
        params = REPORT_MODELS[preset["model"]]
        key = "logreg" if params["kind"] == "logreg" else "sgd"
        self.model_panel.set_model(key, params)
        self.dataset_panel.test_size.setValue(0.2)
        self.message(f"Report experiment set: {preset['title']} (the report: {preset['report_accuracy']:.1f} % "
                     "on its 5 speakers). Press Train.")

    # ---------------------------------------------------------------- open set

    def _on_model_switched(self, key):
        """A model that needs its own features (the voice encoder's) brings them along."""
        from core.openset import METHOD_OF_MODEL

        choice = SPEAKERS.model_choice(key)
        if choice.feature and self.features_panel.config().name != choice.feature:
            self.features_panel.set_config(SPEAKERS.feature_config(choice.feature))
        _select_data(self.model_panel.method, METHOD_OF_MODEL.get(choice.type, DEFAULT_METHOD))

    def _on_model_changed(self, bundle):
        self.recorder.refresh_evidence()
        os_ = bundle.open_set if bundle is not None else None
        metrics = (bundle.metrics or {}).get("open_set") if bundle is not None else None
        if os_ is None:
            self.open_set_view.set_open_set(None, [])
            return
        self.open_set_view.set_open_set(metrics, bundle.labels, method=os_["method"],
                                        threshold=os_["thresholds"][os_["method"]])

    def _on_threshold(self, method, threshold):
        """The slider's threshold and scoring become the model's (microphone, files, saving)."""
        if self.bundle is None or not self.bundle.open_set:
            return
        self.bundle.open_set["method"] = method
        self.bundle.open_set["thresholds"] = {**self.bundle.open_set["thresholds"], method: float(threshold)}
        self.recorder.refresh_evidence()

    def decide_over_words(self, predictions):
        """One decision from the last words heard: their evidence pooled with this model's open set (the
        threshold calibrated for that many words); None without a model."""
        from core.openset import decide_over

        b = self.bundle
        if b is None or not b.open_set:
            return None
        return decide_over(predictions, open_set=b.open_set, labels=list(b.labels))

    def evidence_rates(self, words):
        """The model's false rejects / accepts when ``words`` test clips of a voice make one decision, at its
        current scoring and threshold (for the microphone's "decide over N words"); None without an open set."""
        from core.openset import evidence_rates, threshold_of, words_threshold

        b = self.bundle
        metrics = (b.metrics or {}).get("open_set") if b is not None else None
        if not b or not b.open_set or not metrics or "clips" not in metrics:
            return None
        method = b.open_set["method"]
        if method not in metrics["clips"].get("scores", {}):
            return None
        threshold = words_threshold(b.open_set, threshold_of(b.open_set), words)
        return evidence_rates(metrics["clips"], method, threshold, words)

    # --------------------------------------------------------------- enrolment

    def enrolment_folder(self):
        """Where new speakers' takes go: the dataset folder, or the user's data folder for the demo voices."""
        from core.paths import data_dir

        folder = self.dataset_panel.folder_edit.text().strip()
        if not folder or self.dataset_panel.dataset is None:
            return str(data_dir() / "enrolled-speakers")
        ds = self.dataset_panel.dataset
        return ds.root

    def enrol_dialog(self):
        from gui.dialogs.enrol import EnrolDialog

        if self.busy:
            self.message("Busy: stop the running task first.")
            return
        if self.dataset_panel.dataset is None:
            self.message("Load a dataset first (or press Demo): the new speaker is trained with it.", error=True)
            return
        device = self.enrol_device or self.recorder._current_device_name()
        dlg = EnrolDialog(self, folder=self.enrolment_folder(), device=device,
                          seconds=self.spec.record_seconds, existing=self.dataset_panel.dataset.labels)
        self._enrol_dialog = dlg
        if dlg.exec():
            self.enrol(dlg.name(), dlg.takes(), dlg.files())
        self._enrol_dialog = None

    def enrol(self, name, takes, files=()):
        """Save ``takes`` [(y, sr)] and ``files`` as ``<folder>/<name>/<n>.wav`` (never overwriting) and
        retrain in the background (the current model's settings, or the panel's when there is none)."""
        from core.enrolment import check_speaker_name

        if self.busy:
            self.message("Busy: stop the running task first.")
            return False
        try:
            name = check_speaker_name(name)
            settings = self.model_settings()
            feature_config = self.features_panel.config()
        except (SpeechLabError, ValueError) as exc:
            self.message(str(exc), error=True)
            return False
        ds = self.dataset_panel.dataset
        if ds is None:
            self.message("Load a dataset first.", error=True)
            return False
        folder, bundle = self.enrolment_folder(), self.bundle
        takes, files = list(takes), list(files)
        make_model, open_set = self.make_model, self.train_options(settings)["open_set"]
        split_seed, test_size = self.split_seed(), self.dataset_panel.split()[1]
        task = self.spec.key

        def job(report, should_stop):
            from core.audio import load_audio
            from core.datasets import summarize
            from core.enrolment import enrol, save_takes, with_enrolled
            from core.training import SplitConfig, train_model

            loaded = [load_audio(f) for f in files]  # picked files are saved as WAVs beside the takes
            written = save_takes(folder, name, takes + loaded)
            common = dict(on_epoch=lambda s: report("epoch", s), should_stop=should_stop,
                          on_progress=lambda p: report("progress", p))
            if bundle is not None and bundle.open_set is not None:
                result = enrol(bundle, name=name, files=written, ds=ds, **common)
            else:
                data = with_enrolled(ds, {name: written})
                result = train_model(data, task=task, feature_config=feature_config, model=make_model(settings),
                                     split=SplitConfig(kind="random", test_size=test_size, random_state=split_seed),
                                     open_set=open_set, **common)
                result.bundle.training["enrolled"] = {name: written}
            new_ds = with_enrolled(ds, result.bundle.training["enrolled"])
            return result, new_ds, summarize(new_ds), written

        def connect(w):
            w.progress.connect(self.progress_panel.show_extraction)
            w.epoch.connect(self._on_epoch)
            w.finished.connect(self._on_enrolled)
            w.failed.connect(self._on_failed)
            w.cancelled.connect(self._on_training_cancelled)

        self._enrol_name = name
        self.plot.reset(settings.get("epochs"))
        self.runner.start(job, connect=connect)
        self.message(f"Saving {len(takes) + len(files)} recording(s) of '{name}' into {folder}/{name}/ "
                     "and retraining…")
        return True

    def _on_enrolled(self, value):
        result, new_ds, summary, written = value
        self.dataset_panel.set_dataset(new_ds, summary, is_demo=not self.dataset_panel.folder_edit.text().strip())
        self.model_panel.set_speakers(new_ds.labels, self.model_panel.unknown_speakers())
        self._on_trained(result)
        acc = result.metrics["per_class"].get(self._enrol_name, {}).get("accuracy")
        folder = pathlib.Path(written[0]).parent if written else ""
        self.message(f"Added speaker '{self._enrol_name}': {len(written)} recording(s) saved in {folder}; "
                     f"retrained on {len(result.bundle.labels)} speaker{'' if len(result.bundle.labels) == 1 else 's'}, test accuracy "
                     f"{result.metrics['accuracy']:.1%}" + (f" ({self._enrol_name}: {acc:.0%})" if acc is not None
                                                             else "")
                     + ". Use 'Listen continuously' in Microphone & files to see who is speaking.")
        self.enrolled.emit(result)
