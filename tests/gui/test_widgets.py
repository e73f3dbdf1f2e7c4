"""The result and model widgets shared by the three tabs, driven as a user sees them."""
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from gui.widgets.confusion_matrix import ConfusionMatrixView
from gui.widgets.layers_editor import (
    ACTIVATIONS, CUSTOM, RECOMMENDED, REPORT_HALF_THIRD, REPORT_ONE_LAYER, REPORT_TWO_THIRDS, LayersEditor,
)
from gui.widgets.results_view import ResultsView
from gui.widgets.training_plot import TrainingPlot

DIGITS = [str(d) for d in range(10)]


def training_history(n_epochs=30, *, with_validation=True, seed=0):
    """Per-epoch stats shaped like core.training's on_epoch reports."""
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, n_epochs + 1):
        loss = 0.09 * np.exp(-epoch / 6) + 0.01 + rng.normal(0, 0.002)
        accuracy = min(1.0, 0.35 + 0.63 * (1 - np.exp(-epoch / 5)) + rng.normal(0, 0.01))
        history.append({
            "epoch": epoch, "batch": None, "loss": loss, "accuracy": accuracy,
            "val_loss": loss * 1.25 + 0.004 if with_validation else None,
            "val_accuracy": accuracy - 0.04 if with_validation else None,
        })
    return history


