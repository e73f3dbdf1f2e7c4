"""The Digits tab's CNN, chosen in the model panel as a user chooses it: its own settings page and
features, a real training in the training process, and a Re-run from All runs that trains a CNN again.

Every wait is on a condition (``qtbot.waitUntil``); its timeout only guards against a hang.
"""
import pytest
from PySide6.QtCore import Qt

from core.models import model_type_of
from core.tasks import DIGITS
from tests.gui.test_digits_tab import press_train, scan

HANG_MS = 300_000  # two CNN trainings in a child process each, on a loaded machine


@pytest.fixture(autouse=True)
def private_history(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "runs"


def choose(tab, key):
    combo = tab.model_panel.choice
    combo.setCurrentIndex(combo.findData(key))
    combo.activated.emit(combo.currentIndex())  # what a user's choice in the list emits


def test_choosing_the_cnn_shows_its_panel_and_features_and_back(make_digits_tab):
    tab = make_digits_tab()
    panel = tab.model_panel
    assert [panel.choice.itemData(i) for i in range(panel.choice.count())] == DIGITS.model_keys == ["mlp", "cnn"]
    assert panel.key == "mlp" and panel.mlp.isVisible() and not panel.cnn.isVisible()

    choose(tab, "cnn")
    assert panel.cnn.isVisible() and not panel.mlp.isVisible()  # one model's settings at a time
    assert not panel.layers.isVisible() and not panel.report_combo.isVisible()
    assert tab.features_panel.config() == DIGITS.feature_config("logmel-128")
    assert panel.params() == {**DIGITS.model_choice("cnn").params, "random_state": 42}
    assert "parameters" in panel.cnn.param_count.text() and "32×32" in panel.cnn.param_count.text()
    assert panel.describe().startswith("CNN 16-32-64 flatten, dense 64")
    assert not tab.lower_tabs.isTabEnabled(tab.lower_tabs.indexOf(tab.insides))  # the MLP's layers only
    assert not tab.honest.view.compare_button.isEnabled()
    assert tab.new_voices.isVisible() and tab.new_voices.augment.isChecked()  # New voices applies to both
    request = tab.model_request()
    assert request["model"] == "cnn" and request["seed"] == 42 and "random_state" not in request["model_params"]

    choose(tab, "mlp")
    assert panel.mlp.isVisible() and not panel.cnn.isVisible()
    assert tab.features_panel.config() == DIGITS.feature_config()
    assert tab.lower_tabs.isTabEnabled(tab.lower_tabs.indexOf(tab.insides))
    assert tab.honest.view.compare_button.isEnabled()
    assert tab.model_request()["model"] == "mlp"


def test_the_choice_and_both_models_settings_are_remembered(make_digits_tab):
    tab = make_digits_tab()
    choose(tab, "cnn")
    tab.model_panel.cnn.epochs.setValue(3)
    tab.model_panel.cnn.dense.setText("32")
    tab.model_panel.mlp.epochs.setValue(11)
    tab.save_settings()
    again = make_digits_tab()
    assert again.model_panel.key == "cnn" and again.model_panel.cnn.isVisible()
    assert again.model_panel.params() == tab.model_panel.params()
    assert again.model_panel.params("mlp")["epochs"] == 11
    assert again.features_panel.config().name == "logmel-128"
    assert not again.lower_tabs.isTabEnabled(again.lower_tabs.indexOf(again.insides))


def test_the_cnn_trains_from_the_gui_and_re_runs_from_the_history(make_digits_tab, qtbot):
    tab = make_digits_tab()
    scan(tab, qtbot)
    choose(tab, "cnn")
    tab.model_panel.cnn.epochs.setValue(2)
    tab.model_panel.cnn.early.setChecked(False)
    press_train(tab, qtbot)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert result is not None and result.run_id is not None, tab.progress_panel.status_text()
    assert model_type_of(tab.bundle.model) == "keras-cnn"
    assert tab.bundle.feature_config.name == "logmel-128" and tab.bundle.feature_config.image_size == 32
    assert tab.plot.point_count() == 2 == len(result.history)
    assert result.request.model == "cnn" and result.request.model_params["epochs"] == 2
    assert tab.runs_table.rowCount() == 1
    assert "CNN 16-32-64 flatten" in tab.describe_model(tab.bundle.model)
    assert tab.results.score_text("accuracy") == f"{100 * result.metrics['accuracy']:.1f} %"

    # The panels show another model, then Re-run trains the recorded CNN again.
    choose(tab, "mlp")
    view = tab.history_view
    assert view.row_ids() == [result.run_id]
    view.select_ids([result.run_id])
    qtbot.mouseClick(view.rerun_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.row_ids()[:1] == [result.run_id + 1] and not tab.busy, timeout=HANG_MS)
    again = view.history.get(result.run_id + 1)
    assert again["model"]["type"] == "keras-cnn" and again["model"]["params"]["epochs"] == 2
    assert model_type_of(tab.bundle.model) == "keras-cnn" and tab.plot.point_count() == 2
    assert tab.model_panel.key == "cnn" and tab.features_panel.config().name == "logmel-128"
    assert again["metrics"]["accuracy"] == pytest.approx(result.metrics["accuracy"])  # same seed, same data
