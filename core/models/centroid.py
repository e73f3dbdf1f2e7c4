"""Cosine similarity to class centroids: the usual classifier on top of a pretrained embedding.

Each class is the direction of the mean of its training rows, after each row is scaled to unit
length; a clip belongs to the class whose direction is closest (highest cosine). It needs no
training beyond averaging, so a class can be added from a handful of takes (enrolment) without
touching the others, and it is what speaker-verification encoders such as GE2E were trained for.

Probabilities are a softmax of ``scale`` × cosine (the GE2E loss's own form); the cosine itself,
:meth:`CentroidClassifier.similarity`, is what the open-set "cosine" scoring thresholds.
Follows the model contract of :mod:`core.models`; the state is plain arrays, no pickle.
"""
from __future__ import annotations

import time

import numpy as np

from .choices import Setting


def _unit_rows(X):
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


class CentroidClassifier:
    """Nearest class direction by cosine similarity.

    Parameters
    ----------
    scale : float
        Sharpness of the probabilities: softmax(scale · cosine). 10 gives a clear winner at a
        cosine margin of about 0.3 (GE2E trains with a learned scale of the same order).
    """

    settings = (Setting("scale", "float", "Sharpness", "Probabilities are softmax(sharpness × cosine): higher "
                        "gives a clearer winner (the open-set threshold is on the cosine itself)", minimum=0.1,
                        maximum=1000.0, log=True),)

    def __init__(self, scale=10.0, **_ignored):
        self.scale = scale

    def get_params(self, deep=False):
        return {"scale": self.scale}

    def check_params(self):
        s = self.scale
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not np.isfinite(s) or not 0.1 <= s <= 1000:
            raise ValueError(f"scale must be a number between 0.1 and 1000, not {s!r}")
        return self

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, *, groups=None, on_epoch=None, should_stop=None):
        """Class centroids of the unit-length rows; one report (it is not iterative)."""
        started = time.perf_counter()
        self.check_params()
        U = _unit_rows(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.n_features_in_ = U.shape[1]
        self.centroids_ = np.stack([_unit_rows(U[y == c].mean(axis=0, keepdims=True))[0] for c in self.classes_])
        proba = self.predict_proba(X)
        idx = np.searchsorted(self.classes_, y)
        loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), idx], 1e-15, 1.0))))
        acc = float(np.mean(proba.argmax(axis=1) == idx))
        per_class = {str(c): float(np.mean(proba[idx == j].argmax(axis=1) == j)) for j, c in enumerate(self.classes_)}
        stats = {"epoch": 1, "epochs": 1, "loss": loss, "accuracy": acc, "val_loss": None, "val_accuracy": None,
                 "per_class": per_class, "seconds": time.perf_counter() - started, "batch": None}
        self.history_, self.best_epoch_, self.stop_reason_, self.diverged_ = [stats], 1, None, False
        if on_epoch is not None:
            on_epoch(dict(stats))
        return self

    # ------------------------------------------------------------------ predict

    def _check_fitted(self):
        if getattr(self, "centroids_", None) is None:
            from sklearn.exceptions import NotFittedError  # only when misused

            raise NotFittedError("This CentroidClassifier is not fitted yet")

    def similarity(self, X):
        """Cosine similarity of each row to each class centroid: (n, k)."""
        self._check_fitted()
        U = _unit_rows(X)
        if U.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {U.shape[1]} features, the model expects {self.n_features_in_}")
        return U @ self.centroids_.T

    def predict_proba(self, X):
        z = float(self.scale) * self.similarity(X)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        proba = self.predict_proba(X)  # first: an unfitted model says so (not an AttributeError on classes_)
        return self.classes_[proba.argmax(axis=1)]

    # ------------------------------------------------------------------ persistence

    def get_state(self):
        self._check_fitted()
        classes = np.asarray(self.classes_.tolist())
        if classes.dtype.kind not in "biuU":
            raise TypeError(f"Labels of type {self.classes_.dtype} cannot be saved without pickle; use ints or strings.")
        config = {"format": "speechlab-centroid/1", "params": self.get_params(),
                  "n_features_in": int(self.n_features_in_)}
        return config, {"classes": classes, "centroids": self.centroids_.copy()}

    @classmethod
    def from_state(cls, config, arrays):
        model = cls(**dict(config.get("params") or {}))
        model.check_params()
        centroids = np.asarray(arrays["centroids"], dtype=np.float64)
        classes = np.asarray(arrays["classes"])
        n = int(config["n_features_in"])
        if centroids.ndim != 2 or centroids.shape != (len(classes), n):
            raise ValueError(f"centroids of shape {centroids.shape} do not fit {len(classes)} classes of {n} features")
        if not np.all(np.isfinite(centroids)):
            raise ValueError("centroids hold values that are not finite numbers")
        model.classes_, model.centroids_, model.n_features_in_ = classes, centroids, n
        model.history_, model.best_epoch_, model.stop_reason_, model.diverged_ = [], 1, None, False
        return model