def confusion_counts(n_classes=10, per_class=40, accuracy=0.9, seed=1):
    """A plausible confusion matrix: mostly diagonal, a few confusions per row."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    for true in range(n_classes):
        correct = int(rng.binomial(per_class, accuracy))
        matrix[true, true] = correct
        others = rng.choice([c for c in range(n_classes) if c != true], size=per_class - correct)
        np.add.at(matrix[true], others, 1)
    return matrix


def digit_results(seed=1):
    """Evaluation results for the 10 spoken digits, as the core's metrics give them."""
    matrix = confusion_counts(seed=seed)
    support = matrix.sum(axis=1)
    recall = np.diag(matrix) / support
    precision = np.diag(matrix) / np.maximum(1, matrix.sum(axis=0))
    f1 = 2 * precision * recall / np.maximum(1e-12, precision + recall)
    per_class = {
        label: {"train_accuracy": min(1.0, recall[i] + 0.05), "accuracy": float(recall[i]),
                "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}
        for i, label in enumerate(DIGITS)
    }
    per_class["3"]["accuracy"] = per_class["3"]["recall"] = 0.42  # one weak class, as in the seed
    report = "\n".join(
        f"{label:>12} {s['precision']:9.2f} {s['recall']:9.2f} {s['f1']:9.2f} {s['support']:9d}"
        for label, s in per_class.items()
    )
    return {
        "labels": DIGITS, "train_accuracy": 0.991, "accuracy": float(np.trace(matrix) / matrix.sum()),
        "balanced_accuracy": float(recall.mean()), "macro_f1": float(f1.mean()),
        "per_class": per_class, "confusion": matrix.tolist(),
        "report": f"{'':>12} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}\n\n{report}",
    }


# ---------------------------------------------------------------- TrainingPlot
def test_training_plot_gets_one_point_per_epoch(qtbot):
    plot = TrainingPlot()
    qtbot.addWidget(plot)
    plot.reset(total_epochs=30)
    for stats in training_history(12):
        plot.add_epoch(stats)
    assert plot.point_count() == 12
    data = plot.curve_data()
    assert data["loss"][0] == list(range(1, 13))
    assert len(data["val_accuracy"][1]) == 12
    # What is drawn is the same data, accuracy in percent.
    x, y = plot._curves["accuracy"].getData()
    assert np.allclose(y, 100 * np.array(data["accuracy"][1]))


def test_training_plot_skips_missing_validation_and_batch_reports(qtbot):
    plot = TrainingPlot()
    qtbot.addWidget(plot)
    plot.reset()
    for stats in training_history(5, with_validation=False):
        plot.add_epoch({**stats, "batch": 3, "n_batches": 10})  # progress inside the epoch
        plot.add_epoch(stats)
    data = plot.curve_data()
    assert plot.point_count() == 5
    assert data["val_loss"] == ([], []) and data["val_accuracy"] == ([], [])
    assert len(data["accuracy"][0]) == 5

    def legends():
        return [[label.text for _, label in p.getPlotItem().legend.items] for p in plot._plots.values()]

    assert legends() == [["train"], ["train"]]  # no "validation" entry for a curve that is not there
    plot.reset()
    plot.set_history(training_history(3))
    assert legends() == [["train", "validation"], ["train", "validation"]]


def test_training_plot_reset_clears_and_history_restores(qtbot):
    plot = TrainingPlot()
    qtbot.addWidget(plot)
    plot.set_history(training_history(8))
    plot.mark_best_epoch(6)
    assert plot.point_count() == 8 and plot.best_epoch() == 6
    plot.reset(total_epochs=10)
    assert plot.point_count() == 0
    assert all(x == [] for x, _ in plot.curve_data().values())
    assert plot.best_epoch() is None


def shown_plot(qtbot, history, *, total, height=250):
    """A TrainingPlot on screen (600 px wide) fed ``history`` one epoch at a time, each epoch drawn as in a
    training, once its views have taken the last epoch in."""
    plot = TrainingPlot()
    qtbot.addWidget(plot)
    plot.resize(600, height)
    plot.show()
    qtbot.waitExposed(plot)
    plot.reset(total)
    for stats in history:
        plot.add_epoch(stats)
        QApplication.processEvents()
    last = history[-1]["epoch"]
    qtbot.waitUntil(lambda: all(p.getPlotItem().vb.viewRange()[0][1] >= last and p.getPlotItem().vb.width() > 100
                                for p in plot._plots.values()))
    return plot


@pytest.mark.parametrize("total", [None, 8])
def test_the_best_caption_stays_inside_the_plot_when_the_best_epoch_is_the_last(qtbot, total):
    """At the last epoch the caption sat to the right of its line, and the view cut it to "be"."""
    plot = shown_plot(qtbot, training_history(8), total=total)
    plot.mark_best_epoch(8)
    QApplication.processEvents()
    for line in plot._best_lines.values():
        view = line.getViewBox()
        caption = line.label.mapRectToItem(view.childGroup, line.label.boundingRect())
        low, high = view.viewRange()[0]
        assert low <= caption.left() and caption.right() <= high + 1e-6, (caption, view.viewRange())


def test_the_loss_legend_moves_off_a_validation_loss_that_ends_high(qtbot):
    """The legend sat top right over the end of a rising validation loss, hiding the part a user looks at."""
    from PySide6.QtCore import QPointF as P

    plot = shown_plot(qtbot, [{"epoch": e, "loss": 0.5 - 0.002 * e, "val_loss": 0.5 + 0.025 * e, "accuracy": 0.9,
                               "val_accuracy": 0.8} for e in range(1, 21)], total=20)
    item = plot._plots["loss"].getPlotItem()
    qtbot.waitUntil(lambda: item.vb.viewRange()[1][1] >= 0.99)
    QApplication.processEvents()
    box = item.legend.sceneBoundingRect()
    for name in ("loss", "val_loss"):
        xs, ys = plot.curve_data()[name]
        dense = [(x0 + (x1 - x0) * t / 8, y0 + (y1 - y0) * t / 8)
                 for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])) for t in range(8)]
        under = [pt for pt in dense if box.contains(item.vb.mapViewToScene(P(*pt)))]
        assert not under, (name, under[:3], box)
    assert box.center().x() < item.vb.sceneBoundingRect().center().x()  # it left the top-right corner
    plot.reset(20)  # a new training: the usual corner again
    assert item.legend.sceneBoundingRect().center().x() > item.vb.sceneBoundingRect().center().x()


