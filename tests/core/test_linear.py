"""LinearClassifier: scikit-learn's numbers, live curves, Stop keeps the best state, plain-array state."""
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from core.models import make_model, model_type_of
from core.models.linear import REPORT_MODELS, LinearClassifier
from core.errors import SpeechLabError


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(900, 12, n_informative=8, n_classes=3, class_sep=1.5, random_state=0)
    names = np.array(["ann", "bob", "cy"])[y]
    return X[:700], names[:700], X[700:], names[700:]


def test_logreg_matches_scikit_learn_on_standardised_inputs(data):
    X, y, Xt, yt = data
    model = LinearClassifier(kind="logreg", validation_fraction=0.0, max_iter=500).fit(X, y)
    scaler = StandardScaler().fit(X)
    ref = LogisticRegression(max_iter=500).fit(scaler.transform(X), y)
    assert np.abs(model.predict_proba(Xt) - ref.predict_proba(scaler.transform(Xt))).max() < 1e-2
    assert np.mean(model.predict(Xt) == ref.predict(scaler.transform(Xt))) > 0.98
    assert model.stop_reason_ is None  # converged: nothing to tell the user


@pytest.mark.parametrize("kind", ["logreg", "sgd"])
def test_every_epoch_is_reported_with_validation_curves(data, kind):
    X, y, Xt, yt = data
    seen = []
    model = LinearClassifier(kind=kind, max_iter=40, random_state=0).fit(X, y, on_epoch=seen.append)
    assert len(seen) >= 2 and seen == model.history_
    assert all(s["val_loss"] is not None and s["batch"] is None for s in seen)
    assert seen[-1]["loss"] < seen[0]["loss"]  # it learns, and the curve shows it
    assert np.mean(model.predict(Xt) == yt) > 0.8


def test_stop_keeps_the_best_epoch_so_far(data):
    X, y, _, _ = data
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 4  # stop after four epochs

    model = LinearClassifier(kind="sgd", max_iter=100, random_state=0).fit(X, y, should_stop=stop)
    assert len(model.history_) == 4
    assert model.stop_reason_.startswith("stopped by user after epoch 4")
    best = min(model.history_, key=lambda s: s["val_loss"])
    assert model.best_epoch_ == best["epoch"]
    assert model.predict(X).shape == (len(X),)


def test_the_reports_sgd_stops_by_scikit_learns_rule(data):
    X, y, _, _ = data
    model = LinearClassifier(**REPORT_MODELS["report-sgd"], random_state=0).fit(X, y)
    assert 5 < len(model.history_) < 1000  # tol/n_iter_no_change ended it, not max_iter
    assert model.stop_reason_ is None


def test_state_round_trip_predicts_identically_and_rejects_bad_arrays(data):
    X, y, Xt, _ = data
    model = LinearClassifier(kind="logreg", random_state=0).fit(X, y)
    config, arrays = model.get_state()
    assert all(a.dtype != object for a in arrays.values())
    again = LinearClassifier.from_state(config, arrays)
    assert np.array_equal(again.predict_proba(Xt), model.predict_proba(Xt))
    assert model_type_of(again) == "linear"
    with pytest.raises(ValueError):
        LinearClassifier.from_state(config, {**arrays, "coef": arrays["coef"][:, :3]})


def test_bad_settings_and_unfitted_use_name_the_problem():
    with pytest.raises(SpeechLabError, match="kind"):
        make_model("linear", kind="svm")
    with pytest.raises(SpeechLabError, match="C must be"):
        make_model("linear", kind="logreg", C=-1)
    with pytest.raises(Exception, match="not fitted"):
        LinearClassifier().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one class"):
        LinearClassifier().fit(np.zeros((4, 2)), ["a"] * 4)
