"""The MLP's insides while it trains: why a net learns, or why it does not.

Per layer and epoch (from ``stats["layers"]`` of :class:`core.models.mlp.MLPClassifier`):
the RMS of its weights and of its last mini-batch gradient (log scale), the
share of dead ReLU units or saturated sigmoid/tanh outputs, and the latest
histogram of each hidden layer's activations. A line of plain words says what
the numbers mean (vanishing gradients, saturation, dead units): the report's
randn-initialised two-layer sigmoid net, which stayed at 10 %, shows it at once.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

# Okabe-Ito colours, one per layer (nets here rarely have more than a few layers).
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

SATURATED_WARNING = 0.5  # share of outputs near ±1 that stalls a sigmoid layer's learning
DEAD_WARNING = 0.3  # share of ReLU units that never fire
VANISHING_RATIO = 1e-3  # a layer's gradient this much smaller than the output layer's


def diagnose(layers):
    """Plain words for one epoch's layer statistics (empty when all looks healthy)."""
    notes = []
    out_grad = layers[-1]["grad_rms"] if layers else 0.0
    for entry in layers[:-1]:
        if entry.get("saturated") is not None and entry["saturated"] >= SATURATED_WARNING:
            notes.append(f"{entry['layer']}: {entry['saturated']:.0%} of its outputs are saturated near ±1, so its "
                         "gradient is tiny (large weights: try Xavier initialisation and standardised inputs)")
        if entry.get("dead") is not None and entry["dead"] >= DEAD_WARNING:
            notes.append(f"{entry['layer']}: {entry['dead']:.0%} of its ReLU units never fire (dead): "
                         "try a smaller learning rate or He initialisation")
        if out_grad > 0 and entry["grad_rms"] < VANISHING_RATIO * out_grad:
            notes.append(f"{entry['layer']}: its gradient is {entry['grad_rms'] / out_grad:.0e} of the output "
                         "layer's: it has almost stopped learning (vanishing gradient)")
    return notes


