"""Confusion-matrix heat map: counts or row percentages, readable up to 30 classes.

Painted directly with QPainter: one pass over at most 900 cells, no scene graph,
so a 30 x 30 matrix redraws in a few milliseconds and text size follows the cell.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPalette
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QToolTip, QVBoxLayout, QWidget

# Sequential white -> dark blue ramp (ColorBrewer "Blues"), indexed by row share.
_RAMP = np.array([
    (247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225),
    (107, 174, 214), (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107),
], dtype=float)
_GAP = 6


def _cell_colours(shares: np.ndarray) -> tuple[list[list[QColor]], list[list[QColor]]]:
    """Background and contrasting text colour of every cell, each (n, n)."""
    position = np.clip(shares, 0.0, 1.0) * (len(_RAMP) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_RAMP) - 1)
    rgb = _RAMP[low] + (_RAMP[high] - _RAMP[low]) * (position - low)[..., None]
    # Relative luminance decides dark-on-light or light-on-dark text.
    dark_cell = (rgb @ np.array([0.2126, 0.7152, 0.0722])) / 255 < 0.5
    rgb = np.rint(rgb).astype(int).tolist()
    backgrounds = [[QColor(*cell) for cell in row] for row in rgb]
    texts = [[QColor(255, 255, 255) if dark else QColor(20, 20, 20) for dark in row] for row in dark_cell]
    return backgrounds, texts


class _MatrixCanvas(QWidget):
    """The painted grid; owned by :class:`ConfusionMatrixView`."""

    def __init__(self, view: "ConfusionMatrixView") -> None:
        super().__init__(view)
        self._view = view
        self.setMouseTracking(True)
        self.setMinimumSize(220, 200)

    def sizeHint(self) -> QSize:
        return QSize(460, 420)

    # Layout ---------------------------------------------------------------
    def max_label_px(self) -> float:
        # Longer class names are elided; the tooltip has them whole.
        return min(160.0, max(60.0, self.width() * 0.24))

    def label_font(self) -> QFont:
        n = len(self._view.labels())
        font = QFont(self.font())
        base = font.pointSizeF() if font.pointSizeF() > 0 else 9.0
        font.setPointSizeF(base if n <= 10 else max(6.5, base - (n - 10) * 0.15))
        return font

    def geometry_info(self) -> tuple[QRectF, float, bool, QFont]:
        """(grid rectangle, cell size, column labels rotated, label font)."""
        labels = self._view.labels()
        n = len(labels)
        font = self.label_font()
        fm = QFontMetricsF(font)
        label_w = min(self.max_label_px(), max(fm.horizontalAdvance(label) for label in labels))
        title_h = fm.height()
        left = title_h + _GAP + label_w + _GAP
        avail_w = self.width() - left - _GAP
        # First guess with horizontal column labels, then rotate if they do not fit.
        bottom = _GAP + fm.height() + _GAP + title_h + _GAP
        cell = max(4.0, min(avail_w / n, (self.height() - bottom - _GAP) / n))
        rotated = label_w > cell - 4
        if rotated:
            bottom = _GAP + label_w + _GAP + title_h + _GAP
            cell = max(4.0, min(avail_w / n, (self.height() - bottom - _GAP) / n))
        grid_w = cell * n
        # Centre the grid in the free space.
        x0 = left + max(0.0, (avail_w - grid_w) / 2)
        y0 = _GAP + max(0.0, (self.height() - bottom - _GAP - grid_w) / 2)
        return QRectF(x0, y0, grid_w, grid_w), cell, rotated, font

    def shown_labels(self) -> list[int]:
        """The classes whose names are written beside the rows and below the columns: all of them, unless the
        cells are shorter than a line of text (30 speakers in a small view), where the names overlapped into an
        unreadable smear; then every k-th, the first and the last (often "unknown") always. Every cell's
        tooltip still names its classes."""
        n = len(self._view.labels())
        if n == 0:
            return []
        _, cell, _, font = self.geometry_info()
        step = max(1, math.ceil(QFontMetricsF(font).height() * 0.9 / cell))
        shown = list(range(0, n, step))
        if shown[-1] != n - 1:
            if n - 1 - shown[-1] < step and len(shown) > 1:
                shown[-1] = n - 1
            else:
                shown.append(n - 1)
        return shown

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        """(true row, predicted column) under ``pos``, or None outside the grid."""
        if not self._view.labels():
            return None
        grid, cell, _, _ = self.geometry_info()
        if not grid.contains(pos):
            return None
        n = len(self._view.labels())
        row = min(n - 1, int((pos.y() - grid.top()) // cell))
        col = min(n - 1, int((pos.x() - grid.left()) // cell))
        return row, col

    def cell_rect(self, row: int, col: int) -> QRectF:
        grid, cell, _, _ = self.geometry_info()
        return QRectF(grid.left() + col * cell, grid.top() + row * cell, cell, cell)

    # Painting -------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        text_colour = self.palette().color(QPalette.ColorRole.WindowText)
        labels = self._view.labels()
        if not labels:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No confusion matrix yet")
            return
        n = len(labels)
        grid, cell, rotated, font = self.geometry_info()
        max_label_px = self.max_label_px()

        # Cell text size: as large as fits the widest text of the matrix.
        texts = self._view.cell_texts()
        backgrounds, foregrounds = self._view.cell_colours()
        counts = self._view.matrix()
        widest = max(len(t) for row in texts for t in row)
        cell_font = QFont(font)
        probe = QFontMetricsF(cell_font).horizontalAdvance("8" * widest) / cell_font.pointSizeF()
        cell_font.setPointSizeF(max(5.0, min(cell * 0.36, (cell * 0.86) / probe, 14.0)))
        draw_cell_text = cell >= 11

        painter.setFont(cell_font)
        separator = self.palette().color(QPalette.ColorRole.Base)
        for r in range(n):
            for c in range(n):
                rect = QRectF(grid.left() + c * cell, grid.top() + r * cell, cell, cell)
                painter.fillRect(rect, backgrounds[r][c])
                if draw_cell_text:
                    colour = foregrounds[r][c]
                    if counts[r, c] == 0:
                        colour = QColor(colour)
                        colour.setAlphaF(0.35)  # empty cells recede behind real confusions
                    painter.setPen(colour)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, texts[r][c])
        painter.setPen(separator)
        for i in range(n + 1):
            offset = i * cell
            painter.drawLine(QPointF(grid.left() + offset, grid.top()), QPointF(grid.left() + offset, grid.bottom()))
            painter.drawLine(QPointF(grid.left(), grid.top() + offset), QPointF(grid.right(), grid.top() + offset))

        # Class labels: rows on the left, columns below (rotated when crowded).
        painter.setFont(font)
        painter.setPen(text_colour)
        fm = QFontMetricsF(font)
        for i in self.shown_labels():
            shown = fm.elidedText(labels[i], Qt.TextElideMode.ElideRight, max_label_px)
            row_rect = QRectF(0, grid.top() + i * cell, grid.left() - _GAP, cell)
            painter.drawText(row_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, shown)
            x_mid = grid.left() + (i + 0.5) * cell
            if rotated:
                painter.save()
                painter.translate(x_mid, grid.bottom() + _GAP)
                painter.rotate(-90)
                painter.drawText(QRectF(-max_label_px, -cell / 2, max_label_px, cell),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, shown)
                painter.restore()
            else:
                painter.drawText(QRectF(x_mid - cell / 2, grid.bottom() + _GAP, cell, fm.height()),
                                 Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, shown)

        # Axis titles.
        title_font = QFont(font)
        title_font.setBold(True)
        painter.setFont(title_font)
        column_labels_h = (min(max_label_px, max(fm.horizontalAdvance(s) for s in labels))
                           if rotated else fm.height())
        title_y = grid.bottom() + _GAP + column_labels_h + _GAP
        painter.drawText(QRectF(grid.left(), title_y, grid.width(), fm.height()),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, "Predicted")
        painter.save()
        painter.translate(0, grid.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-grid.height() / 2, 0, grid.height(), fm.height()),
                         Qt.AlignmentFlag.AlignCenter, "True")
        painter.restore()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        hit = self.cell_at(QPointF(event.position()))
        if hit is not None and event.button() == Qt.MouseButton.LeftButton:
            self._view.cell_clicked.emit(*hit)
        super().mousePressEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            hit = self.cell_at(QPointF(event.pos()))
            if hit is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self._view.cell_tooltip(*hit), self)
            return True
        return super().event(event)


class ConfusionMatrixView(QWidget):
    """Heat map of a confusion matrix: rows are true classes, columns predicted.

    Cell colour is the row share (where each true class goes), in both modes, so
    unbalanced classes still read correctly; the cell text is the count, or the
    row percentage when "Row %" is ticked. Clicking a cell emits
    ``cell_clicked(row, column)`` (the clips behind it: error analysis).
    """

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._matrix = np.zeros((0, 0), dtype=np.int64)
        self._labels: list[str] = []
        self._shares = np.zeros((0, 0))
        # Painting reads these caches: a 30 x 30 repaint then does no per-cell maths.
        self._texts: list[list[str]] = []
        self._colours: tuple[list, list] = ([], [])

        self._normalise_box = QCheckBox("Row %")
        self._normalise_box.setToolTip("Show each row as percentages of the true class (each row sums to 100)")
        self._normalise_box.toggled.connect(self._on_normalise_toggled)
        self._caption = QLabel("Confusion matrix (counts)")
        self._canvas = _MatrixCanvas(self)
        self._canvas.setCursor(Qt.CursorShape.PointingHandCursor)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self._caption)
        top.addStretch(1)
        top.addWidget(self._normalise_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self._canvas, 1)

    # ----------------------------------------------------------------- API
    def set_matrix(self, matrix: np.ndarray, labels: list[str]) -> None:
        """Show ``matrix`` (shape (n, n), int counts, rows true, columns predicted)."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labels):
            raise ValueError(f"confusion matrix of shape {matrix.shape} does not match {len(labels)} labels")
        self._matrix = matrix.astype(np.int64)
        self._labels = [str(label) for label in labels]
        totals = self._matrix.sum(axis=1, keepdims=True)
        self._shares = np.divide(self._matrix, totals, out=np.zeros(self._matrix.shape), where=totals > 0)
        self._colours = _cell_colours(self._shares)
        self._refresh_texts()

    def clear(self) -> None:
        """Show the empty state."""
        self.set_matrix(np.zeros((0, 0), dtype=np.int64), [])

    def set_normalized(self, normalized: bool) -> None:
        """Switch between counts (False) and row percentages (True)."""
        self._normalise_box.setChecked(normalized)

    def is_normalized(self) -> bool:
        return self._normalise_box.isChecked()

    def matrix(self) -> np.ndarray:
        """The counts shown, shape (n, n)."""
        return self._matrix

    def labels(self) -> list[str]:
        return list(self._labels)

    def cell_text(self, row: int, col: int) -> str:
        """The text painted in a cell: the count, or the row percentage."""
        if not self.is_normalized():
            return str(int(self._matrix[row, col]))
        percent = 100.0 * self._shares[row, col]
        if 0 < percent < 1:
            return "<1"  # keep tiny shares distinct from a true zero
        return f"{percent:.0f}"

    def cell_texts(self) -> list[list[str]]:
        """Every cell's text, rows true, columns predicted."""
        return self._texts

    def cell_colours(self) -> tuple[list[list[QColor]], list[list[QColor]]]:
        """(backgrounds, text colours), each indexed [row][column]."""
        return self._colours

    def cell_tooltip(self, row: int, col: int) -> str:
        """"true X → predicted Y: n" plus the share of the true class."""
        count = int(self._matrix[row, col])
        text = f"true {self._labels[row]} → predicted {self._labels[col]}: {count}"
        if self._matrix[row].sum():
            text += f" ({100.0 * self._shares[row, col]:.1f} % of {self._labels[row]})"
        return text

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        """(row, column) under a point in the view's coordinates, or None."""
        return self._canvas.cell_at(QPointF(self._canvas.mapFrom(self, pos.toPoint())))

    def cell_center(self, row: int, col: int) -> QPointF:
        """Centre of a cell in the view's coordinates."""
        return QPointF(self._canvas.mapTo(self, self._canvas.cell_rect(row, col).center().toPoint()))

    # ------------------------------------------------------------- helpers
    def _on_normalise_toggled(self, checked: bool) -> None:
        self._caption.setText("Confusion matrix (row %)" if checked else "Confusion matrix (counts)")
        self._refresh_texts()

    def _refresh_texts(self) -> None:
        n = len(self._labels)
        self._texts = [[self.cell_text(r, c) for c in range(n)] for r in range(n)]
        self._canvas.update()
