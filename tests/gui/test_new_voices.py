"""The Digits tab's "New voices" box: augmentation and "not a digit" reach training, and "Test my voice…"."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gui.dialogs.voice_test import VoiceTestDialog

HANG_MS = 180_000
SMALL = {"hidden_layer_sizes": (32,), "activation": "relu", "epochs": 8}


@pytest.fixture
def demo_tab(make_digits_tab, qtbot):
    tab = make_digits_tab()
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    tab.model_panel.set_params(SMALL)
    return tab


def train(tab, qtbot):
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    return tab.last_result


def test_defaults_augment_and_answer_unknown(demo_tab, qtbot):
    panel = demo_tab.new_voices
    assert panel.augment.isChecked() and panel.not_a_digit.isChecked()
    assert not panel.voice_button.isEnabled()  # no model yet
    result = train(demo_tab, qtbot)
    assert result.bundle.training["augment"]["copies"] == 2
    assert result.bundle.training["n_train_augmented"] > result.n_train
    assert result.bundle.open_set is not None
    sr = 16000
    t = np.arange(sr) / sr
    whistle = (0.5 * np.sin(2 * np.pi * (2000 + 1500 * np.sin(2 * np.pi * 6 * t)) * t)).astype(np.float32)
    assert demo_tab.bundle.predict_signal(whistle, sr)["label"] == "unknown"
    assert panel.voice_button.isEnabled()


def test_both_can_be_switched_off(demo_tab, qtbot):
    panel = demo_tab.new_voices
    panel.augment.setChecked(False)
    panel.not_a_digit.setChecked(False)
    result = train(demo_tab, qtbot)
    assert "augment" not in result.bundle.training
    assert result.bundle.open_set is None


def test_test_my_voice_opens_for_the_current_model(demo_tab, qtbot):
    train(demo_tab, qtbot)
    qtbot.mouseClick(demo_tab.new_voices.voice_button, Qt.LeftButton)
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, VoiceTestDialog) and w.isVisible()]
    assert len(dialogs) == 1
    dialog = dialogs[0]
    assert dialog.current_prompt() == demo_tab.bundle.labels[0]
    dialog.done(0)


def test_features_saved_before_the_dc_offset_fix_get_it(qtbot):
    """Settings remembered by an older version (no highpass_hz) still remove a DC offset."""
    import dataclasses

    from core.tasks import DIGITS
    from gui.panels import FeaturesPanel

    panel = FeaturesPanel(DIGITS)
    qtbot.addWidget(panel)
    old = dataclasses.asdict(DIGITS.feature_config())
    del old["highpass_hz"]
    panel.restore({**old, "n_mfcc": 20})
    assert panel.config().highpass_hz == 60.0 and panel.config().n_mfcc == 20
    panel.restore({**old, "highpass_hz": None})  # switched off on purpose: stays off
    assert panel.config().highpass_hz is None


def test_the_dc_offset_removal_is_a_visible_setting(qtbot):
    from core.tasks import DIGITS
    from gui.panels import FeaturesPanel

    panel = FeaturesPanel(DIGITS)
    qtbot.addWidget(panel)
    assert panel.highpass.isChecked() and panel.config().highpass_hz == 60.0
    panel.highpass.setChecked(False)
    assert panel.config().highpass_hz is None
    panel.highpass.setChecked(True)
    assert panel.config().highpass_hz == 60.0