def test_the_legends_leave_the_best_epochs_caption_readable(qtbot):
    """Early stopping at epoch 41 of 51: the caption, half-way up beside its line, sat under both legends."""
    plot = shown_plot(qtbot, [{"epoch": e, "loss": 0.2 / e + 0.01, "val_loss": 0.05, "accuracy": 1.0 if e > 2 else 0.8,
                               "val_accuracy": 0.99} for e in range(1, 52)], total=None, height=200)
    plot.mark_best_epoch(41)
    QApplication.processEvents()
    for name, line in plot._best_lines.items():
        legend = plot._plots[name].getPlotItem().legend
        assert not legend.sceneBoundingRect().intersects(line.label.sceneBoundingRect()), name



def test_a_short_plot_keeps_the_best_caption_and_the_curves_readable(qtbot):
    """A 1024x700 window after a Speakers training (a point every 5 epochs, the best at the last): the plots are
    ~110 px high, the two-line legends took a third of that and stayed on the "best" caption (measured before
    pyqtgraph had sized the newly shown caption). Short plots get one-line legends, placed off the caption."""
    history = [{"epoch": e, "loss": loss, "val_loss": val, "accuracy": acc, "val_accuracy": val_acc}
               for e, loss, val, acc, val_acc in [(5, 0.09, 0.19, 0.985, 0.95), (10, 0.01, 0.08, 0.998, 0.965),
                                                  (15, 0.005, 0.07, 0.998, 0.97), (20, 0.006, 0.075, 0.998, 0.97)]]
    plot = shown_plot(qtbot, history, total=20, height=180)
    plot.mark_best_epoch(20)
    QApplication.processEvents()
    for name, line in plot._best_lines.items():
        item = plot._plots[name].getPlotItem()
        assert item.vb.height() < TrainingPlot.ONE_LINE_LEGEND_BELOW, item.vb.height()
        assert item.legend.columnCount == 2, name  # "train" and "validation" side by side
        assert not item.legend.sceneBoundingRect().intersects(line.label.sceneBoundingRect()), name
    tall = shown_plot(qtbot, history, total=20, height=300)
    assert all(p.getPlotItem().legend.columnCount == 1 for p in tall._plots.values())


def test_an_empty_plot_shows_no_legend(qtbot):
    """Before the first epoch (or after a reset) "train" and "validation" floated in an empty plot."""
    plot = TrainingPlot()
    qtbot.addWidget(plot)
    legends = [p.getPlotItem().legend for p in plot._plots.values()]
    assert not any(legend.isVisible() for legend in legends)
    plot.add_epoch({"epoch": 1, "loss": 0.5, "accuracy": 0.6})
    assert all(legend.isVisible() for legend in legends)
    plot.reset(10)
    assert not any(legend.isVisible() for legend in legends)

# -------------------------------------------------------- ConfusionMatrixView
def test_confusion_matrix_shows_counts_then_row_percentages(qtbot):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    matrix = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 5]])
    view.set_matrix(matrix, ["yes", "no", "maybe"])
    assert [[view.cell_text(r, c) for c in range(3)] for r in range(3)] == [
        ["8", "2", "0"], ["1", "3", "0"], ["0", "0", "5"]]
    view.set_normalized(True)
    assert [view.cell_text(0, c) for c in range(3)] == ["80", "20", "0"]
    assert [view.cell_text(1, c) for c in range(3)] == ["25", "75", "0"]
    assert view.cell_tooltip(1, 0).startswith("true no → predicted yes: 1")
    # Text contrasts with its cell: light on the dark full diagonal, dark on empty cells.
    backgrounds, texts = view.cell_colours()
    assert backgrounds[2][2].lightness() < 100 and texts[2][2].lightness() > 200
    assert backgrounds[2][0].lightness() > 200 and texts[2][0].lightness() < 100


def test_confusion_matrix_maps_points_to_cells(qtbot):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(500, 450)
    view.set_matrix(confusion_counts(30), [f"speaker_{i}" for i in range(30)])
    view.show()
    qtbot.waitExposed(view)
    for row, col in [(0, 0), (29, 0), (7, 22), (29, 29)]:
        assert view.cell_at(view.cell_center(row, col)) == (row, col)
    view.clear()
    assert view.labels() == [] and view.cell_at(QPointF(view.rect().center())) is None



