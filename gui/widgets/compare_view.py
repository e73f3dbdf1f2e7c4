"""Compare runs: their curves overlaid, their metrics side by side, their settings with the differences
highlighted. Input: runs as ``core.history.RunHistory.get`` returns them (plain values)."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter,
    QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from core.history import curves, differing, settings_of
from core.report_html import PALETTE
from gui.widgets.plot_style import show_major_grid

DIFF_BRUSH = QColor("#fff3cd")
BEST_BRUSH = QColor("#dcfce7")


def _pct(v):
    return "—" if v is None else f"{100 * v:.1f} %"


class CompareView(QWidget):
    """Two plots (loss, accuracy) with every run's curves (solid: train, dashed: validation), a
    metrics table (best of each row marked) and a settings table (rows that differ first, shaded)."""

    def __init__(self, runs, parent=None):
        super().__init__(parent)
        self.runs = list(runs)
        self.loss_plot = self._plot("Loss")
        self.acc_plot = self._plot("Accuracy (%)", legend_offset=(-8, -8))  # curves rise: legend below them
        self.acc_plot.setYRange(0, 104, padding=0)
        self.curves = {}  # (run id, series) -> PlotDataItem
        for k, run in enumerate(self.runs):
            colour = PALETTE[k % len(PALETTE)]
            xs, series = curves(run)
            for key, values in series.items():
                plot = self.loss_plot if "loss" in key else self.acc_plot
                scale = 100.0 if "accuracy" in key else 1.0
                pts = [(x, v * scale) for x, v in zip(xs, values) if v is not None]
                dashed = key.startswith("val_")
                pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
                name = f"run {run['id']}" + (" val" if dashed else "")
                self.curves[(run["id"], key)] = plot.plot([p[0] for p in pts], [p[1] for p in pts], pen=pen,
                                                         name=name, antialias=True)
        plots = QHBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.acc_plot)
        plot_box = QWidget()
        plot_box.setLayout(plots)

        self.metrics_table = self._table()
        self.settings_table = self._table()
        self.only_differences = QCheckBox("Only the settings that differ")
        self.only_differences.toggled.connect(self._fill_settings)
        self.legend = QLabel(" ".join(
            f"<span style='color:{PALETTE[k % len(PALETTE)]}'>■</span> run {r['id']}: "
            f"{(r.get('summary') or {}).get('model', '')} · {(r.get('summary') or {}).get('features', '')} · "
            f"{(r.get('dataset') or {}).get('name', '')}<br>" for k, r in enumerate(self.runs)))
        self.legend.setTextFormat(Qt.RichText)
        self.legend.setWordWrap(True)
        self._fill_metrics()
        self._fill_settings()

        settings_box = QWidget()
        sl = QVBoxLayout(settings_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.only_differences)
        sl.addWidget(self.settings_table)
        tables = QTabWidget()
        tables.addTab(self.metrics_table, "Metrics side by side")
        tables.addTab(settings_box, "Settings (differences shaded)")
        self.tables = tables
        split = QSplitter(Qt.Vertical)
        split.addWidget(plot_box)
        split.addWidget(tables)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.legend)
        lay.addWidget(split, 1)

    def _plot(self, title, legend_offset=(-8, 8)):
        w = pg.PlotWidget()
        w.setBackground(self.palette().color(self.backgroundRole()))
        w.setTitle(title)
        w.setLabel("bottom", "epoch")
        show_major_grid(w.getPlotItem(), x=True, y=True, alpha=0.2)
        w.addLegend(offset=legend_offset)
        w.setMinimumHeight(160)
        return w

    def _table(self):
        t = QTableWidget()
        t.setEditTriggers(QAbstractItemView.NoEditTriggers)
        t.verticalHeader().setDefaultSectionSize(22)
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        return t

    def _headers(self, table, first):
        table.setColumnCount(1 + len(self.runs))
        table.setHorizontalHeaderLabels([first] + [f"run {r['id']}" for r in self.runs])
        for k in range(len(self.runs)):
            table.horizontalHeaderItem(k + 1).setForeground(QColor(PALETTE[k % len(PALETTE)]))
        table.verticalHeader().setVisible(False)

    def metric_rows(self):
        """[(name, [value per run])]: overall scores, seconds, then each class's test accuracy."""
        rows = []
        for key, name in (("accuracy", "Test accuracy"), ("train_accuracy", "Train accuracy"),
                          ("balanced_accuracy", "Balanced accuracy"), ("macro_f1", "Macro F1"),
                          ("window_accuracy", "Window accuracy")):
            values = [(r.get("metrics") or {}).get(key) for r in self.runs]
            if any(v is not None for v in values):
                rows.append((name, values))
        labels = list(dict.fromkeys(str(x) for r in self.runs for x in (r.get("metrics") or {}).get("labels") or []))
        for lab in labels:
            rows.append((f"class {lab}", [(((r.get("metrics") or {}).get("per_class") or {}).get(lab) or {})
                                          .get("accuracy") for r in self.runs]))
        return rows

    def _fill_metrics(self):
        t = self.metrics_table
        self._headers(t, "Metric")
        rows = self.metric_rows()
        t.setRowCount(len(rows) + 1)
        for row, (name, values) in enumerate(rows):
            t.setItem(row, 0, QTableWidgetItem(name))
            best = max((v for v in values if v is not None), default=None)
            for k, v in enumerate(values):
                item = QTableWidgetItem(_pct(v))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if v is not None and v == best and len([x for x in values if x is not None]) > 1:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                    item.setBackground(BEST_BRUSH)
                    item.setForeground(QColor(20, 20, 20))
                t.setItem(row, k + 1, item)
        last = len(rows)
        t.setItem(last, 0, QTableWidgetItem("Seconds"))
        for k, r in enumerate(self.runs):
            item = QTableWidgetItem(f"{float(r.get('seconds') or 0):.1f}")
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            t.setItem(last, k + 1, item)

    def settings_rows(self):
        """[(setting, [text per run], differs)], differing settings first."""
        settings = [settings_of(r) for r in self.runs]
        diff = set(differing(settings))
        keys = list(dict.fromkeys(k for s in settings for k in s))
        keys.sort(key=lambda k: k not in diff)
        return [(k, [s.get(k, "—") for s in settings], k in diff) for k in keys]

    def _fill_settings(self, *_):
        t = self.settings_table
        self._headers(t, "Setting")
        rows = [r for r in self.settings_rows() if r[2] or not self.only_differences.isChecked()]
        t.setRowCount(len(rows))
        for row, (key, values, differs) in enumerate(rows):
            cells = [QTableWidgetItem(key)] + [QTableWidgetItem(v) for v in values]
            for col, item in enumerate(cells):
                item.setToolTip(item.text())
                if differs:
                    item.setBackground(DIFF_BRUSH)
                    item.setForeground(QColor(20, 20, 20))
                t.setItem(row, col, item)

    def highlighted_settings(self):
        """The setting names shown shaded (they differ between the runs)."""
        t = self.settings_table
        return [t.item(r, 0).text() for r in range(t.rowCount()) if t.item(r, 0).background().color() == DIFF_BRUSH]


class CompareWindow(QWidget):
    """A separate window holding a :class:`CompareView`, with Export."""

    def __init__(self, runs, *, export=None, parent=None):
        super().__init__(parent, Qt.Window)
        self.setWindowTitle("Compare runs " + ", ".join(str(r["id"]) for r in runs))
        self.view = CompareView(runs)
        self._export = export
        self.export_button = QPushButton("Export HTML report…")
        self.export_button.clicked.connect(self._export_dialog)
        self.export_button.setEnabled(export is not None)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.view, 1)
        lay.addLayout(bottom)
        self.resize(1100, 720)

    def _export_dialog(self):
        ids = [r["id"] for r in self.view.runs]
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", "speechlab-compare-"
                                              + "-".join(map(str, ids)) + ".html", "HTML report (*.html)")
        if path:
            self._export(ids, path)
