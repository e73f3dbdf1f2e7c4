"""Panels shared by every task tab: dataset, features, training options."""
from __future__ import annotations

import dataclasses
import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSizePolicy, QSpinBox, QToolButton,
    QVBoxLayout, QWidget,
)

from core.features import FeatureConfig

FEATURE_LABELS = {
    "mfcc-full": "MFCC + Δ + ΔΔ (full, fixed frames)",
    "mfcc-mean": "MFCC mean over time",
    "mfcc-stats": "MFCC+Δ+ΔΔ statistics (mean, std, min, max)",
    "spectral": "Spectral centroid, ZCR, RMS (means)",
    "logmel-128": "Log-mel image (size×size)",
    "music-stats": "Music summary: MFCC, chroma, spectral, ZCR, RMS (mean, std)",
    "music-embedding": "Pretrained music encoder (musicnn, MSD)",
    "voice-embedding": "Pretrained voice encoder (GE2E)",
    "voice-mfcc": "Pretrained voice encoder (GE2E) + MFCC statistics",
}


def disable_unavailable_models(combo, task):
    """Grey out the models whose pretrained encoder cannot run here (combo data: model keys)."""
    from core.features import ENCODER_FEATURES

    for i in range(combo.count()):
        choice = task.model_choice(combo.itemData(i))
        encoder = ENCODER_FEATURES.get(choice.feature)
        if encoder is None:
            continue
        from core.encoders import unavailable

        reason = unavailable(encoder)
        if reason:
            item = combo.model().item(i)
            item.setEnabled(False)
            item.setToolTip(f"Not available: {reason}")
    _leave_disabled_item(combo)


def _leave_disabled_item(combo):
    """When the current item is greyed out (the default needs missing weights), choose the first usable one."""
    model = combo.model()
    if combo.currentIndex() >= 0 and not model.item(combo.currentIndex()).isEnabled():
        for i in range(combo.count()):
            if model.item(i).isEnabled():
                combo.setCurrentIndex(i)
                break


def disable_unavailable_features(combo):
    """Grey out the feature sets whose pretrained encoder cannot run here, with the reason as tooltip."""
    from core.features import ENCODER_FEATURES

    model = combo.model()
    for i in range(combo.count()):
        encoder = ENCODER_FEATURES.get(combo.itemData(i))
        if encoder is None:
            continue
        from core.encoders import unavailable

        reason = unavailable(encoder)
        if reason:
            item = model.item(i)
            item.setEnabled(False)
            item.setToolTip(f"Not available: {reason}")


def _compact(*combos, chars=10):
    """Combo boxes that may shrink below their longest item (it shows in the drop-down and tooltip)."""
    for combo in combos:
        combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(chars)


def _form():
    form = QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    form.setContentsMargins(6, 6, 6, 6)
    return form


def _plural(n, word, plural=None):
    """``word`` for one, its plural otherwise ("1 speaker", "2 speakers")."""
    return word if n == 1 else (plural or word + "s")