@pytest.mark.parametrize("size", [(300, 220), (500, 450)])
def test_confusion_matrix_class_names_never_overlap(qtbot, size):
    """30 AudioMNIST-AZ speakers and "unknown" in the Unknown-speakers view of a 1024x700 window: the rows were
    ~9 px and the names beside them ran into each other. Names closer than a line of text are thinned to every
    k-th; the first and the last ("unknown") stay."""
    from PySide6.QtGui import QFontMetricsF

    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(*size)
    labels = [f"speaker_{i}" for i in range(30)] + ["unknown"]
    view.set_matrix(confusion_counts(31), labels)
    view.show()
    qtbot.waitExposed(view)
    grid = view._canvas
    _, cell, _, font = grid.geometry_info()
    shown = grid.shown_labels()
    assert shown[0] == 0 and shown[-1] == 30
    line = QFontMetricsF(font).height()
    assert min(b - a for a, b in zip(shown, shown[1:])) * cell >= 0.9 * line
    if cell >= line:  # room for every name: all of them
        assert shown == list(range(31))
    else:
        assert len(shown) < 31

def test_confusion_matrix_rejects_mismatched_labels(qtbot):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    with pytest.raises(ValueError, match="3 labels"):
        view.set_matrix(np.eye(2, dtype=int), ["a", "b", "c"])


# ---------------------------------------------------------------- LayersEditor
def test_layers_editor_report_presets_follow_the_feature_size(qtbot):
    editor = LayersEditor()
    qtbot.addWidget(editor)
    editor.set_io_dims(1188, 10)
    editor.apply_preset(REPORT_ONE_LAYER)
    assert [size for size, _ in editor.layers()] == [599]
    editor.apply_preset(REPORT_TWO_THIRDS)
    assert [size for size, _ in editor.layers()] == [792, 594]
    editor.apply_preset(REPORT_HALF_THIRD)
    assert [size for size, _ in editor.layers()] == [594, 396]
    # Switching to the 12 MFCC means keeps the chosen rule: 1/2·12, 1/3·12.
    editor.set_io_dims(12, 10)
    assert [size for size, _ in editor.layers()] == [6, 4]
    editor.apply_preset(RECOMMENDED)
    assert editor.layers() == [(256, "relu"), (128, "relu")]
    assert "12 → [256 relu, 128 relu] → 10" in editor.summary_text()
    assert f"{12 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10:,} parameters" in editor.summary_text()


def test_layers_editor_report_presets_keep_the_chosen_activation(qtbot):
    editor = LayersEditor()
    qtbot.addWidget(editor)
    editor.set_io_dims(1188, 10)
    editor.set_layers([(100, "bipolar-sigmoid")])
    editor.apply_preset(REPORT_ONE_LAYER)
    assert editor.layers() == [(599, "bipolar-sigmoid")]


def test_layers_editor_report_presets_need_the_feature_size(qtbot):
    editor = LayersEditor()
    qtbot.addWidget(editor)
    with pytest.raises(ValueError, match="feature size"):
        editor.apply_preset(REPORT_ONE_LAYER)
    assert "parameter count once the features are chosen" in editor.summary_text()
    assert set(editor.presets()) == {REPORT_ONE_LAYER, REPORT_TWO_THIRDS, REPORT_HALF_THIRD, RECOMMENDED}


def test_layers_editor_buttons_edit_the_layers(qtbot):
    editor = LayersEditor()
    qtbot.addWidget(editor)
    editor.set_io_dims(36, 10)
    editor.set_layers([(64, "relu"), (32, "tanh")])
    with qtbot.waitSignal(editor.changed):
        editor.select_row(0)
        editor._add_button.click()
    assert editor.layers() == [(64, "relu"), (32, "relu"), (32, "tanh")]
    editor.select_row(2)
    editor._up_button.click()
    assert editor.layers() == [(64, "relu"), (32, "tanh"), (32, "relu")]
    editor.select_row(0)
    editor._remove_button.click()
    assert editor.layers() == [(32, "tanh"), (32, "relu")]
    assert editor.current_preset() == CUSTOM
    # Editing a cell widget changes the layer it shows.
    editor._table.cellWidget(1, 0).setValue(48)
    editor._table.cellWidget(1, 1).setCurrentText("leaky-relu")
    assert editor.layers() == [(32, "tanh"), (48, "leaky-relu")]
    editor._remove_button.click()
    editor._remove_button.click()
    assert editor.layers() == []
    assert "No hidden layer" in editor.summary_text()
    assert "36 → [] → 10" in editor.summary_text()
    assert f"{36 * 10 + 10:,} parameters" in editor.summary_text()


