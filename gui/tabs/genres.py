"""The Genres tab: a Keras CNN on log-mel windows (or summary features with logistic regression),
track-level results, and a genre timeline for songs and live music.

TensorFlow is imported only in the worker, when a CNN is built or a CNN
model file is loaded; this module imports neither TensorFlow nor Keras (the
parameter count comes from :func:`core.models.cnn.layer_plan`).
"""
from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter,
    QVBoxLayout, QWidget,
)

from core.presets import (
    REPORT_GENRES_ACCURACY, REPORT_GENRES_CNN, REPORT_GENRES_DATA, REPORT_GENRES_SEED, report_genres_features,
)
from core.tasks import GENRES
from gui.panels import _select_data, disable_unavailable_models
from gui.tabs.base import TaskTab
from gui.widgets.cnn_panel import CNNPanel, describe_cnn, is_cnn
from gui.widgets.genre_timeline import GenreTimeline, LiveGenreListener
from gui.widgets.model_form import ModelPages, choice_of_model, describe_settings

# The course report's Q3 model and training (whole 128×128 clip images, random 80/20, seed 42): one home in core.
REPORT_CNN = REPORT_GENRES_CNN
REPORT_ACCURACY = REPORT_GENRES_ACCURACY
# The CNN panel's widgets, also reachable as attributes of the Genres model panel (tests and benchmarks use them).
CNN_WIDGETS = ("blocks", "head", "dense", "dropout", "optimizer", "lr", "epochs", "batch", "early", "patience",
               "validation", "freq_mask", "time_mask", "time_shift", "standardize", "param_count")


class WindowsPanel(QGroupBox):
    """Window length, training overlap and image size: the parts of the features a genre model is about.

    Kept in step with the shared FeaturesPanel through its public ``config``/``set_config``.
    """

    changed = Signal()

    def __init__(self, features_panel, parent=None):
        super().__init__("Windows", parent)
        self.features_panel = features_panel
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.setContentsMargins(6, 6, 6, 6)
        self.window = QDoubleSpinBox()
        self.window.setRange(0.0, 30.0)
        self.window.setSingleStep(0.5)
        self.window.setDecimals(1)
        self.window.setSuffix(" s")
        self.window.setSpecialValueText("whole clip (the report)")
        self.window.setToolTip("Cut every clip into windows this long: each window is one training example and a\n"
                               "track's genre is the mean of its windows' probabilities. 0 = one image per clip.")
        self.overlap = QSpinBox()
        self.overlap.setRange(0, 90)
        self.overlap.setSingleStep(25)
        self.overlap.setSuffix(" %")
        self.overlap.setToolTip("Share of a window repeated in the next (more training examples; prediction uses it too)")
        self.image = QSpinBox()
        self.image.setRange(16, 256)
        self.image.setSingleStep(16)
        self.image.setToolTip("Side of the log-mel image the CNN sees (the report: 128)")
        row = QHBoxLayout()
        row.addWidget(self.window, 2)
        row.addWidget(QLabel("overlap"))
        row.addWidget(self.overlap, 1)
        form.addRow("Window", row)
        self.image_label = QLabel("Image size")
        form.addRow(self.image_label, self.image)
        for w in (self.window, self.overlap, self.image):
            w.valueChanged.connect(self._push)
        features_panel.changed.connect(self.pull)
        self.pull()

    def pull(self):
        """Show the features panel's window settings."""
        cfg = self.features_panel.config()
        for w in (self.window, self.overlap, self.image):
            w.blockSignals(True)
        self.window.setValue(cfg.window_seconds or 0.0)
        self.overlap.setValue(int(round(100 * cfg.window_overlap)))
        self.image.setValue(cfg.image_size)
        for w in (self.window, self.overlap, self.image):
            w.blockSignals(False)
        self.overlap.setEnabled(cfg.window_seconds is not None)
        is_image = cfg.name == "logmel-128"
        self.image.setVisible(is_image)
        self.image_label.setVisible(is_image)
        self.changed.emit()

    def _push(self, *_):
        cfg = self.features_panel.config()
        self.features_panel.set_config(dataclasses.replace(
            cfg, window_seconds=self.window.value() or None, window_overlap=self.overlap.value() / 100.0,
            image_size=self.image.value()))


