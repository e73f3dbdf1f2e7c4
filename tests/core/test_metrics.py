"""core.metrics agrees with scikit-learn, including classes without test clips."""
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from core.metrics import evaluate

LABELS = ["0", "1", "2", "3"]


def test_scores_are_scikit_learns():
    rng = np.random.default_rng(0)
    y_true = rng.choice(LABELS, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.choice(LABELS, 200))
    m = evaluate(y_true, y_pred, LABELS, y_train_true=y_true[:50], y_train_pred=y_true[:50])
    assert m["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["train_accuracy"] == 1.0
    for lab in LABELS:
        mask = y_true == lab
        assert m["per_class"][lab]["accuracy"] == pytest.approx(np.mean(y_pred[mask] == lab))
        assert m["per_class"][lab]["support"] == mask.sum()
    assert np.array(m["confusion"]).sum() == 200


def test_a_class_without_test_clips_is_none_not_zero():
    y_true = ["0", "0", "1", "1"]
    y_pred = ["0", "3", "1", "1"]  # "3" is predicted but has no test clip; "2" has neither
    m = evaluate(y_true, y_pred, LABELS)
    assert m["per_class"]["2"]["accuracy"] is None and m["per_class"]["3"]["accuracy"] is None
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)  # over the classes that have clips
    assert evaluate([], [], LABELS)["accuracy"] is None