def test_layers_editor_rejects_unknown_activation(qtbot):
    editor = LayersEditor()
    qtbot.addWidget(editor)
    editor.set_layers([(64, "tanh")])
    with pytest.raises(ValueError, match="softplus"):
        editor.set_layers([(10, "softplus"), (5, "relu")])
    assert editor.layers() == [(64, "tanh")]  # a refused list changes nothing
    # Each row offers exactly the activations the model knows (core's list, in its order).
    combo = editor._table.cellWidget(0, 1)
    assert [combo.itemText(i) for i in range(combo.count())] == list(ACTIVATIONS)


# ----------------------------------------------------------------- ResultsView
def test_results_view_shows_scores_table_matrix_and_report(qtbot):
    view = ResultsView()
    qtbot.addWidget(view)
    assert not view.is_filled()
    results = digit_results()
    view.set_results(results)
    assert view.is_filled()
    assert view.score_text("train_accuracy") == "99.1 %"
    assert view.score_text("accuracy") == f"{100 * results['accuracy']:.1f} %"
    table = view.table()
    assert table.rowCount() == 10
    assert [table.item(r, 0).text() for r in range(10)] == DIGITS
    weak_row = DIGITS.index("3")
    assert table.item(weak_row, 3).text() == "42.0 %"
    assert table.item(weak_row, 3).background().color() != table.item(0, 0).background().color()
    matrix = view.confusion_view()
    assert matrix.cell_text(0, 0) == str(results["confusion"][0][0])
    assert "precision" in view.report_text()
    view.clear()
    assert not view.is_filled() and view.table().rowCount() == 0 and view.score_text("accuracy") == "—"


def test_results_view_sorts_numerically_by_test_accuracy(qtbot):
    view = ResultsView()
    qtbot.addWidget(view)
    results = digit_results()
    view.set_results(results)
    view.table().sortByColumn(3, Qt.SortOrder.AscendingOrder)
    shown = [results["per_class"][view.table().item(r, 0).text()]["accuracy"] for r in range(10)]
    assert shown == sorted(shown) and view.table().item(0, 0).text() == "3"


def test_results_view_hides_missing_optional_scores(qtbot):
    view = ResultsView()
    qtbot.addWidget(view)
    results = {**digit_results(), "balanced_accuracy": None, "macro_f1": None}
    view.set_results(results)
    view.show()
    qtbot.waitExposed(view)
    assert not view._scores["balanced_accuracy"].isVisible()
    assert view._scores["accuracy"].isVisible()


# ----------------------------------------------------------------- JobQueue
def test_job_queue_runs_jobs_in_order_off_the_gui_thread_and_delivers_on_it(qtbot):
    import threading

    from PySide6.QtCore import QObject, QThread

    from gui.workers import JobQueue

    class Receiver(QObject):
        def __init__(self):
            super().__init__()
            self.got = []

        def on_done(self, request, result):
            self.got.append((request, result, QThread.currentThread() is self.thread()))

        def on_failed(self, request, message):
            self.got.append((request, message, QThread.currentThread() is self.thread()))

    gui_thread = threading.get_ident()
    queue, receiver = JobQueue(), Receiver()
    queue.done.connect(receiver.on_done)
    queue.failed.connect(receiver.on_failed)
    for i in range(5):
        queue.submit(lambda i=i: (i, threading.get_ident() != gui_thread), i)
    queue.submit(lambda: 1 / 0, "bad")
    assert queue.pending == 6
    qtbot.waitUntil(lambda: queue.pending == 0)
    assert [g[0] for g in receiver.got] == [0, 1, 2, 3, 4, "bad"]  # in the order submitted
    assert all(result == (i, True) for i, (_, result, _) in enumerate(receiver.got[:5]))  # ran off the GUI thread
    assert receiver.got[5][1] == "ZeroDivisionError: division by zero"
    assert all(on_gui for *_, on_gui in receiver.got)  # delivered on the GUI thread
    assert queue.shutdown()
    with pytest.raises(RuntimeError):
        queue.submit(lambda: None)