class GenreModelPanel(QGroupBox):
    """Model choice and the chosen model's settings page (the CNN's own, with a live parameter count; a page
    built from its settings for any other model: core.models.choices.Setting), and the random seed."""

    changed = Signal()
    model_switched = Signal(str)
    report_requested = Signal()

    def __init__(self, spec=GENRES, parent=None):
        super().__init__("Model", parent)
        self.spec = spec
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        self.choice = QComboBox()
        for m in spec.models:
            self.choice.addItem(m.title, m.key)
        self.choice.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.choice.setMinimumContentsLength(12)
        disable_unavailable_models(self.choice, spec)
        self.choice.currentIndexChanged.connect(self._on_choice)
        top.addWidget(self.choice, 1)
        lay.addLayout(top)
        top = QHBoxLayout()
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("The measured best settings of the chosen model (benchmarks/RESULTS.md)")
        self.defaults_button.clicked.connect(self._defaults)
        self.report_button = QPushButton("Reproduce the report")
        self.report_button.setToolTip("The course report's Q3: one 128×128 log-mel image per whole clip, Conv2D 32 →\n"
                                      "MaxPool 3/2 → BatchNorm → Flatten → softmax, Adam 1e-4, 30 epochs, batch 32,\n"
                                      f"random 80/20 split with seed 42 (the report: {REPORT_ACCURACY:.0f} % on GTZAN)")
        self.report_button.clicked.connect(self.report_requested)
        top.addWidget(self.defaults_button)
        top.addWidget(self.report_button)
        top.addStretch(1)
        lay.addLayout(top)

        self.cnn = CNNPanel(examples="tracks", classes="genres")
        # the CNN's widgets under the names this panel's callers (tests, benchmarks) know
        for name in CNN_WIDGETS:
            setattr(self, name, getattr(self.cnn, name))
        self.pages = ModelPages(spec, {"cnn": self.cnn})
        self.pages.changed.connect(self.changed)
        lay.addWidget(self.pages)

        form = QFormLayout()
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(42)
        self.seed.setToolTip("Random seed: weights, shuffling, augmentation and the train/test split")
        form.addRow("Random seed", self.seed)
        lay.addLayout(form)
        self.cnn.set_params(spec.model_choice("cnn").params)
        self._on_choice()

    def _defaults(self):
        self.set_params(self.key, self.spec.model_choice(self.key).params)
        self.changed.emit()

    def _on_choice(self, *_):
        key = self.choice.currentData()
        self.pages.show_model(key)
        self.model_switched.emit(key)
        self.changed.emit()

    @property
    def key(self):
        return self.choice.currentData()

    def set_params(self, key, p):
        """Show ``p`` (keyword arguments of model ``key``'s class) on its page; ``random_state`` sets the seed."""
        self.pages.set_params(key, p)
        if p.get("random_state") is not None:
            self.seed.setValue(int(p["random_state"]))

    def params(self, key=None):
        """Constructor keywords of the chosen (or the named) model; raises ValueError for a bad field."""
        return {**self.pages.params(key or self.key), "random_state": self.seed.value()}

    def describe(self):
        """The chosen model's settings in one line."""
        return self.pages.describe(self.key)

    def show_param_count(self, image_size, n_classes, *, is_image=True):
        """Live parameter count and output size of the CNN (no TensorFlow needed)."""
        self.cnn.show_param_count(image_size, n_classes, is_image=is_image)


