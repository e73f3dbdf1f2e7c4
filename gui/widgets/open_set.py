"""Unknown speakers: how strict the "unknown" decision is, and what it costs.

A threshold slider over the test clips' scores; every move recomputes (in a
few milliseconds, with :func:`core.openset.view_at`) the confusion matrix
with an "unknown" row and column, the false-reject rate of known speakers,
the false-accept rate of voices never heard, and moves the marker on the DET
curve. The chosen threshold and scoring become the model's: the microphone,
files and a saved model use them.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox, QGridLayout, QLabel, QPushButton, QSlider, QSplitter, QVBoxLayout, QWidget,
)

from core.openset import METHODS, method_title, view_at
from gui.widgets.confusion_matrix import ConfusionMatrixView
from gui.widgets.plot_style import show_major_grid

SLIDER_STEPS = 1000


def _pct(v):
    return "—" if v is None else f"{100 * v:.1f} %"


# What the view calls the clips it weighs: Speakers by default; the Digits tab's "not a digit" passes its own.
SPEAKER_WORDS = {
    "known": "known speakers", "unknown": "voices never heard", "unknown_short": "never-heard voices",
    "empty": "Train a speakers model to see how it treats voices it never heard.",
    "no_model": "This model has no open-set results (train a speakers model).",
    "add_unknown": "Mark speakers as unknown before training (or add an 'other' folder) to measure false accepts.",
    "named_right": "Known named right",
    "class": "speaker",
}


#: px: the matrix and the DET curve never get less (the page scrolls)
MATRIX_MIN_HEIGHT = 280


class OpenSetView(QWidget):
    """Threshold slider, rates, confusion matrix with "unknown", DET curve.

    Signals
    -------
    threshold_changed(str method, float threshold) : the user chose another scoring or threshold
    """

    threshold_changed = Signal(str, float)

    def __init__(self, parent=None, *, words=None):
        super().__init__(parent)
        self.words = w = {**SPEAKER_WORDS, **(words or {})}
        self._metrics = None
        self._labels = []
        self._thresholds = np.zeros(0)
        self._auto = {}
        self._forced = None

        self.method_combo = QComboBox()
        for m in METHODS:
            self.method_combo.addItem(method_title(m, w["class"]), m)
        self.method_combo.setToolTip("How a clip is scored: the classifier's confidence, the distance to the chosen\n"
                                     f"{w['class']}'s training data, or both (a clip must pass both)")
        self.method_combo.currentIndexChanged.connect(self._on_method)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setToolTip("Left: lenient (few known voices rejected, more strangers accepted).\n"
                               "Right: strict (strangers rejected, more known voices answered 'unknown').")
        self.slider.valueChanged.connect(self._on_slider)
        self.auto_button = QPushButton("Automatic")
        self.auto_button.setToolTip("The threshold set from the training data (5 % of known speakers' held-out "
                                    "training clips rejected)")
        self.auto_button.clicked.connect(self.reset_threshold)
        self.threshold_label = QLabel("—")
        self.threshold_label.setMinimumWidth(150)

        self.rates = {}
        grid = QGridLayout()
        for i, (key, title, tip) in enumerate((
                ("false_reject_rate", "False rejects", f"Share of {w['known']}' test clips answered 'unknown'"),
                ("false_accept_rate", "False accepts", f"Share of {w['unknown']} given a name"),
                ("known_accuracy", w["named_right"], f"Share of {w['known']}' test clips named right"),
                ("eer", "Equal error rate", "Where false rejects = false accepts (this scoring)"))):
            cap = QLabel(title)
            cap.setToolTip(tip)
            val = QLabel("—")
            font = val.font()
            font.setPointSizeF(font.pointSizeF() * 1.5)
            font.setBold(True)
            val.setFont(font)
            val.setToolTip(tip)
            grid.addWidget(cap, 0, i)
            grid.addWidget(val, 1, i)
            self.rates[key] = val
        self.note = QLabel(w["empty"])
        self.note.setWordWrap(True)

        top = QGridLayout()
        top.addWidget(QLabel("Scoring"), 0, 0)
        top.addWidget(self.method_combo, 0, 1, 1, 3)
        top.addWidget(QLabel("Threshold"), 1, 0)
        top.addWidget(self.slider, 1, 1)
        top.addWidget(self.threshold_label, 1, 2)
        top.addWidget(self.auto_button, 1, 3)
        top.setColumnStretch(1, 1)
        self.slider.setMinimumWidth(160)

        self.matrix = ConfusionMatrixView()
        # a grid of a dozen speakers and "unknown" with names beside and below: below this its rows were ~9 px
        # (a 1024x700 window); the page scrolls instead
        self.matrix.setMinimumHeight(MATRIX_MIN_HEIGHT)
        bg = self.palette().color(QPalette.ColorRole.Base)
        fg = self.palette().color(QPalette.ColorRole.Text)
        self.det_plot = pg.PlotWidget(background=bg)
        self.det_plot.setTitle("DET curve", color=fg)
        self.det_plot.setLabel("bottom", f"false accepts ({w['unknown_short']})", units="%")
        self.det_plot.setLabel("left", f"false rejects ({w['known']})", units="%")
        show_major_grid(self.det_plot.getPlotItem(), x=True, y=True, alpha=0.3)
        self.det_plot.setXRange(0, 100)
        self.det_plot.setYRange(0, 100)
        self.det_curve = self.det_plot.plot([], [], pen=pg.mkPen("#0072B2", width=2))
        self.det_marker = self.det_plot.plot([], [], pen=None, symbol="o", symbolSize=11, symbolBrush="#D55E00")
        self.det_diag = self.det_plot.plot([0, 100], [0, 100], pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine))
        self.det_plot.setMinimumWidth(220)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.matrix)
        split.addWidget(self.det_plot)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addLayout(grid)
        lay.addWidget(self.note)
        lay.addWidget(split, 1)
        self._set_enabled(False)

    # ---------------------------------------------------------------- API

    def set_open_set(self, metrics, labels, *, method=None, threshold=None):
        """Show a model's open-set test results (``metrics["open_set"]``) or clear (None)."""
        self._metrics = metrics
        self._labels = [str(x) for x in labels or []]
        if not metrics or "clips" not in metrics:
            self._set_enabled(False)
            self.matrix.clear()
            self.det_curve.setData([], [])
            self.det_marker.setData([], [])
            for v in self.rates.values():
                v.setText("—")
            self.note.setText(self.words["no_model"])
            return
        self._auto = {m: v["threshold"] for m, v in metrics["methods"].items()}
        self._set_enabled(True)
        for i in range(self.method_combo.count()):  # a model saved before a scoring existed lacks it
            self.method_combo.model().item(i).setEnabled(self.method_combo.itemData(i) in metrics["methods"])
        method = method or metrics["method"]
        self.method_combo.blockSignals(True)
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(method)))
        self.method_combo.blockSignals(False)
        self._load_method(threshold)

    def method(self):
        return self.method_combo.currentData()

    def threshold(self):
        if not self._thresholds.size:
            return None
        return float(self._thresholds[self.slider.value()])

    def rate_text(self, key):
        return self.rates[key].text()

    def reset_threshold(self):
        """Back to the automatic threshold of the current scoring."""
        if self._metrics:
            self._set_slider(self._auto.get(self.method()))

    def set_threshold(self, value):
        self._set_slider(value)

    # ------------------------------------------------------------ internals

    def _set_enabled(self, on):
        for w in (self.method_combo, self.slider, self.auto_button):
            w.setEnabled(on)

    def _load_method(self, threshold=None):
        m = self.method()
        clips = self._metrics["clips"]
        scores = np.asarray(clips["scores"].get(m, []), dtype=np.float64)
        auto = self._auto.get(m)
        pool = np.concatenate([scores, [auto] if auto is not None else []])
        lo, hi = (float(pool.min()), float(pool.max())) if pool.size else (0.0, 1.0)
        pad = 1e-9 + 0.02 * (hi - lo)
        # Quantile steps: the slider moves through the scores where they are, not where they are not.
        qs = np.quantile(pool, np.linspace(0, 1, SLIDER_STEPS - 1)) if pool.size else np.linspace(lo, hi, SLIDER_STEPS - 1)
        self._thresholds = np.maximum.accumulate(np.concatenate([[lo - pad], qs, [hi + pad]])[:SLIDER_STEPS + 1])
        curve = self._metrics["methods"][m]["curve"]
        far = [np.nan if v is None else 100 * v for v in curve["far"]]
        if curve["far"] and not all(v is None for v in curve["far"]):
            self.det_curve.setData(far, [100 * v for v in curve["frr"]])
        else:
            self.det_curve.setData([], [])
        eer = self._metrics["methods"][m]["eer"]
        self.rates["eer"].setText(_pct(eer))
        n_unknown = self._metrics.get("n_unknown", 0)
        heard = ", ".join(clips.get("never_heard_labels", [])[:8])
        self.note.setText(
            f"Test clips of {self.words['known']} and {n_unknown} clips of {self.words['unknown']}"
            + (f" ({heard})" if heard else "")
            + ". " + ("" if n_unknown else self.words["add_unknown"])
            + " The automatic threshold comes from the training data only.")
        self._set_slider(auto if threshold is None else threshold)

    def _set_slider(self, value):
        if value is None or not self._thresholds.size:
            return
        i = int(np.clip(np.searchsorted(self._thresholds, value, side="left"), 0, SLIDER_STEPS))
        self._forced = float(value)
        if self.slider.value() == i:
            self._on_slider(i)
        else:
            self.slider.setValue(i)

    def _on_method(self, _):
        if self._metrics:
            self._load_method()

    def _on_slider(self, i):
        if not self._metrics:
            return
        t = getattr(self, "_forced", None)
        self._forced = None
        if t is None:
            t = float(self._thresholds[i])
        m = self.method()
        view = view_at(self._metrics["clips"], self._labels, m, t)
        self.matrix.set_matrix(np.asarray(view["confusion"], dtype=np.int64), view["labels"])
        for key in ("false_reject_rate", "false_accept_rate", "known_accuracy"):
            self.rates[key].setText(_pct(view[key]))
        auto = self._auto.get(m)
        self.threshold_label.setText(f"{t:.4g}" + (" (automatic)" if auto is not None and abs(t - auto) < 1e-12
                                                   else ""))
        frr, far = view["false_reject_rate"], view["false_accept_rate"]
        self.det_marker.setData([100 * far] if far is not None else [], [100 * frr] if far is not None else [])
        self.threshold_changed.emit(m, t)
