"""A model type that exists only in the tests, added the way README's "Adding a model type" says: its
class (declaring its ``settings``), its line in the registry, a ModelChoice in a TaskSpec. No GUI code.

:func:`register` adds it (the tests undo it); :func:`train_in_child` is the training process's entry
with the toy registered there too, as an installed model module would be in every process.
"""
from __future__ import annotations

import time

import numpy as np

from core.models.choices import Setting
from core.tasks import ModelChoice

TYPE = "toy"
MODULE = "tests.gui.toy_model"
# the small, fast features of each task (the toy brings them, as the CNN brings its images)
FEATURES = {"digits": "mfcc-mean", "genres": "music-stats", "speakers": "mfcc-stats"}


class ToyClassifier:
    """Softmax regression by full-batch gradient descent in NumPy, following the model contract
    (core/models/__init__.py): every epoch reported, Stop between epochs, state as plain arrays."""

    settings = (
        Setting("epochs", "int", "Epochs", "Passes of gradient descent", minimum=1, maximum=1000),
        Setting("step", "float", "Step size", minimum=1e-4, maximum=10.0, log=True),
        Setting("init", "choice", "Start from", "The weights before the first step", choices=("zeros", "small")),
        Setting("standardize", "bool", "Standardise", "z-score the features with the training data's"),
    )

    def __init__(self, epochs=20, step=0.5, init="zeros", standardize=True, random_state=None):
        self.epochs = epochs
        self.step = step
        self.init = init
        self.standardize = standardize
        self.random_state = random_state

    def get_params(self, deep=False):
        return {"epochs": self.epochs, "step": self.step, "init": self.init, "standardize": self.standardize,
                "random_state": self.random_state}

    def _rows(self, X):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return (X - self.mean_) / self.scale_

    def fit(self, X, y, *, groups=None, on_epoch=None, should_stop=None):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        self.mean_ = X.mean(axis=0) if self.standardize else np.zeros(X.shape[1])
        self.scale_ = np.maximum(X.std(axis=0), 1e-8) if self.standardize else np.ones(X.shape[1])
        Z = self._rows(X)
        onehot = (y[:, None] == self.classes_[None, :]).astype(np.float64)
        rng = np.random.default_rng(self.random_state)
        shape = (Z.shape[1], len(self.classes_))
        self.coef_ = np.zeros(shape) if self.init == "zeros" else 0.01 * rng.standard_normal(shape)
        self.intercept_ = np.zeros(len(self.classes_))
        self.history_, self.best_epoch_, self.stop_reason_, self.diverged_ = [], None, None, False
        for epoch in range(1, int(self.epochs) + 1):
            started = time.perf_counter()
            p = self.predict_proba(X)
            grad = (p - onehot) / len(Z)
            self.coef_ -= self.step * Z.T @ grad
            self.intercept_ -= self.step * grad.sum(axis=0)
            p = self.predict_proba(X)
            stats = {"epoch": epoch, "epochs": int(self.epochs), "batch": None, "val_loss": None,
                     "val_accuracy": None, "seconds": time.perf_counter() - started,
                     "loss": float(-np.mean(np.log(np.clip((p * onehot).sum(axis=1), 1e-15, 1.0)))),
                     "accuracy": float(np.mean(p.argmax(axis=1) == onehot.argmax(axis=1)))}
            self.history_.append(stats)
            self.best_epoch_ = epoch
            if on_epoch is not None:
                on_epoch(dict(stats))
            if should_stop is not None and should_stop():
                self.stop_reason_ = "Stopped by the user"
                break
        return self

    def predict_proba(self, X):
        z = self._rows(X) @ self.coef_ + self.intercept_
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def get_state(self):
        config = {"params": self.get_params(), "n_features_in": int(self.n_features_in_)}
        arrays = {"classes": np.asarray([str(c) for c in self.classes_]), "coef": self.coef_,
                  "intercept": self.intercept_, "mean": self.mean_, "scale": self.scale_}
        return config, arrays

    @classmethod
    def from_state(cls, config, arrays):
        model = cls(**config["params"])
        model.n_features_in_ = int(config["n_features_in"])
        model.classes_ = np.asarray(arrays["classes"])
        model.coef_, model.intercept_ = np.asarray(arrays["coef"]), np.asarray(arrays["intercept"])
        model.mean_, model.scale_ = np.asarray(arrays["mean"]), np.asarray(arrays["scale"])
        model.history_, model.best_epoch_, model.stop_reason_, model.diverged_ = [], None, None, False
        return model


def choice(task_key):
    """The toy's ModelChoice for a task: its name, registered type, title, defaults and features."""
    return ModelChoice("toy", TYPE, "Toy softmax regression (a test's model type)",
                       dict(epochs=20, step=0.5, init="zeros", standardize=True), feature=FEATURES[task_key],
                       note="Added by a test: its page is built from the settings its class declares.")


def register():
    """Add the toy to the registry and to every task's models; returns how to undo it."""
    from core.models import MODEL_TYPES
    from core.tasks import TASKS

    before = {key: spec.models for key, spec in TASKS.items()}
    MODEL_TYPES[TYPE] = f"{MODULE}:ToyClassifier"
    for key, spec in TASKS.items():
        if "toy" not in spec.model_keys:
            object.__setattr__(spec, "models", spec.models + (choice(key),))  # TaskSpec is frozen

    def undo():
        MODEL_TYPES.pop(TYPE, None)
        for key, models in before.items():
            object.__setattr__(TASKS[key], "models", models)

    return undo


def train_in_child(*args, report, should_stop):
    """The training process's entry (core.child:train) with the toy registered in that process too."""
    from core.child import train

    register()
    return train(*args, report=report, should_stop=should_stop)
