"""One training request for every face: defaults in one place, a run stores its request, a re-run repeats it."""
import dataclasses

import pytest

from core.errors import SpeechLabError
from core.history import RunHistory, settings_of
from core.request import TrainRequest, request_of_run, resolve, train_and_record
from core.sweep import expand_grid, run_one
from core.tasks import TASKS

# Small, fast settings per (task, model): the shape of each model type, not its best accuracy.
FAST = {
    "mlp": {"epochs": 4},
    "cnn": {"epochs": 2, "batch_size": 32},
    "features-logreg": {"max_iter": 200},
    "logreg": {"max_iter": 100},
    "sgd": {"max_iter": 5},
    "encoder-logreg": {"max_iter": 200},
    "voice-cosine": {},
    "voice-mfcc-logreg": {"max_iter": 100},
}
FAST_FEATURES = {("digits", "cnn"): {"image_size": 16}, ("genres", "cnn"): {"image_size": 16}}
PAIRS = [(t.key, m.key) for t in TASKS.values() for m in t.models]


def fast_request(task, model, **kw):
    return TrainRequest(task=task, model=model, model_params=dict(FAST[model]),
                        feature_settings=dict(FAST_FEATURES.get((task, model), {})), **kw)


def test_defaults_are_resolved_once_from_the_task():
    r = resolve(TrainRequest(task="digits"))
    assert (r.features, r.model, r.seed) == ("mfcc-full", "mlp", 42)
    assert r.model_params["hidden_layer_sizes"] == [256, 128] and r.model_params["random_state"] == 42
    assert r.augment and r.open_set["method"] == "distance"  # the Digits tab's "New voices" defaults
    assert resolve(r) == r  # resolving twice changes nothing
    g = resolve(TrainRequest(task="genres", model="features-logreg"))
    assert g.features == "music-stats" and g.augment is False and g.open_set is False
    s = resolve(TrainRequest(task="speakers", open_set={"unknown_labels": ["lucas"]}))
    assert s.open_set["unknown_labels"] == ["lucas"] and s.open_set["random_state"] == 42


@pytest.mark.parametrize(("field", "value", "message"), [
    ("model", "svm", "Unknown model 'svm'"),
    ("model_params", {"hiden_layer_sizes": [3]}, "no setting hiden_layer_sizes"),
    ("feature_settings", {"n_mfc": 3}, "no setting n_mfc"),
    ("split", "bootstrap", "Unknown split 'bootstrap'"),
    ("test_size", 1.5, "test_size must be between 0 and 1"),
])
def test_a_bad_field_is_named(field, value, message):
    with pytest.raises(SpeechLabError, match=message):
        resolve(dataclasses.replace(TrainRequest(task="digits"), **{field: value}))


def test_a_request_survives_json_and_refuses_unknown_fields():
    r = resolve(fast_request("speakers", "sgd"))
    assert TrainRequest.from_dict(r.to_dict()) == r
    with pytest.raises(SpeechLabError, match="no field colour"):
        TrainRequest.from_dict({**r.to_dict(), "colour": "red"})


@pytest.mark.parametrize(("task", "model"), PAIRS)
def test_every_kind_of_run_is_re_run_from_the_history_with_the_same_settings_and_accuracy(tmp_path, task, model):
    history = RunHistory(tmp_path / "history")
    first = train_and_record(fast_request(task, model), history=history, n_jobs=1)
    run = history.get(first.run_id)
    again_request = request_of_run(run)
    assert resolve(again_request) == first.request  # the stored settings are exactly the request
    again = train_and_record(again_request, history=history, n_jobs=1)
    assert again.metrics["accuracy"] == pytest.approx(first.metrics["accuracy"])
    assert settings_of(history.get(again.run_id)) == settings_of(run)
    assert first.bundle.training["seconds"] == pytest.approx(first.seconds, abs=1e-3)


def test_a_sweep_over_the_default_value_gives_the_accuracy_of_a_plain_training(tmp_path):
    """Sweeps used to drop augmentation and "not a digit"; now a sweep run is the same request."""
    history = RunHistory(tmp_path / "history")
    base = fast_request("digits", "mlp")
    plain = train_and_record(base, history=history, n_jobs=1)
    (spec,) = expand_grid(base, {"seed": [42]})
    answer = run_one(spec.to_dict(), history_folder=str(tmp_path / "history"))
    assert "error" not in answer, answer
    assert answer["accuracy"] == pytest.approx(plain.metrics["accuracy"])
    swept = history.get(answer["run_id"])
    assert settings_of(swept)["augment"] != "off" and settings_of(swept)["open set"].startswith("distance")


def test_a_stop_while_the_unknown_threshold_is_set_keeps_the_model_and_says_unknown_is_off(tmp_path):
    phases = []
    stop = {"now": False}

    def on_event(kind, value):
        if kind == "phase":
            phases.append(value["name"])
            if value["name"] == "setting the unknown threshold":
                stop["now"] = True

    result = train_and_record(fast_request("digits", "mlp"), history=RunHistory(tmp_path / "h"),
                              on_event=on_event, should_stop=lambda: stop["now"], n_jobs=1)
    assert phases[:2] == ["reading the dataset", "extracting features"]
    assert "training" in phases and "evaluating" in phases
    assert result.bundle.open_set is None
    assert '"unknown" is off for this model' in result.stop_reason
    assert result.bundle.predict_signal is not None  # the model is kept and usable


def test_a_run_recorded_before_takes_were_templates_reruns_without_them():
    stored = resolve(TrainRequest(task="digits", data=None)).to_dict()
    assert stored["take_templates"] is True  # new requests match your takes directly by default
    old = {k: v for k, v in stored.items() if k != "take_templates"}  # as runs were recorded before
    assert request_of_run({"request": old}).take_templates is False
    assert request_of_run({"request": stored}).take_templates is True


def test_a_training_keeps_numpys_blas_on_one_thread_and_gives_the_rest_back(tmp_path):
    """On a machine whose cores are busy, OpenBLAS's threads spin waiting for each other: the open-set
    threshold's eigendecomposition took 7.8 s instead of 0.29 s under a CPU hog. Every phase of a training
    (this one has the unknown threshold) runs with one BLAS thread; the caller's setting comes back."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    before = blas_threads()
    seen = {}

    def on_event(kind, value):
        if kind == "phase":
            seen[value["name"]] = blas_threads()

    result = train_and_record(fast_request("digits", "mlp"), history=RunHistory(tmp_path / "h"), on_event=on_event,
                              n_jobs=1)
    assert "setting the unknown threshold" in seen and all(threads == {1} for threads in seen.values()), seen
    assert blas_threads() == before
    from core.datasets import scan_dataset
    from core.demo import demo_dataset
    from core.training import evaluate_bundle

    during = []
    evaluate_bundle(result.bundle, scan_dataset(demo_dataset("digits")), n_jobs=1,
                    on_progress=lambda p: during.append(blas_threads()))  # "Evaluate on dataset", `evaluate`
    assert during and all(threads == {1} for threads in during)
    assert blas_threads() == before
