"""Editor for the hidden layers of the NumPy MLP: sizes, activations, presets."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
    QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from core.models.choices import ACTIVATIONS, MAX_LAYER_SIZE

REPORT_ONE_LAYER = "Report: 1 layer (in+out)/2"
REPORT_TWO_THIRDS = "Report: 2 layers 2/3·in, 1/2·in"
REPORT_HALF_THIRD = "Report: 2 layers 1/2·in, 1/3·in"
RECOMMENDED = "Recommended: 256, 128 relu"
CUSTOM = "Custom"
_REPORT_PRESETS = (REPORT_ONE_LAYER, REPORT_TWO_THIRDS, REPORT_HALF_THIRD)


def preset_sizes(name: str, *, n_in: int | None, n_out: int | None) -> list[int]:
    """Hidden-layer sizes of a preset; the report's presets scale with the input.

    Raises
    ------
    ValueError
        For a report preset while the input (or, for the first, output) size is unknown.
    """
    if name == RECOMMENDED:
        return [256, 128]
    if name not in _REPORT_PRESETS:
        raise ValueError(f"unknown preset {name!r}")
    if not n_in or (name == REPORT_ONE_LAYER and not n_out):
        raise ValueError(f"the preset {name!r} needs the feature size; choose the features first")
    if name == REPORT_ONE_LAYER:
        sizes = [(n_in + n_out) // 2]
    elif name == REPORT_TWO_THIRDS:
        sizes = [2 * n_in // 3, n_in // 2]
    else:
        sizes = [n_in // 2, n_in // 3]
    return [min(MAX_LAYER_SIZE, max(1, s)) for s in sizes]


def parameter_count(*, n_in: int, hidden: list[int], n_out: int) -> int:
    """Weights plus biases of a fully connected net ``n_in → hidden… → n_out``."""
    widths = [n_in, *hidden, n_out]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


class LayersEditor(QWidget):
    """One table row per hidden layer (size, activation) with presets.

    ``changed`` is emitted once after every change to the layers, whether the
    user or the program made it.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layers: list[tuple[int, str]] = []
        self._n_in: int | None = None
        self._n_out: int | None = None

        self._preset_box = QComboBox()
        self._preset_box.addItems([*_REPORT_PRESETS, RECOMMENDED, CUSTOM])
        self._preset_box.setCurrentText(CUSTOM)
        self._preset_box.setToolTip("Layer sizes from the course report (they scale with the feature size)")
        self._preset_box.activated.connect(self._on_preset_chosen)

        self._table = QTableWidget(0, 3)
        self._table.setHorizontalHeaderLabels(["Size", "Activation", "Parameters"])
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self._table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, 90)  # room for "8192" and the spin arrows
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self._table.verticalHeader().setDefaultSectionSize(30)
        # Three layers visible (more scroll): the settings below stay on a 1280×800 screen.
        frame = 2 * self._table.frameWidth() + self._table.horizontalHeader().sizeHint().height()
        self._table.setFixedHeight(frame + 3 * 30)
        self._table.itemSelectionChanged.connect(self._update_buttons)

        self._add_button = QPushButton("Add")
        self._remove_button = QPushButton("Remove")
        self._up_button = QPushButton("Up")
        self._down_button = QPushButton("Down")
        self._add_button.setToolTip("Add a hidden layer below the selected one")
        self._up_button.setToolTip("Move the selected layer up")
        self._down_button.setToolTip("Move the selected layer down")
        self._add_button.clicked.connect(self._on_add)
        self._remove_button.clicked.connect(self._on_remove)
        self._up_button.clicked.connect(lambda: self._on_move(-1))
        self._down_button.clicked.connect(lambda: self._on_move(+1))

        self._summary = QLabel()
        self._summary.setWordWrap(True)
        self._summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        preset_row = QHBoxLayout()
        preset_row.addWidget(QLabel("Layers:"))
        preset_row.addWidget(self._preset_box, 1)
        buttons = QHBoxLayout()
        for button in (self._add_button, self._remove_button, self._up_button, self._down_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(preset_row)
        layout.addWidget(self._table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self._summary)

        self._refresh_presets()
        self.apply_preset(RECOMMENDED)

    # ----------------------------------------------------------------- API
    def set_io_dims(self, n_in: int | None, n_out: int | None) -> None:
        """Set the feature size and class count; a chosen report preset follows them."""
        self._n_in, self._n_out = n_in, n_out
        self._refresh_presets()
        current = self._preset_box.currentText()
        if current in _REPORT_PRESETS:
            try:
                self.apply_preset(current)
                return
            except ValueError:
                self._preset_box.setCurrentText(CUSTOM)
        self._refresh_table_counts()
        self._refresh_summary()

    def layers(self) -> list[tuple[int, str]]:
        """The hidden layers, input side first: ``[(size, activation), ...]``."""
        return list(self._layers)

    def set_layers(self, layers: list[tuple[int, str]]) -> None:
        """Replace every hidden layer; an unknown activation raises ValueError."""
        checked = []
        for size, activation in layers:
            if activation not in ACTIVATIONS:
                raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
            checked.append((min(MAX_LAYER_SIZE, max(1, int(size))), activation))
        self._layers = checked
        self._preset_box.setCurrentText(CUSTOM)
        self._rebuild(select=0 if checked else None)

    def presets(self) -> list[str]:
        """Names of the presets ``apply_preset`` accepts (not "Custom")."""
        return [*_REPORT_PRESETS, RECOMMENDED]

    def apply_preset(self, name: str) -> None:
        """Replace the layers with a preset's sizes.

        The report's presets only set sizes: they keep the activation of the current
        first layer (ReLU when there is none), so a user can pick the activation
        and then try the report's size rules. "Recommended" is ReLU.
        """
        sizes = preset_sizes(name, n_in=self._n_in, n_out=self._n_out)
        if name == RECOMMENDED:
            activation = "relu"
        else:
            activation = self._layers[0][1] if self._layers else "relu"
        self.set_layers([(size, activation) for size in sizes])
        self._preset_box.setCurrentText(name)

    def current_preset(self) -> str:
        """The preset the layers came from, or "Custom" once edited."""
        return self._preset_box.currentText()

    def summary_text(self) -> str:
        """The "in → [layers] → out" line shown under the table."""
        return self._summary.text()

    def select_row(self, row: int) -> None:
        """Select a layer row (Remove / Move act on the selected row)."""
        self._table.selectRow(row)

    # ------------------------------------------------------------- helpers
    def _rebuild(self, *, select: int | None) -> None:
        self._table.setRowCount(0)
        self._table.setRowCount(len(self._layers))
        for row, (size, activation) in enumerate(self._layers):
            spin = QSpinBox()
            spin.setRange(1, MAX_LAYER_SIZE)
            spin.setValue(size)
            spin.setFrame(False)
            spin.valueChanged.connect(lambda value, r=row: self._on_cell_edited(r, size=value))
            combo = QComboBox()
            combo.addItems(ACTIVATIONS)
            combo.setCurrentText(activation)
            combo.setFrame(False)
            combo.currentTextChanged.connect(lambda text, r=row: self._on_cell_edited(r, activation=text))
            self._table.setCellWidget(row, 0, spin)
            self._table.setCellWidget(row, 1, combo)
        self._table.setVerticalHeaderLabels([f"Hidden {i + 1}" for i in range(len(self._layers))])
        if select is not None and self._layers:
            self._table.selectRow(min(select, len(self._layers) - 1))
        self._refresh_table_counts()
        self._refresh_summary()
        self._update_buttons()
        self.changed.emit()

    def _on_cell_edited(self, row: int, *, size: int | None = None, activation: str | None = None) -> None:
        old_size, old_activation = self._layers[row]
        self._layers[row] = (size or old_size, activation or old_activation)
        self._table.selectRow(row)
        self._preset_box.setCurrentText(CUSTOM)
        self._refresh_table_counts()
        self._refresh_summary()
        self.changed.emit()

    def _selected_row(self) -> int | None:
        rows = self._table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _on_add(self) -> None:
        row = self._selected_row()
        if row is None:
            row = len(self._layers) - 1
        if self._layers:
            size, activation = self._layers[row]
            new = (max(1, size // 2), activation)  # narrowing towards the output is the usual shape
        else:
            new, row = (128, "relu"), -1
        self._layers.insert(row + 1, new)
        self._preset_box.setCurrentText(CUSTOM)
        self._rebuild(select=row + 1)

    def _on_remove(self) -> None:
        row = self._selected_row()
        if row is None:
            row = len(self._layers) - 1
        if row < 0:
            return
        del self._layers[row]
        self._preset_box.setCurrentText(CUSTOM)
        self._rebuild(select=row)

    def _on_move(self, step: int) -> None:
        row = self._selected_row()
        target = None if row is None else row + step
        if target is None or not 0 <= target < len(self._layers):
            return
        self._layers[row], self._layers[target] = self._layers[target], self._layers[row]
        self._preset_box.setCurrentText(CUSTOM)
        self._rebuild(select=target)

    def _on_preset_chosen(self, index: int) -> None:
        name = self._preset_box.itemText(index)
        if name != CUSTOM:
            self.apply_preset(name)

    def _refresh_presets(self) -> None:
        # The report's presets are greyed out until the feature size is known.
        model = self._preset_box.model()
        for i in range(self._preset_box.count()):
            name = self._preset_box.itemText(i)
            try:
                if name != CUSTOM:
                    preset_sizes(name, n_in=self._n_in, n_out=self._n_out)
                enabled = True
            except ValueError:
                enabled = False
            model.item(i).setEnabled(enabled)

    def _refresh_table_counts(self) -> None:
        width = self._n_in
        for row, (size, _) in enumerate(self._layers):
            text = f"{width * size + size:,}" if width else "—"
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._table.setItem(row, 2, item)
            width = size

    def _refresh_summary(self) -> None:
        inner = ", ".join(f"{size} {activation}" for size, activation in self._layers)
        text = f"{self._n_in or '?'} → [{inner}] → {self._n_out or '?'}"
        if self._n_in and self._n_out:
            count = parameter_count(n_in=self._n_in, hidden=[s for s, _ in self._layers], n_out=self._n_out)
            text += f"  ·  {count:,} parameters"
        else:
            text += "  ·  parameter count once the features are chosen"
        if not self._layers:
            text += "\n⚠ No hidden layer: the network is a linear classifier (like logistic regression)."
        self._summary.setText(text)

    def _update_buttons(self) -> None:
        row = self._selected_row()
        self._remove_button.setEnabled(bool(self._layers))
        self._up_button.setEnabled(row is not None and row > 0)
        self._down_button.setEnabled(row is not None and row < len(self._layers) - 1)
