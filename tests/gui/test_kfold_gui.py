"""k-fold in the tabs as a user runs it: choose the split, Train, watch each fold, read the per-fold table and
mean ± std on the results card and in All runs; Stop mid-way keeps the finished folds; Genres' Automatic split
is 5-fold on a small dataset.

Trainings are tiny (a 32-unit MLP, a few epochs) and every wait is on a condition; a timeout only guards
against a hang.
"""
from PySide6.QtCore import Qt

HANG_MS = 600_000
SMALL = {"hidden_layer_sizes": (32,), "activation": "relu", "epochs": 4}


def demo(tab, qtbot):
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)


def choose_kfold(tab, k):
    panel = tab.dataset_panel
    panel.split_combo.setCurrentIndex(panel.split_combo.findData("kfold"))
    assert panel.folds.isVisible() and not panel.test_size.isVisible()
    panel.folds.setValue(k)


def digits_tab(make_tab, qtbot, **params):
    tab = make_tab("digits")
    demo(tab, qtbot)  # ten espeak voices: folds by speaker
    tab.new_voices.augment.setChecked(False)
    tab.new_voices.not_a_digit.setChecked(False)
    tab.model_panel.set_params({**SMALL, **params})
    return tab


def log_lines(tab):
    return tab.log.toPlainText().splitlines()


def all_runs_cell(tab, run_id, header):
    """The text of one column of a run's row in All runs (the session's history holds other tests' runs too)."""
    view = tab.history_view
    columns = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    return view.table.item(view.row_ids().index(run_id), columns.index(header)).text()


def wait_listed(tab, qtbot, run_id):
    qtbot.waitUntil(lambda: run_id in tab.history_view.row_ids(), timeout=HANG_MS)


def test_kfold_in_the_digits_tab_shows_each_fold_then_the_table_and_mean_std(make_tab, qtbot):
    tab = digits_tab(make_tab, qtbot)
    choose_kfold(tab, 3)
    bar = tab.progress_panel.bar
    formats = []
    bar.valueChanged.connect(lambda _: formats.append(bar.format()))  # what the progress bar said
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert result is not None and hasattr(result, "kfold"), tab.progress_panel.status_text()
    assert any(f.startswith("Fold 2/3 · Training: epoch") for f in formats)
    assert any(f.startswith("Final model on all the data · Training: epoch") for f in formats)
    # the curves and the log followed each fold, then the final model on all the data
    text = "\n".join(log_lines(tab))
    for i in (1, 2, 3):
        assert f"Fold {i}/3: testing on speaker" in text
    assert "All 3 folds done; training the final model on all the data" in text
    assert tab.plot.point_count() >= 1 and tab.bundle is result.bundle
    assert tab.bundle.training["n_train"] == len(tab.dataset_panel.dataset.items)
    # the results card: one row per fold, mean ± std in the headline, the 95 % interval
    kf = result.kfold
    table = tab.results.folds_table()
    assert table.rowCount() == 3
    assert [table.item(r, 2).text() for r in range(3)] == [f"{100 * f['accuracy']:.1f} %" for f in kf["folds"]]
    assert [int(table.item(r, 1).text()) for r in range(3)] == [f["n_test"] for f in kf["folds"]]
    mean, std = kf["mean_accuracy"], kf["std_accuracy"]
    assert tab.results.score_text("accuracy") == f"{100 * mean:.1f} ± {100 * std:.1f} %"
    assert tab.results.kfold_text().startswith("3-fold by speaker") and "95 % interval" in tab.results.kfold_text()
    # All runs: the run, its mean ± std, its split
    wait_listed(tab, qtbot, result.run_id)
    assert all_runs_cell(tab, result.run_id, "Test acc") == f"{100 * mean:.1f} ± {100 * std:.1f} %"
    assert all_runs_cell(tab, result.run_id, "Split") == "3-fold by speaker"
    # brought back from the history, the card shows the same folds
    tab.results.clear()
    assert tab.results.folds_table().rowCount() == 0
    tab.bring_back_run(result.run_id)
    qtbot.waitUntil(lambda: not tab.busy and tab.results.is_filled(), timeout=HANG_MS)
    assert tab.results.folds_table().rowCount() == 3
    assert tab.dataset_panel.split_request() == {"split": "kfold", "test_size": 0.2, "folds": 3}


def test_stop_mid_way_keeps_the_finished_folds(make_tab, qtbot):
    # slow epochs, few of them (each epoch's end is a message the window draws): the window keeps up
    # with the child, so Stop lands in fold 2
    tab = digits_tab(make_tab, qtbot, hidden_layer_sizes=(1024, 1024), activation="relu", epochs=20,
                     early_stopping=False)
    choose_kfold(tab, 3)
    pressed = []

    def stop_when_fold_2_starts(text):  # the user presses Stop as the window says fold 2 began
        if text.startswith("Fold 2/3") and not pressed:
            pressed.append(text)
            qtbot.mouseClick(tab.progress_panel.stop_button, Qt.LeftButton)

    tab.status_message.connect(stop_when_fold_2_starts)
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert pressed
    result = tab.last_result
    assert hasattr(result, "kfold"), tab.progress_panel.status_text()
    kf = result.kfold
    assert [f["fold"] for f in kf["folds"]] == [1] and not kf["completed"]  # fold 2 was stopped half-trained
    assert tab.bundle is result.bundle and tab.bundle.model is not None
    assert tab.results.folds_table().rowCount() == 1 and "stopped" in tab.results.kfold_text()
    assert "stopped by user after 1 of 3 folds" in tab.progress_panel.status_text()
    wait_listed(tab, qtbot, result.run_id)
    assert all_runs_cell(tab, result.run_id, "From").endswith("stopped")


def test_genres_automatic_split_is_five_fold_by_track_on_the_demo(make_tab, qtbot):
    tab = make_tab("genres")
    demo(tab, qtbot)  # 72 synthetic tracks: fewer than 200
    assert tab.dataset_panel.split_request()["split"] is None  # Automatic: core decides from the data
    tab.model_panel.choice.setCurrentIndex(tab.model_panel.choice.findData("features-logreg"))
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert hasattr(result, "kfold"), tab.progress_panel.status_text()
    assert (result.request.split, result.request.folds) == ("kfold", 5)
    table = tab.results.folds_table()
    assert table.rowCount() == 5 and sum(int(table.item(r, 1).text()) for r in range(5)) == 72
    assert tab.results.kfold_text().startswith("5-fold by track")
    assert "±" in tab.results.score_text("accuracy")
    wait_listed(tab, qtbot, result.run_id)
    assert "±" in all_runs_cell(tab, result.run_id, "Test acc")
