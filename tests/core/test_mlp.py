"""The from-scratch NumPy MLP: correct gradients, it learns, it behaves like a scikit-learn
estimator, it reports and stops when asked, it survives a runaway learning rate, and it
saves without pickle."""
import json
import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score, train_test_split

from core.models.mlp import ACTIVATIONS, OUTPUTS, MLPClassifier, activate, activation_derivative

REPORT_KEYS = {
    "epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "per_class", "seconds", "batch"
}


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits (64 features 0..16, 10 classes): a real problem small enough for tests."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def small_digits(digits):
    """600 training and 300 validation digits, for tests that train many times."""
    X_train, X_test, y_train, y_test = digits
    return X_train[:600], y_train[:600], X_test[:300], y_test[:300]


def _log_loss(model, X, y):
    """Cross-entropy of the model's probabilities, recomputed from predict_proba."""
    proba = model.predict_proba(X).astype(np.float64)
    idx = np.searchsorted(model.classes_, y)
    return float(-np.mean(np.log(proba[np.arange(len(y)), idx])))


# ---------------------------------------------------------------- the maths


# "mse-report" copies the course report's update rule, which is not a true gradient: it has its own test below.
@pytest.mark.parametrize("output", [o for o in OUTPUTS if o != "mse-report"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation, output):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 6))
    y = np.array([0, 1, 2, 0, 1, 2, 1])
    model = MLPClassifier((5, 4), activation, output=output, epochs=1, batch_size=7, early_stopping=False)
    model.fit(X, y)  # builds the architecture; the check uses its own float64 parameters
    params = rng.standard_normal(model._params.size) * 0.7
    loss, grads, _ = model._loss_and_grads(X, y, params=params)
    assert grads.dtype == np.float64

    eps = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        shifted = params.copy()
        shifted[i] += eps
        up = model._loss_and_grads(X, y, params=shifted)[0]
        shifted[i] -= 2 * eps
        down = model._loss_and_grads(X, y, params=shifted)[0]
        numeric[i] = (up - down) / (2 * eps)
    rel = np.linalg.norm(numeric - grads) / (np.linalg.norm(numeric) + np.linalg.norm(grads))
    assert rel < 1e-6, f"{activation}/{output}: relative gradient error {rel:.2e}"
    assert loss > 0


