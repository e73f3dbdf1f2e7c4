"""The runs of this session side by side, so experiments can be compared.

Only comparable runs are ranked: the best test accuracy is marked among runs
on the same dataset with the same kind of split. A leave-one-speaker-out
rotation tests one voice; it is never ranked against random-split runs (nor
against the other rotations, each of which tests a different voice).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

COLUMNS = ("#", "Test acc", "Train acc", "Balanced", "Dataset", "Features", "Model", "Split", "Epochs", "Seconds",
           "Time", "Note")


class _NumberItem(QTableWidgetItem):
    """Shows text, sorts by number."""

    def __init__(self, text, value):
        super().__init__(text)
        self.setData(Qt.UserRole, value)
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other):
        a, b = self.data(Qt.UserRole), other.data(Qt.UserRole)
        return (a if a is not None else -1) < (b if b is not None else -1)


class RunsTable(QTableWidget):
    """One row per finished training; double-click a row to bring its model back.

    Signals
    -------
    run_activated(int) : the run's number (as given to :meth:`add_run`)
    """

    run_activated = Signal(int)

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setSortingEnabled(True)
        self.sortItems(0, Qt.AscendingOrder)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.ElideRight)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Model"), QHeaderView.Stretch)
        self.setToolTip("Every training of this session; double-click a run to show its model, curves and results again")
        self.cellDoubleClicked.connect(lambda row, _: self.run_activated.emit(self.item(row, 0).data(Qt.UserRole)))

    def add_run(self, number, run):
        """Append a run: ``run`` has time, dataset, features, model, split, epochs, best_epoch,
        train_accuracy, accuracy, balanced_accuracy, seconds, note, and ``compare``: a key shared
        by runs that may be ranked against each other (None: never ranked, e.g. a rotation)."""
        self.setSortingEnabled(False)
        row = self.rowCount()
        self.insertRow(row)
        epochs = f"{run['epochs']}" + (f" (best {run['best_epoch']})" if run.get("best_epoch") else "")
        by_column = {
            "#": _NumberItem(str(number), number),
            "Test acc": _pct(run.get("accuracy")),
            "Train acc": _pct(run.get("train_accuracy")),
            "Balanced": _pct(run.get("balanced_accuracy")),
            "Dataset": QTableWidgetItem(run.get("dataset") or ""),
            "Features": QTableWidgetItem(run["features"]),
            "Model": QTableWidgetItem(run["model"]),
            "Split": QTableWidgetItem(run["split"]),
            "Epochs": _NumberItem(epochs, run["epochs"]),
            "Seconds": _NumberItem(f"{run['seconds']:.1f}", run["seconds"]),
            "Time": QTableWidgetItem(run["time"]),
            "Note": QTableWidgetItem(run.get("note") or ""),
        }
        by_column["#"].setData(Qt.UserRole + 1, run.get("compare"))
        cells = [by_column[c] for c in COLUMNS]
        for col, item in enumerate(cells):
            item.setToolTip(item.text())
            self.setItem(row, col, item)
        self._mark_best()
        self.setSortingEnabled(True)
        self.scrollToItem(cells[0])

    def _mark_best(self):
        """Bold and green: the best test accuracy within each group of comparable runs (two or more)."""
        col = COLUMNS.index("Test acc")
        groups = {}
        for r in range(self.rowCount()):
            key = self.item(r, 0).data(Qt.UserRole + 1)
            value = self.item(r, col).data(Qt.UserRole)
            if key is not None and value is not None:
                groups.setdefault(key, []).append(value)
        best = {key: max(values) for key, values in groups.items() if len(values) >= 2}
        for r in range(self.rowCount()):
            key = self.item(r, 0).data(Qt.UserRole + 1)
            value = self.item(r, col).data(Qt.UserRole)
            is_best = key in best and value == best[key]
            item = self.item(r, col)
            font = item.font()
            font.setBold(is_best)
            item.setFont(font)
            item.setBackground(QColor("#dcfce7") if is_best else QColor(0, 0, 0, 0))
            item.setToolTip(item.text() + ("  — best of the comparable runs (same dataset and split)" if is_best else ""))

    def best_runs(self):
        """Numbers of the runs marked best."""
        col = COLUMNS.index("Test acc")
        return sorted(self.item(r, 0).data(Qt.UserRole) for r in range(self.rowCount())
                      if self.item(r, col).font().bold())

    def run_count(self):
        return self.rowCount()


def _pct(value):
    return _NumberItem("—" if value is None else f"{value:.1%}", value)