class GenresTab(TaskTab):
    """Music genres: a CNN on log-mel windows, track-level results, genre timelines."""

    class_noun = "genre"

    def __init__(self, parent=None):
        self._n_classes = 10
        super().__init__(GENRES, parent)
        # Windows settings right under the features (they are part of the feature config).
        left = self.features_panel.parentWidget().layout()
        self.windows_panel = WindowsPanel(self.features_panel)
        left.insertWidget(left.indexOf(self.features_panel) + 1, self.windows_panel)
        # The microphone tab grows a genre timeline and a rolling-window listener below the recorder.
        self.timeline = GenreTimeline()
        self.live = LiveGenreListener(self.timeline)
        index = self.lower_tabs.indexOf(self.recorder)
        title = self.lower_tabs.tabText(index)
        self.lower_tabs.removeTab(index)
        box = QWidget()
        box_lay = QVBoxLayout(box)
        box_lay.setContentsMargins(0, 0, 0, 0)
        box_lay.setSpacing(2)
        box_lay.addWidget(self.live)
        box_lay.addWidget(self.timeline)
        self.mic_split = QSplitter(Qt.Vertical)
        self.mic_split.addWidget(self.recorder)
        self.recorder.show()  # removeTab hid it
        self.mic_split.addWidget(box)
        self.mic_split.setStretchFactor(0, 3)
        self.mic_split.setStretchFactor(1, 1)
        self.mic_split.setChildrenCollapsible(False)
        self.lower_tabs.insertTab(index, self.mic_split, title)
        self.recorder.prediction_made.connect(self.timeline.show_prediction)

        self.model_panel.changed.connect(self._update_count)
        self.model_panel.model_switched.connect(self._on_model_switched)
        if self.model_panel.key != GENRES.models[0].key:  # the default's encoder cannot run here
            self._on_model_switched(self.model_panel.key)
        self.model_panel.report_requested.connect(self.apply_report_preset)
        self.features_panel.changed.connect(self._update_count)
        self._update_count()
        if self.bundle is None:
            self.live.set_predictor(None)

    # ------------------------------------------------------------------ hooks

    def build_model_panel(self):
        return GenreModelPanel(self.spec)

    def model_settings(self):
        panel = self.model_panel
        choice = GENRES.model_choice(panel.key)
        feature = self.features_panel.config().name
        if choice.feature and feature != choice.feature:
            raise ValueError(f"The {choice.title} model needs the '{choice.feature}' features, not '{feature}'")
        params = panel.params()
        return {"choice": choice.key, "type": choice.type, "params": params, "epochs": params.get("epochs")}

    def model_request(self):
        settings = self.model_settings()
        params = dict(settings["params"])
        seed = int(params.pop("random_state"))
        return {"model": settings["choice"], "model_params": params, "seed": seed, "augment": False,
                "open_set": False}

    def show_request_model(self, request):
        panel = self.model_panel
        _select_data(panel.choice, request.model)  # the page of *this* model
        panel.set_params(request.model, {**request.model_params, "random_state": request.seed})

    def show_model_params(self, bundle):
        """A model file without its request (an older version's): its model's page and settings."""
        choice = choice_of_model(self.spec, bundle.model)
        if choice is not None:
            _select_data(self.model_panel.choice, choice.key)
            self.model_panel.set_params(choice.key, bundle.model.get_params())

    @staticmethod
    def make_model(settings):
        from core.models import make_model

        return make_model(settings["type"], **settings["params"])

    @staticmethod
    def describe_model(model):  # static: the worker calls it, and a job never holds a widget
        if is_cnn(model):
            return describe_cnn(model.get_params())
        if type(model).__name__ == "LinearClassifier":  # either logistic regression (their features differ)
            return f"logistic regression C={model.C:g}, {model.max_iter} iterations"
        choice = choice_of_model(GENRES, model)
        return describe_settings(choice, model.get_params()) if choice is not None else type(model).__name__

    def split_seed(self):
        return int(self.model_panel.seed.value())

    def on_dataset(self, ds):
        self._n_classes = max(2, len(ds.labels))
        self.timeline.set_labels(ds.labels)
        self._update_count()

    def set_bundle(self, bundle):
        super().set_bundle(bundle)
        if bundle is None:
            self.live.set_predictor(None)
            return
        self.timeline.set_labels(bundle.labels)
        self.live.set_predictor(bundle.predict_signal, window_seconds=bundle.feature_config.window_seconds or 5.0)

    def take_filename(self, label):
        """``<genre>.<stamp>.wav`` so saved takes can join a GTZAN-layout folder."""
        import datetime

        genre = (label or "take").strip().replace("/", "_") or "take"
        return f"{genre}.{datetime.datetime.now().strftime('%Y%m%d%H%M%S')}.wav"

    # ------------------------------------------------------------------ behaviour

    def _update_count(self, *_):
        cfg = self.features_panel.config()
        self.model_panel.show_param_count(cfg.image_size, self._n_classes, is_image=cfg.name == "logmel-128")

    def _on_model_switched(self, key):
        """Each model comes with its features; the window settings stay as the user set them."""
        choice = GENRES.model_choice(key)
        cfg = self.features_panel.config()
        if choice.feature and cfg.name != choice.feature:
            new = GENRES.feature_config(choice.feature)
            new = dataclasses.replace(new, window_seconds=cfg.window_seconds, window_overlap=cfg.window_overlap)
            self.features_panel.set_config(new)

    def apply_report_preset(self):
        """The report's Q3 experiment: whole-clip 128×128 images, its CNN and training, random 80/20 with seed 42."""
        _select_data(self.model_panel.choice, "cnn")
        self.features_panel.set_config(report_genres_features(GENRES.feature_config("logmel-128")))
        self.model_panel.set_params("cnn", {**REPORT_CNN, "random_state": REPORT_GENRES_SEED})
        panel = self.dataset_panel
        _select_data(panel.split_combo, "random")
        panel.test_size.setValue(0.2)
        self.message(f"Report set: one 128×128 image per whole clip, Conv2D 32 → MaxPool 3/2 → BatchNorm → Flatten, "
                     f"Adam 1e-4, 30 epochs, batch 32, random 80/20. The report measured {REPORT_ACCURACY:.0f} % "
                     f"on {REPORT_GENRES_DATA}; on the 50 gtzan-dev tracks (5-fold by track) the same network "
                     "measured 38 ± 7 % (benchmarks/RESULTS.md). Press Train.")

    def extra_state(self):
        pages = {}
        for key in self.model_panel.pages.keys():
            try:
                pages[key] = self.model_panel.params(key)
            except ValueError:
                pass  # a field that cannot be read is not remembered
        return {"choice": self.model_panel.key, "cnn": pages.pop("cnn", {}), "pages": pages}

    def restore_extra_state(self, st):
        if not st:
            return
        pages = dict(st.get("pages") or {})
        if st.get("logreg") and "features-logreg" not in pages:  # remembered by an older version
            pages["features-logreg"] = st["logreg"]
        if st.get("cnn"):
            pages["cnn"] = st["cnn"]
        for key, params in pages.items():
            if key in self.model_panel.pages.keys() and isinstance(params, dict):
                self.model_panel.set_params(key, params)
        _select_data(self.model_panel.choice, st.get("choice", "cnn"))

    def shutdown(self):
        self.live.shutdown()
        super().shutdown()
