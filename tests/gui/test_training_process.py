"""Training runs in its own process: a crashing or runaway model ends only that process, never the app."""
import os
import pathlib
import signal

from PySide6.QtCore import Qt

from tests.gui.test_digits_tab import HANG_MS, SMALL, press_train, scan, status_text


def _child_pid(tab, qtbot):
    qtbot.waitUntil(lambda: getattr(tab.runner.worker, "pid", None) is not None, timeout=HANG_MS)
    return tab.runner.worker.pid


def test_training_runs_in_another_process_and_reports_its_phases(make_digits_tab, qtbot):
    tab = make_digits_tab()
    scan(tab, qtbot)  # the demo digits
    tab.model_panel.set_params({**SMALL, "epochs": 3})
    phases = []
    original = tab.progress_panel.show_phase
    tab.progress_panel.show_phase = lambda info: (phases.append(info["name"]), original(info))
    press_train(tab, qtbot)
    assert _child_pid(tab, qtbot) != os.getpid()
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert result is not None and result.run_id is not None
    assert tab.bundle is result.bundle and tab.plot.point_count() == len(result.history) == 3
    # every phase of the training is named, the unknown threshold's copy included ("New voices" default)
    assert {"extracting features", "training", "evaluating", "setting the unknown threshold"} <= set(phases)
    assert result.bundle.open_set is not None


def test_killing_the_training_process_mid_epoch_leaves_the_app_usable(make_digits_tab, qtbot):
    tab = make_digits_tab()
    scan(tab, qtbot)
    # per-sample SGD for many epochs: still training when it is killed
    tab.model_panel.set_params({**SMALL, "epochs": 400, "batch_size": 1, "early_stopping": False})
    press_train(tab, qtbot)
    pid = _child_pid(tab, qtbot)
    qtbot.waitUntil(lambda: tab.plot.point_count() >= 1, timeout=HANG_MS)
    worker = tab.runner.worker
    os.kill(pid, signal.SIGKILL)  # what the kernel's OOM killer or a native crash does
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    text = status_text(tab)
    assert "died (signal SIGKILL) during training" in text, text
    assert "\n" not in text
    if worker._checkpoint is None:  # killed before its first checkpoint (10 s into the training)
        assert tab.bundle is None  # nothing half-trained is passed off as a model
        assert "keeps the model it had before this training" in text
    else:  # a slow machine: the first epoch took 10 s and was saved; only that file is kept, and labelled
        assert tab.bundle.training["checkpoint"] is True and "best epoch so far is kept" in text

    tab.model_panel.set_params({**SMALL, "epochs": 2})  # the app goes on: the next training works
    press_train(tab, qtbot)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert tab.last_result is not None and tab.bundle is tab.last_result.bundle


def test_a_training_process_that_dies_leaves_its_best_epoch_so_far_as_the_model(make_digits_tab, qtbot,
                                                                                  tmp_path):
    """The child saves its best epoch now and then (core.checkpoint, first after 10 s of training); killed
    after that, the tab gets that model, says so in one line, and it predicts and saves like any other."""
    from core.bundle import load_bundle

    tab = make_digits_tab()
    scan(tab, qtbot)
    tab.model_panel.set_params({**SMALL, "epochs": 400, "batch_size": 1, "early_stopping": False})
    press_train(tab, qtbot)
    pid = _child_pid(tab, qtbot)
    worker = tab.runner.worker
    # the worker thread notes the checkpoint before its report reaches the GUI thread: wait for what the user sees
    qtbot.waitUntil(lambda: "best epoch so far saved" in tab.log.toPlainText(), timeout=HANG_MS)
    assert worker._checkpoint is not None
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    text = status_text(tab)
    assert "died (signal SIGKILL) during training" in text and "its best epoch so far is kept (epoch " in text, text
    assert "\n" not in text
    bundle = tab.bundle
    assert bundle is not None and bundle.training["checkpoint"] is True
    assert tab.save_button.isEnabled()
    clip = tab.dataset_panel.dataset.items[0].path
    assert bundle.predict_file(clip)["label"] in bundle.labels
    saved = tmp_path / "kept.slm"
    assert tab.save_model(str(saved))
    assert list(load_bundle(saved).labels) == list(bundle.labels)
    assert not pathlib.Path(worker._checkpoint["path"]).parent.exists()  # the child's folder is cleaned up


def test_a_model_too_big_for_the_memory_limit_gets_a_one_line_out_of_memory_message(make_digits_tab, qtbot,
                                                                                     monkeypatch):
    monkeypatch.setenv("SPEECHLAB_TRAINING_MEMORY_GB", "0.6")
    tab = make_digits_tab()
    scan(tab, qtbot)
    # two 12,000-unit layers: 144 M weights, over 1 GB with their gradients and Adam's moments
    tab.model_panel.set_params({**SMALL, "hidden_layer_sizes": (12000, 12000), "epochs": 2})
    press_train(tab, qtbot)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    text = status_text(tab)
    assert text.startswith("Out of memory: the training passed its memory limit of 0.6 GB"), text
    assert tab.progress_panel.train_button.isEnabled()


def test_a_second_stop_ends_the_training_process_at_once(make_digits_tab, qtbot):
    tab = make_digits_tab()
    scan(tab, qtbot)
    tab.model_panel.set_params({**SMALL, "epochs": 400, "batch_size": 1, "early_stopping": False})
    press_train(tab, qtbot)
    _child_pid(tab, qtbot)
    qtbot.waitUntil(lambda: tab.plot.point_count() >= 1, timeout=HANG_MS)
    worker = tab.runner.worker
    worker.stop()
    worker.stop()  # the second Stop does not wait for the model to finish its epoch
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert "second Stop" in status_text(tab)
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    assert tab.busy  # usable again
    tab.stop()
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
