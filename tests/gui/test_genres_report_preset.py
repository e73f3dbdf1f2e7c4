"""Genres → "Reproduce the report" trained as a user does (demo genres, the report's network on whole
128×128 clips in the training process): the accuracy curve's last training point is the results card's
train accuracy, and the test accuracy is above chance (it was 10 % while the curve said 100 %).

Every wait is on a condition; its timeout only guards against a hang.
"""
from PySide6.QtCore import Qt

from tests.gui.test_genres_tab import HANG_MS


def test_report_preset_curve_and_card_agree_and_beat_chance(make_genres_tab, qtbot):
    tab = make_genres_tab()
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    qtbot.mouseClick(tab.model_panel.report_button, Qt.LeftButton)
    assert "128×128 image → 62×62×32 maps" in tab.model_panel.param_count.text()  # the report network
    tab.model_panel.epochs.setValue(12)  # the report's 30 epochs, shortened: the same network and optimiser
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert result is not None, tab.progress_panel.status.text()
    epochs, accuracy = tab.plot.curve_data()["accuracy"]
    assert epochs[-1] == 12
    card_train = result.metrics["train_accuracy"]
    assert abs(accuracy[-1] - card_train) <= 0.05, (accuracy[-1], card_train)
    assert tab.results.score_text("train_accuracy") == f"{100 * card_train:.1f} %"
    n_genres = len({it.label for it in tab.dataset_panel.dataset.items})
    assert result.metrics["accuracy"] >= 2.5 / n_genres, result.metrics["accuracy"]
