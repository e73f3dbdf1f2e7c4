"""The Digits tab's "Not a digit" view: after training with "not a digit" on, the threshold slider shows
false rejects of digits and false accepts of non-digit sounds the user picked; moving it changes them and
the model's threshold, which Save model / Load model keep; Evaluate on dataset says which accuracy is which."""
import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from core.bundle import load_bundle
from core.openset import threshold_of

HANG_MS = 180_000
SMALL = {"hidden_layer_sizes": (32,), "activation": "relu", "epochs": 8}


@pytest.fixture
def trained_tab(make_digits_tab, qtbot):
    tab = make_digits_tab()
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    tab.model_panel.set_params(SMALL)
    tab.new_voices.augment.setChecked(False)
    assert tab.new_voices.not_a_digit.isChecked()
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy and tab.bundle is not None, timeout=HANG_MS)
    assert tab.bundle.open_set is not None
    return tab


def non_digit_sounds(folder):
    sr = 16000
    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    sounds = {
        "whistle": 0.5 * np.sin(2 * np.pi * (2000 + 1500 * np.sin(2 * np.pi * 6 * t)) * t),
        "hum": 0.4 * np.sin(2 * np.pi * 120 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)),
        "noise": 0.2 * rng.standard_normal(sr),
        "chirp": 0.5 * np.sin(2 * np.pi * (300 + 1500 * t) * t),
    }
    paths = []
    for name, y in sounds.items():
        path = folder / f"{name}.wav"
        sf.write(path, y.astype(np.float32), sr)
        paths.append(str(path))
    return paths


def test_slider_rates_and_threshold_saved_with_the_model(trained_tab, qtbot, tmp_path):
    tab = trained_tab
    nad = tab.not_a_digit_view
    view = nad.view
    assert tab.lower_tabs.indexOf(tab.not_a_digit_page) >= 0 and tab.not_a_digit_page.widget() is nad
    assert view.slider.isEnabled() and nad.add_button.isEnabled()
    assert view.rate_text("false_reject_rate").endswith("%")
    assert view.rate_text("false_accept_rate") == "—"  # no non-digit sounds yet
    assert threshold_of(tab.bundle.open_set) == pytest.approx(view.threshold(), abs=0)

    nad.pick_sounds(non_digit_sounds(tmp_path))
    qtbot.waitUntil(lambda: not tab.busy and tab.bundle.metrics["open_set"]["n_unknown"] == 4, timeout=HANG_MS)
    assert tab.lower_tabs.currentWidget() is tab.not_a_digit_page  # the page with the new rates is shown
    assert view.rate_text("false_accept_rate").endswith("%")
    assert view.det_curve.getData()[0] is not None and len(view.det_curve.getData()[0]) > 1
    assert "4 non-digit" in nad.sounds_label.text()

    before = (view.rate_text("false_reject_rate"), view.rate_text("false_accept_rate"))
    auto = threshold_of(tab.bundle.open_set)
    view.slider.setValue(view.slider.maximum())  # strictest: every digit and every sound refused
    assert view.rate_text("false_reject_rate") == "100.0 %"
    assert view.rate_text("false_accept_rate") == "0.0 %"
    assert (view.rate_text("false_reject_rate"), view.rate_text("false_accept_rate")) != before
    view.slider.setValue(view.slider.maximum() * 3 // 4)
    chosen = view.threshold()
    assert chosen != auto
    assert threshold_of(tab.bundle.open_set) == chosen  # the model's threshold follows the slider

    path = tmp_path / "digits.slm"
    assert tab.save_model(path)
    assert threshold_of(load_bundle(path).open_set) == chosen
    view.reset_threshold()
    assert threshold_of(tab.bundle.open_set) == auto
    with qtbot.waitSignal(tab.model_load_finished, timeout=HANG_MS) as blocker:
        tab.load_model(str(path))
    assert blocker.args == [True]
    assert threshold_of(tab.bundle.open_set) == chosen
    assert view.threshold() == chosen
    assert tab.bundle.metrics["open_set"]["n_unknown"] == 4  # the sounds' scores came with the model
    assert view.rate_text("false_accept_rate").endswith("%")


def test_evaluate_on_dataset_says_which_accuracy_is_which(trained_tab, qtbot):
    tab = trained_tab
    messages = []
    original = tab.message

    def keep(text, *args, **kwargs):
        messages.append(text)
        return original(text, *args, **kwargs)

    tab.message = keep
    tab.evaluate_on_dataset()
    qtbot.waitUntil(lambda: not tab.busy and any("unknown_rate" in m for m in messages), timeout=HANG_MS)
    line = [m for m in messages if "unknown_rate" in m][-1]
    assert "counting \"unknown\" as wrong" in line and "answered clips" in line
