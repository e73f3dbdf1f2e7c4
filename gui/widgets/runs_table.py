"""The runs of this session side by side, so experiments can be compared."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

COLUMNS = ("#", "Test acc", "Train acc", "Balanced", "Features", "Model", "Split", "Epochs", "Seconds", "Time", "Note")


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
        """Append a run: ``run`` has time, features, model, split, epochs, best_epoch,
        train_accuracy, accuracy, balanced_accuracy, seconds, note."""
        self.setSortingEnabled(False)
        row = self.rowCount()
        self.insertRow(row)
        epochs = f"{run['epochs']}" + (f" (best {run['best_epoch']})" if run.get("best_epoch") else "")
        by_column = {
            "#": _NumberItem(str(number), number),
            "Test acc": _pct(run.get("accuracy")),
            "Train acc": _pct(run.get("train_accuracy")),
            "Balanced": _pct(run.get("balanced_accuracy")),
            "Features": QTableWidgetItem(run["features"]),
            "Model": QTableWidgetItem(run["model"]),
            "Split": QTableWidgetItem(run["split"]),
            "Epochs": _NumberItem(epochs, run["epochs"]),
            "Seconds": _NumberItem(f"{run['seconds']:.1f}", run["seconds"]),
            "Time": QTableWidgetItem(run["time"]),
            "Note": QTableWidgetItem(run.get("note") or ""),
        }
        cells = [by_column[c] for c in COLUMNS]
        for col, item in enumerate(cells):
            item.setToolTip(item.text())
            self.setItem(row, col, item)
        self._mark_best()
        self.setSortingEnabled(True)
        self.scrollToItem(cells[0])

    def _mark_best(self):
        col = COLUMNS.index("Test acc")
        values = [self.item(r, col).data(Qt.UserRole) for r in range(self.rowCount())]
        best = max((v for v in values if v is not None), default=None)
        for r, v in enumerate(values):
            font = self.item(r, col).font()
            font.setBold(v is not None and v == best)
            self.item(r, col).setFont(font)
            self.item(r, col).setBackground(QColor("#dcfce7") if v is not None and v == best else QColor(0, 0, 0, 0))

    def run_count(self):
        return self.rowCount()


def _pct(value):
    return _NumberItem("—" if value is None else f"{value:.1%}", value)
