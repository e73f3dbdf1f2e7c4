"""The MLP's insides in the Digits tab: the report's randn sigmoid net shows why it does not learn."""
import numpy as np
import pytest

from core.models.mlp import MLPClassifier
from gui.widgets.mlp_insides import diagnose


def _history(**params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 24)).astype(np.float32) * 3
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + 2 * (X[:, 3] > 0)
    model = MLPClassifier(hidden_layer_sizes=(64, 32), epochs=4, early_stopping=False, random_state=0,
                          standardize=False, **params).fit(X, y)
    return model.history_


def test_every_epoch_reports_each_layer():
    history = _history(activation="relu", init="he")
    assert len(history) == 4
    for stats in history:
        layers = stats["layers"]
        assert [e["layer"] for e in layers] == ["hidden 1", "hidden 2", "output"]
        assert all(e["weight_rms"] > 0 and e["grad_rms"] > 0 for e in layers)
        assert layers[0]["dead"] is not None and layers[0]["saturated"] is None
        assert sum(layers[0]["hist"]) == 256 * 64 and len(layers[0]["edges"]) == 21


def test_the_reports_randn_sigmoid_net_is_diagnosed_saturated():
    bad = _history(activation="bipolar-sigmoid", init="randn")[-1]["layers"]
    good = _history(activation="bipolar-sigmoid", init="xavier")[-1]["layers"]
    assert bad[1]["saturated"] > 0.5 > good[1]["saturated"]
    assert any("saturated" in n for n in diagnose(bad))
    assert not any("saturated" in n for n in diagnose(good))


def test_the_insides_tab_follows_training_and_loaded_models(make_digits_tab, qtbot, tmp_path, load_model):
    tab = make_digits_tab()
    tab.model_panel.epochs.setValue(3)
    tab.model_panel.early.setChecked(False)
    tab.train()  # the demo digits
    qtbot.waitUntil(lambda: tab.last_result is not None and not tab.busy, timeout=120000)
    insides = tab.insides
    assert insides.epochs == 3
    xs, ys = insides._data[(0, "weight_rms")]
    assert xs == [1, 2, 3] and all(v > 0 for v in ys)
    assert "Epoch 3" in insides.note.text()
    path = tmp_path / "m.slm"
    assert tab.save_model(str(path))
    insides.reset()
    assert insides.epochs == 0
    assert load_model(tab, str(path))
    assert insides.epochs == 3  # a loaded model's curves come back


@pytest.mark.parametrize("layers, expected", [
    ([{"layer": "hidden 1", "grad_rms": 1e-9, "weight_rms": 1, "dead": 0.0, "saturated": None},
      {"layer": "output", "grad_rms": 1.0, "weight_rms": 1}], "vanishing"),
    ([{"layer": "hidden 1", "grad_rms": 0.1, "weight_rms": 1, "dead": 0.6, "saturated": None},
      {"layer": "output", "grad_rms": 0.1, "weight_rms": 1}], "never fire"),
])
def test_diagnosis_words(layers, expected):
    assert any(expected in n for n in diagnose(layers))


def test_a_history_is_shown_as_the_epochs_were_live(qtbot):
    """A finished run's insides (drawn in one pass) are the ones its live epochs drew, and of a history
    holding two trainings (leave-one-speaker-out) only the last one is shown, as live."""
    from gui.widgets.mlp_insides import MLPInsides

    first = _history(activation="relu", init="he")
    second = _history(activation="bipolar-sigmoid", init="randn")[:3]
    live, shown = MLPInsides(), MLPInsides()
    qtbot.addWidget(live)
    qtbot.addWidget(shown)
    for stats in first + second:
        live.add_epoch(stats)
    shown.set_history(first + second)
    assert shown.epochs == live.epochs == 3
    assert shown._data == live._data and shown._data[(1, "share")][0] == [1, 2, 3]
    assert shown.note.text() == live.note.text() and "saturated" in shown.note.text()
    for key, curve in shown._curves.items():
        xs, ys = curve.getData()  # the weights plot is logarithmic: its curves give log10 of the values
        ys = ys if key[1] == "share" else 10.0 ** ys
        assert list(xs) == shown._data[key][0] and np.allclose(ys, shown._data[key][1])
    assert set(shown._curves) == set(live._curves)
    assert len(shown._hist_items) == len(live._hist_items) == 2
    last = second[-1]["layers"]
    for item, entry in zip(live._hist_items, last):  # the latest epoch's histograms (the items reused epoch to epoch)
        xs, ys = item.getData()
        counts = np.asarray(entry["hist"], dtype=float)
        assert np.allclose(xs, entry["edges"]) and np.allclose(ys, counts / counts.sum())
    drawn = dict(live._curves)
    live.set_history(first + second)  # what a training's end does: the live curves already show it
    assert all(live._curves[k] is drawn[k] for k in drawn) and live._data == shown._data
    live.set_history(first)  # an earlier run brought back: drawn anew
    assert live.epochs == 4 and live._data[(0, "weight_rms")][0] == [1, 2, 3, 4] and "saturated" not in live.note.text()