class DatasetPanel(QGroupBox):
    """Choose a folder; see layout, classes, speakers and skipped files; choose the split.

    Signals
    -------
    scan_requested(str folder, str layout, str label) : the tab runs the scan in a worker
    added_dropped() : the user left the added takes' folders out of training ("Leave out")
    """

    scan_requested = Signal(str, str, str)
    added_dropped = Signal()

    def __init__(self, spec, parent=None):
        super().__init__("Dataset", parent)
        self.spec = spec
        self.dataset = None
        self.summary_info = None
        form = _form()
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("built-in demo data")
        self.folder_edit.setToolTip("The dataset folder; leave empty to use the built-in demo data")
        self.folder_edit.returnPressed.connect(self.request_scan)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.demo_button = QPushButton("Demo")
        self.demo_button.setToolTip("Use the built-in demo data (synthetic; real results need a real dataset)")
        self.demo_button.clicked.connect(self.use_demo)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        row.addWidget(self.demo_button)
        form.addRow("Folder", row)

        self.layout_combo = QComboBox()
        self.layout_combo.addItem("Auto-detect", "auto")
        self.layout_combo.addItem("{digit}_{speaker}_{index} file names", "filename")
        self.layout_combo.addItem("One folder per class", "folders")
        self.layout_combo.currentIndexChanged.connect(lambda _: self.request_scan())
        self.layout_combo.setToolTip("How the folder names its classes")

        self.label_combo = QComboBox()
        self.label_combo.addItem("Digit", "digit")
        self.label_combo.addItem("Speaker", "speaker")
        self.label_combo.setCurrentIndex(0 if spec.label_kind == "digit" else 1)
        self.label_combo.currentIndexChanged.connect(lambda _: self.request_scan())
        layout_row = QHBoxLayout()
        layout_row.addWidget(self.layout_combo, 2)
        self.label_label = QLabel("label")
        layout_row.addWidget(self.label_label)
        layout_row.addWidget(self.label_combo, 1)
        # Genres are always named by their folders: a "label: Digit" choice would only confuse there.
        self.label_label.setVisible(spec.key != "genres")
        self.label_combo.setVisible(spec.key != "genres")
        form.addRow("Layout", layout_row)

        self.summary = QLabel("No dataset loaded.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.summary.setToolTip("Details of the loaded dataset")
        self.summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # never widens the column
        form.addRow(self.summary)
        self.skipped_list = QListWidget()
        self.skipped_list.setMaximumHeight(70)
        self.skipped_list.setVisible(False)
        self.skipped_list.setToolTip("Files left out, with the reason")
        form.addRow(self.skipped_list)
        # takes added from the microphone or files ("Add to training…"): folders trained on with the dataset
        self.added_label = QLabel("")
        self.added_label.setWordWrap(True)
        self.added_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.added_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.added_drop = QPushButton("Leave out")
        self.added_drop.setToolTip("Train on the dataset alone again (the saved takes stay on disk)")
        self.added_drop.clicked.connect(self.added_dropped)
        added_row = QHBoxLayout()
        added_row.addWidget(self.added_label, 1)
        added_row.addWidget(self.added_drop, 0, Qt.AlignTop)
        self.added_row = QWidget()
        self.added_row.setLayout(added_row)
        added_row.setContentsMargins(0, 0, 0, 0)
        self.added_row.setVisible(False)
        form.addRow(self.added_row)

        split_row = QHBoxLayout()
        self.split_combo = QComboBox()
        if spec.key == "genres":  # core.request decides from the data: k-fold on a small dataset
            from core.kfold import DEFAULT_FOLDS, GENRES_KFOLD_BELOW

            self.split_combo.addItem(f"Automatic ({DEFAULT_FOLDS}-fold under {GENRES_KFOLD_BELOW} tracks)", AUTO_SPLIT)
        self.split_combo.addItem("Random (stratified)", "random")
        self.split_combo.addItem("Speaker-independent", "speaker")
        self.split_combo.addItem("Leave one speaker out (every speaker)", "loso")
        self.split_combo.addItem("k-fold cross-validation", "kfold")
        self.split_combo.setToolTip(
            "Speaker-independent: no speaker has clips on both sides (an honest test).\n"
            "Leave one speaker out: one training per speaker, each tested on the voice it never heard; results pooled.\n"
            "k-fold: every clip tested once, by a model that never trained on its speaker (when speakers are known)\n"
            "or its track (genres); per-fold accuracy, mean ± std and a 95 % interval; the model kept is then\n"
            "trained on all the data")
        self.test_size = QDoubleSpinBox()
        self.test_size.setRange(0.05, 0.9)
        self.test_size.setSingleStep(0.05)
        self.test_size.setValue(0.2)
        self.test_size.setPrefix("test ")
        from core.kfold import DEFAULT_FOLDS

        self.folds = QSpinBox()
        self.folds.setRange(2, 100)
        self.folds.setValue(DEFAULT_FOLDS)
        self.folds.setSuffix(" folds")
        self.folds.setToolTip("k of k-fold cross-validation (at most the number of speakers, or of clips)")
        split_row.addWidget(self.split_combo, 1)
        split_row.addWidget(self.test_size)
        split_row.addWidget(self.folds)
        self.split_combo.currentIndexChanged.connect(self._on_split)
        self._on_split()
        form.addRow("Split", split_row)
        _compact(self.layout_combo, self.split_combo, chars=10)
        _compact(self.label_combo, chars=5)
        self.folder_edit.setMinimumWidth(80)
        self.setLayout(form)

    # ----------------------------------------------------------------- actions

    def _on_split(self, *_):
        """Only the setting the chosen split uses is shown: the test size, or the number of folds."""
        kind = self.split_combo.currentData()
        folds = kind in ("kfold", AUTO_SPLIT)
        self.folds.setVisible(kind == "kfold")
        self.folds.setEnabled(folds)
        self.test_size.setVisible(kind != "kfold")
        self.test_size.setEnabled(kind not in ("loso", "kfold"))  # every speaker / clip is tested once

    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Choose a dataset folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self.request_scan()

    def use_demo(self):
        self.folder_edit.clear()
        self.request_scan()

    def request_scan(self):
        self.scan_requested.emit(self.folder_edit.text().strip(), self.layout_combo.currentData(),
                                 self.label_combo.currentData())

    # ------------------------------------------------------------------ state

    def show_added(self, folders, counts=None):
        """The folders of added takes trained on with the dataset (``counts``: clips saved in each this
        session); none hides the row."""
        self.added_row.setVisible(bool(folders))
        if folders:
            counts = counts or {}
            parts = [f"{html.escape(str(f))}" + (f" ({counts[f]} added)" if counts.get(f) else "") for f in folders]
            self.added_label.setText("<b>Plus your takes</b> from " + "; ".join(parts))
            self.added_label.setToolTip("Every training of this tab uses the dataset and these folders:\n"
                                        + "\n".join(str(f) for f in folders))

    def set_dataset(self, ds, summary, *, is_demo=False):
        """Show a scanned dataset (GUI thread; the summary was computed in the worker)."""
        self.dataset = ds
        self.summary_info = summary
        classes = summary["classes"]
        counts = ", ".join(f"{html.escape(str(k))}: {v}" for k, v in list(classes.items())[:30])
        dur = summary["duration"]
        rates = ", ".join(f"{int(r)} Hz ×{n}" for r, n in summary["sample_rates"].items())
        spk = summary["speakers"]
        details = [
            f"Layout: {summary['layout']}",
            f"Classes: {counts}",
        ]
        if spk:
            details.append(f"Speakers ({len(spk)}): {html.escape(', '.join(spk[:12]))}{' …' if len(spk) > 12 else ''}")
        details.append(f"Duration {dur['min']:.2f}–{dur['max']:.2f} s (mean {dur['mean']:.2f} s); {rates}")
        if summary["excluded_folders"]:
            details.append(f"Left out (noise folders): {html.escape(', '.join(summary['excluded_folders']))}")
        # Two short lines stay on screen; the details are one hover away.
        lines = [
            f"<b>{summary['n_files']}</b> {_plural(summary['n_files'], 'clip')}, <b>{len(classes)}</b> "
            f"{_plural(len(classes), 'class', 'classes')}"
            + (f", {len(spk)} {_plural(len(spk), 'speaker')}" if spk else ""),
            ("<i>demo data (synthetic)</i>, " if is_demo else "") + f"{dur['min']:.2f}–{dur['max']:.2f} s, {rates}",
        ]
        if summary["n_skipped"]:
            lines.append(f"<span style='color:#b45309'>{summary['n_skipped']} file(s) skipped (listed below)</span>")
        self.summary.setText("<br>".join(lines))
        self.summary.setToolTip("<br>".join(details))
        self.details_text = "\n".join(html.unescape(d) for d in details)
        self.set_skipped(ds.skipped)
        # The label choice applies to {digit}_{speaker}_{index} names only; with one
        # folder per class the folder names are the labels.
        by_name = ds.layout == "filename"
        self.label_combo.setEnabled(by_name)
        self.label_combo.setToolTip("What a {digit}_{speaker}_{index} file name is labelled by" if by_name
                                    else "One folder per class: the folder names are the labels")
        can_speaker = ds.has_speakers and ds.label_kind != "speaker"
        for kind in ("speaker", "loso"):
            self.split_combo.model().item(self.split_combo.findData(kind)).setEnabled(can_speaker)
        if not can_speaker and self.split_combo.currentData() in ("speaker", "loso"):
            self.split_combo.setCurrentIndex(0)
        from core.kfold import grouping_of

        grouping = grouping_of(ds, self.spec.key)
        groups = len(ds.speakers) if grouping == "speaker" else len(ds.items)
        self.folds.setMaximum(max(2, min(100, groups)))  # more folds than groups is impossible
        what = {"speaker": "speaker", "track": "track"}.get(grouping, "clip, stratified by class")
        self.folds.setToolTip(f"k of k-fold cross-validation: folds by {what}; at most {groups}")

    def set_skipped(self, skipped):
        self.skipped_list.clear()
        for s in skipped[:500]:
            it = QListWidgetItem(f"{s.path}: {s.reason}")
            it.setToolTip(f"{s.path}\n{s.reason}")
            self.skipped_list.addItem(it)
        self.skipped_list.setVisible(bool(skipped))

    def show_scanning(self):
        """A scan started: say so where the dataset is described (Stop puts the description back)."""
        self._before_scan = (self.summary.text(), self.summary.toolTip())
        self.summary.setText("Scanning…")
        self.summary.setToolTip("")

    def show_scan_stopped(self):
        text, tip = getattr(self, "_before_scan", ("No dataset loaded.", ""))
        self.summary.setText(text)
        self.summary.setToolTip(tip)

    def show_error(self, message):
        self.dataset = None
        self.summary_info = None
        self.summary.setText(f"<span style='color:#b91c1c'>{html.escape(message)}</span>")

    def split(self):
        """(split kind, test size); the kind is None for the task's default (Genres' Automatic)."""
        kind = self.split_combo.currentData()
        return (None if kind == AUTO_SPLIT else kind), float(self.test_size.value())

    def split_request(self):
        """The request's ``split``, ``test_size`` and ``folds`` (plain values)."""
        kind, test_size = self.split()
        return {"split": kind, "test_size": test_size,
                "folds": int(self.folds.value()) if kind == "kfold" else None}

    def state(self):
        return {"folder": self.folder_edit.text().strip(), "layout": self.layout_combo.currentData(),
                "label": self.label_combo.currentData(), "split": self.split_combo.currentData(),
                "test_size": self.test_size.value(), "folds": self.folds.value()}

    def restore(self, st):
        for w in (self.layout_combo, self.label_combo):
            w.blockSignals(True)
        self.folder_edit.setText(st.get("folder", ""))
        _select_data(self.layout_combo, st.get("layout"))
        _select_data(self.label_combo, st.get("label"))
        _select_data(self.split_combo, AUTO_SPLIT if "split" in st and st["split"] is None else st.get("split"))
        if "test_size" in st:
            self.test_size.setValue(float(st["test_size"]))
        if st.get("folds"):
            self.folds.setValue(int(st["folds"]))
        for w in (self.layout_combo, self.label_combo):
            w.blockSignals(False)


#: The split combo's data for "the task's default" (the request's split None), Genres only.
AUTO_SPLIT = "auto"


def _select_data(combo, value):
    i = combo.findData(value)
    if i >= 0:
        combo.setCurrentIndex(i)


class FeaturesPanel(QGroupBox):
    """Feature choice and its parameters; defaults from the task.

    Signals
    -------
    changed() : any setting changed (the model panel re-computes its input size)
    """

    changed = Signal()

    def __init__(self, spec, parent=None):
        super().__init__("Features", parent)
        self.spec = spec
        form = _form()
        self.name_combo = QComboBox()
        for name in spec.features:
            self.name_combo.addItem(FEATURE_LABELS.get(name, name), name)
        disable_unavailable_features(self.name_combo)
        self.name_combo.currentIndexChanged.connect(self._on_name)
        _compact(self.name_combo, chars=14)
        form.addRow("Features", self.name_combo)

        self.n_mfcc = _spin(1, 128, tip="Number of MFCCs")
        self.n_mels = _spin(4, 256, tip="Mel bands")
        self.win_ms = _dspin(2.0, 200.0, 1.0, " ms", tip="Analysis window (n_fft = window × rate)")
        self.hop_ms = _dspin(1.0, 100.0, 1.0, " ms", tip="Hop between frames (the seed meant 10 ms)")
        self.trim = QCheckBox("Trim silence below")
        self.trim_db = _dspin(10.0, 80.0, 5.0, " dB", tip="Leading/trailing audio this far below the peak is cut")
        self.highpass = QCheckBox("no DC")
        self.highpass.setToolTip("Remove a DC offset and rumble below 60 Hz before trimming (some microphones and\n"
                                 "AudioMNIST_AZ carry an offset louder than the quiet parts of a word)")
        self.frames_mode = QComboBox()
        self.frames_mode.addItem("Stretch to", "resize")
        self.frames_mode.addItem("Pad/cut to", "pad")
        self.frames_mode.setToolTip("Stretch: every clip resampled in time to N frames (robust to speaking rate).\n"
                                    "Pad/cut: zero-pad to N frames (the seed's way; 0 = longest clip)")
        self.n_frames = _spin(0, 2000, tip="Frames (0 = the longest training clip)")
        self.n_frames.setSpecialValueText("longest")
        mfcc_row = QHBoxLayout()
        mfcc_row.addWidget(QLabel("MFCCs"))
        mfcc_row.addWidget(self.n_mfcc)
        mfcc_row.addWidget(QLabel("mels"))
        mfcc_row.addWidget(self.n_mels)
        self.mfcc_row_widget = _wrap(mfcc_row)
        form.addRow(self.mfcc_row_widget)
        frame_row = QHBoxLayout()
        frame_row.addWidget(QLabel("window"))
        frame_row.addWidget(self.win_ms)
        frame_row.addWidget(QLabel("hop"))
        frame_row.addWidget(self.hop_ms)
        self.frame_row_widget = _wrap(frame_row)
        form.addRow(self.frame_row_widget)
        trim_row = QHBoxLayout()
        trim_row.addWidget(self.trim)
        trim_row.addWidget(self.trim_db)
        trim_row.addWidget(self.highpass)
        form.addRow(_wrap(trim_row))
        frames_row = QHBoxLayout()
        frames_row.addWidget(QLabel("Frames"))
        frames_row.addWidget(self.frames_mode)
        frames_row.addWidget(self.n_frames)
        self.frames_row_widget = _wrap(frames_row)
        form.addRow(self.frames_row_widget)
        reset = QPushButton("Task defaults")
        reset.setToolTip("Reset these settings to the task's defaults")
        reset.clicked.connect(lambda: self.set_config(self.spec.feature_config(self.name_combo.currentData())))
        form.addRow(reset)
        # Folded: one line saying what the features are, and a button to open the settings.
        self.fold_button = QToolButton()
        self.fold_button.setCheckable(True)
        self.fold_button.setChecked(True)
        self.fold_button.setAutoRaise(True)
        self.fold_button.setToolTip("Show or hide the feature settings")
        self.fold_button.toggled.connect(self.set_expanded)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(False)
        self.summary_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        top = QHBoxLayout()
        top.setContentsMargins(6, 0, 6, 0)
        top.addWidget(self.fold_button)
        top.addWidget(self.summary_label, 1)
        self.settings_widget = _wrap(form)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addLayout(top)
        outer.addWidget(self.settings_widget)
        for w in (self.n_mfcc, self.n_mels, self.n_frames):
            w.valueChanged.connect(self._emit)
        for w in (self.win_ms, self.hop_ms, self.trim_db):
            w.valueChanged.connect(self._emit)
        self.trim.toggled.connect(self._emit)
        self.highpass.toggled.connect(self._emit)
        self.frames_mode.currentIndexChanged.connect(self._emit)
        self._base = spec.feature_config()
        self.set_config(self._base)

    def _emit(self, *_):
        self.trim_db.setEnabled(self.trim.isChecked())
        self.summary_label.setText(self.summary_text())
        self.summary_label.setToolTip(self.summary_text())
        self.changed.emit()

    def set_expanded(self, expanded):
        """Show the settings, or fold them into the one-line summary (short screens)."""
        self.fold_button.blockSignals(True)
        self.fold_button.setChecked(bool(expanded))
        self.fold_button.blockSignals(False)
        self.fold_button.setArrowType(Qt.DownArrow if expanded else Qt.RightArrow)
        self.settings_widget.setVisible(bool(expanded))

    def is_expanded(self):
        return self.settings_widget.isVisibleTo(self)

    def summary_text(self):
        """What the features are, in one line: "mfcc-full: 13 MFCCs, 32 mels, 25/10 ms, trim 15 dB, 32 frames"."""
        cfg = self.config()
        if cfg.name == "music-embedding":
            return (f"{cfg.name}: pretrained musicnn, {cfg.embedding_layer} layer "
                    f"({'200' if cfg.embedding_layer == 'penultimate' else '1506'} numbers, mean of 3 s patches)")
        if cfg.name == "voice-embedding":
            return f"{cfg.name}: pretrained GE2E, 256 numbers (1.6 s partials, silences cut by voice detection)"
        if cfg.name == "voice-mfcc":
            return (f"{cfg.name}: pretrained GE2E (256 numbers) + statistics of {cfg.n_mfcc} MFCCs, "
                    f"{cfg.n_mels} mels, {cfg.win_ms:g}/{cfg.hop_ms:g} ms"
                    + (f", trim {cfg.trim_db:g} dB" if cfg.trim_db is not None else ""))
        parts = []
        if cfg.name.startswith("mfcc"):
            parts.append(f"{cfg.n_mfcc} MFCCs, {cfg.n_mels} mels")
            if cfg.n_fft is None and cfg.hop_length is None:
                parts.append(f"{cfg.win_ms:g}/{cfg.hop_ms:g} ms")
            else:
                parts.append(f"n_fft {cfg.n_fft}, hop {cfg.hop_length}")
        parts.append(f"trim {cfg.trim_db:g} dB" if cfg.trim_db is not None else "no trim")
        if cfg.name == "mfcc-full":
            parts.append(f"{'stretch' if cfg.frames == 'resize' else 'pad'} to {cfg.n_frames or 'longest'} frames")
        return f"{cfg.name}: " + ", ".join(parts)

    def _on_name(self, _):
        self.set_config(self.spec.feature_config(self.name_combo.currentData()))

    def set_config(self, cfg):
        widgets = (self.name_combo, self.n_mfcc, self.n_mels, self.win_ms, self.hop_ms, self.trim, self.trim_db,
                   self.frames_mode, self.n_frames, self.highpass)
        for w in widgets:
            w.blockSignals(True)
        _select_data(self.name_combo, cfg.name)
        self._base = cfg
        self.n_mfcc.setValue(cfg.n_mfcc)
        self.n_mels.setValue(cfg.n_mels)
        self.win_ms.setValue(cfg.win_ms)
        self.hop_ms.setValue(cfg.hop_ms)
        self.trim.setChecked(cfg.trim_db is not None)
        self.trim_db.setValue(cfg.trim_db or 30.0)
        self.highpass.setChecked(cfg.highpass_hz is not None)
        _select_data(self.frames_mode, cfg.frames)
        self.n_frames.setValue(cfg.n_frames or 0)
        for w in widgets:
            w.blockSignals(False)
        is_mfcc = cfg.name.startswith("mfcc") or cfg.name == "voice-mfcc"
        self.mfcc_row_widget.setVisible(is_mfcc)
        self.frame_row_widget.setVisible(is_mfcc and cfg.n_fft is None and cfg.hop_length is None)
        self.frames_row_widget.setVisible(cfg.name == "mfcc-full")
        self._emit()

    def config(self):
        """The FeatureConfig the widgets describe."""
        return dataclasses.replace(
            self._base,
            n_mfcc=self.n_mfcc.value(),
            n_mels=self.n_mels.value(),
            win_ms=self.win_ms.value(),
            hop_ms=self.hop_ms.value(),
            trim_db=self.trim_db.value() if self.trim.isChecked() else None,
            highpass_hz=(self._base.highpass_hz or 60.0) if self.highpass.isChecked() else None,
            frames=self.frames_mode.currentData(),
            n_frames=self.n_frames.value() or None,
        )

    def state(self):
        return self.config().to_dict()

    def restore(self, st):
        try:
            if isinstance(st, dict) and "highpass_hz" not in st:  # saved before the setting existed: the default
                st = {**st, "highpass_hz": self.spec.feature_config(st.get("name")).highpass_hz}
            self.set_config(FeatureConfig.from_dict(st))
        except Exception:  # settings from an older version: keep the defaults
            pass


def _spin(lo, hi, *, tip=""):
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setToolTip(tip)
    return w


def _dspin(lo, hi, step, suffix="", *, tip="", decimals=1):
    w = QDoubleSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setDecimals(decimals)
    w.setSuffix(suffix)
    w.setToolTip(tip)
    return w


def _wrap(layout):
    w = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    w.setLayout(layout)
    return w


class ProgressPanel(QWidget):
    """Train / Stop buttons, a progress bar (extraction with ETA, then epochs) and a status line."""

    train_clicked = Signal()
    stop_clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setMinimumHeight(32)
        self.train_button.setStyleSheet("QPushButton { font-weight: bold; }")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setMinimumHeight(32)
        self.stop_button.setToolTip("Stop within a second; the best model so far is kept")
        self.train_button.clicked.connect(self.train_clicked)
        self.stop_button.clicked.connect(self.stop_clicked)
        row.addWidget(self.train_button, 2)
        row.addWidget(self.stop_button, 1)
        lay.addLayout(row)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setFormat("Ready")
        self.bar.setValue(0)
        lay.addWidget(self.bar)
        # One line, never more: a long message is elided (full text in the tooltip and the Log),
        # so the Train/Stop buttons above never move.
        self.status = QLabel("")
        self.status.setWordWrap(False)
        self.status.setTextFormat(Qt.RichText)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.status.setFixedHeight(self.status.fontMetrics().height() + 4)
        self._status_text, self._status_error = "", False
        lay.addWidget(self.status)

    def set_running(self, running):
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if running:
            self._stage = ""

    def show_extraction(self, p):
        self.bar.setMaximum(max(1, p.total))
        self.bar.setValue(p.done)
        eta = "" if p.eta_seconds == float("inf") else f", ETA {p.eta_seconds:.0f} s"
        self.bar.setFormat(f"Features {p.done}/{p.total} ({p.files_per_second:.0f} files/s{eta})")

    def show_scan(self, done, total):
        """A dataset scan checked ``done`` of ``total`` files (total 0: still listing, ``done`` found)."""
        if not total:
            self.bar.setFormat(f"Listing files… {done:,} found")
            self.bar.setRange(0, 0)  # a busy bar: the total is not known yet
            return
        self.bar.setFormat(f"Scanning files {done:,}/{total:,}")
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)

    def show_done(self, text="Done"):
        """A finished job: a full bar (an early-stopped training stopped before its last epoch)."""
        self.bar.setMaximum(1)
        self.bar.setValue(1)
        self.bar.setFormat(text)

    def show_epoch(self, stats, epoch_seconds=None):
        """An epoch (or a batch inside one) finished; ``epoch_seconds``: what the last whole epoch took."""
        done = int(stats["epoch"]) - (1 if stats.get("batch") is not None else 0)
        self.bar.setMaximum(max(1, int(stats["epochs"])))
        self.bar.setValue(done)
        stage = getattr(self, "_stage", "")
        each = "" if epoch_seconds is None else f" ({_short_seconds(epoch_seconds)} an epoch)"
        self.bar.setFormat(f"{stage + ' · ' if stage else ''}Training: epoch {stats['epoch']}/{stats['epochs']}"
                           f"{each}{self._eta(done, stats['epochs'])}")

    def show_phase(self, info):
        """A training phase started or moved on (``{"name", "epoch"?, "epochs"?}``), named with its own ETA."""
        import time

        name = str(info.get("name", ""))
        # A k-fold phase is named with its fold ("fold 2/5: training", "final model on all the data: …"):
        # the epochs that follow say which fold they belong to.
        stage, _, step = name.rpartition(": ")
        self._stage = stage[:1].upper() + stage[1:]
        if name != getattr(self, "_phase", None):
            self._phase, self._phase_t0 = name, time.monotonic()
        epochs, epoch = info.get("epochs"), info.get("epoch")
        title = name[:1].upper() + name[1:]
        if epochs:
            self.bar.setMaximum(max(1, int(epochs)))
            self.bar.setValue(int(epoch or 0))
            self.bar.setFormat(f"{title}: epoch {epoch or 0}/{epochs}{self._eta(int(epoch or 0), epochs)}")
        elif step != "training" or stage:
            self.bar.setFormat(f"{title}…")

    def _eta(self, done, total):
        import time

        t0 = getattr(self, "_phase_t0", None)
        if t0 is None or not done:
            return ""
        left = (time.monotonic() - t0) / done * max(0, int(total) - done)
        return f", ETA {left:.0f} s"

    def set_status(self, text, *, error=False):
        self._status_text, self._status_error = text, error
        self.status.setToolTip(text)
        self._show_status()

    def status_text(self):
        """The whole current message (the label may show it elided)."""
        return self._status_text

    def _show_status(self):
        width = max(40, self.status.width() - 4)
        shown = self.status.fontMetrics().elidedText(self._status_text, Qt.ElideRight, width)
        color = "#b91c1c" if self._status_error else "palette(text)"
        self.status.setText(f"<span style='color:{color}'>{html.escape(shown)}</span>")

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._show_status()


def _short_seconds(seconds):
    """1.83 s → "1.8 s", 0.042 s → "42 ms": an epoch's time in a few characters."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"
