"""Training runs in its own process: a crashing or runaway model ends only that process, never the app."""
import os
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
    os.kill(pid, signal.SIGKILL)  # what the kernel's OOM killer or a native crash does
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    text = status_text(tab)
    assert "died (signal SIGKILL) during training" in text, text
    assert "\n" not in text
    assert tab.bundle is None  # nothing half-trained is passed off as a model

    tab.model_panel.set_params({**SMALL, "epochs": 2})  # the app goes on: the next training works
    press_train(tab, qtbot)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert tab.last_result is not None and tab.bundle is tab.last_result.bundle


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
