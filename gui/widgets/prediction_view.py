"""The model's verdict on a take: the label in large type, probability bars, warnings and a history."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QListWidget, QSizePolicy, QWidget

UNSURE_PROBABILITY = 0.5
_TOP_BRUSH = pg.mkBrush("#0072B2")
_OTHER_BRUSH = pg.mkBrush("#9BB7D4")


class PredictionView(QWidget):
    """``prediction_label``, ``probability_plot`` / ``probability_bars``, ``warning_label``, ``history_list``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        background = self.palette().color(QPalette.ColorRole.Base)
        foreground = self.palette().color(QPalette.ColorRole.Text)
        self.prediction_label = QLabel()
        self.prediction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label.setWordWrap(True)
        self.prediction_label.setMinimumHeight(48)
        # a long label ("uswhisper", a genre) never widens the column: its type shrinks to fit (_fit_label)
        self.prediction_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._big_font = QFont(self.font())
        self._big_font.setPointSizeF(self.font().pointSizeF() * 2.6)
        self._big_font.setBold(True)
        self._hint_font = QFont(self.font())
        self._hint_font.setItalic(True)
        self.probability_plot = pg.PlotWidget(background=background)
        self.probability_plot.setMenuEnabled(False)
        self.probability_plot.setMouseEnabled(x=False, y=False)
        self.probability_plot.setXRange(0, 1.04, padding=0)  # room for the "1.0" tick
        self.probability_plot.setLabel("bottom", "probability")
        self.probability_plot.getPlotItem().invertY(True)  # top label first
        self.probability_plot.setMinimumHeight(100)
        # three ticks: at 1024 px the column is ~130 px wide and pyqtgraph's five ran into each other
        self.probability_plot.getAxis("bottom").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
        self.setMinimumWidth(130)
        for axis in ("left", "bottom"):
            self.probability_plot.getAxis(axis).setTextPen(foreground)
            self.probability_plot.getAxis(axis).setPen(foreground)
        self.probability_bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brushes=[])
        self.probability_plot.addItem(self.probability_bars)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #A65A00;")
        self.history_list = QListWidget()
        self.history_list.setToolTip("Predictions, newest last")
        self.history_list.setMinimumHeight(40)

        self._label_shown = False  # a label in big type (not a hint) is on show
        self._shown = None  # (probabilities, top) of the bars shown, redrawn to fit a new height
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.prediction_label, 0, 0)
        lay.addWidget(self.probability_plot, 1, 0)
        lay.addWidget(self.warning_label, 2, 0)
        lay.addWidget(QLabel("History"), 3, 0)
        lay.addWidget(self.history_list, 4, 0)
        # the bars first: the history is a list to scroll, the bars must show every label they can
        lay.setRowStretch(1, 4)
        lay.setRowStretch(4, 1)

    def show_hint(self, text):
        self._label_shown = False
        self.prediction_label.setFont(self._hint_font)
        self.prediction_label.setText(text)

    def show_prediction(self, prediction, warnings=()):
        """Show ``{"label", "probabilities"}``; ``warnings`` about the take come below the bars."""
        probabilities = prediction.get("probabilities", {})
        label = str(prediction["label"])
        self.prediction_label.setText(label)
        self.prediction_label.setToolTip(label)
        self._label_shown = True
        self._fit_label()
        self.set_bars(probabilities, top=label)
        warnings = list(warnings)
        top = probabilities.get(label)
        if top is not None and top < UNSURE_PROBABILITY:
            warnings.insert(0, f"Unsure: the top class has only {top:.0%}.")
        if label == "unknown" and prediction.get("known_label") is not None:  # a model with an open set
            warnings.insert(0, f"Not one of the classes: the closest is '{prediction['known_label']}', but the take "
                               f"lies far from its training clips (score {prediction.get('score', 0):.3g} below "
                               f"the threshold {prediction.get('threshold', 0):.3g}).")
        self.warning_label.setText("\n".join(warnings))

    def add_history(self, prefix, prediction):
        probability = prediction.get("probabilities", {}).get(prediction["label"])
        text = f"{prefix}:  {prediction['label']}"
        if probability is not None:
            text += f"  ({probability:.0%})"
        self.history_list.addItem(text)
        self.history_list.scrollToBottom()

    def _fit_label(self):
        """The big type, made smaller until the label fits the column's width (at least the normal size)."""
        font = QFont(self._big_font)
        room = max(40, self.width() - 8)
        size = font.pointSizeF()
        while size > self.font().pointSizeF() and QFontMetrics(font).horizontalAdvance(
                self.prediction_label.text()) > room:
            size -= 1.0
            font.setPointSizeF(size)
        self.prediction_label.setFont(font)

    #: px: a narrower probability plot drops its axis title (the bars' labels carry the percentages)
    AXIS_TITLE_MIN_WIDTH = 200

    def resizeEvent(self, event):  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        # at 1024 px the column is ~150 px wide and the title was cut to "probabili"
        axis, titled = self.probability_plot.getAxis("bottom"), self.width() >= self.AXIS_TITLE_MIN_WIDTH
        if axis.label.isVisible() != titled:  # showing or hiding it re-lays the axis out: on change only
            axis.showLabel(titled)
        if self._label_shown:  # not a hint: hints wrap in the normal italic type
            self._fit_label()
        if self._shown is not None:
            self.set_bars(*self._shown)  # as many bars as the new height holds without labels overlapping

    def rows_that_fit(self):
        """How many bars the probability plot holds with their labels one text line apart (at least 3)."""
        line = QFontMetrics(self.probability_plot.getAxis("left").style.get("tickFont") or self.font()).height()
        room = self.probability_plot.height() - self.probability_plot.getAxis("bottom").height() - 8
        return max(3, int(room // (line + 2)))

    def set_bars(self, probabilities, top=None):
        """One bar per class in the model's order; when the plot is too short for every label, the most
        probable classes that fit, most probable first, and one "N others" bar for the rest."""
        self._shown = (dict(probabilities), top)
        labels = [str(k) for k in probabilities]
        values = [float(v) for v in probabilities.values()]
        fit = self.rows_that_fit()
        if len(values) > fit:
            order = sorted(range(len(values)), key=lambda i: -values[i])
            kept, rest = order[:fit - 1], order[fit - 1:]
            others = float(sum(values[i] for i in rest))
            labels = [labels[i] for i in kept] + [f"{len(rest)} others"]
            values = [values[i] for i in kept] + [others]
        self.probability_bars.setOpts(
            x0=np.zeros(len(values)),
            y=np.arange(len(values)),
            width=np.array(values),
            height=0.7,
            brushes=[_TOP_BRUSH if k == top else _OTHER_BRUSH for k in labels],
        )
        self.probability_plot.getAxis("left").setTicks(
            [[(i, f"{k}  {v:.0%}") for i, (k, v) in enumerate(zip(labels, values))]]
        )
        self.probability_plot.setYRange(-0.5, max(len(values), 1) - 0.5, padding=0.02)
