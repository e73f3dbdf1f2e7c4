"""The Digits tab driven as a user drives it: real folders, real clicks, real training threads.

Every wait is on a condition (``qtbot.waitUntil``); its timeout only guards
against a hang and is far above any real run.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt

from core.bundle import load_bundle
from core.features import FeatureConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
HANG_MS = 180_000
DIGIT_LABELS = [str(d) for d in range(10)]
# A small, fast MLP; everything not named keeps the task's defaults.
SMALL = {"hidden_layer_sizes": (32,), "activation": "relu", "epochs": 8}


def scan(tab, qtbot, folder=None):
    """Type a folder and press Enter (None: press Demo), then wait for the scan to finish."""
    panel = tab.dataset_panel
    if folder is None:
        qtbot.mouseClick(panel.demo_button, Qt.LeftButton)
    else:
        panel.folder_edit.setText(str(folder))
        qtbot.keyClick(panel.folder_edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    return panel.dataset


def press_train(tab, qtbot):
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    assert tab.busy  # the click started a worker thread


def train(tab, qtbot, **params):
    """Set the model, press Train and wait until training is over; the TrainResult."""
    tab.model_panel.set_params({**SMALL, **params})
    press_train(tab, qtbot)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    return tab.last_result


def epoch_log_lines(tab):
    return [line for line in tab.log.toPlainText().splitlines() if line.startswith("epoch ")]


def status_text(tab):
    return tab.progress_panel.status_text()


def assert_results_shown(tab, metrics, n_test):
    table = tab.results.table()
    assert tab.results.is_filled()
    assert table.rowCount() == len(metrics["labels"])
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == metrics["labels"]
    matrix = tab.results.confusion_view().matrix()
    assert matrix.shape == (len(metrics["labels"]),) * 2 and matrix.sum() == n_test
    assert tab.results.score_text("accuracy") == f"{100 * metrics['accuracy']:.1f} %"


# --------------------------------------------------------------------------- training


def test_training_on_fsdd_fills_plot_and_results(make_digits_tab, qtbot, fsdd_dir):
    tab = make_digits_tab()
    ds = scan(tab, qtbot, fsdd_dir)
    assert len(ds.items) == 2000 and ds.labels == DIGIT_LABELS
    assert "2000" in tab.dataset_panel.summary.text()
    assert not tab.save_button.isEnabled()  # nothing to save yet

    tab.model_panel.set_params(SMALL)
    press_train(tab, qtbot)
    thread = tab.runner.thread
    # A second press while training does nothing: the button is disabled ...
    assert not tab.progress_panel.train_button.isEnabled() and tab.progress_panel.stop_button.isEnabled()
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    # ... and a direct call says so instead of starting a second thread.
    tab.train()
    assert "already running" in status_text(tab)
    assert tab.runner.thread is thread
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)

    result = tab.last_result
    history = result.bundle.model.history_
    assert len(history) == 8 == len(result.history)
    assert tab.plot.point_count() == len(history) == len(epoch_log_lines(tab))
    # every log line ends with what that epoch took (its own time, not the running total)
    took = [float(re.search(r"\((\d+\.\d\d) s\)$", line).group(1)) for line in epoch_log_lines(tab)]
    assert all(t > 0 for t in took) and sum(took) <= result.seconds
    loss_x, loss_y = tab.plot.curve_data()["loss"]
    assert loss_x == [float(h["epoch"]) for h in history] and loss_y == [h["loss"] for h in history]
    assert_results_shown(tab, result.metrics, result.n_test)
    assert result.n_test == 400
    # Observed 97 % with this 32-unit MLP; FSDD with full MFCCs is easy for it.
    assert result.metrics["accuracy"] >= 0.9
    assert tab.lower_tabs.currentWidget() is tab.results
    assert tab.save_button.isEnabled() and tab.progress_panel.train_button.isEnabled()
    assert not tab.progress_panel.stop_button.isEnabled()
    assert "Test accuracy" in status_text(tab)
    assert tab.bundle is result.bundle


def test_stop_mid_training_keeps_the_model(make_digits_tab, qtbot, fsdd_dir):
    tab = make_digits_tab()
    scan(tab, qtbot, fsdd_dir)
    # Per-sample SGD for 500 epochs would take minutes: only Stop can end this run.
    tab.model_panel.set_params({**SMALL, "epochs": 500, "batch_size": 1, "early_stopping": False})
    press_train(tab, qtbot)
    qtbot.waitUntil(lambda: tab.plot.point_count() >= 1, timeout=HANG_MS)
    qtbot.mouseClick(tab.progress_panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)

    result = tab.last_result
    assert result is not None and "stopped" in result.stop_reason
    assert "stopped" in status_text(tab)
    assert 1 <= len(result.history) < 500
    assert tab.plot.point_count() == len(result.history) == len(epoch_log_lines(tab))
    assert tab.bundle is result.bundle
    assert_results_shown(tab, result.metrics, result.n_test)
    assert tab.save_button.isEnabled()


def test_train_without_a_dataset_scans_the_demo_first(make_digits_tab, qtbot):
    tab = make_digits_tab()
    tab.model_panel.set_params({**SMALL, "epochs": 5})
    press_train(tab, qtbot)  # nothing scanned yet: Train scans the demo data, then trains
    qtbot.waitUntil(lambda: tab.last_result is not None and not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert tab.dataset_panel.dataset is not None and len(tab.dataset_panel.dataset.items) == 300
    assert "demo" in tab.dataset_panel.summary.text()
    assert result.n_test == 60
    # Synthetic espeak voices, 5 epochs: observed 87 %; chance is 10 %.
    assert result.metrics["accuracy"] >= 0.5
    assert tab.plot.point_count() == len(result.history) == 5


# --------------------------------------------------------------------------- settings


def test_settings_are_remembered(make_digits_tab, settings_file, fsdd_dir):
    tab = make_digits_tab()
    params = {"hidden_layer_sizes": (64, 24), "activation": ("tanh", "relu"), "output": "softmax",
              "optimizer": "momentum", "init": "xavier", "learning_rate": 0.005, "epochs": 17, "batch_size": 16,
              "l2": 0.001, "standardize": False, "early_stopping": True, "patience": 4, "random_state": 7}
    tab.model_panel.set_params(params)
    tab.features_panel.n_mfcc.setValue(20)
    tab.dataset_panel.folder_edit.setText(str(fsdd_dir))
    tab.dataset_panel.test_size.setValue(0.3)
    tab.save_settings()
    from gui import settings as app_settings

    app_settings.flush()
    assert app_settings.json_file("digits/state").is_file()

    again = make_digits_tab()
    assert again.model_panel.params() == params
    assert again.features_panel.config() == tab.features_panel.config()
    assert again.features_panel.config().n_mfcc == 20
    assert again.dataset_panel.state() == tab.dataset_panel.state()
    assert again.dataset_panel.split() == ("random", pytest.approx(0.3))
    # The layer editor shows the input size the new MFCC count gives: 3 × 20 × 32 frames.
    assert again.model_panel.layers.summary_text().startswith("1920 → [64 tanh, 24 relu] → 10")


@pytest.mark.parametrize("stored", ["{not json", json.dumps({"model": {"epochs": "many"}, "features": 7}),
                                    json.dumps([1, 2])])
@pytest.mark.parametrize("where", ["state file", "older version's QSettings key"])
def test_damaged_settings_fall_back_to_defaults(make_digits_tab, stored, where):
    from gui import settings as app_settings

    if where == "state file":
        app_settings.json_file("digits/state").write_text(stored)
    else:
        app_settings.settings().setValue("digits/state", stored)
    tab = make_digits_tab()
    assert tab.model_panel.params()["epochs"] == 60
    assert tab.features_panel.config() == tab.spec.feature_config()


# --------------------------------------------------------------------------- saving and loading


def test_save_and_load_round_trip(make_digits_tab, qtbot, tmp_path, load_model):
    tab = make_digits_tab()
    scan(tab, qtbot)
    result = train(tab, qtbot, epochs=5)
    path = tmp_path / "digits"
    assert tab.save_model(str(path))  # ".slm" is added
    saved = tmp_path / "digits.slm"
    assert saved.is_file() and f"saved to {saved}" in status_text(tab)

    other = make_digits_tab()
    assert other.bundle is None and not other.results.is_filled()
    other.model_panel.set_params({"hidden_layer_sizes": (7, 7), "activation": "tanh", "epochs": 99})
    other.features_panel.n_mfcc.setValue(20)
    assert load_model(other, str(saved))
    # The panels describe the model that now predicts, not what they held before.
    assert other.features_panel.config() == result.bundle.feature_config
    shown = other.model_panel.params()
    assert shown["hidden_layer_sizes"] == tuple(result.bundle.model.hidden_layer_sizes) == (32,)
    assert shown["epochs"] == 5 and shown["activation"] == ("relu",)
    assert "panels show its settings" in status_text(other)
    assert other.plot.point_count() == len(result.history) == 5
    assert other.plot.curve_data()["loss"] == tab.plot.curve_data()["loss"]
    assert_results_shown(other, result.bundle.metrics, result.n_test)
    assert other.save_button.isEnabled()
    assert other.bundle.feature_config == tab.bundle.feature_config
    files = [it.path for it in tab.dataset_panel.dataset.items[::30]]
    for f in files:
        assert other.bundle.predict_file(f) == tab.bundle.predict_file(f)

    # The loaded model answers in the microphone panel.
    with qtbot.waitSignal(other.recorder.prediction_made, timeout=HANG_MS) as shown:
        assert other.recorder.open_file(files[0])
    expected = tab.bundle.predict_file(files[0])
    assert shown.args[0]["label"] == expected["label"] == other.recorder.prediction_label.text()
    assert shown.args[0]["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)


def test_models_move_between_the_tab_and_the_command_line(make_digits_tab, qtbot, tmp_path, load_model):
    tab = make_digits_tab()
    scan(tab, qtbot)
    train(tab, qtbot, epochs=5)
    gui_model = tmp_path / "gui.slm"
    assert tab.save_model(str(gui_model))
    wav = tab.dataset_panel.dataset.items[0].path
    cli_model = tmp_path / "cli.slm"
    env = os.environ.copy()  # the child uses the test feature cache from tests/conftest.py
    procs = [
        subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for args in (["predict", str(gui_model), wav, "--json"],
                     ["train", "--task", "digits", "--hidden", "16", "--epochs", "3", "--out", str(cli_model),
                      "--json"])
    ]
    (predicted, _), (trained, train_err) = (p.communicate(timeout=300) for p in procs)
    assert [p.returncode for p in procs] == [0, 0], train_err

    # A model saved by the tab predicts in the CLI exactly as in the tab.
    cli_prediction = json.loads(predicted)[0]
    mine = tab.bundle.predict_file(wav)
    assert cli_prediction["label"] == mine["label"]
    assert cli_prediction["probabilities"] == pytest.approx(mine["probabilities"], abs=1e-6)

    # A model trained by the CLI (on the built-in demo data) loads into the tab.
    report = json.loads(trained)
    other = make_digits_tab()
    assert load_model(other, str(cli_model))
    assert other.plot.point_count() == len(report["history"]) == 3
    assert_results_shown(other, load_bundle(cli_model).metrics, report["n_test"])
    assert other.bundle.model.hidden_layer_sizes == (16,)


def test_failed_save_shows_an_error_and_keeps_the_old_file(make_digits_tab, qtbot, tmp_path, message_boxes):
    tab = make_digits_tab()
    scan(tab, qtbot)
    train(tab, qtbot, epochs=5)
    existing = tmp_path / "model.slm"
    assert tab.save_model(str(existing))
    before = existing.read_bytes()

    # The user picks a folder that cannot exist: its "parent" is the model file itself.
    target = existing / "copy.slm"
    shown = message_boxes()
    assert tab.save_model(str(target)) is False
    assert len(shown) == 1 and "Could not save" in shown[0] and str(target) in shown[0]
    assert "Could not save" in status_text(tab)
    assert existing.read_bytes() == before
    # no temporary file left beside the model (the app's own settings files live here too in tests)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("speechlab-settings")) == ["model.slm"]


def test_loading_a_bad_file_keeps_the_current_model(make_digits_tab, qtbot, tmp_path, load_model):
    tab = make_digits_tab()
    scan(tab, qtbot)
    train(tab, qtbot, epochs=5)
    bundle = tab.bundle
    bad = tmp_path / "broken.slm"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert load_model(tab, str(bad)) is False
    assert str(bad) in status_text(tab)
    assert tab.bundle is bundle and tab.results.is_filled() and tab.save_button.isEnabled()


# --------------------------------------------------------------------------- the report's experiments


def test_report_preset_sets_the_reports_training_and_says_the_data_differs(make_digits_tab):
    from core.presets import REPORT_PRESETS

    tab = make_digits_tab()
    combo = tab.model_panel.report_combo
    assert combo.count() == 1 + len(REPORT_PRESETS)
    assert "on AudioMNIST" in combo.itemText(1)  # never a bare "96.1 %" promise
    for index in range(1, combo.count()):
        tab.apply_recommended()
        combo.setCurrentIndex(index)
        combo.activated.emit(index)  # what a user's choice in the list emits
        params = tab.model_panel.params()
        preset = combo.itemData(index)
        assert (params["output"], params["optimizer"], params["batch_size"]) == ("mse", "sgd", 1), preset.name
        assert tab.features_panel.config().name == FeatureConfig(**preset.feature).name
        assert preset.name in status_text(tab) and "AudioMNIST" in status_text(tab)
        # The window keeps saying where the settings come from and what data the number was measured on.
        origin = tab.model_panel.origin_label.text()
        assert tab.model_panel.origin() == "report" and preset.name in origin and "AudioMNIST" in origin
        if preset.fsdd_accuracy is not None:
            assert f"{preset.fsdd_accuracy:.1f} %" in origin


def test_recommended_settings_undo_a_report_preset(make_digits_tab, qtbot):
    tab = make_digits_tab()
    recommended = tab.model_panel.params(), tab.features_panel.config()
    tab.apply_report_preset(tab.model_panel.report_combo.itemData(1))
    assert tab.model_panel.params() != recommended[0] and tab.features_panel.config() != recommended[1]
    qtbot.mouseClick(tab.model_panel.recommended_button, Qt.LeftButton)
    assert (tab.model_panel.params(), tab.features_panel.config()) == recommended
    assert tab.model_panel.origin() == "recommended" and "recommended" in tab.model_panel.origin_label.text()
    tab.model_panel.epochs.setValue(7)  # any change by hand shows
    assert tab.model_panel.origin() == "custom" and "changed by hand" in tab.model_panel.origin_label.text()


def test_a_report_preset_survives_a_restart_only_visibly(make_digits_tab):
    tab = make_digits_tab()
    preset = tab.model_panel.report_combo.itemData(7)
    tab.apply_report_preset(preset)
    tab.save_settings()
    again = make_digits_tab()
    assert again.model_panel.params() == tab.model_panel.params()
    assert again.model_panel.origin() == "report" and preset.name in again.model_panel.origin_label.text()


def test_runs_table_compares_trainings_and_brings_an_earlier_model_back(make_digits_tab, qtbot):
    tab = make_digits_tab()
    scan(tab, qtbot)  # the demo data
    first = train(tab, qtbot, hidden_layer_sizes=(32,), activation="relu", epochs=6)
    second = train(tab, qtbot, hidden_layer_sizes=(16,), activation="tanh", epochs=3)
    runs = tab.runs_table
    assert runs.run_count() == 2
    model_col = [runs.horizontalHeaderItem(c).text() for c in range(runs.columnCount())].index("Model")
    test_col = [runs.horizontalHeaderItem(c).text() for c in range(runs.columnCount())].index("Test acc")
    rows = {runs.item(r, 0).text(): r for r in range(2)}
    assert "MLP 32 relu" in runs.item(rows["1"], model_col).text()
    assert "MLP 16 tanh" in runs.item(rows["2"], model_col).text()
    assert runs.item(rows["1"], test_col).text() == f"{first.metrics['accuracy']:.1%}"
    assert tab.bundle is second.bundle
    # double-click run 1: its model, curves and results come back
    tab.lower_tabs.setCurrentWidget(runs)
    qtbot.waitUntil(runs.isVisible)
    rect = runs.visualItemRect(runs.item(rows["1"], 0))
    # a real double-click is a press/release followed by a double-click event
    qtbot.mouseClick(runs.viewport(), Qt.LeftButton, pos=rect.center())
    qtbot.mouseDClick(runs.viewport(), Qt.LeftButton, pos=rect.center())
    assert tab.bundle is first.bundle
    assert tab.plot.point_count() == len(first.history)
    assert tab.results.score_text("accuracy") == f"{100 * first.metrics['accuracy']:.1f} %"


def test_older_runs_leave_memory_and_come_back_from_the_history(make_digits_tab, qtbot, monkeypatch):
    """A long session keeps only its latest runs in memory; an older one comes back from the run history."""
    tab = make_digits_tab()
    monkeypatch.setattr(tab, "RUNS_IN_MEMORY", 2)
    scan(tab, qtbot)  # the demo data
    first = train(tab, qtbot, hidden_layer_sizes=(24,), epochs=4)
    for _ in range(2):
        train(tab, qtbot, hidden_layer_sizes=(8,), epochs=2)
    assert tab.runs_table.run_count() == 3
    assert tab.runs[1] == first.run_id and not isinstance(tab.runs[3], int)  # only the id of run 1 is kept
    tab.show_run(1)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert tab.bundle.model.hidden_layer_sizes == (24,)
    assert tab.plot.point_count() == len(first.history)
    assert tab.results.score_text("accuracy") == f"{100 * first.metrics['accuracy']:.1f} %"


def test_evaluate_a_trained_model_on_another_dataset(make_digits_tab, qtbot, fsdd_dir):
    """Train on the synthetic demo voices, then test that model on the real FSDD
    recordings: the results view shows the FSDD evaluation (2,000 clips)."""
    tab = make_digits_tab()
    scan(tab, qtbot)  # demo data
    assert not tab.evaluate_button.isEnabled()
    trained = train(tab, qtbot, epochs=5)
    assert tab.evaluate_button.isEnabled()
    scan(tab, qtbot, fsdd_dir)
    qtbot.mouseClick(tab.evaluate_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    matrix = tab.results.confusion_view().matrix()
    assert matrix.sum() == 2000
    assert tab.bundle is trained.bundle  # evaluating does not replace the model
    assert "Evaluated the model on 2000 clips" in status_text(tab)
    assert tab.results.score_text("train_accuracy") == "—"


def test_leave_one_speaker_out_trains_once_per_speaker_and_pools_the_results(make_digits_tab, qtbot, fsdd_dir,
                                                                               tmp_path):
    tab = make_digits_tab()
    scan(tab, qtbot, fsdd_dir)
    panel = tab.dataset_panel
    panel.split_combo.setCurrentIndex(panel.split_combo.findData("loso"))
    train(tab, qtbot, hidden_layer_sizes=(32,), epochs=4)
    # one run per held-out speaker, each tested only on that speaker's 500 clips
    assert tab.runs_table.run_count() == 4
    # Each rotation tests another voice: none is ranked "best", and the dataset is named.
    assert tab.runs_table.best_runs() == []
    columns = [tab.runs_table.horizontalHeaderItem(c).text() for c in range(tab.runs_table.columnCount())]
    assert {tab.runs_table.item(r, columns.index("Dataset")).text() for r in range(4)} == {fsdd_dir.name}
    held_out = [r.bundle.training["test_speakers"] for r in tab.runs.values()]
    assert sorted(s for [s] in held_out) == ["george", "jackson", "lucas", "nicolas"]
    assert all(r.n_test == 500 for r in tab.runs.values())
    # the results view shows every clip once: the pooled leave-one-speaker-out test
    assert tab.results.confusion_view().matrix().sum() == 2000
    assert "Leave one speaker out: mean" in status_text(tab)
    # the model kept is trained on all four speakers and carries the pooled estimate
    assert all(tab.bundle is not r.bundle for r in tab.runs.values())
    assert tab.bundle.training["n_train"] == 2000 and tab.bundle.training["split"]["kind"] == "leave-one-speaker-out"
    assert tab.bundle.metrics["accuracy"] == pytest.approx(
        sum(r.metrics["accuracy"] * r.n_test for r in tab.runs.values()) / 2000)
    path = tmp_path / "loso.slm"
    assert tab.save_model(str(path))
    assert load_bundle(path).training["per_speaker"].keys() == {"george", "jackson", "lucas", "nicolas"}


def test_loading_another_folder_clears_the_previous_results(make_digits_tab, qtbot, fsdd_dir):
    tab = make_digits_tab()
    scan(tab, qtbot)  # the demo data
    train(tab, qtbot, epochs=3)
    assert tab.results.is_filled() and tab.plot.point_count() == 3
    scan(tab, qtbot, fsdd_dir)
    assert not tab.results.is_filled() and tab.plot.point_count() == 0  # nothing of the demo run on screen
    assert tab.bundle is not None  # the model stays, and the window says where it was trained
    assert "Results of demo cleared" in status_text(tab)
    # Runs of both datasets stay listed, each with its dataset.
    columns = [tab.runs_table.horizontalHeaderItem(c).text() for c in range(tab.runs_table.columnCount())]
    assert tab.runs_table.item(0, columns.index("Dataset")).text() == "demo"
