"""An editable list of a CNN's convolution blocks (one row per block), like the MLP's layer table."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QPushButton, QSpinBox,
    QTableWidget, QVBoxLayout, QWidget,
)

COLUMNS = ("Filters", "Kernel", "Pad", "Pool", "Stride", "BN", "Drop")
MAX_BLOCKS = 8


class ConvBlocksEditor(QWidget):
    """Rows of (filters, kernel, padding, pool, pool stride, batch norm, dropout).

    Signals
    -------
    changed() : a row was added, removed or edited
    """

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setToolTip("Each block: Conv2D (ReLU) → max pooling → batch normalisation → dropout.\n"
                              "Pool 0 = no pooling; stride 0 = the pool size.")
        self.table.horizontalHeader().setMinimumSectionSize(34)
        self.table.verticalHeader().setMinimumWidth(18)
        self.add_button = QPushButton("Add block")
        self.remove_button = QPushButton("Remove block")
        self.add_button.clicked.connect(self._add_clicked)
        self.remove_button.clicked.connect(self._remove_clicked)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table)
        lay.addLayout(row)

    def _spin(self, lo, hi, value, tip):
        w = QSpinBox()
        w.setRange(lo, hi)
        w.setValue(int(value))
        w.setToolTip(tip)
        w.setFrame(False)
        w.valueChanged.connect(self._emit)
        return w

    def add_block(self, block=None):
        if self.table.rowCount() >= MAX_BLOCKS:
            return
        b = {"filters": 32, "kernel": 3, "padding": "same", "pool": 2, "pool_stride": None, "batch_norm": True,
             "dropout": 0.1, **(block or {})}
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setCellWidget(r, 0, self._spin(1, 512, b["filters"], "Number of filters"))
        self.table.setCellWidget(r, 1, self._spin(1, 15, b["kernel"], "Kernel size (square)"))
        pad = QComboBox()
        pad.addItems(["same", "valid"])
        pad.setCurrentText(b["padding"])
        pad.setFrame(False)
        pad.currentIndexChanged.connect(self._emit)
        self.table.setCellWidget(r, 2, pad)
        self.table.setCellWidget(r, 3, self._spin(0, 8, b["pool"] or 0, "Max-pooling size (0 = none)"))
        self.table.setCellWidget(r, 4, self._spin(0, 8, b["pool_stride"] or 0, "Pooling stride (0 = pool size)"))
        bn = QCheckBox()
        bn.setChecked(bool(b["batch_norm"]))
        bn.setToolTip("Batch normalisation after pooling")
        bn.toggled.connect(self._emit)
        self.table.setCellWidget(r, 5, bn)
        drop = QDoubleSpinBox()
        drop.setRange(0.0, 0.9)
        drop.setSingleStep(0.05)
        drop.setDecimals(2)
        drop.setValue(float(b["dropout"]))
        drop.setFrame(False)
        drop.valueChanged.connect(self._emit)
        self.table.setCellWidget(r, 6, drop)
        self._emit()

    def _add_clicked(self):
        blocks = self.blocks()
        last = dict(blocks[-1]) if blocks else {"filters": 8}
        last["filters"] = min(512, 2 * last["filters"])
        self.add_block(last)

    def _remove_clicked(self):
        rows = self.table.selectionModel().selectedRows()
        r = rows[0].row() if rows else self.table.rowCount() - 1
        if r >= 0:
            self.table.removeRow(r)
            self._emit()

    def _fit_height(self):
        rows = max(2, min(self.table.rowCount(), 5))
        header = self.table.horizontalHeader().height() or 24
        self.table.setFixedHeight(header + rows * self.table.verticalHeader().defaultSectionSize() + 4)

    def _emit(self, *_):
        self._fit_height()
        self.remove_button.setEnabled(self.table.rowCount() > 0)
        self.add_button.setEnabled(self.table.rowCount() < MAX_BLOCKS)
        self.changed.emit()

    def set_blocks(self, blocks):
        self.blockSignals(True)
        self.table.setRowCount(0)
        for b in blocks:
            self.add_block(b)
        self.blockSignals(False)
        self._emit()

    def blocks(self):
        out = []
        for r in range(self.table.rowCount()):
            w = [self.table.cellWidget(r, c) for c in range(len(COLUMNS))]
            out.append({"filters": w[0].value(), "kernel": w[1].value(), "padding": w[2].currentText(),
                        "pool": w[3].value(), "pool_stride": w[4].value() or None, "batch_norm": w[5].isChecked(),
                        "dropout": round(w[6].value(), 3)})
        return out
