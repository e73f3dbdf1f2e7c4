"""The model contract (core/models/__init__.py), checked in one place for every registered model type, like
scikit-learn's ``parametrize_with_checks``: the fit signature (with ``groups``), the epoch reports, Stop
keeps a usable model, the state round trip, predict before fit, ``clone`` for the estimators (the settings
a type declares: tests/gui/test_model_panels.py).

Real trainings on small synthetic images (the CNN's input; the other models see them flattened).
"""
import inspect
import json

import numpy as np
import pytest

from core.models import MODEL_TYPES, make_model, model_class
from core.tasks import TASKS
from tests.core.test_cnn import SMALL as SMALL_CNN
from tests.core.test_cnn import band_images

# Every kind of model a task offers: one case per (type, kind), with the task's settings made small.
SMALL = {"mlp": dict(hidden_layer_sizes=(16,), epochs=6, batch_size=16, early_stopping=True),
         "keras-cnn": dict(SMALL_CNN, epochs=4, early_stopping=True, validation_fraction=0.2),
         "linear": dict(max_iter=30, validation_fraction=0.2), "centroid": {}}
CASES = {}
for _task in TASKS.values():
    for _m in _task.models:
        CASES.setdefault(f"{_m.type}-{_m.params['kind']}" if "kind" in _m.params else _m.type,
                         (_m.type, {**_m.params, **SMALL[_m.type]}))
EPOCH_KEYS = {"epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy"}


def test_every_registered_type_is_offered_by_a_task():
    assert {kind for kind, _ in CASES.values()} == set(MODEL_TYPES)


@pytest.fixture(scope="module")
def data():
    return band_images(n_per_class=24, size=16)


def _inputs(kind, X):
    return X if kind == "keras-cnn" else X.reshape(len(X), -1)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, data):
    kind, params = CASES[request.param]
    X, y, groups = data
    X = _inputs(kind, X)
    reports = []
    model = make_model(kind, **params).fit(X, y, groups=groups, on_epoch=reports.append)
    return request.param, kind, params, model, reports


def test_fit_takes_groups_and_the_two_callables_as_keywords(case):
    _, kind, *_ = case
    fit = inspect.signature(model_class(kind).fit).parameters
    for name in ("groups", "on_epoch", "should_stop"):
        assert fit[name].kind is inspect.Parameter.KEYWORD_ONLY and fit[name].default is None, (kind, name)


def test_every_epoch_is_reported_with_the_contract_keys(case, data):
    name, kind, params, model, reports = case
    epochs = [r for r in reports if r.get("batch") is None]
    assert epochs, name
    for r in epochs:
        assert EPOCH_KEYS <= set(r), (name, EPOCH_KEYS - set(r))
        assert np.isfinite(r["loss"]) and 0.0 <= r["accuracy"] <= 1.0
    seen = [r["epoch"] for r in epochs]  # epochs, or a solver's iterations so far (logistic regression)
    assert seen == sorted(set(seen)) and seen[-1] <= epochs[-1]["epochs"], (name, seen)
    assert len(model.history_) == len(epochs)
    assert model.best_epoch_ in seen
    assert model.stop_reason_ is None or isinstance(model.stop_reason_, str)
    assert model.diverged_ is False
    X, y, _ = data
    proba = model.predict_proba(_inputs(kind, X))
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(_inputs(kind, X))) <= set(model.classes_.tolist())


def test_predict_before_fit_raises(case, data):
    _, kind, params, *_ = case
    X, _, _ = data
    with pytest.raises(ValueError):  # sklearn's NotFittedError is a ValueError too
        make_model(kind, **params).predict(_inputs(kind, X))


def test_the_state_round_trip_predicts_the_same(case, data):
    name, kind, _, model, _ = case
    config, arrays = model.get_state()
    json.dumps(config)  # plain JSON: no pickle anywhere
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values()), name
    again = model_class(kind).from_state(json.loads(json.dumps(config)), {k: np.array(v) for k, v in arrays.items()})
    X = _inputs(kind, data[0])
    assert np.allclose(again.predict_proba(X), model.predict_proba(X), atol=1e-6), name
    assert again.classes_.tolist() == model.classes_.tolist()


def test_a_stop_keeps_a_usable_model(case, data):
    name, kind, params, _, _ = case
    X, y, groups = data
    X = _inputs(kind, X)
    reports = []
    model = make_model(kind, **params).fit(X, y, groups=groups, on_epoch=reports.append,
                                           should_stop=lambda: any(r.get("batch") is None for r in reports))
    assert len(model.history_) <= max(1, int(params.get("epochs") or params.get("max_iter") or 1)), name
    assert model.best_epoch_ is None or model.best_epoch_ in [h["epoch"] for h in model.history_]
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba)) and proba.shape == (len(X), 3)


def test_estimators_clone_with_the_same_settings(case):
    from sklearn.base import BaseEstimator, clone

    name, _, _, model, _ = case
    if not isinstance(model, BaseEstimator):
        pytest.skip(f"{name} is not a scikit-learn estimator")
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "classes_")



def test_epoch_timer_gives_each_epochs_own_seconds_and_restarts_with_the_next_fit():
    from core.models import EpochTimer

    timer = EpochTimer()
    laps = [timer.lap({"epoch": e, "seconds": s}) for e, s in ((1, 2.0), (2, 3.5), (3, 6.0))]
    assert laps == [2.0, 1.5, 2.5]
    # the next fold's model starts again at epoch 1, its seconds from zero
    assert timer.lap({"epoch": 1, "seconds": 1.25}) == 1.25
    assert timer.lap({"epoch": 2, "seconds": 2.0}) == 0.75