class MLPInsides(QWidget):
    """Three plots (weights & gradients, dead/saturated share, activation histograms) and a diagnosis line."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        # Short titles in a smaller type: a plot is never narrower than its title, and on a 1024-pixel window
        # each of the three gets ~200 px (a longer title pushed its plot's right end, the last epochs, out of view).
        self.norms = pg.PlotWidget()
        self.norms.setTitle("Weights —, gradients - -", size="9pt")
        self.norms.setLogMode(y=True)
        self.norms.setLabel("bottom", "epoch")
        self.norms.setToolTip("Root mean square of each layer's weights (solid) and of its last mini-batch "
                              "gradient (dashed), log scale")
        self.health = pg.PlotWidget()
        self.health.setTitle("Dead / saturated (%)", size="9pt")
        self.health.setLabel("bottom", "epoch")
        self.health.setYRange(0, 100, padding=0.02)
        self.health.setToolTip("ReLU layers: units that output zero for every sample. Sigmoid/tanh layers: "
                               "outputs within 5 % of their limits")
        self.hist = pg.PlotWidget()
        self.hist.setTitle("Hidden activations", size="9pt")
        self.hist.setLabel("bottom", "activation")
        self.hist.setToolTip("Histogram of each hidden layer's outputs on 256 training clips, latest epoch")
        self.key = QLabel("")
        self.note = QLabel("Train the MLP to see its layers here.")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextSelectableByMouse)
        grid.addWidget(self.norms, 0, 0)
        grid.addWidget(self.health, 0, 1)
        grid.addWidget(self.hist, 0, 2)
        grid.addWidget(self.key, 1, 0, 1, 3)
        grid.addWidget(self.note, 2, 0, 1, 3)
        for column, stretch in enumerate((5, 4, 4)):  # the log plot's tick labels ("0.0001") take more room
            grid.setColumnStretch(column, stretch)
        self._curves = {}  # (layer index, series) -> PlotDataItem, created once, then setData
        self._data = {}
        self._hist_items, self._hist_layers = [], []  # a histogram's item per hidden layer shown
        self.epochs = 0

    def reset(self):
        for plot in (self.norms, self.health, self.hist):
            plot.clear()
        self.key.setText("")
        self._curves.clear()
        self._data.clear()
        self._hist_items, self._hist_layers = [], []
        self.epochs = 0
        self.note.setText("Train the MLP to see its layers here.")

    def set_history(self, history):
        """Show a finished run's insides (a loaded model or an earlier run; after each training too).

        Every epoch's numbers are gathered first and each curve is drawn once (drawing epoch by
        epoch, as :meth:`add_epoch` does while training, redrew every curve once per epoch: 60-70 ms
        of the GUI thread after a 10-epoch training under load); and not at all when they are what
        the live training just drew."""
        epochs = [s for s in history or [] if s.get("layers") and s.get("batch") is None]
        data, last = {}, 0
        for stats in epochs:
            if int(stats["epoch"]) <= last:  # the history of a second training: keep the last one
                data.clear()
            last = int(stats["epoch"])
            self._append(data, stats)
        if epochs and last == self.epochs and data == self._data and self._curves:
            return  # already on screen
        self.reset()
        if epochs:
            self._data, self.epochs = data, last
            self._draw(epochs[-1])

    def _curve(self, key, plot, colour, *, dashed=False):
        if key not in self._curves:
            pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
            self._curves[key] = plot.plot([], [], pen=pen)
        return self._curves[key]

    def add_epoch(self, stats):
        """One epoch's ``stats`` (ignored without ``layers`` or for intra-epoch reports)."""
        if not stats.get("layers") or stats.get("batch") is not None:
            return
        if int(stats["epoch"]) <= self.epochs:  # a new training (or rotation) started
            self.reset()
        self.epochs = int(stats["epoch"])
        self._append(self._data, stats)
        self._draw(stats)

    @staticmethod
    def _append(data, stats):
        """Add one epoch's numbers to ``data``: (layer, series) -> (epochs, values)."""
        epoch = int(stats["epoch"])
        for i, entry in enumerate(stats["layers"]):
            for series in ("weight_rms", "grad_rms"):
                value = entry.get(series)
                if value is None or not np.isfinite(value) or value <= 0:
                    continue
                xs, ys = data.setdefault((i, series), ([], []))
                xs.append(epoch)
                ys.append(value)
            share = entry.get("dead") if entry.get("dead") is not None else entry.get("saturated")
            if share is not None:
                xs, ys = data.setdefault((i, "share"), ([], []))
                xs.append(epoch)
                ys.append(100.0 * share)

    def _draw(self, stats):
        """Every curve from the kept numbers; the histograms, key and diagnosis of ``stats`` (the latest epoch)."""
        layers = stats["layers"]
        for (i, series), (xs, ys) in self._data.items():
            plot = self.health if series == "share" else self.norms
            curve = self._curve((i, series), plot, _COLOURS[i % len(_COLOURS)], dashed=series == "grad_rms")
            curve.setData(xs, ys)
        shown = [(i, entry) for i, entry in enumerate(layers[:-1]) if entry.get("hist")]
        if [i for i, _ in shown] != self._hist_layers:
            for item in self._hist_items:  # other layers than last epoch: the items made again
                self.hist.removeItem(item)
            self._hist_items = [pg.PlotDataItem([0.0, 1.0], [0.0], stepMode="center",
                                                pen=pg.mkPen(_COLOURS[i % len(_COLOURS)], width=2))
                                for i, _ in shown]
            self._hist_layers = [i for i, _ in shown]
            for item in self._hist_items:
                self.hist.addItem(item)
        for item, (_, entry) in zip(self._hist_items, shown):  # an epoch's new histograms on the same items
            counts = np.asarray(entry["hist"], dtype=float)
            item.setData(np.asarray(entry["edges"]), counts / max(counts.sum(), 1.0))
        self.key.setText("  ".join(f"<span style='color:{_COLOURS[i % len(_COLOURS)]}'>■</span> {e['layer']} "
                                   f"({e['activation']})" for i, e in enumerate(layers)))
        notes = diagnose(layers)
        summary = ", ".join(
            f"{e['layer']} weights {e['weight_rms']:.3g} / gradient {e['grad_rms']:.2g}"
            + (f", {e['dead']:.0%} dead" if e.get("dead") is not None else "")
            + (f", {e['saturated']:.0%} saturated" if e.get("saturated") is not None else "")
            for e in layers)
        self.note.setText(f"Epoch {self.epochs}: {summary}." + ("\n⚠ " + "\n⚠ ".join(notes) if notes else
                                                               "\nNo sign of saturation, dead units or vanishing gradients."))