def test_bipolar_sigmoid_is_the_seed_formula_and_never_overflows():
    x = np.array([-1e4, -60.0, -3.0, -0.5, 0.0, 0.5, 3.0, 60.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = activate(x, name="bipolar-sigmoid")
        df = activation_derivative(f, name="bipolar-sigmoid")
    with np.errstate(over="ignore"):  # the seed's own formula overflows at -1e4; ours must not
        expected = 2 / (1 + np.exp(-x)) - 1
    np.testing.assert_allclose(f, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(df, 0.5 * (1 + f) * (1 - f), rtol=1e-12)
    # ...and it is the true derivative of the formula
    h = 1e-6
    moderate = np.abs(x) < 100
    numeric = (activate(x + h, name="bipolar-sigmoid") - activate(x - h, name="bipolar-sigmoid")) / (2 * h)
    np.testing.assert_allclose(df[moderate], numeric[moderate], rtol=1e-7, atol=1e-12)
    assert f[0] == -1.0 and f[-1] == 1.0


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_is_finite_and_quiet_for_huge_inputs(activation):
    x = np.array([-1e30, -1e4, -1.0, 0.0, 1.0, 1e4, 1e30], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = activate(x, name=activation)
        df = activation_derivative(f, name=activation)
    assert np.isfinite(f).all() and np.isfinite(df).all()
    assert f.dtype == np.float32 and df.dtype == np.float32


def test_logistic_is_one_over_one_plus_exp():
    x = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(activate(x, name="logistic"), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ learning


def test_defaults_learn_digits(digits):
    X_train, X_test, y_train, y_test = digits
    model = MLPClassifier(random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.95


def test_seed_story_randn_on_raw_features_fails_where_xavier_and_standardising_learn(digits):
    """The seed's 2-hidden-layer bipolar-sigmoid MSE net with per-sample SGD at lr 1e-3:
    N(0, 1) weights on unscaled features saturate every unit and it stays near chance;
    Xavier weights on z-scored features learn."""
    X_train, X_test, y_train, y_test = digits
    seed_net = dict(
        hidden_layer_sizes=(32, 16), activation="bipolar-sigmoid", output="mse", optimizer="sgd",
        batch_size=1, learning_rate=1e-3, l2=0.0, epochs=15, early_stopping=False, random_state=0,
    )
    randn = MLPClassifier(init="randn", standardize=False, **seed_net).fit(X_train, y_train)
    xavier = MLPClassifier(init="xavier", standardize=True, **seed_net).fit(X_train, y_train)
    assert randn.score(X_test, y_test) < 0.2
    assert xavier.score(X_test, y_test) > 0.4
    assert xavier.loss_curve_[-1] < 0.85 * xavier.loss_curve_[0]
    assert not randn.diverged_  # it is stuck, not exploding


def test_same_seed_gives_identical_weights_and_another_seed_does_not(small_digits):
    X, y, _, _ = small_digits
    kw = dict(hidden_layer_sizes=(24,), epochs=3)
    a = MLPClassifier(random_state=7, **kw).fit(X, y)
    b = MLPClassifier(random_state=7, **kw).fit(X, y)
    c = MLPClassifier(random_state=8, **kw).fit(X, y)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


# ------------------------------------------------------ scikit-learn habits


def test_clone_and_get_params_round_trip():
    model = MLPClassifier((8, 4), ["tanh", "relu"], output="mse", epochs=5, random_state=3)
    params = model.get_params()
    assert params["activation"] == ["tanh", "relu"] and params["epochs"] == 5
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    twin.set_params(**params)
    assert twin.get_params() == params
    assert MLPClassifier().get_params()["hidden_layer_sizes"] == (256, 128)


def test_cross_val_score_works(small_digits):
    X, y, _, _ = small_digits
    scores = cross_val_score(MLPClassifier((32,), epochs=30, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85


def test_predict_before_fit_says_to_train_first():
    with pytest.raises(NotFittedError, match="not trained yet"):
        MLPClassifier().predict(np.zeros((1, 4)))


def test_wrong_feature_count_names_expected_and_got(small_digits):
    X, y, _, _ = small_digits
    model = MLPClassifier((8,), epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 63 features.*expecting 64"):
        model.predict(X[:, :63])


def test_string_labels(small_digits):
    X, y, X_val, y_val = small_digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    model = MLPClassifier((32,), epochs=20, random_state=0).fit(X, names[y].tolist())
    assert sorted(model.classes_.tolist()) == sorted(names.tolist())
    assert set(model.predict(X_val)) <= set(names.tolist())
    assert model.score(X_val, names[y_val]) > 0.85
    assert set(model.history_[-1]["per_class"]) == set(names.tolist())


def test_unknown_settings_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="bipolar-sigmoid"):
        MLPClassifier(activation="sigmoidal").fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="2 hidden layers"):
        MLPClassifier((4, 4), ["relu"]).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_partial_fit_needs_classes_first_and_keeps_learning(small_digits):
    X, y, X_val, y_val = small_digits
    model = MLPClassifier((32,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X, y)
    model.partial_fit(X[:300], y[:300], classes=np.arange(10))
    first = model.score(X_val, y_val)
    for _ in range(10):
        model.partial_fit(X, y)
    assert len(model.loss_curve_) == 11
    assert model.score(X_val, y_val) > max(first, 0.85)
    with pytest.raises(ValueError, match="not among the classes"):
        model.partial_fit(X[:2], [3, 11])


# ------------------------------------------------------- reports and stops


def test_on_epoch_reports_every_epoch_with_plain_values(small_digits):
    X, y, X_val, y_val = small_digits
    reports = []
    model = MLPClassifier((16,), epochs=4, early_stopping=False, random_state=0)
    model.fit(X, y, X_val=X_val, y_val=y_val, on_epoch=reports.append)
    assert [r["epoch"] for r in reports] == [1, 2, 3, 4]
    for r in reports:
        assert set(r) == REPORT_KEYS | {"layers"}  # epoch reports also describe each layer (the insides)
        assert [e["layer"] for e in r["layers"]] == ["hidden 1", "output"]
        assert r["epochs"] == 4 and r["batch"] is None
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert isinstance(r[key], float) and math.isfinite(r[key])
        assert set(r["per_class"]) == {str(c) for c in range(10)}
    assert reports[-1]["seconds"] >= reports[0]["seconds"] > 0
    assert reports == model.history_
    assert model.validation_scores_ == [r["val_accuracy"] for r in reports]
    assert model.loss_curve_ == [r["loss"] for r in reports]
    assert model.stop_reason_ is None and model.best_epoch_ == 4
    json.dumps(reports)  # plain values, ready for a signal or a log


def test_report_every_adds_batch_reports(small_digits):
    X, y, _, _ = small_digits
    reports = []
    # 600 samples in batches of 50: 12 batches per epoch, a report after batches 5 and 10
    MLPClassifier((8,), batch_size=50, epochs=2, early_stopping=False, report_every=5).fit(
        X, y, on_epoch=reports.append
    )
    assert [(r["epoch"], r["batch"]) for r in reports] == [
        (1, 5), (1, 10), (1, None), (2, 5), (2, 10), (2, None)
    ]
    batch_report = reports[0]
    assert set(batch_report) == REPORT_KEYS
    assert batch_report["val_loss"] is None and batch_report["val_accuracy"] is None
    assert 0 <= batch_report["accuracy"] <= 1 and batch_report["loss"] > 0
    # without validation data the epoch reports give per-class accuracy on the training data
    assert reports[2]["per_class"]["0"] is not None


def test_should_stop_mid_epoch_keeps_the_best_epoch(small_digits):
    X, y, X_val, y_val = small_digits
    calls = 0

    def should_stop():
        nonlocal calls
        calls += 1
        return calls > 19 * 3 + 7  # 600 samples / 32 = 19 batches per epoch: stops inside epoch 4

    model = MLPClassifier((32,), learning_rate=3e-2, epochs=50, random_state=0)
    model.fit(X, y, X_val=X_val, y_val=y_val, should_stop=should_stop)
    assert model.stop_reason_.startswith("stopped by user after epoch 3")
    assert len(model.history_) == 3
    val_losses = [r["val_loss"] for r in model.history_]
    best = int(np.argmin(val_losses)) + 1
    assert model.best_epoch_ == best
    assert model.score(X_val, y_val) == model.history_[best - 1]["val_accuracy"]


def test_stop_without_validation_keeps_the_lowest_training_loss_epoch(small_digits):
    """No validation data: a stop mid-epoch must not leave half-updated weights;
    the weights of the completed epoch with the lowest training loss come back."""
    X, y, _, _ = small_digits
    calls = 0

    def should_stop():
        nonlocal calls
        calls += 1
        return calls > 19 * 4 + 9  # inside epoch 5

    model = MLPClassifier((32,), learning_rate=3e-2, epochs=50, early_stopping=False, random_state=0)
    model.fit(X, y, should_stop=should_stop)
    losses = [r["loss"] for r in model.history_]
    assert len(losses) == 4
    assert model.best_epoch_ == int(np.argmin(losses)) + 1
    assert model.stop_reason_.endswith(f"kept the weights of epoch {model.best_epoch_}")
    # the kept weights are an epoch's end state: training again from here is deterministic
    assert model.score(X, y) >= 0.9


def test_early_stopping_restores_the_best_weights(small_digits):
    X, y, X_val, y_val = small_digits
    # A wide net with a large step on 600 samples over-fits within a few epochs.
    model = MLPClassifier((256,), learning_rate=2e-2, patience=3, epochs=200, random_state=0)
    model.fit(X, y, X_val=X_val, y_val=y_val)
    assert model.stop_reason_.startswith("Early stopping")
    val_losses = [r["val_loss"] for r in model.history_]
    assert model.best_epoch_ == int(np.argmin(val_losses)) + 1
    assert len(val_losses) == model.best_epoch_ + 3
    assert _log_loss(model, X_val, y_val) == pytest.approx(min(val_losses), rel=1e-4)
    assert _log_loss(model, X_val, y_val) < val_losses[-1]


def test_early_stopping_holds_out_a_stratified_validation_part(small_digits):
    X, y, _, _ = small_digits
    model = MLPClassifier((16,), epochs=3, validation_fraction=0.2, random_state=0).fit(X, y)
    assert len(model.validation_scores_) == 3
    assert all(v is not None for v in model.history_[-1]["per_class"].values())  # every class held out


# --------------------------------------------------------- numerical safety


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    "optimizer, standardize, scale",
    [
        ("adam", False, 1),  # the loss jumps a millionfold, then sits at chance
        ("sgd", True, 1),  # the loss grows without bound
        ("momentum", False, 1e3),  # float32 overflows: the loss becomes nan
    ],
)
def test_runaway_learning_rate_is_caught_and_explained(digits, optimizer, standardize, scale):
    X_train, X_test, y_train, _ = digits
    X_train, X_test = X_train * scale, X_test * scale
    reports = []
    model = MLPClassifier(
        learning_rate=10, standardize=standardize, optimizer=optimizer, epochs=20, random_state=0
    )
    model.fit(X_train, y_train, on_epoch=reports.append)
    assert model.diverged_
    assert "learning rate" in model.stop_reason_ and "10" in model.stop_reason_
    assert ("standardisation" in model.stop_reason_) != standardize
    assert all(math.isfinite(r["loss"]) for r in reports)
    proba = model.predict_proba(X_test)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert set(model.predict(X_test)) <= set(range(10))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("standardize", [True, False])
def test_huge_inputs_train_and_predict_without_warnings(digits, standardize):
    X_train, X_test, y_train, y_test = digits
    model = MLPClassifier((32,), epochs=10, standardize=standardize, random_state=0)
    model.fit(X_train * 1e6, y_train)
    proba = model.predict_proba(X_test * 1e6)
    assert np.isfinite(proba).all()
    assert model.score(X_test * 1e6, y_test) > 0.8


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("activation", ["bipolar-sigmoid", "logistic", "relu"])
def test_mse_output_with_extreme_inputs_is_quiet(digits, activation):
    X_train, X_test, y_train, _ = digits
    model = MLPClassifier(
        (16,), activation, output="mse", init="randn", standardize=False, epochs=2, random_state=0
    ).fit(X_train * 1e4, y_train)
    assert np.isfinite(model.predict_proba(X_test * 1e4)).all()


# --------------------------------------------------------------- save/load


@pytest.mark.parametrize(
    "labels, settings",
    [
        ("strings", dict(hidden_layer_sizes=(16, 8))),
        ("ints", dict(hidden_layer_sizes=(12,), activation=["bipolar-sigmoid"], output="mse",
                      standardize=False)),
    ],
)
def test_state_round_trip_without_pickle(tmp_path, small_digits, labels, settings):
    X, y, X_val, _ = small_digits
    if labels == "strings":
        y = np.array([f"digit {d}" for d in y])
    model = MLPClassifier(epochs=5, random_state=0, **settings).fit(X, y)
    config, arrays = model.get_state()
    (tmp_path / "model.json").write_text(json.dumps(config))
    np.savez(tmp_path / "weights.npz", **arrays)

    with np.load(tmp_path / "weights.npz", allow_pickle=False) as stored:
        loaded = MLPClassifier.from_state(json.loads((tmp_path / "model.json").read_text()), stored)
    np.testing.assert_array_equal(loaded.predict_proba(X_val), model.predict_proba(X_val))
    np.testing.assert_array_equal(loaded.predict(X_val), model.predict(X_val))
    assert tuple(loaded.hidden_layer_sizes) == settings["hidden_layer_sizes"]
    assert loaded.output == model.output and loaded.random_state == 0
    assert loaded.loss_curve_ == pytest.approx(model.loss_curve_)
    assert arrays["classes"].dtype.kind in "iuU"


@pytest.mark.parametrize("activation", ["bipolar-sigmoid", "relu"])
def test_report_rule_updates_exactly_like_the_reports_own_loop(activation):
    """``output="mse-report"`` must take the very step the report's notebook took on a
    sample: checked against the faithful copy of its loop in benchmarks/mlp_speed.py."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "mlp_speed.py"
    spec = importlib.util.spec_from_file_location("mlp_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 6))
    y = np.array([0, 1, 2, 1])
    seed = bench.SeedMLP([6, 5, 4, 3], activation=activation, init="xavier", learning_rate=0.01, rng=rng)
    model = MLPClassifier((5, 4), activation, output="mse-report", optimizer="sgd", learning_rate=0.01,
                          batch_size=1, l2=0.0, standardize=False, early_stopping=False, epochs=1, random_state=0)
    model.partial_fit(X[:1].astype(np.float32), y[:1], classes=[0, 1, 2])
    model._params = model._params.astype(np.float64)  # compare in float64, like the seed
    model._reset_optimizer()
    for W, b, w_seed, b_seed in zip(model.coefs_, model.intercepts_, seed.W, seed.b):
        W[...], b[...] = w_seed, b_seed[0]
    for i in range(len(X)):
        onehot = np.eye(3)[y[i]][None]
        seed.backward(onehot, seed.forward(X[i : i + 1]))
        _, grads, _ = model._loss_and_grads(X[i : i + 1], y[i : i + 1], grads=model._grads)
        model._step(grads)
    for W, b, w_seed, b_seed in zip(model.coefs_, model.intercepts_, seed.W, seed.b):
        np.testing.assert_allclose(W, w_seed, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, b_seed[0], rtol=1e-10, atol=1e-12)


def test_model_saved_with_the_old_name_of_the_report_rule_still_loads():
    """Files written before "mse-seed" was renamed "mse-report" load, as "mse-report"."""
    X = np.random.default_rng(0).standard_normal((12, 4)).astype(np.float32)
    y = np.arange(12) % 3
    model = MLPClassifier((5,), "relu", output="mse-report", epochs=2, random_state=0).fit(X, y)
    config, arrays = model.get_state()
    config = {**config, "params": {**config["params"], "output": "mse-seed"}}
    loaded = MLPClassifier.from_state(config, arrays)
    assert loaded.output == "mse-report"
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)
    with pytest.raises(ValueError, match="mse-seed"):
        MLPClassifier((5,), output="mse-seed").fit(X, y)  # new code uses the new name
