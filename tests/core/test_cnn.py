"""The Keras CNN behind the model contract: training, Stop, NaN, state round trip, unsafe files refused.

Real Keras training on small synthetic images (a bright band whose height is
the class), so every test runs in seconds on a CPU.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from core.errors import SpeechLabError

SMALL = dict(conv_blocks=({"filters": 8, "kernel": 3, "pool": 2, "batch_norm": True, "dropout": 0.0},
                          {"filters": 16, "kernel": 3, "pool": 2, "batch_norm": True, "dropout": 0.0}),
             head="global-avg", dense_units=(16,), dropout=0.0, learning_rate=3e-3, batch_size=16,
             freq_mask=0.0, time_mask=0.0, random_state=0)


def band_images(n_per_class=30, size=24, classes=("low", "mid", "high"), seed=0):
    """(X (n, size, size), y, groups): noise with a bright horizontal band at a class-specific height;
    three images per 'clip' group."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k, label in enumerate(classes):
        for _ in range(n_per_class):
            img = rng.normal(-40, 8, size=(size, size)).astype(np.float32)
            row = int((k + 0.5) * size / len(classes)) + int(rng.integers(-1, 2))
            img[row - 2:row + 2] += 30
            X.append(img)
            y.append(label)
    X, y = np.stack(X), np.array(y)
    groups = np.arange(len(X)) // 3
    return X, y, groups


@pytest.fixture(scope="module")
def data():
    return band_images()


@pytest.fixture(scope="module")
def trained(data):
    from core.models.cnn import KerasCNNClassifier

    X, y, groups = data
    seen = []
    model = KerasCNNClassifier(**SMALL, epochs=12, patience=20).fit(X, y, groups=groups, on_epoch=seen.append)
    return model, seen


