"""The sweep dialog: one to three settings and their values → a queue of runs in separate processes,
progress for the whole sweep and the runs in progress, Stop, the results as a table and a plot of the
metric against the first swept setting. "Reproduce the report's tables" fills the queue with one of the
report's tables, its numbers in a column beside ours.

The sweep runs in a WorkerRunner thread that waits on ``core.sweep.run_sweep`` (whose runs are
processes); the dialog only shows what the worker's signals carry.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar,
    QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout,
)

from gui.widgets.plot_style import show_major_grid
from gui.workers import WorkerRunner

#: What the dialog offers to sweep, with example values (any core.sweep key works from the CLI).
SWEEPABLE = {
    "digits": {"hidden": "64;128,64;256,128", "activation": "relu;tanh;bipolar-sigmoid", "features": "mfcc-full;mfcc-mean;mfcc-stats",
               "lr": "0.0003;0.001;0.003", "epochs": "20;60", "batch_size": "16;32;64", "n_mfcc": "12;13;20",
               "optimizer": "adam;sgd"},
    "speakers": {"model": "logreg;sgd", "features": "mfcc-stats;mfcc-mean;spectral", "n_mfcc": "13;20;30",
                 "C": "0.1;1;10"},
    "genres": {"model": "cnn;features-logreg", "lr": "0.0003;0.001", "epochs": "10;20", "window_seconds": "3;5"},
}


_RIGHT = Qt.AlignRight | Qt.AlignVCenter
_LEFT = Qt.AlignLeft | Qt.AlignVCenter


def _numeric(text):
    """A cell that holds a number ("98.3 %", "12", "3.4") or none ("—"), as opposed to "waiting" or an error."""
    return text in ("—", "") or text.rstrip(" %").replace(".", "", 1).isdigit()


def sweep_job(specs, *, name, max_workers=None):
    """The worker's job: run the sweep, reporting ``started`` (index), ``run_epoch`` (index, stats),
    ``run_done`` (answer) and ``progress`` (extraction)."""

    def job(report, should_stop):
        from core.sweep import run_sweep

        return run_sweep(specs, name=name, max_workers=max_workers, should_stop=should_stop,
                         on_started=lambda i: report("started", i),
                         on_epoch=lambda i, stats: report("run_epoch", (i, stats)),
                         on_result=lambda ans: report("run_done", ans),
                         on_progress=lambda p: report("progress", p))

    return job


class SweepDialog(QDialog):
    """Set up, run, stop and read a sweep for one task.

    ``base`` is a ``core.sweep.RunSpec`` with the tab's current data, features,
    model and split; swept settings change it run by run.

    Signals
    -------
    finished_sweep(object) : run_sweep's answer, when the sweep ends (also when stopped)
    """

    finished_sweep = Signal(object)

    def __init__(self, base, parent=None):
        super().__init__(parent)
        from core.sweep import REPORT_TABLE_TASKS, REPORT_TABLES

        self.base = base
        self.specs = []
        self.answers = {}
        self.running = {}  # index -> last epoch stats
        self.lines = {}  # curve name -> its PlotDataItem
        self._headers = None  # the table's columns, and the plot's x values and curves, as last drawn
        self._plot_layout = None
        self.runner = WorkerRunner(self)
        self.runner.busy_changed.connect(self._on_busy)
        self.setWindowTitle(f"Sweep: {base.task}")

        grid = QGridLayout()
        grid.addWidget(QLabel("<b>Setting</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Values</b> (separated by ;  — 128,64 is one two-layer value)"), 0, 1)
        offered = SWEEPABLE.get(base.task, {})
        self.rows = []
        for i in range(3):
            combo = QComboBox()
            combo.addItem("—", None)
            for key in offered:
                combo.addItem(key, key)
            values = QLineEdit()
            combo.currentIndexChanged.connect(lambda _=0, c=combo, v=values: v.setText(offered.get(c.currentData(), "")))
            grid.addWidget(combo, i + 1, 0)
            grid.addWidget(values, i + 1, 1)
            self.rows.append((combo, values))
        self.report_combo = QComboBox()
        self.report_combo.addItem("— a grid of the settings above —", None)
        for key, title in REPORT_TABLES.items():
            if REPORT_TABLE_TASKS[key] == base.task:
                self.report_combo.addItem(f"Reproduce the report's table {title}", key)
        self.report_combo.setEnabled(self.report_combo.count() > 1)
        self.report_combo.setToolTip("The report's experiments as one sweep, with its numbers beside ours")
        self.processes = QSpinBox()
        from core.sweep import default_workers

        self.processes.setRange(1, 64)
        self.processes.setValue(default_workers())
        self.processes.setToolTip("Runs trained at the same time, each in its own process")
        self.data_label = QLabel(f"Data: {base.data or 'the demo data'} · features {base.features or 'default'} · "
                                 f"model {base.model or 'default'}, the tab's other settings")
        self.data_label.setWordWrap(True)

        self.start_button = QPushButton("Start sweep")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.overall = QProgressBar()
        self.overall.setFormat("%v / %m runs")
        self.current = QLabel("")
        self.current.setWordWrap(True)
        # Room for two lines from the start: the runs' progress (a line that grows to two and back as runs
        # start and end) then never changes the dialog's layout, which resized and repainted the plot and
        # the table on an epoch's report (40-60 ms of the GUI thread under a CPU hog).
        self.current.setMinimumHeight(2 * self.current.fontMetrics().lineSpacing() + 4)
        self.current.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.note = QLabel("")
        self.note.setWordWrap(True)

        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(False)  # a wide "Seconds" pushed the numbers apart
        self.plot = pg.PlotWidget()
        self.plot.setBackground(self.palette().color(self.backgroundRole()))
        self.plot.setLabel("left", "test accuracy (%)")
        self.plot.setYRange(0, 104, padding=0)
        show_major_grid(self.plot.getPlotItem(), x=False, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-8, -8))
        self.plot.setMinimumHeight(180)

        top = QHBoxLayout()
        top.addWidget(self.report_combo, 1)
        top.addWidget(QLabel("processes"))
        top.addWidget(self.processes)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.overall, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addLayout(top)
        lay.addWidget(self.data_label)
        lay.addLayout(buttons)
        lay.addWidget(self.current)
        results = QHBoxLayout()
        results.addWidget(self.table, 3)
        results.addWidget(self.plot, 2)
        lay.addLayout(results, 1)
        lay.addWidget(self.note)
        self._fit_to_screen(parent)

    def _fit_to_screen(self, parent):
        """1060 × 640, or less on a smaller screen (a 1024 × 700 laptop showed a dialog wider than itself)."""
        from PySide6.QtGui import QGuiApplication

        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        room = screen.availableGeometry() if screen is not None else None
        width, height = 1060, 640
        if room is not None:
            width, height = min(width, room.width() - 24), min(height, room.height() - 48)  # the frame's share
        self.resize(max(width, self.minimumSizeHint().width()), max(height, self.minimumSizeHint().height()))

    # ------------------------------------------------------------------ set-up

    def set_grid(self, items):
        """Fill the setting rows: ``[(key, "v1;v2"), ...]``."""
        for (combo, values), (key, text) in zip(self.rows, items):
            combo.setCurrentIndex(combo.findData(key))
            values.setText(text)

    def build_specs(self):
        """The runs the dialog would start (raises SpeechLabError for bad values)."""
        from core import sweep as sw
        from core.errors import SpeechLabError

        table = self.report_combo.currentData()
        if table:
            return sw.report_sweep(table, data=self.base.data, seed=42 if self.base.seed is None else self.base.seed)
        grid = [sw.parse_grid(f"{combo.currentData()}={values.text()}") for combo, values in self.rows
                if combo.currentData()]
        if not grid:
            raise SpeechLabError("Choose at least one setting to sweep and its values")
        return sw.expand_grid(self.base, grid)

    # ------------------------------------------------------------------- run

    def start(self):
        from core.errors import SpeechLabError

        if self.runner.busy:
            return
        try:
            specs = self.build_specs()
        except SpeechLabError as exc:
            self.current.setText(f"<span style='color:#b91c1c'>{exc}</span>")
            return
        self.specs, self.answers, self.running = specs, {}, {}
        self.overall.setRange(0, len(specs))
        self.overall.setValue(0)
        self._fill_table()
        self.note.setText("")
        if self.report_combo.currentData():
            from core.sweep import REPORT_TABLE_DATA

            self.note.setText(f"The report's numbers were measured on {REPORT_TABLE_DATA[self.report_combo.currentData()]}; "
                              f"ours on {self.base.data or 'the demo data'} with the same settings. "
                              "Other data give other numbers.")

        def connect(w):
            w.reported.connect(self._on_event)
            w.progress.connect(self._on_extraction)
            w.finished.connect(self._on_finished)
            w.failed.connect(self._on_failed)

        self.runner.start(sweep_job(specs, name=self.report_combo.currentData() or "grid",
                                    max_workers=self.processes.value()), connect=connect)
        self.current.setText(f"Extracting features, then {len(specs)} runs in {self.processes.value()} processes…")

    def stop(self):
        self.runner.stop()
        self.current.setText("Stopping: runs not started are dropped, running ones keep their best model…")

    @Slot(bool)
    def _on_busy(self, busy):
        self.start_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    @Slot(object)
    def _on_extraction(self, p):
        self.current.setText(f"Extracting features: {p.done}/{p.total} files")

    @Slot(str, object)
    def _on_event(self, kind, value):
        if kind == "started":
            self.running.setdefault(value, None)
        elif kind == "run_epoch":
            index, stats = value
            self.running[index] = stats
        elif kind == "run_done":
            self.answers[value["index"]] = value
            self.running.pop(value["index"], None)
            self.overall.setValue(len(self.answers))
            self._fill_table()
        self._show_running()

    def _show_running(self):
        from core.sweep import format_value

        parts = []
        for i, stats in sorted(self.running.items()):
            values = ", ".join(f"{k}={format_value(v)}" for k, v in self.specs[i].values.items())
            epoch = "" if not stats else f": epoch {stats['epoch']}/{stats['epochs']}, accuracy {stats['accuracy']:.0%}"
            parts.append(f"run {i + 1} ({values}){epoch}")
        self.current.setText("Running " + "; ".join(parts) if parts else "")

    @Slot(object)
    def _on_finished(self, out):
        done = sum(1 for a in self.answers.values() if a.get("accuracy") is not None)
        self.current.setText(f"{done} of {len(self.specs)} runs recorded in {out['seconds']:.1f} s"
                             + (" (stopped)" if out["stopped"] else "") + "; they are in All runs.")
        self.result = out
        self.finished_sweep.emit(out)

    @Slot(str)
    def _on_failed(self, message):
        self.current.setText(f"<span style='color:#b91c1c'>{message}</span>")

    # ---------------------------------------------------------------- results

    def _fill_table(self):
        from core.sweep import results_table

        answers = [self.answers.get(i) for i in range(len(self.specs))]
        rows = results_table(self.specs, answers)
        keys = list(dict.fromkeys(k for r in rows for k in r["values"]))
        has_ref = any(r["reference"] is not None for r in rows)
        headers = keys + ["Test acc"] + (["The report's"] if has_ref else []) + ["Run", "Seconds"]
        same_shape = headers == self._headers and self.table.rowCount() == len(rows)
        if not same_shape:  # a new sweep; a run's end only changes cells (no new items, no new columns)
            self._headers = headers
            self.table.setColumnCount(len(headers))
            self.table.setHorizontalHeaderLabels(headers)
            self.table.setRowCount(len(rows))
        for row, r in enumerate(rows):
            cells = [r["values"].get(k, "") for k in keys]
            cells.append("—" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %")
            if has_ref:
                cells.append("—" if r["reference"] is None else f"{100 * r['reference']:.1f} %")
            cells.append(str(r["run_id"]) if r["run_id"] else (r["error"] or "waiting"))
            cells.append("" if r["seconds"] is None else f"{r['seconds']:.1f}")
            for col, text in enumerate(cells):
                align = _RIGHT if col >= len(keys) and _numeric(text) else _LEFT  # numbers; not "waiting", errors
                item = self.table.item(row, col) if same_shape else None
                if item is not None:
                    if item.text() != text:
                        item.setText(text)
                        item.setToolTip(text)
                        item.setTextAlignment(align)
                    continue
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                item.setTextAlignment(align)
                self.table.setItem(row, col, item)
        self._draw_plot(rows, keys)

    def table_rows(self):
        t = self.table
        return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]

    def _draw_plot(self, rows, keys):
        """Accuracy against the first swept setting; one line per value of the others (and the report's, dashed)."""
        from core.report_html import PALETTE

        first = keys[0] if keys else None
        xs = list(dict.fromkeys(r["values"].get(first) for r in rows)) if keys else []
        groups = {}
        for r in rows:
            rest = ", ".join(f"{k}={r['values'][k]}" for k in keys[1:] if k in r["values"])
            groups.setdefault(rest, []).append(r)
        layout = (first, xs, list(groups))
        if layout == self._plot_layout and keys:
            # a run ended in the same sweep: new points on the same curves (clearing and rebuilding the
            # curves, their symbols and the legend was most of the GUI thread's work at a run's end)
            for rest, rs in groups.items():
                pts = [(xs.index(r["values"].get(first)), 100 * r["accuracy"]) for r in rs
                       if r["accuracy"] is not None]
                self.lines[rest or "ours"].setData([p[0] for p in pts], [p[1] for p in pts])
            self._fit_y(rows)
            return
        self._plot_layout = layout
        self.plot.clear()
        self.lines = {}
        self._fit_y(rows)
        if not keys:
            return
        self.plot.getAxis("bottom").setTicks([[(i, str(x)[:18]) for i, x in enumerate(xs)]])
        self.plot.setLabel("bottom", first)
        for k, (rest, rs) in enumerate(groups.items()):
            pts = [(xs.index(r["values"].get(first)), 100 * r["accuracy"]) for r in rs if r["accuracy"] is not None]
            colour = PALETTE[k % len(PALETTE)]
            self.lines[rest or "ours"] = self.plot.plot([p[0] for p in pts], [p[1] for p in pts],
                                                        pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour,
                                                        name=rest or "ours")
            ref = [(xs.index(r["values"].get(first)), 100 * r["reference"]) for r in rs if r["reference"] is not None]
            if ref:
                self.plot.plot([p[0] for p in ref], [p[1] for p in ref], pen=None, symbol="x", symbolSize=10,
                               symbolPen=pg.mkPen("#6b7280", width=2), name="the report")

    def _fit_y(self, rows):
        """The accuracy axis around the points (at least 10 points tall): runs 95 % and 98 % apart are what a
        sweep compares, and on a 0-100 axis they sat on one line. 0-100 until a run has ended."""
        ys = [100 * r[k] for r in rows for k in ("accuracy", "reference") if r.get(k) is not None]
        if not ys:
            self.plot.setYRange(0, 104, padding=0)
            return
        low, high = min(ys), max(ys)
        self.plot.setYRange(max(0.0, min(low, high - 10.0) - 2.0), min(104.0, high + 3.0), padding=0)

    def closeEvent(self, event):
        self.runner.shutdown()
        super().closeEvent(event)
