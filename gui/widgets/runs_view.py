"""Every run of a task across sessions (core.history): sort, filter, search, star, note, delete,
bring a model back, re-run, compare, export.

The list is one SQLite query of the summary columns (a few ms for hundreds of
runs) on the GUI thread; writing reports runs on a JobQueue thread.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox, QPushButton,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from gui.workers import JobQueue

COLUMNS = ("★", "Run", "Time", "Test acc", "Train acc", "Balanced", "Dataset", "Features", "Model", "Split", "Epochs",
           "Seconds", "From", "Note")
_STAR, _ID, _NOTE = 0, 1, COLUMNS.index("Note")


class _Item(QTableWidgetItem):
    """Shows text, sorts by the value behind it (numbers as numbers, None first)."""

    def __init__(self, text, value=None):
        super().__init__(text)
        self._value = text if value is None else value
        self.setFlags(self.flags() & ~Qt.ItemIsEditable)

    def __lt__(self, other):
        a, b = self._value, getattr(other, "_value", None)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a) < str(b)


def _pct(v, std=None):
    """A score cell; with ``std`` (a k-fold run) "mean ± std", sorted by the mean."""
    if v is None:
        return _Item("—", -1.0)
    return _Item(f"{100 * v:.1f} ± {100 * std:.1f} %" if std is not None else f"{100 * v:.1f} %", float(v))


class RunsView(QWidget):
    """The run history of one task.

    Signals
    -------
    bring_back_requested(int) : load this run's model and results into the tab
    rerun_requested(int) : train again with this run's settings
    """

    bring_back_requested = Signal(int)
    rerun_requested = Signal(int)
    sweep_requested = Signal()

    def __init__(self, task, history=None, parent=None):
        super().__init__(parent)
        from core.history import RunHistory

        self.task = task
        self.history = history or RunHistory.default()
        self._filling = False
        self._compare_windows = []
        self._jobs = JobQueue(self)
        self._jobs.done.connect(self._on_job_done)
        self._jobs.failed.connect(self._on_job_failed)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search data, features, model, split, note…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.starred_only = QCheckBox("Starred only")
        self.starred_only.toggled.connect(self.refresh)
        self.count_label = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.starred_only)
        top.addWidget(self.count_label)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        for name, width in (("Features", 170), ("Model", 260), ("Note", 160)):  # long texts: elided, full in tooltips
            header.setSectionResizeMode(COLUMNS.index(name), QHeaderView.Interactive)
            header.resizeSection(COLUMNS.index(name), width)
        header.setStretchLastSection(True)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.setSortingEnabled(True)
        self.table.sortItems(_ID, Qt.DescendingOrder)  # newest first
        self.table.setToolTip("Every training of this task, kept across sessions. Click ★ to star; double-click a "
                              "note to edit it, any other cell to bring the run's model back. Select several runs "
                              "and press Compare.")
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellClicked.connect(self._on_cell_clicked)
        self.table.cellDoubleClicked.connect(self._on_double_clicked)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Curves overlaid, settings with the differences highlighted, metrics side by side")
        self.compare_button.clicked.connect(self.compare_selected)
        self.bring_back_button = QPushButton("Bring model back")
        self.bring_back_button.setToolTip("Make this run's kept model the tab's model, with its curves and results")
        self.bring_back_button.clicked.connect(lambda: self._emit_one(self.bring_back_requested))
        self.rerun_button = QPushButton("Re-run")
        self.rerun_button.setToolTip("Put this run's data, features and model settings in the panels and train again")
        self.rerun_button.clicked.connect(lambda: self._emit_one(self.rerun_requested))
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("One self-contained HTML file (images embedded), or metrics as CSV / JSON")
        self.export_button.clicked.connect(self.export_dialog)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Forget the selected runs and delete their kept model files")
        self.delete_button.clicked.connect(self.delete_selected_dialog)
        buttons = QHBoxLayout()
        for b in (self.compare_button, self.bring_back_button, self.rerun_button, self.export_button):
            buttons.addWidget(b)
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setToolTip("Train a grid of settings (or the report's tables) in parallel processes")
        self.sweep_button.clicked.connect(self.sweep_requested)
        buttons.addWidget(self.sweep_button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(3)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.refresh()

    # ------------------------------------------------------------------ list

    @Slot()
    def refresh(self, *_, select=None):
        """Read the runs again (after a training, an edit or a change of filter)."""
        keep = set(self.selected_ids()) if select is None else {select}
        runs = self.history.runs(self.task, search=self.search.text().strip() or None,
                                 starred=self.starred_only.isChecked() or None)
        self._filling = True
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(runs))
        for row, r in enumerate(runs):
            star = _Item("★" if r["starred"] else "☆", int(r["starred"]))
            star.setForeground(QColor("#d97706") if r["starred"] else QColor("#9ca3af"))
            star.setToolTip("Click to star or unstar")
            star.setTextAlignment(Qt.AlignCenter)
            cells = [star, _Item(str(r["id"]), r["id"]), _Item(r["created"].replace("T", " ")[:16], r["created"]),
                     _pct(r["accuracy"], r.get("accuracy_std")), _pct(r["train_accuracy"]),
                     _pct(r["balanced_accuracy"]),
                     _Item(r["dataset_name"]), _Item(r["features"]), _Item(r["model"]), _Item(r["split"]),
                     _Item(str(r["epochs"]), r["epochs"]), _Item(f"{r['seconds']:.1f}", r["seconds"]),
                     _Item(r["source"] + ("" if r["status"] == "finished" else f", {r['status']}")),
                     QTableWidgetItem(r["note"])]
            cells[1].setData(Qt.UserRole, r["id"])
            cells[6].setToolTip(f"{r['dataset']}\n{r['n_files']} files, fingerprint {r['fingerprint']}")
            for col, item in enumerate(cells):
                if col not in (6,):
                    item.setToolTip(item.toolTip() or item.text())
                if col in (1, 3, 4, 5, 10, 11):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self._filling = False
        self.table.clearSelection()
        for row in range(self.table.rowCount()):
            if self.table.item(row, _ID).data(Qt.UserRole) in keep:
                self.table.selectRow(row) if len(keep) == 1 else self._add_row_to_selection(row)
        total = self.history.count(self.task)
        self.count_label.setText(f"{len(runs)} of {total} runs" if len(runs) != total else f"{total} runs")
        self._update_buttons()

    def _add_row_to_selection(self, row):
        from PySide6.QtCore import QItemSelectionModel

        self.table.selectionModel().select(self.table.model().index(row, 0),
                                           QItemSelectionModel.Select | QItemSelectionModel.Rows)

    def row_ids(self):
        """Run ids in the order shown."""
        return [self.table.item(r, _ID).data(Qt.UserRole) for r in range(self.table.rowCount())]

    def selected_ids(self):
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.table.item(r, _ID).data(Qt.UserRole) for r in rows if self.table.item(r, _ID)]

    def select_ids(self, ids):
        self.table.clearSelection()
        for row, rid in enumerate(self.row_ids()):
            if rid in ids:
                self._add_row_to_selection(row)

    def _row_of(self, run_id):
        return self.row_ids().index(run_id)

    def _update_buttons(self):
        n = len(self.selected_ids())
        self.compare_button.setEnabled(n >= 2)
        self.bring_back_button.setEnabled(n == 1)
        self.rerun_button.setEnabled(n == 1)
        self.export_button.setEnabled(n >= 1)
        self.delete_button.setEnabled(n >= 1)

    def _emit_one(self, signal):
        ids = self.selected_ids()
        if len(ids) == 1:
            signal.emit(ids[0])

    # ------------------------------------------------------------------ edits

    def _on_cell_clicked(self, row, col):
        if col == _STAR:
            rid = self.table.item(row, _ID).data(Qt.UserRole)
            self.set_starred(rid, not self.table.item(row, _STAR).text() == "★")

    def _on_double_clicked(self, row, col):
        if col not in (_STAR, _NOTE):
            self.bring_back_requested.emit(self.table.item(row, _ID).data(Qt.UserRole))

    def _on_item_changed(self, item):
        if self._filling or item.column() != _NOTE:
            return
        rid = self.table.item(item.row(), _ID).data(Qt.UserRole)
        self.history.set_note(rid, item.text())
        item.setToolTip(item.text())

    def set_starred(self, run_id, starred):
        self.history.set_starred(run_id, starred)
        self.refresh(select=run_id)

    def set_note(self, run_id, text):
        """Edit a run's note (what typing into its Note cell does)."""
        self.table.item(self._row_of(run_id), _NOTE).setText(text)

    def delete_runs(self, ids):
        for rid in ids:
            self.history.delete(rid)
        self.refresh()

    def delete_selected_dialog(self):
        ids = self.selected_ids()
        if not ids:
            return
        answer = QMessageBox.question(
            self, "Delete runs", f"Forget {len(ids)} run(s) ({', '.join(map(str, ids))}) and delete their kept "
            "model files? Models you saved yourself elsewhere are not touched.")
        if answer == QMessageBox.Yes:
            self.delete_runs(ids)

    # ------------------------------------------------------------- compare, export

    def compare_selected(self):
        ids = self.selected_ids()
        if len(ids) >= 2:
            return self.compare(ids)
        return None

    def compare(self, ids):
        """Open a Compare window for these runs (returns it)."""
        from gui.widgets.compare_view import CompareWindow

        runs = [r for r in (self.history.get(i) for i in ids) if r is not None]
        win = CompareWindow(runs, export=self.export_to, parent=self)
        self._compare_windows = [w for w in self._compare_windows if w.isVisible()] + [win]
        win.show()
        return win

    def export_dialog(self):
        ids = self.selected_ids()
        if not ids:
            return
        name = f"speechlab-run-{ids[0]}.html" if len(ids) == 1 else "speechlab-runs-" + "-".join(map(str, ids)) + ".html"
        path, _ = QFileDialog.getSaveFileName(self, "Export report", name,
                                              "HTML report (*.html);;Metrics CSV (*.csv);;Metrics JSON (*.json)")
        if path:
            self.export_to(ids, path)

    def export_to(self, ids, path):
        """Write the report of ``ids`` to ``path`` (.html, .csv or .json) on a background thread."""
        history = self.history

        def job():
            from core.report_html import write_report

            runs = [history.get(i) for i in ids]
            return write_report([r for r in runs if r is not None], path)

        self._jobs.submit(job, ("export", tuple(ids), str(path)))
        self.count_label.setText(f"Writing {path}…")

    @Slot(object, object)
    def _on_job_done(self, request, result):
        if request[0] == "export":
            self.count_label.setText(f"Report written: {result}")
            self.count_label.setToolTip(str(result))
            self.last_export = str(result)

    @Slot(object, str)
    def _on_job_failed(self, request, message):
        self.count_label.setText(f"Export failed: {message}")
        self.count_label.setToolTip(message)

    @property
    def jobs(self):
        return self._jobs

    def shutdown(self):
        self._jobs.shutdown()
        for w in self._compare_windows:
            w.close()