# ----------------------------------------------------------------- RunsTable
def test_runs_table_ranks_only_comparable_runs():
    from gui.widgets.runs_table import RunsTable

    table = RunsTable()
    base = dict(time="12:00:00", features="mfcc-full", model="MLP", epochs=5, best_epoch=None,
                train_accuracy=0.99, balanced_accuracy=0.9, seconds=1.0, note="")
    table.add_run(1, {**base, "dataset": "recordings", "split": "random 20%", "accuracy": 0.95, "compare": "fsdd|random"})
    assert table.best_runs() == []  # one run alone is not "best" of anything
    table.add_run(2, {**base, "dataset": "recordings", "split": "random 20%", "accuracy": 0.97, "compare": "fsdd|random"})
    # Rotations of leave-one-speaker-out score higher on their one voice, but are never ranked.
    table.add_run(3, {**base, "dataset": "recordings", "split": "rotation", "accuracy": 0.99, "compare": None})
    table.add_run(4, {**base, "dataset": "recordings", "split": "rotation", "accuracy": 0.98, "compare": None})
    table.add_run(5, {**base, "dataset": "demo", "split": "random 20%", "accuracy": 0.60, "compare": "demo|random"})
    table.add_run(6, {**base, "dataset": "demo", "split": "random 20%", "accuracy": 0.70, "compare": "demo|random"})
    assert table.best_runs() == [2, 6]  # the best of each dataset, never a rotation


def test_results_view_score_cards_wrap_on_a_narrow_pane(qtbot):
    """Four cards side by side need ~600 px; in a 420 px pane (a 1024-pixel screen with the settings column)
    they wrap to a second row instead of making the window wider than the screen, and all stay visible."""
    view = ResultsView()
    qtbot.addWidget(view)
    view.set_results(digit_results())
    cards = [c for c in view._scores.values() if not c.isHidden()]
    assert len(cards) == 4
    one_row = sum(c.sizeHint().width() for c in cards)
    assert view.minimumSizeHint().width() < one_row
    view.resize(420, 500)
    view.show()
    qtbot.waitUntil(lambda: len({c.y() for c in cards}) == 2, timeout=10_000)
    assert all(c.geometry().right() <= view.width() and c.isVisible() for c in cards)
    view.resize(1200, 500)
    qtbot.waitUntil(lambda: len({c.y() for c in cards}) == 1, timeout=10_000)  # a wide pane: one row again


# ------------------------------------------------- axis titles in short or narrow views
def shown(qtbot, widget, width, height):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_axis_titles_fit_short_and_narrow_views(qtbot):
    """At 1024x700 the Genres microphone tab read "frequency (" beside a ~50 px spectrogram and "probabili"
    under a ~150 px wide bar chart: a short spectrogram says "f (kHz)", a narrow chart drops its axis title
    (its bars' labels carry the percentages); roomy views keep the full titles."""
    from gui.widgets.audio_view import AudioView
    from gui.widgets.prediction_view import PredictionView

    audio = shown(qtbot, AudioView(), 500, 200)
    left = audio.spectrogram_plot.getAxis("left")
    qtbot.waitUntil(lambda: audio.spectrogram_plot.height() < AudioView.FULL_AXIS_TITLE_MIN_HEIGHT)
    assert left.labelText == "f" and left.labelUnits == "Hz"
    audio.resize(500, 500)
    qtbot.waitUntil(lambda: left.labelText == "frequency")
    view = shown(qtbot, PredictionView(), 150, 400)
    bottom = view.probability_plot.getAxis("bottom")
    assert not bottom.label.isVisible()
    view.resize(300, 400)
    qtbot.waitUntil(lambda: bottom.label.isVisible())
