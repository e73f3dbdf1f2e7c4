"""Linear classifiers from scikit-learn (logistic regression and SGD) with live curves and Stop.

The course report's speaker models (Q4) are ``SGDClassifier(loss='log_loss',
learning_rate='constant', eta0=0.01, max_iter=1000)`` and
``LogisticRegression(solver='sag', max_iter=1000)`` on standardised inputs;
:data:`REPORT_PRESETS` holds exactly those settings.
:class:`LinearClassifier` wraps both behind the project's model contract
(see :mod:`core.models`), for any features and any labels:

* ``kind="sgd"``: one ``partial_fit`` call per epoch, so every epoch is
  reported and Stop is honoured between epochs. Without a validation set the
  run ends as scikit-learn's ``fit`` would: when the training loss has not
  improved by ``tol`` for ``n_iter_no_change`` epochs.
* ``kind="logreg"``: ``warm_start`` chunks of ``iter_step`` solver
  iterations; each chunk is reported and Stop is honoured between chunks. The
  run ends when the solver converges inside a chunk (it uses fewer iterations
  than it was allowed) or after ``max_iter`` iterations in all.

A stop keeps the best coefficients so far (by validation loss, or training
loss without validation data). The state is plain arrays (``coef``,
``intercept``, ``classes``, the scaler's ``mean`` and ``scale``): no pickle.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from .choices import (  # noqa: F401  (re-exported: they live where importing them is cheap)
    KINDS, LINEAR_SETTINGS, LOGREG_SOLVERS, REPORT_MODELS, REPORT_PRESETS, SGD_LEARNING_RATES,
)


def _grouped_holdout(y, groups, *, fraction, rng):
    """Boolean mask (n,) of validation rows: ``fraction`` of each class's groups, whole groups only.

    A class with a single group stays in training.
    """
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    uniq, first = np.unique(groups, return_index=True)
    y_first = np.asarray(y)[first]
    val_groups = []
    for c in np.unique(y_first):
        g = rng.permutation(uniq[y_first == c])
        n_val = min(int(round(fraction * len(g))), len(g) - 1)
        val_groups.append(g[:max(n_val, 0)])
    return np.isin(groups, np.concatenate(val_groups) if val_groups else [])


def _log_loss(proba, y_idx):
    p = proba[np.arange(len(y_idx)), y_idx]
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1.0))))


class LinearClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression or SGD (log loss) on standardised inputs, with live curves.

    Parameters
    ----------
    kind : {"logreg", "sgd"}
    C : float
        Inverse L2 strength of logistic regression.
    solver : {"lbfgs", "sag", "saga", "newton-cg"}
        Logistic regression's solver (the report used "sag").
    alpha : float
        L2 strength of SGD.
    learning_rate : {"optimal", "constant", "invscaling", "adaptive"}
        SGD's step schedule; the report used "constant" with ``eta0=0.01``.
    eta0 : float
    max_iter : int
        SGD: at most this many epochs. Logistic regression: at most this many
        solver iterations in all.
    tol : float
        SGD: the improvement of the training loss that counts; logistic
        regression: the solver's tolerance.
    n_iter_no_change : int
        SGD without validation data stops after this many epochs without an
        improvement of ``tol`` (scikit-learn's rule).
    iter_step : int or None
        Logistic regression: solver iterations per reported step (None: 5 for
        lbfgs and newton-cg, 20 for sag and saga, which restart their gradient
        memory with every step and need longer ones).
    standardize : bool
        z-score features with the training data's mean and std.
    validation_fraction : float
        Share of the training clips (whole clips: every window of a clip on
        the same side) held out for the validation curves and for the best
        state kept on Stop; 0 trains on everything.
    patience : int or None
        SGD with validation data: stop after this many epochs without a
        better validation loss and keep the best epoch's coefficients.
    random_state : int or None

    Attributes
    ----------
    classes_, coef_ (n_classes or 1, n_features), intercept_, mean_, scale_,
    history_, best_epoch_, stop_reason_, diverged_, n_iter_ (epochs or solver
    iterations run)
    """

    settings = LINEAR_SETTINGS  # what a generic settings page shows (core.models.choices)

    def __init__(self, kind="logreg", *, C=1.0, solver="lbfgs", alpha=1e-4, learning_rate="optimal", eta0=0.01,
                 max_iter=200, tol=1e-4, n_iter_no_change=5, iter_step=None, standardize=True,
                 validation_fraction=0.1, patience=10, random_state=None):
        self.kind = kind
        self.C = C
        self.solver = solver
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.iter_step = iter_step
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state

    # ------------------------------------------------------------------ checks

    def check_params(self):
        """Raise ValueError naming a bad setting (before any data is touched)."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == "logreg" and self.solver not in LOGREG_SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(LOGREG_SOLVERS)}, not {self.solver!r}")
        if self.kind == "sgd" and self.learning_rate not in SGD_LEARNING_RATES:
            raise ValueError(f"learning_rate must be one of {', '.join(SGD_LEARNING_RATES)}, not {self.learning_rate!r}")
        for name, low in (("C", 0.0), ("alpha", 0.0), ("eta0", 0.0), ("tol", -1.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= low and name != "alpha":
                raise ValueError(f"{name} must be a positive number, not {value!r}")
            if name == "alpha" and value < 0:
                raise ValueError(f"alpha must be at least 0, not {value!r}")
        for name in ("max_iter", "iter_step", "n_iter_no_change"):
            if getattr(self, name) is None and name == "iter_step":
                continue
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        if not 0.0 <= float(self.validation_fraction) < 0.9:
            raise ValueError(f"validation_fraction must be in [0, 0.9), not {self.validation_fraction!r}")
        if self.patience is not None and int(self.patience) < 1:
            raise ValueError(f"patience must be at least 1 (or None), not {self.patience!r}")

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise NotFittedError("This LinearClassifier is not fitted yet: call fit first.")

    # ----------------------------------------------------------------- helpers

    def _estimator(self):
        from sklearn.linear_model import LogisticRegression, SGDClassifier

        if self.kind == "sgd":
            return SGDClassifier(loss="log_loss", alpha=self.alpha, learning_rate=self.learning_rate, eta0=self.eta0,
                                 random_state=self.random_state, shuffle=True)
        return LogisticRegression(C=self.C, solver=self.solver, tol=self.tol, max_iter=self._iter_step(),
                                  warm_start=True, random_state=self.random_state)

    def _iter_step(self):
        if self.iter_step is not None:
            return int(self.iter_step)
        return 20 if self.solver in ("sag", "saga") else 5

    def _scale(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            X = X.reshape(len(X), -1)
        if self.mean_ is not None:
            X = (X - self.mean_) / self.scale_
        return X

    def _proba(self, X_scaled):
        """Probabilities (n, n_classes) of standardised rows from coef_/intercept_ (as scikit-learn computes them)."""
        scores = X_scaled @ self.coef_.T + self.intercept_
        if self.kind == "sgd":
            # SGDClassifier(log_loss).predict_proba: one-vs-rest sigmoids, normalised.
            p = 1.0 / (1.0 + np.exp(-np.clip(scores, -500, 500)))
            if p.shape[1] == 1:
                return np.hstack([1 - p, p])
            s = p.sum(axis=1, keepdims=True)
            return np.divide(p, s, out=np.full_like(p, 1.0 / p.shape[1]), where=s > 0)
        if scores.shape[1] == 1:  # binary logistic regression
            p = 1.0 / (1.0 + np.exp(-np.clip(scores, -500, 500)))
            return np.hstack([1 - p, p])
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def _take(self, est):
        self.coef_ = np.array(est.coef_, dtype=np.float64)
        self.intercept_ = np.array(est.intercept_, dtype=np.float64)

    def _measure(self, X, y_idx):
        if X is None or not len(X):
            return None, None, None
        proba = self._proba(X)
        pred = proba.argmax(axis=1)
        correct = pred == y_idx
        k = len(self.classes_)
        totals = np.bincount(y_idx, minlength=k)
        hits = np.bincount(y_idx, weights=correct, minlength=k)
        per_class = {str(c): (float(h / t) if t else None) for c, h, t in zip(self.classes_.tolist(), hits, totals)}
        return _log_loss(proba, y_idx), float(correct.mean()), per_class

    # ------------------------------------------------------------------- fit

    def fit(self, X, y, *, groups=None, on_epoch=None, should_stop=None):
        """Train from scratch; see :mod:`core.models` for the callbacks.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
        y : array-like (n_samples,), labels (strings or ints)
        groups : array-like (n_samples,) or None
            The clip of each row: the validation hold-out takes whole clips.
        on_epoch : callable(dict) or None
            One report per SGD epoch or logistic-regression step: epoch
            (epochs, or solver iterations so far), epochs (the most there can
            be), loss, accuracy, val_loss, val_accuracy, per_class, seconds, batch=None.
        should_stop : callable() -> bool or None
            Polled between epochs/steps; True keeps the best state so far.

        Returns
        -------
        self
        """
        self.check_params()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            X = X.reshape(len(X), -1)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per row of X ({len(X)}); got shape {y.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X holds NaN or infinite values")
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds one class only ({classes[0]!r}); training needs at least two classes")
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        rng = np.random.default_rng(self.random_state)
        is_val = np.zeros(len(X), bool)
        if self.validation_fraction > 0:
            is_val = _grouped_holdout(y_idx, groups, fraction=float(self.validation_fraction), rng=rng)
        X_tr, y_tr = X[~is_val], y_idx[~is_val]
        if self.standardize:
            self.mean_ = X_tr.mean(axis=0)
            scale = X_tr.std(axis=0)
            self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        else:
            self.mean_ = self.scale_ = None
        X_tr = self._scale(X_tr)
        X_val, y_val = (self._scale(X[is_val]), y_idx[is_val]) if is_val.any() else (None, None)
        self.history_, self.best_epoch_, self.stop_reason_, self.diverged_, self.n_iter_ = [], 0, None, False, 0
        # scikit-learn sees label indices; classes_ maps them back to the labels.
        if self.kind == "sgd":
            self._fit_sgd(X_tr, y_tr, X_val, y_val, on_epoch, should_stop)
        else:
            self._fit_logreg(X_tr, y_tr, X_val, y_val, on_epoch, should_stop)
        return self

    def _report(self, epoch, epochs, train, val, started):
        loss, acc, per_class = train
        val_loss, val_acc, val_per_class = val
        stats = {"epoch": int(epoch), "epochs": int(epochs), "loss": loss, "accuracy": acc,
                 "val_loss": val_loss, "val_accuracy": val_acc,
                 "per_class": val_per_class if val_per_class is not None else per_class,
                 "seconds": time.perf_counter() - started, "batch": None}
        self.history_.append(stats)
        return stats

    def _run(self, step, epochs, X_tr, y_tr, X_val, y_val, on_epoch, should_stop, *, ends):
        """The shared loop: ``step()`` advances the estimator and returns (its coefficients changed, done);
        ``ends(stats, stale)`` says why to stop early (or None)."""
        started = time.perf_counter()
        best = None  # (monitored loss, epoch, coef, intercept)
        stale, epoch = 0, 0
        while True:
            if should_stop is not None and should_stop():
                if best is not None:
                    _, self.best_epoch_, self.coef_, self.intercept_ = best
                self.stop_reason_ = (f"stopped by user after {self._unit(epoch)}; kept the coefficients of "
                                     f"{self._unit(self.best_epoch_)}")
                return
            epoch, done = step()
            train = self._measure(X_tr, y_tr)
            val = self._measure(X_val, y_val)
            if not all(math.isfinite(v) for v in (train[0], *(val[:1] if val[0] is not None else ()))) or \
                    not np.all(np.isfinite(self.coef_)):
                if best is not None:
                    _, self.best_epoch_, self.coef_, self.intercept_ = best
                self.diverged_ = True
                self.stop_reason_ = (f"Training diverged after {self._unit(epoch)} (the loss became non-finite): "
                                     "lower the learning rate" + ("" if self.standardize else " or standardise"))
                return
            stats = self._report(epoch, epochs, train, val, started)
            if on_epoch is not None:
                on_epoch(dict(stats))
            monitored = stats["val_loss"] if stats["val_loss"] is not None else stats["loss"]
            # An improvement counts when it beats the best by more than tol (scikit-learn's rule).
            if best is None or monitored < best[0] - max(float(self.tol), 0.0):
                best = (monitored, epoch, self.coef_.copy(), self.intercept_.copy())
                stale = 0
            else:
                stale += 1
            reason = "done" if done else ends(stats, stale)
            if reason is not None:
                if reason == "patience":
                    _, self.best_epoch_, self.coef_, self.intercept_ = best
                    self.stop_reason_ = (f"Early stopping after {self._unit(epoch)}: the validation loss has not "
                                         f"improved for {self.patience} epochs; kept the coefficients of "
                                         f"{self._unit(self.best_epoch_)}.")
                else:
                    self.best_epoch_ = epoch
                    if reason != "done":
                        self.stop_reason_ = reason
                return

    def _unit(self, n):
        if self.kind == "sgd":
            return f"epoch {n}"
        return f"{n} iterations"

    def _fit_sgd(self, X_tr, y_tr, X_val, y_val, on_epoch, should_stop):
        est = self._estimator()
        labels = np.arange(len(self.classes_))
        epochs = int(self.max_iter)

        def step():
            est.partial_fit(X_tr, y_tr, classes=labels)
            self._take(est)
            self.n_iter_ += 1
            return self.n_iter_, self.n_iter_ >= epochs

        def ends(stats, stale):
            if stats["val_loss"] is not None and self.patience is not None:
                return "patience" if stale >= int(self.patience) else None
            if stats["val_loss"] is None and stale >= int(self.n_iter_no_change):
                return "converged"
            return None

        self._run(step, epochs, X_tr, y_tr, X_val, y_val, on_epoch, should_stop, ends=ends)
        if self.stop_reason_ == "converged":  # scikit-learn's own stopping rule: a normal end
            self.stop_reason_ = None

    def _fit_logreg(self, X_tr, y_tr, X_val, y_val, on_epoch, should_stop):
        est = self._estimator()
        total = int(self.max_iter)
        converged = [False]

        def step():
            chunk = min(self._iter_step(), total - self.n_iter_)
            est.set_params(max_iter=chunk)
            # Each chunk stops at its iteration budget on purpose; scikit-learn
            # warns about that every time. Convergence is read from n_iter_.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X_tr, y_tr)
            used = int(np.max(est.n_iter_))
            self.n_iter_ += used
            self._take(est)
            converged[0] = used < chunk
            return self.n_iter_, converged[0] or self.n_iter_ >= total

        def ends(stats, stale):
            # A restarted solver (sag restarts its gradient memory with every
            # chunk) may never see its own criterion met: a training loss that
            # no longer moves is convergence too.
            if len(self.history_) >= 2:
                before = self.history_[-2]["loss"]
                if before - stats["loss"] < max(float(self.tol), 1e-8) * max(1.0, abs(stats["loss"])):
                    converged[0] = True
                    return "done"
            return None

        self._run(step, total, X_tr, y_tr, X_val, y_val, on_epoch, should_stop, ends=ends)
        if not converged[0] and self.stop_reason_ is None:
            self.stop_reason_ = (f"The solver did not converge in {total} iterations; the coefficients are usable, "
                                 "more iterations (max_iter) may improve them.")

    # ------------------------------------------------------------- prediction

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        X = self._scale(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features; the model was trained on {self.n_features_in_}")
        return self._proba(X)

    def predict(self, X):
        """Most probable label per row, (n_samples,), from ``classes_``."""
        proba = self.predict_proba(X)  # first: an unfitted model says so
        return self.classes_[proba.argmax(axis=1)]

    def decision_function(self, X):
        """Linear scores (n_samples, n_classes or 1)."""
        self._check_fitted()
        return self._scale(X) @ self.coef_.T + self.intercept_

    # ------------------------------------------------------------ persistence

    def get_state(self):
        """(JSON-able config, {name: ndarray}) without pickle; see :meth:`from_state`."""
        self._check_fitted()
        classes = np.asarray(self.classes_.tolist())
        if classes.dtype.kind not in "biuU":
            raise TypeError(f"Labels of type {self.classes_.dtype} cannot be saved without pickle; use ints or strings.")
        params = self.get_params()
        rs = params["random_state"]
        params["random_state"] = int(rs) if isinstance(rs, (int, np.integer)) else None
        arrays = {"classes": classes, "coef": self.coef_.copy(), "intercept": self.intercept_.copy()}
        if self.mean_ is not None:
            arrays["mean"], arrays["scale"] = self.mean_.copy(), self.scale_.copy()
        config = {"format": "speechlab-linear/1", "params": params, "n_features_in": int(self.n_features_in_),
                  "best_epoch": int(self.best_epoch_), "stop_reason": self.stop_reason_,
                  "diverged": bool(self.diverged_), "n_iter": int(self.n_iter_)}
        return config, arrays

    @classmethod
    def from_state(cls, config, arrays):
        """Rebuild a model saved with :meth:`get_state`; it predicts exactly as the original."""
        model = cls(**config["params"])
        model.classes_ = np.asarray(arrays["classes"])
        model.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        model.intercept_ = np.asarray(arrays["intercept"], dtype=np.float64)
        n = int(config["n_features_in"])
        if model.coef_.ndim != 2 or model.coef_.shape[1] != n or model.intercept_.shape[0] != model.coef_.shape[0]:
            raise ValueError(f"coefficients of shape {model.coef_.shape} do not fit {n} features")
        if "mean" in arrays:
            model.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
            model.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        else:
            model.mean_ = model.scale_ = None
        model.n_features_in_ = n
        model.history_ = []
        model.best_epoch_ = int(config.get("best_epoch", 0))
        model.stop_reason_ = config.get("stop_reason")
        model.diverged_ = bool(config.get("diverged", False))
        model.n_iter_ = int(config.get("n_iter", 0))
        return model
