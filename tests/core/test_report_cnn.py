"""The report's genre CNN (Genres → "Reproduce the report"): the training curve and the results card
measure the same thing, and the trained network is not at chance.

Before the fix the curve reached 100 % training accuracy (Keras' running mean in training mode, every
batch normalised by its own statistics) while the card said 23-70 % train and 10 % test: BatchNorm's
moving statistics, with Keras' momentum 0.99, had not left their start after 60 updates.
"""

import pytest

from core.presets import REPORT_GENRES_CNN, REPORT_GENRES_SEED, report_genres_features
from core.tasks import GENRES


@pytest.fixture(scope="module")
def demo_genres():
    from core.datasets import scan_dataset
    from core.demo import demo_dataset

    return scan_dataset(demo_dataset("genres"))


def test_the_report_preset_is_the_report_network():
    from core.models.cnn import REPORT_BLOCKS, count_params

    assert tuple(REPORT_GENRES_CNN["conv_blocks"]) == REPORT_BLOCKS
    assert REPORT_GENRES_CNN["bn_momentum"] == 0.99 and REPORT_GENRES_CNN["learning_rate"] == 1e-4
    assert count_params((128, 128), conv_blocks=REPORT_BLOCKS, head="flatten", dense_units=(), n_classes=10) == 1_230_538
    cfg = report_genres_features(GENRES.feature_config("logmel-128"))
    assert cfg.window_seconds is None and cfg.image_size == 128 and cfg.n_mels == 128


def test_report_cnn_curve_agrees_with_the_card_and_beats_chance(demo_genres):
    from core.models import make_model
    from core.training import SplitConfig, train_model

    cfg = report_genres_features(GENRES.feature_config("logmel-128"))
    epochs = []
    result = train_model(demo_genres, task="genres", feature_config=cfg,
                         model=make_model("keras-cnn", **{**REPORT_GENRES_CNN, "epochs": 12},
                                          random_state=REPORT_GENRES_SEED),
                         split=SplitConfig(test_size=0.25, random_state=REPORT_GENRES_SEED), n_jobs=1,
                         on_epoch=lambda s: epochs.append(dict(s)) if s.get("batch") is None else None)
    curve = [s for s in epochs if s.get("batch") is None]
    assert len(curve) == 12
    last = curve[-1]
    # the curve's training accuracy is the finished epoch's network in inference mode, as the card's
    assert abs(last["accuracy"] - result.metrics["train_accuracy"]) <= 0.05, (last, result.metrics["train_accuracy"])
    assert "running_accuracy" in last  # Keras' running training-mode mean is kept beside it
    n_genres = len({it.label for it in demo_genres.items})
    assert result.metrics["accuracy"] >= 2.5 / n_genres, result.metrics["accuracy"]
    assert result.metrics["train_accuracy"] >= 0.8
    per_class_train = [v["train_accuracy"] for v in result.metrics["per_class"].values()]
    assert min(per_class_train) > 0.0  # no genre the trained network never gets right on its own training tracks


def test_batch_norm_statistics_are_those_of_the_training_images():
    """After fit, each BatchNorm layer's moving mean/variance equal its input's statistics over the training
    images in inference mode (not Keras' 0.99-momentum average of a few batches)."""
    import numpy as np

    from core.models import make_model

    rng = np.random.default_rng(0)
    X = rng.normal(-40.0, 12.0, size=(24, 20, 20)).astype(np.float32)  # raw dB-like values: far from mean 0, var 1
    y = np.repeat(["a", "b", "c"], 8)
    X[y == "b"] += 6.0
    model = make_model("keras-cnn", **{**REPORT_GENRES_CNN, "epochs": 2}, random_state=1).fit(X, y)
    net = model.model_
    bn = net.get_layer("bn1")
    a = X[..., None]
    for layer in net.layers[:net.layers.index(bn)]:
        a = np.asarray(layer(a, training=False))
    np.testing.assert_allclose(np.asarray(bn.moving_mean), a.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), a.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-3)
