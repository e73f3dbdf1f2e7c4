"""The run history in the GUI, driven as a user drives it: real trainings in the Digits tab,
real SQLite in a private data folder, the All runs view, Compare, Export, bring back, re-run."""
import json
import pathlib

import numpy as np
import pytest
from PySide6.QtCore import Qt

HANG_MS = 180_000
SMALL = {"hidden_layer_sizes": (16,), "activation": "relu", "epochs": 4, "early_stopping": False}


@pytest.fixture(autouse=True)
def private_history(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "runs"


def train(tab, qtbot, **params):
    tab.model_panel.set_params({**SMALL, **params})
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert tab.last_result is not None and tab.last_result.run_id is not None, tab.progress_panel.status_text()
    return tab.last_result


@pytest.fixture
def three_runs(make_digits_tab, qtbot):
    tab = make_digits_tab()
    results = [train(tab, qtbot), train(tab, qtbot, activation="tanh"), train(tab, qtbot, hidden_layer_sizes=(24, 12))]
    return tab, results


def test_every_gui_training_is_kept_and_listed_across_sessions(three_runs, make_digits_tab, qtbot):
    tab, results = three_runs
    view = tab.history_view
    assert view.row_ids() == [3, 2, 1]  # newest first, refreshed after each training
    assert [r.run_id for r in results] == [1, 2, 3]
    assert view.selected_ids() == [3]  # the run just trained
    row = view.row_ids().index(2)
    assert view.table.item(row, 3).text() == f"{100 * results[1].metrics['accuracy']:.1f} %"
    assert "tanh" in view.table.item(row, 8).text()
    assert "relu" in view.table.item(view.row_ids().index(1), 8).text()
    later = make_digits_tab()  # a new session sees them all
    assert later.history_view.row_ids() == [3, 2, 1]


def test_compare_three_runs_overlays_curves_and_highlights_differences(three_runs, qtbot):
    tab, results = three_runs
    view = tab.history_view
    view.select_ids([1, 2, 3])
    assert view.compare_button.isEnabled()
    qtbot.mouseClick(view.compare_button, Qt.LeftButton)
    win = view._compare_windows[-1]
    qtbot.addWidget(win)
    compare = win.view
    assert sorted({rid for rid, _ in compare.curves}) == [1, 2, 3]
    for r in results:  # each run's training curve is drawn with its own numbers
        xs, ys = compare.curves[(r.run_id, "loss")].getData()
        assert list(ys) == pytest.approx([h["loss"] for h in r.history])
    shaded = compare.highlighted_settings()
    assert "model.activation" in shaded and "model.hidden_layer_sizes" in shaded
    assert "features.n_mfcc" not in shaded and "dataset" not in shaded
    compare.only_differences.setChecked(True)
    assert compare.settings_table.rowCount() == len(shaded)
    rows = dict(compare.metric_rows())
    assert rows["Test accuracy"] == pytest.approx([r.metrics["accuracy"] for r in sorted(results, key=lambda r: -r.run_id)]
                                                  if view.selected_ids()[0] == 3 else
                                                  [r.metrics["accuracy"] for r in results])


def test_star_note_search_and_delete_with_its_model_file(three_runs, private_history, qtbot):
    tab, _ = three_runs
    view = tab.history_view
    row = view.row_ids().index(1)
    star = view.table.visualItemRect(view.table.item(row, 0)).center()
    qtbot.mouseClick(view.table.viewport(), Qt.LeftButton, pos=star)
    assert view.history.get(1)["starred"]
    view.starred_only.setChecked(True)
    assert view.row_ids() == [1]
    view.starred_only.setChecked(False)
    view.set_note(2, "tanh for the slides")
    assert view.history.get(2)["note"] == "tanh for the slides"
    view.search.setText("slides")
    assert view.row_ids() == [2]
    view.search.clear()
    model = view.history.model_path(3)
    assert model.is_file()
    view.select_ids([3])
    view.delete_runs(view.selected_ids())
    assert view.row_ids() == [2, 1] and not model.exists()


def test_bring_back_and_export_report(three_runs, tmp_path, qtbot):
    tab, results = three_runs
    view = tab.history_view
    view.select_ids([2])
    qtbot.mouseClick(view.bring_back_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    x = np.random.default_rng(0).standard_normal((4, tab.bundle.model.n_features_in_))
    assert np.allclose(tab.bundle.model.predict_proba(x), results[1].bundle.model.predict_proba(x))
    assert tab.model_panel.params()["activation"] in ("tanh", ("tanh",))  # its settings are in the panels
    assert tab.results.score_text("accuracy") == f"{100 * results[1].metrics['accuracy']:.1f} %"

    out = tmp_path / "cmp.html"
    view.export_to([1, 2], out)
    qtbot.waitUntil(lambda: out.exists() and view.jobs.pending == 0, timeout=HANG_MS)
    page = out.read_text()
    assert page.count("data:image/svg+xml;base64,") >= 4
    assert f"{100 * results[0].metrics['accuracy']:.1f} %" in page


def test_rerun_trains_again_with_the_runs_settings(three_runs, qtbot):
    tab, results = three_runs
    tab.model_panel.set_params({**SMALL, "activation": "logistic"})
    tab.history_view.select_ids([2])
    qtbot.mouseClick(tab.history_view.rerun_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.history_view.row_ids()[:1] == [4] and not tab.busy, timeout=HANG_MS)
    run = tab.history_view.history.get(4)
    assert run["model"]["params"]["activation"] in ("tanh", ["tanh"])
    assert run["metrics"]["accuracy"] == pytest.approx(results[1].metrics["accuracy"])  # same seed, same data
