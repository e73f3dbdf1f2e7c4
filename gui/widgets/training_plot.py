"""Live loss and accuracy curves of a training run (train and validation)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

from gui.widgets.plot_style import show_major_grid

# Colour-blind-safe pair (Okabe-Ito blue / orange); validation is also dashed so
# the two stay apart in grey-scale screenshots.
_TRAIN_COLOUR = "#0072B2"
_VAL_COLOUR = "#E69F00"
_BEST_COLOUR = "#009E73"

# What a point means (the plots' tooltip): every model reports its training loss and accuracy of the weights
# at the end of the epoch, in inference mode (no dropout, no augmentation; the Keras CNN with BatchNorm's
# statistics recomputed on the training data), as the results card measures its train accuracy.
_MEANING = ("Training {what}: the model at the end of each epoch, in inference mode (no dropout, no "
            "SpecAugment masks), on the training examples,\nas the results card measures it (for Genres the card counts "
            "tracks, the curve windows). Validation: the held-out part of the training data.\n"
            "The faint point moves during an epoch: the running mean over its batches so far, in training mode.")

# Series name -> (plot, is validation).
_SERIES = {
    "loss": ("loss", False),
    "val_loss": ("loss", True),
    "accuracy": ("accuracy", False),
    "val_accuracy": ("accuracy", True),
}


class TrainingPlot(QWidget):
    """Two side-by-side plots: loss and accuracy (%) per epoch.

    Feed it the ``stats`` dicts a model's ``fit`` passes to
    ``on_epoch``: ``{"epoch": int, "loss": float, "accuracy": float in 0..1,
    "val_loss": float | None, "val_accuracy": float | None, "batch": int | None}``.
    A stats dict whose ``"batch"`` is not None is an intra-epoch progress report:
    it only moves a faint "running" point and never enters the curves.

    Every curve is created once and updated with ``setData``, so an update costs
    O(epochs).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._x: dict[str, list[float]] = {name: [] for name in _SERIES}
        self._y: dict[str, list[float]] = {name: [] for name in _SERIES}
        self._total_epochs: int | None = None
        self._legend_corner: dict[str, tuple] = {}  # plot -> the corner its legend was moved to (see _place_legend)

        background = self.palette().color(QPalette.ColorRole.Base)
        foreground = self.palette().color(QPalette.ColorRole.Text)
        self._plots = {
            # Loss falls towards the bottom and accuracy rises to the top: each
            # legend sits in the corner its curves leave free.
            "loss": self._make_plot("Loss", "", background, foreground, legend_offset=self._CORNERS["loss"][0][1]),
            "accuracy": self._make_plot("Accuracy", "%", background, foreground,
                                        legend_offset=self._CORNERS["accuracy"][0][1]),
        }
        # Accuracy has a natural scale; a fixed 0..100 % axis keeps runs comparable (a little beyond both ends, so
        # that a short plot still labels 100).
        self._plots["accuracy"].getPlotItem().setYRange(-4, 106, padding=0)
        self._plots["accuracy"].getPlotItem().enableAutoRange(axis="y", enable=False)

        self._curves: dict[str, pg.PlotDataItem] = {}
        for name, (plot_name, is_val) in _SERIES.items():
            colour = _VAL_COLOUR if is_val else _TRAIN_COLOUR
            pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if is_val else Qt.PenStyle.SolidLine)
            self._curves[name] = self._plots[plot_name].plot(
                [], [], name="validation" if is_val else "train", pen=pen,
                symbol="o", symbolSize=5, symbolPen=None, symbolBrush=colour, antialias=True,
            )

        self._running: dict[str, pg.ScatterPlotItem] = {}
        self._best_lines: dict[str, pg.InfiniteLine] = {}
        # The "best" caption goes where the curves and legends are not: half-way up. By the best epoch the loss is
        # low and the accuracy high, and the legends sit top right (loss) and bottom right (accuracy), where they
        # hid the caption (at the top and the bottom, all but its first letter showed).
        label_position = {"loss": 0.45, "accuracy": 0.45}
        for plot_name, plot in self._plots.items():
            running = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(0, 114, 178, 90))
            plot.addItem(running)
            self._running[plot_name] = running
            line = pg.InfiniteLine(
                angle=90, movable=False,
                pen=pg.mkPen(_BEST_COLOUR, width=1.5, style=Qt.PenStyle.DotLine),
                label="best", labelOpts={"position": label_position[plot_name], "color": _BEST_COLOUR},
            )
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            self._best_lines[plot_name] = line

        for plot in self._plots.values():  # the curves' range settles after setData: place the legend again then,
            plot.getPlotItem().vb.sigRangeChanged.connect(self._on_range_changed)
            plot.getPlotItem().vb.sigResized.connect(self._on_range_changed)  # and when the window's layout settles

        # Say what the curves measure: the results card's train accuracy is the same model in the same mode.
        for plot_name, plot in self._plots.items():
            plot.setToolTip(_MEANING.format(what=plot_name))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for plot in self._plots.values():
            layout.addWidget(plot)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(360, 180)
        self._show_legends()  # none yet: no curves

    @staticmethod
    def _make_plot(title: str, units: str, background, foreground, *, legend_offset) -> pg.PlotWidget:
        plot = pg.PlotWidget(background=background)
        item = plot.getPlotItem()
        item.setTitle(title, color=foreground.name(), size="10pt")
        item.setLabel("bottom", "Epoch")
        item.setLabel("left", f"{title} ({units})" if units else title)
        for axis in ("bottom", "left"):
            item.getAxis(axis).setTextPen(foreground)
            item.getAxis(axis).setPen(foreground)
            # Otherwise a small MSE reads "Loss (x0.001)" with values like 20.
            item.getAxis(axis).enableAutoSIPrefix(False)
        show_major_grid(item, x=True, y=True, alpha=0.15)
        veil = pg.mkColor(background)
        veil.setAlpha(200)  # a curve that has to pass under the legend still shows through
        item.addLegend(offset=legend_offset, labelTextColor=foreground, brush=pg.mkBrush(veil))
        item.setMenuEnabled(True)
        plot.setMinimumSize(170, 150)
        return plot

    # ----------------------------------------------------------------- API
    def reset(self, total_epochs: int | None = None) -> None:
        """Clear every curve; fix the epoch axis to ``0..total_epochs`` when known."""
        for name in _SERIES:
            self._x[name].clear()
            self._y[name].clear()
            self._curves[name].setData([], [])
        for plot_name in self._plots:
            self._running[plot_name].setData([], [])
            self._best_lines[plot_name].setVisible(False)
        self._total_epochs = total_epochs
        for plot_name, plot in self._plots.items():
            item = plot.getPlotItem()
            usual = self._CORNERS[plot_name][0]  # the legend back in its usual corner
            if item.legend is not None and self._legend_corner.get(plot_name, usual) != usual:
                item.legend.anchor(itemPos=usual[0], parentPos=usual[0], offset=usual[1])
                self._legend_corner[plot_name] = usual
            if total_epochs:
                # A fixed epoch axis keeps the curves from jumping while they grow.
                item.setXRange(0, total_epochs, padding=0.02)
            else:
                item.enableAutoRange(axis="x", enable=True)
        self._plots["loss"].getPlotItem().enableAutoRange(axis="y", enable=True)
        self._show_legends()

    def add_epoch(self, stats: dict) -> None:
        """Append one epoch's values (or move the running point for a batch report)."""
        if stats.get("batch") is not None:
            self._show_running(stats)
            return
        self._append(stats)
        self._refresh()

    def set_history(self, history: list[dict]) -> None:
        """Show a finished run's saved per-epoch stats (e.g. of a loaded model)."""
        self.reset(None)
        for stats in history:
            if stats.get("batch") is None:
                self._append(stats)
        self._refresh()

    def mark_best_epoch(self, epoch: int | None) -> None:
        """Draw a vertical "best" line at ``epoch`` on both plots; None hides it."""
        for line in self._best_lines.values():
            if epoch is None:
                line.setVisible(False)
            else:
                # shown first: a hidden line's caption keeps its old place, to the right of a line at the last
                # epoch, where the view cut it to "be"
                line.setVisible(True)
                line.setValue(epoch)
                line.label.updatePosition()
        for plot_name in self._plots:
            self._place_legend(plot_name)  # off the caption too

    def best_epoch(self) -> int | None:
        """The marked best epoch, or None when no marker is shown."""
        line = self._best_lines["loss"]
        return int(round(line.value())) if line.isVisible() else None

    def point_count(self) -> int:
        """Number of epochs on the train-loss curve."""
        return len(self._x["loss"])

    def curve_data(self) -> dict[str, tuple[list[float], list[float]]]:
        """``{series: (epochs, values)}`` for "loss", "val_loss", "accuracy",
        "val_accuracy"; accuracies as given (0..1), not as the plotted %."""
        return {name: (list(self._x[name]), list(self._y[name])) for name in _SERIES}

    # ------------------------------------------------------------- helpers
    def _append(self, stats: dict) -> None:
        epoch = float(stats["epoch"])
        for name in _SERIES:
            value = stats.get(name)
            if value is not None and np.isfinite(value):
                self._x[name].append(epoch)
                self._y[name].append(float(value))
        for running in self._running.values():
            running.setData([], [])
        if self._total_epochs and epoch > self._total_epochs:
            for plot in self._plots.values():
                plot.getPlotItem().enableAutoRange(axis="x", enable=True)

    def _refresh(self) -> None:
        for name, (plot_name, _) in _SERIES.items():
            y = np.asarray(self._y[name], dtype=float)
            if plot_name == "accuracy":
                y = y * 100.0
            self._curves[name].setData(np.asarray(self._x[name], dtype=float), y)
        for name, (plot_name, is_val) in _SERIES.items():
            if is_val:  # a run without a validation set: no "validation" entry for a curve that is not there
                self._list_in_legend(plot_name, name, bool(self._x[name]) or not self._x[name.replace("val_", "")])
        self._show_legends()
        for plot_name in self._plots:
            self._place_legend(plot_name)

    def _show_legends(self) -> None:
        """A legend only beside curves: an empty plot (before the first epoch) had "train" and "validation"
        floating in the middle of nothing."""
        for plot_name, plot in self._plots.items():
            legend = plot.getPlotItem().legend
            if legend is not None:
                legend.setVisible(any(self._x[n] for n, (p, _) in _SERIES.items() if p == plot_name))

    def _list_in_legend(self, plot_name: str, name: str, listed: bool) -> None:
        legend, curve = self._plots[plot_name].getPlotItem().legend, self._curves[name]
        present = any(sample.item is curve for sample, _ in legend.items)
        if listed and not present:
            legend.addItem(curve, "validation")
        elif present and not listed:
            legend.removeItem(curve)

    #: where each plot's legend may go, most wanted first: (the corner as (x, y) of its item and the view, offset)
    _CORNERS = {"loss": (((1, 0), (-8, 8)), ((0, 1), (8, -8)), ((0, 0), (8, 8)), ((1, 1), (-8, -8))),
                "accuracy": (((1, 1), (-8, -8)), ((0, 1), (8, -8)), ((1, 0), (-8, 8)), ((0, 0), (8, 8)))}

    #: a view lower than this (px) gets its legend on one line
    ONE_LINE_LEGEND_BELOW = 160

    def _on_range_changed(self, view, *_):
        for plot_name, plot in self._plots.items():
            if plot.getPlotItem().vb is view:
                self._place_legend(plot_name)

    def _place_legend(self, plot_name: str) -> None:
        """Keep the legend off the curves: it sits in its usual corner until a curve runs under it (a validation
        loss that ends high hid behind the loss legend), then moves to the first corner the curves leave free.
        A few dozen NumPy operations an epoch; the legend only moves when its corner is taken."""
        item = self._plots[plot_name].getPlotItem()
        legend, view = item.legend, item.vb
        width, height = view.width(), view.height()
        if legend is None or width < 50 or height < 50:
            return
        # In a short plot (a 1024x700 window) the two-line legend took over a third of the height, so every
        # corner covered a curve or the best epoch's caption and it stayed on them: there it is one line.
        legend.setColumnCount(2 if height < self.ONE_LINE_LEGEND_BELOW else 1)
        (x0, x1), (y0, y1) = view.viewRange()
        if x1 <= x0 or y1 <= y0:
            return
        box = legend.boundingRect()
        series = [(np.asarray(self._x[n], dtype=float), np.asarray(self._y[n], dtype=float)
                   * (100.0 if plot_name == "accuracy" else 1.0)) for n, (p, _) in _SERIES.items() if p == plot_name]

        def hits(corner):
            (ax, ay), (ox, oy) = corner
            left = ax * (width - box.width()) + ox  # the legend's rectangle in the view's pixels
            top = ay * (height - box.height()) + oy
            vx = (x0 + (left - 4) / width * (x1 - x0), x0 + (left + box.width() + 4) / width * (x1 - x0))
            vy = (y1 - (top + box.height() + 4) / height * (y1 - y0), y1 - (top - 4) / height * (y1 - y0))
            n = 0
            if caption is not None and caption.intersects(QRectF(vx[0], vy[0], vx[1] - vx[0], vy[1] - vy[0])):
                n += 24  # the best epoch's caption is under it: as bad as a curve
            for xs, ys in series:
                if xs.size == 0:
                    continue
                grid = np.linspace(max(vx[0], xs[0]), min(vx[1], xs[-1]), 24)  # the line between the points too
                if grid[0] <= grid[-1]:
                    on = np.interp(grid, xs, ys)
                    n += int(np.count_nonzero((on >= vy[0]) & (on <= vy[1])))
            return n

        line = self._best_lines[plot_name]
        caption = None
        if line.isVisible():
            # where it is after this range or size: its place and (pyqtgraph sets a text's scale only when it
            # paints) its size, or a caption not yet painted since it was shown measures wrong and stays covered
            line.label.updatePosition()
            line.label.updateTransform(force=True)
            caption = line.label.mapRectToItem(view.childGroup, line.label.boundingRect()).normalized()
        corners = self._CORNERS[plot_name]
        current = self._legend_corner.get(plot_name, corners[0])
        if hits(current) == 0:
            return
        counts = {c: hits(c) for c in corners}
        best = min(corners, key=lambda c: counts[c])  # the first of the least covered, in the order above
        if counts[best] < counts[current]:
            legend.anchor(itemPos=best[0], parentPos=best[0], offset=best[1])
            self._legend_corner[plot_name] = best

    def _show_running(self, stats: dict) -> None:
        # With the batch total known the point sits inside the running epoch
        # (epochs counted from 1); otherwise it sits on the epoch itself.
        x = float(stats["epoch"])
        n_batches = stats.get("n_batches")
        if n_batches:
            x = x - 1 + min(1.0, (stats["batch"] + 1) / n_batches)
        for plot_name, key, scale in (("loss", "loss", 1.0), ("accuracy", "accuracy", 100.0)):
            value = stats.get(key)
            if value is None:
                self._running[plot_name].setData([], [])
            else:
                self._running[plot_name].setData([x], [float(value) * scale])
