"""Evaluation results of a trained model: headline scores, per-class table,
confusion matrix and the text classification report."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView, QAbstractScrollArea, QFrame, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
    QSizePolicy, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from gui.widgets.confusion_matrix import ConfusionMatrixView
from gui.widgets.flow import FlowLayout

# (header, per_class key, is a score in 0..1)
_COLUMNS = (
    ("Class", None, False),
    ("n test", "support", False),
    ("Train acc", "train_accuracy", True),
    ("Test acc", "accuracy", True),
    ("Precision", "precision", True),
    ("Recall", "recall", True),
    ("F1", "f1", True),
)
_FOLD_COLUMNS = ("Fold", "n test", "Accuracy", "Test speakers")
# Scores under these thresholds get a red / amber background.
_POOR, _WEAK = 0.5, 0.8
_POOR_BRUSH = QColor(244, 199, 195)
_WEAK_BRUSH = QColor(255, 236, 179)
_DARK_TEXT = QColor(20, 20, 20)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100.0 * value:.1f} %"


class _SortableItem(QTableWidgetItem):
    """Shows formatted text but sorts by the number behind it (None sorts first)."""

    def __init__(self, text: str, key) -> None:
        super().__init__(text)
        self._key = key

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self._key, getattr(other, "_key", None)
        if isinstance(mine, str) or isinstance(theirs, str):
            return str(mine) < str(theirs)
        return (-np.inf if mine is None else mine) < (-np.inf if theirs is None else theirs)


class _Score(QFrame):
    """A big number with a small caption above it."""

    def __init__(self, caption: str) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._caption = QLabel(caption)
        self._value = QLabel("—")
        font = QFont(self._value.font())
        font.setPointSizeF(max(14.0, font.pointSizeF() * 1.9))
        font.setBold(True)
        self._value.setFont(font)
        self._value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(0)
        layout.addWidget(self._caption)
        layout.addWidget(self._value)

    def set_value(self, value: float | None, spread: float | None = None) -> None:
        """The score, with ``± spread`` (the standard deviation over folds) when given."""
        text = _percent(value)
        if value is not None and spread is not None:
            text = f"{100.0 * value:.1f} ± {100.0 * spread:.1f} %"
        self._value.setText(text)

    def set_title(self, caption: str) -> None:
        self._caption.setText(caption)

    def text(self) -> str:
        return self._value.text()


class ResultsView(QWidget):
    """Everything a user wants to see about a trained model's test results."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._filled = False
        self._scores = {
            "train_accuracy": _Score("Train accuracy"),
            "accuracy": _Score("Test accuracy"),
            "window_accuracy": _Score("Window accuracy"),
            "balanced_accuracy": _Score("Balanced accuracy"),
            "macro_f1": _Score("Macro F1"),
        }
        self._scores["balanced_accuracy"].setToolTip("Mean of the per-class recalls: fair when classes are unbalanced")
        self._scores["macro_f1"].setToolTip("Unweighted mean of the per-class F1 scores")
        self._scores["window_accuracy"].setToolTip("Each window of a test clip judged alone; the test accuracy is per\n"
                                                   "clip (track), from the mean of its windows' probabilities")
        self._scores["train_accuracy"].setToolTip("A much higher train than test accuracy means over-fitting")

        self._table = QTableWidget(0, len(_COLUMNS))
        self._table.setHorizontalHeaderLabels([header for header, _, _ in _COLUMNS])
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.verticalHeader().setVisible(False)
        self._table.verticalHeader().setDefaultSectionSize(22)
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The table asks for the width of its columns, so the splitter gives it that.
        self._table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self._table.setToolTip(f"Red: below {_POOR:.0%}; amber: below {_WEAK:.0%}. Click a header to sort.")

        self._report = QPlainTextEdit()
        self._report.setReadOnly(True)
        self._report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self._report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._report.setPlaceholderText("No report yet")

        # k-fold: one row per fold, then the mean ± std and the 95 % interval under the table
        self._folds = QTableWidget(0, len(_FOLD_COLUMNS))
        self._folds.setHorizontalHeaderLabels(list(_FOLD_COLUMNS))
        self._folds.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._folds.verticalHeader().setVisible(False)
        self._folds.verticalHeader().setDefaultSectionSize(22)
        self._folds.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._folds.horizontalHeader().setStretchLastSection(True)
        self._folds.setToolTip("Each fold trained with the run's settings and seed, tested on clips whose speaker or "
                               "track it never trained on")
        self._kfold_label = QLabel("")
        self._kfold_label.setWordWrap(True)
        self._kfold_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._folds_page = QWidget()
        folds_lay = QVBoxLayout(self._folds_page)
        folds_lay.setContentsMargins(0, 0, 0, 0)
        folds_lay.addWidget(self._kfold_label)
        folds_lay.addWidget(self._folds, 1)

        self._details = QTabWidget()
        self._details.addTab(self._table, "Per class")
        self._details.addTab(self._report, "Report")
        self._matrix = ConfusionMatrixView()

        self._splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._details)
        splitter.addWidget(self._matrix)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)  # spare room goes to the matrix
        splitter.setChildrenCollapsible(False)

        # the cards wrap to a second row on a narrow window instead of widening it past the screen
        scores = QWidget()
        scores_lay = FlowLayout(scores)
        for score in self._scores.values():
            scores_lay.addWidget(score)
        sp = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        sp.setHeightForWidth(True)
        scores.setSizePolicy(sp)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scores, 0, 0)
        layout.addWidget(splitter, 1, 0)
        layout.setRowStretch(1, 1)
        self.clear()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._fit_table()

    def _fit_table(self) -> None:
        # Whole columns beat a wider matrix, up to 55 % of the width; the user can
        # still drag the splitter.
        total = sum(self._splitter.sizes())
        if total <= 0:
            return
        wanted = self._details.sizeHint().width()
        left = min(wanted, int(total * 0.55))
        self._splitter.setSizes([left, total - left])

    # ----------------------------------------------------------------- API
    def set_results(self, results: dict) -> None:
        """Show evaluation results.

        ``results`` holds "labels" (n class names), "train_accuracy",
        "accuracy", optional "balanced_accuracy" and "macro_f1" (floats in 0..1
        or None), "per_class" ``{label: {"train_accuracy", "accuracy",
        "precision", "recall", "f1", "support"}}``, "confusion" (n × n ints,
        rows true) and "report" (text).
        """
        labels = [str(label) for label in results["labels"]]
        windowed = results.get("n_windows", 0) > results.get("n_clips", 0) > 0
        kfold = results.get("kfold") if isinstance(results.get("kfold"), dict) else None
        for key, score in self._scores.items():
            score.set_value(results.get(key), kfold.get("std_accuracy") if kfold and key == "accuracy" else None)
            # Optional scores hide instead of showing an empty box; the window
            # level only when clips were cut into several windows.
            score.setVisible(key in ("train_accuracy", "accuracy")
                             or (results.get(key) is not None and (key != "window_accuracy" or windowed)))
        self._scores["accuracy"].set_title("Test accuracy (per clip)" if windowed else "Test accuracy")
        self._set_kfold(kfold)

        per_class = {str(label): stats for label, stats in results.get("per_class", {}).items()}
        self._table.setSortingEnabled(False)  # inserting into a sorted table scrambles rows
        self._table.setRowCount(len(labels))
        for row, label in enumerate(labels):
            stats = per_class.get(label, {})
            for col, (_, key, is_score) in enumerate(_COLUMNS):
                if key is None:
                    item = _SortableItem(label, label)
                elif is_score:
                    value = stats.get(key)
                    item = _SortableItem(_percent(value), value)
                    if value is not None and value < _WEAK:
                        item.setBackground(_POOR_BRUSH if value < _POOR else _WEAK_BRUSH)
                        item.setForeground(_DARK_TEXT)
                else:
                    value = stats.get(key)
                    item = _SortableItem("—" if value is None else str(int(value)), value)
                if key is not None:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._table.setItem(row, col, item)
        # No sort column until the user clicks one: rows stay in label order.
        self._table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self._table.setSortingEnabled(True)

        confusion = results.get("confusion")
        if confusion is None:
            self._matrix.clear()
        else:
            self._matrix.set_matrix(np.asarray(confusion, dtype=np.int64), labels)
        self._report.setPlainText(results.get("report") or "")
        self._filled = True
        self._fit_table()

    def _set_kfold(self, kfold: dict | None) -> None:
        """Show a k-fold run's folds (a "Folds" tab, first) or hide them."""
        index = self._details.indexOf(self._folds_page)
        if not kfold or not kfold.get("folds"):
            if index >= 0:
                self._details.removeTab(index)
            self._folds.setRowCount(0)
            self._kfold_label.clear()
            return
        from core.kfold import describe

        n = len(kfold["folds"])
        self._scores["accuracy"].set_title(f"Mean accuracy ± std, {n} fold{'s' if n != 1 else ''}")
        rows = kfold["folds"]
        self._folds.setRowCount(len(rows))
        for row, fold in enumerate(rows):
            speakers = ", ".join(map(str, fold.get("test") or [])) if kfold.get("grouping") == "speaker" else ""
            cells = (_SortableItem(str(fold.get("fold")), fold.get("fold")),
                     _SortableItem(str(fold.get("n_test")), fold.get("n_test")),
                     _SortableItem(_percent(fold.get("accuracy")), fold.get("accuracy")),
                     _SortableItem(speakers, speakers))
            for col, item in enumerate(cells):
                if col < 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._folds.setItem(row, col, item)
        speakers = kfold.get("grouping") == "speaker"
        self._folds.setColumnHidden(3, not speakers)
        self._folds.horizontalHeader().setStretchLastSection(speakers)  # the speakers' names get the room
        self._kfold_label.setText(describe(kfold) + ("" if kfold.get("completed", True) else
                                                     "; stopped: the folds finished are shown"))
        if index < 0:
            self._details.insertTab(0, self._folds_page, "Folds")
        self._details.setCurrentWidget(self._folds_page)

    def clear(self) -> None:
        """Back to the empty state (no model evaluated)."""
        self._set_kfold(None)
        for key, score in self._scores.items():
            score.set_value(None)
            score.setVisible(key in ("train_accuracy", "accuracy"))
        self._table.setSortingEnabled(False)
        self._table.setRowCount(0)
        self._matrix.clear()
        self._report.clear()
        self._filled = False

    def is_filled(self) -> bool:
        """True once results are shown."""
        return self._filled

    def score_text(self, key: str) -> str:
        """The text of a headline score ("train_accuracy", "accuracy", ...)."""
        return self._scores[key].text()

    def table(self) -> QTableWidget:
        """The per-class table (read-only use: tests, copying)."""
        return self._table

    def folds_table(self) -> QTableWidget:
        """The per-fold table of a k-fold run (read-only use: tests, copying)."""
        return self._folds

    def kfold_text(self) -> str:
        """The k-fold summary line ("5-fold by track: 76.0 ± 11.4 % (95 % interval …)"), or ""."""
        return self._kfold_label.text()

    def confusion_view(self) -> ConfusionMatrixView:
        return self._matrix

    def report_text(self) -> str:
        return self._report.toPlainText()