def test_cnn_learns_and_reports_every_epoch(trained, data):
    model, seen = trained
    X, y, _ = data
    epochs = [s for s in seen if s["batch"] is None]
    assert [s["epoch"] for s in epochs] == list(range(1, 13))
    assert set(epochs[0]) >= {"epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "per_class",
                              "seconds", "batch"}
    assert epochs[-1]["val_accuracy"] is not None and set(epochs[-1]["per_class"]) == {"high", "low", "mid"}
    assert any(s["batch"] is not None for s in seen)  # batch progress for the progress bar
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    assert (model.predict(X) == y).mean() >= 0.9
    assert model.best_epoch_ >= 1 and model.stop_reason_ is None and not model.diverged_
    proba = model.predict_proba(X[:5])
    assert proba.shape == (5, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_validation_holds_out_whole_clips(data):
    from core.models.cnn import _stratified_groups

    _, y, groups = data
    uniq, first = np.unique(groups, return_index=True)
    val = _stratified_groups(y[first], fraction=0.2, rng=np.random.default_rng(0))
    held = np.isin(groups, uniq[val])
    assert held.any() and not held.all()
    assert not set(groups[held]) & set(groups[~held])  # a clip is on one side only
    assert {str(c) for c in np.unique(y[held])} == {"low", "mid", "high"}


def test_stop_mid_epoch_keeps_the_best_completed_epoch(data):
    from core.models.cnn import KerasCNNClassifier

    X, y, groups = data
    reports = []

    def should_stop():  # the user presses Stop during the fourth epoch
        return sum(1 for s in reports if s["epoch"] == 4 and s["batch"] is not None) >= 2

    model = KerasCNNClassifier(**SMALL, epochs=50, report_every=1)
    model.fit(X, y, groups=groups, on_epoch=reports.append, should_stop=should_stop)
    finished = [s for s in reports if s["batch"] is None]
    assert [s["epoch"] for s in finished] == [1, 2, 3]  # the half epoch is neither reported nor kept
    assert model.stop_reason_.startswith("stopped by user after epoch 3")
    assert 1 <= model.best_epoch_ <= 3
    # the kept weights are those of the completed epoch with the lowest validation loss
    assert model.best_epoch_ == 1 + int(np.argmin([s["val_loss"] for s in finished]))
    proba = model.predict_proba(X)  # usable
    assert proba.shape == (len(X), 3) and np.isfinite(proba).all()


def test_exploding_loss_stops_with_a_clear_message(data):
    from core.models.cnn import KerasCNNClassifier

    X, y, groups = data
    blocks = tuple({**b, "batch_norm": False} for b in SMALL["conv_blocks"])
    # plain SGD with a step of 10 on unscaled dB values: the loss grows by orders of magnitude at once
    model = KerasCNNClassifier(**{**SMALL, "conv_blocks": blocks, "standardize": False, "optimizer": "sgd",
                                  "learning_rate": 10.0}, epochs=5)
    model.fit(X, y, groups=groups)
    assert model.diverged_
    assert model.stop_reason_.startswith("Training diverged at epoch 1 (the loss ")
    assert "lower the learning rate (now 10)" in model.stop_reason_
    assert len(model.history_) == 0 and model.best_epoch_ == 0
    assert np.isfinite(model.predict_proba(X)).all()  # the initial weights are back, not the wrecked ones


def test_parameter_count_without_tensorflow_matches_keras():
    from core.models.cnn import DEFAULT_BLOCKS, REPORT_BLOCKS, KerasCNNClassifier, count_params

    report = count_params((128, 128), conv_blocks=REPORT_BLOCKS, head="flatten", dense_units=(), n_classes=10)
    assert report == 1_230_538  # the course report's summary()
    model = KerasCNNClassifier(conv_blocks=DEFAULT_BLOCKS, dense_units=(64,))
    net = model._build_network((64, 64), 10)
    assert net.count_params() == model.count_params((64, 64), 10)
    with pytest.raises(ValueError, match="pooling leaves nothing"):
        count_params((8, 8), conv_blocks=DEFAULT_BLOCKS * 2, head="global-avg", dense_units=(), n_classes=10)


def test_bad_settings_name_the_field():
    from core.models import make_model

    with pytest.raises(SpeechLabError, match="head"):
        make_model("keras-cnn", head="sideways")
    with pytest.raises(SpeechLabError, match="filters"):
        make_model("keras-cnn", conv_blocks=({"filters": 0},))
    with pytest.raises(SpeechLabError, match="learning_rate"):
        make_model("keras-cnn", learning_rate=-1)


def test_state_round_trip_predicts_the_same(trained, data):
    from core.models.cnn import KerasCNNClassifier

    model, _ = trained
    X, _, _ = data
    config, arrays = model.get_state()
    config = json.loads(json.dumps(config))  # what a model file holds
    assert all(a.dtype != object for a in arrays.values())
    again = KerasCNNClassifier.from_state(config, arrays)
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert list(again.classes_) == list(model.classes_)


def _bundle_file(tmp_path, model, name="m.slm"):
    from core.bundle import ModelBundle, save_bundle
    from core.features import FeatureConfig

    cfg = FeatureConfig(name="logmel-128", sr=22050, n_mels=32, n_fft=512, hop_length=256, image_size=24,
                        window_seconds=1.0)
    bundle = ModelBundle(task="genres", model=model, feature_config=cfg, labels=[str(c) for c in model.classes_])
    return save_bundle(bundle, tmp_path / name)


def _rewrite_architecture(path, edit):
    """A crafted model file: the same arrays, the architecture JSON changed by ``edit(dict)``."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    arch = json.loads(meta["model_config"]["architecture"])
    edit(arch)
    meta["model_config"]["architecture"] = json.dumps(arch)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def test_saved_file_loads_and_predicts_the_same(trained, data, tmp_path):
    from core.bundle import load_bundle

    model, _ = trained
    X, _, _ = data
    path = _bundle_file(tmp_path, model)
    loaded = load_bundle(path)
    np.testing.assert_array_equal(loaded.model.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("layer, refused", [
    ({"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
      "config": {"name": "evil", "function": {"module": "builtins", "class_name": "function",
                                              "config": "print", "registered_name": "function"}}}, "Lambda"),
    ({"module": "evil.layers", "class_name": "Backdoor", "registered_name": "evil>Backdoor",
      "config": {"name": "bd"}}, "evil.layers.Backdoor"),
])
def test_model_file_with_unsafe_layer_is_refused(trained, tmp_path, layer, refused):
    from core.bundle import load_bundle

    model, _ = trained
    path = _bundle_file(tmp_path, model)
    _rewrite_architecture(path, lambda arch: arch["config"]["layers"].insert(2, layer))
    with pytest.raises(SpeechLabError) as err:
        load_bundle(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and refused in message and "refuses" in message


def test_importing_the_cnn_module_does_not_import_tensorflow():
    code = ("import sys; import core.models.cnn, core.tasks; from core.models import make_model; "
            "m = make_model('keras-cnn'); print(m.count_params((128, 128), 10)); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(_root()))
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) > 0


def _root():
    import pathlib

    return pathlib.Path(__file__).resolve().parents[2]
