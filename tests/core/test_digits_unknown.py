"""An open-set ("not a digit") digits model evaluated on FSDD: ``unknown_rate`` and the accuracy on the
answered clips beside the plain accuracy, and a threshold set by hand that survives saving and loading."""
import json

import numpy as np
import pytest

from core.bundle import load_bundle, save_bundle
from core.errors import SpeechLabError
from core.openset import UNKNOWN, set_threshold, threshold_of
from tests.cli.test_model_commands import run_cli


@pytest.fixture(scope="module")
def digits_model(fsdd_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("digits-unknown") / "d.slm"
    proc = run_cli("train", "--task", "digits", "--data", fsdd_dir, "--hidden", "64", "--epochs", "8",
                   "--no-augment", "--open-set", "--out", path, "--json")
    assert proc.returncode == 0, proc.stderr
    return path


def _strict(path, tmp_path):
    """The model with its threshold at the median test-clip score: about half the clips answered "unknown"."""
    bundle = load_bundle(path)
    scores = bundle.metrics["open_set"]["clips"]["scores"][bundle.open_set["method"]]
    t = float(np.median(scores))
    set_threshold(bundle.open_set, t)
    out = tmp_path / "strict.slm"
    save_bundle(bundle, out)
    return out, t


def test_threshold_set_saved_and_loaded_back_is_the_same(digits_model, tmp_path):
    out, t = _strict(digits_model, tmp_path)
    loaded = load_bundle(out)
    assert threshold_of(loaded.open_set) == t
    assert loaded.open_set["method"] == "distance"


def test_a_bad_threshold_is_refused_in_one_line_naming_it(digits_model):
    bundle = load_bundle(digits_model)
    for bad in (float("nan"), True, "0.5"):
        with pytest.raises(SpeechLabError, match="^threshold is") as exc:
            set_threshold(bundle.open_set, bad)
        assert "\n" not in str(exc.value)


def test_evaluate_reports_unknown_rate_and_answered_accuracy(digits_model, fsdd_dir, tmp_path):
    out, t = _strict(digits_model, tmp_path)
    proc = run_cli("evaluate", out, "--data", fsdd_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    n = res["n_test"]
    assert n == 2000
    assert res["threshold"] == t
    assert set(res["accuracy_meaning"]) == {"accuracy", "answered_accuracy", "unknown_rate"}
    # consistent with the counts
    assert res["n_answered"] + res["n_unknown_answers"] == n
    assert 0.2 < res["unknown_rate"] < 0.8  # the median threshold refuses a real share
    assert res["unknown_rate"] == pytest.approx(res["n_unknown_answers"] / n)
    # plain accuracy counts every "unknown" as wrong; the answered accuracy leaves them out
    confusion = np.asarray(res["confusion"])
    labels = res["labels"]
    assert labels[-1] == UNKNOWN and confusion[:, -1].sum() == res["n_unknown_answers"]
    right = int(np.trace(confusion[:-1, :-1]))
    assert res["accuracy"] == pytest.approx(right / n)
    assert res["answered_accuracy"] == pytest.approx(right / res["n_answered"])
    assert res["answered_accuracy"] > res["accuracy"]
    text = run_cli("evaluate", out, "--data", fsdd_dir)
    assert text.returncode == 0, text.stderr
    assert "unknown_rate" in text.stdout and "answered_accuracy" in text.stdout
