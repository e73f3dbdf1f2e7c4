"""A multi-layer perceptron written from scratch in NumPy: the seed's digit classifier, grown up.

The seed trained a bipolar-sigmoid network with per-sample SGD on a mean
squared error; ``MLPClassifier(output="mse", init="randn", optimizer="sgd",
batch_size=1, standardize=False)`` still reproduces that setup, while the
defaults (ReLU, softmax with cross-entropy, He initialisation, Adam on
mini-batches of 32, z-scored inputs, early stopping) are what works.

Design notes
------------
* All weights and biases live in one flat float32 vector (weights of every
  layer first, then the biases); ``coefs_`` / ``intercepts_`` are views into
  it. The optimiser therefore updates every parameter with a handful of
  in-place NumPy calls per mini-batch, whatever the number of layers; with the
  seed's batch of one sample this per-batch overhead is what decides speed.
* Gradients come from :meth:`MLPClassifier._loss_and_grads`, which works in the
  dtype of the parameter vector it is given, so the tests check it against
  finite differences in float64 while training runs in float32.
* A run that blows up (a non-finite loss, an epoch loss a hundred times the
  untrained network's, or weights beyond ``_MAX_WEIGHT``) is stopped, the best
  weights so far are put back, and ``stop_reason_`` tells the user what to
  change. Floating-point warnings are silenced inside the
  training step only, because that detection replaces them.
"""
from __future__ import annotations

import math
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from .choices import (  # noqa: F401  (re-exported)
    ACTIVATIONS, INITS, MAX_LAYER_SIZE, MAX_PARAMETERS, MAX_TRAINING_GB, MLP_SETTINGS, OPTIMIZERS, OUTPUTS,
)

_LEAK = 0.01  # leaky-relu slope for negative inputs
_ADAM_BETA1, _ADAM_BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8
# A trained float32 network has weights of order 1 (He/Xavier start far below
# 1); beyond this the run is exploding even while its loss is still finite.
_MAX_WEIGHT = 1e4
# Float32 copies of the parameter vector while training: the weights, their gradient, a scratch buffer,
# the optimiser's two moments (always kept: set_params(optimizer=...) between partial_fit calls works)
# and the best epoch's weights (early stopping, Stop).
_TRAINING_COPIES = 6
# An epoch whose mean loss is this many times the loss of the untrained
# network has wrecked its weights (Adam with a huge step ends there, at chance).
_MAX_LOSS_GROWTH = 100
INSIDES_SAMPLE = 256  # training rows whose activations describe the layers after each epoch


def activate(x, *, name, out=None):
    """Apply a hidden-layer activation elementwise.

    Parameters
    ----------
    x : ndarray, any shape
        Pre-activations.
    name : str
        One of :data:`ACTIVATIONS`.
    out : ndarray or None
        Where to write the result (may be ``x`` itself); a new array if None.

    Returns
    -------
    ndarray, same shape as ``x``
        ``f(x)``. The sigmoids are written through ``tanh``, so no input,
        however large, overflows.
    """
    if name == "relu":
        return np.maximum(x, 0, out=out)
    if name == "leaky-relu":
        return np.maximum(x, _LEAK * x, out=out)
    if name == "tanh":
        return np.tanh(x, out=out)
    if name == "bipolar-sigmoid":
        # 2 / (1 + e^-x) - 1 == tanh(x / 2)
        return np.tanh(np.multiply(x, 0.5, out=out), out=out)
    if name == "logistic":
        # 1 / (1 + e^-x) == (1 + tanh(x / 2)) / 2
        y = np.tanh(np.multiply(x, 0.5, out=out), out=out)
        y += 1
        y *= 0.5
        return y
    if name == "identity":
        if out is None:
            return np.array(x, copy=True)
        if out is not x:
            out[...] = x
        return out
    raise ValueError(f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")


def activation_derivative(fx, *, name):
    """The derivative f'(x) of an activation, written through its output.

    Parameters
    ----------
    fx : ndarray, any shape
        Outputs ``f(x)`` of :func:`activate` (what back-propagation keeps).
    name : str
        One of :data:`ACTIVATIONS`.

    Returns
    -------
    ndarray, same shape and dtype as ``fx``
        For the bipolar sigmoid this is the seed's ``0.5 (1 + f)(1 - f)``.
    """
    if name == "relu":
        return (fx > 0).astype(fx.dtype)
    if name == "leaky-relu":
        return np.where(fx > 0, 1.0, _LEAK).astype(fx.dtype)
    if name == "tanh":
        return 1 - fx * fx
    if name == "bipolar-sigmoid":
        return 0.5 * (1 + fx) * (1 - fx)
    if name == "logistic":
        return fx * (1 - fx)
    if name == "identity":
        return np.ones_like(fx)
    raise ValueError(f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")


def _one_blas_thread():
    """Context that keeps BLAS on one thread while training.

    A mini-batch product is too small to split across threads, and on a busy
    machine OpenBLAS's threads wait on each other: measured here, one epoch
    took 10x longer with two threads than with one when another process held
    a core. Prediction on many samples keeps all threads.
    """
    return threadpool_limits(limits=1, user_api="blas")


def _flat(X):
    """Images (n, h, w) become vectors (n, h·w): the MLP takes any feature set."""
    if hasattr(X, "ndim") and X.ndim > 2:
        return np.asarray(X).reshape(len(X), -1)
    return X


def _softmax(z):
    """Row-wise softmax of (n, k) scores, shifted by the row maximum so exp never overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _stratified_split(y, *, fraction, rng):
    """Split class indices ``y`` (n,) into (train_idx, val_idx), ``fraction`` of each class held out.

    A class with a single sample stays in training; every other class keeps at
    least one sample on each side.
    """
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = min(max(int(round(fraction * len(idx))), 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.concatenate(train), np.concatenate(val)


def _encode(classes, y, *, n_samples):
    """Labels ``y`` (n_samples,) as indices into the sorted ``classes``; unknown labels raise ValueError."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(f"y must be 1-D with one label per sample ({n_samples}); got shape {y.shape}.")
    idx = np.searchsorted(classes, y)
    idx[idx == len(classes)] = 0
    unknown = classes[idx] != y
    if unknown.any():
        raise ValueError(
            f"Labels {sorted(set(y[unknown].tolist()))} are not among the classes {classes.tolist()}."
        )
    return idx


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Fully connected neural network classifier in NumPy (float32), scikit-learn compatible.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Units per hidden layer; ``()`` gives a linear model.
    activation : str or sequence of str
        Hidden activation, one name for all layers or one per layer; see
        :data:`ACTIVATIONS`. ``"bipolar-sigmoid"`` is the seed's ``2/(1+e^-x)-1``.
    output : {"softmax", "mse", "mse-report"}
        ``"softmax"``: softmax outputs with cross-entropy loss. ``"mse"``: the
        seed's set-up, where the last hidden activation is applied to the output
        layer too and the loss is the mean squared error against one-hot (0/1)
        targets, averaged over samples and classes; probabilities are then the
        softmax of the outputs. ``"mse-report"``: the same network trained with
        the seed's own update rule, bug for bug, to reproduce its numbers: the
        output error is ``output - target`` (no output-activation derivative,
        no averaging over classes) and each hidden derivative is the seed's
        ``derivative()`` applied to the layer's *output* (for the bipolar
        sigmoid that applies the sigmoid a second time). Not a true gradient.
    init : {"auto", "he", "xavier", "randn"}
        Weight initialisation: ``randn`` is N(0, 1) (the seed's first, failing
        version), ``xavier`` is ``randn * sqrt(1/fan_in)`` (the seed's fix),
        ``he`` is ``randn * sqrt(2/fan_in)``, ``auto`` picks He before ReLU-like
        activations and Xavier otherwise. Biases start at zero.
    optimizer : {"adam", "momentum", "sgd"}
        ``"sgd"`` with ``batch_size=1`` is the seed's per-sample SGD.
    learning_rate : float
    batch_size : int
        Samples per mini-batch (>= 1); the data are reshuffled every epoch.
    epochs : int
        Maximum number of passes over the training data.
    momentum : float
        Momentum coefficient for ``optimizer="momentum"``.
    l2 : float
        Weight decay: ``l2 * W`` is added to every weight gradient (not biases).
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data (stratified,
        seeded) unless ``X_val``/``y_val`` are given to :meth:`fit`, stop after
        ``patience`` epochs without a lower validation loss, and keep the
        weights of the best epoch.
    validation_fraction : float
    patience : int
    standardize : bool
        Z-score the features with the training data's mean and std.
    random_state : int or None
        Seeds the initial weights, the validation split and the shuffling.
    report_every : int
        If > 0, ``on_epoch`` also gets a report every this many mini-batches.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    n_features_in_ : int
    coefs_ : list of ndarray (fan_in, fan_out), float32 (views of the parameter vector)
    intercepts_ : list of ndarray (fan_out,), float32
    mean_, scale_ : ndarray (n_features,) or None
        The standardisation, None when ``standardize=False``.
    loss_curve_ : list of float
        Training loss per epoch: the running mean over the epoch's mini-batches
        (each measured just before its update), as Keras reports it; cheap,
        since it needs no extra pass over the data.
    validation_scores_ : list of float
        Validation accuracy per epoch; empty without validation data.
    history_ : list of dict
        The per-epoch reports (the dicts with ``"batch": None`` given to ``on_epoch``).
    best_epoch_ : int
        The epoch whose end-of-epoch weights the model holds (0: the initial
        ones); after a user stop without validation data, the last finished
        epoch (the weights are those at the stop).
    stop_reason_ : str or None
        None when training ran all its epochs, otherwise why it stopped.
    diverged_ : bool
        Whether training blew up (then ``stop_reason_`` says what to change).
    """

    settings = MLP_SETTINGS  # what a generic settings page shows (core.models.choices)

    def __init__(
        self,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        *,
        output="softmax",
        init="auto",
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=32,
        epochs=60,
        momentum=0.9,
        l2=1e-4,
        early_stopping=True,
        validation_fraction=0.1,
        patience=10,
        standardize=True,
        random_state=None,
        report_every=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.init = init
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.momentum = momentum
        self.l2 = l2
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.random_state = random_state
        self.report_every = report_every

    # ------------------------------------------------------------------ set-up

    def _layer_plan(self, *, footprint=True):
        """Validate the hyper-parameters; return (hidden sizes, activation per layer incl. output).

        The output layer's entry is ``"softmax"`` or, for ``output="mse"``, the
        activation of the last hidden layer. With ``footprint`` the network's size is
        checked from the settings alone (one input, two classes: a lower bound; see
        :meth:`check_size` for the real one).
        """
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, (int, np.integer)) else tuple(sizes)
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}."
            )
        if any(s > MAX_LAYER_SIZE for s in sizes) or len(sizes) > 32:
            raise ValueError(f"hidden_layer_sizes: at most 32 layers of at most {MAX_LAYER_SIZE} units; "
                             f"got {self.hidden_layer_sizes!r}.")
        sizes = tuple(int(s) for s in sizes)
        if isinstance(self.activation, str):
            acts = [self.activation] * len(sizes)
            last = self.activation
        else:
            acts = list(self.activation)
            if len(acts) != len(sizes) or not acts:
                raise ValueError(
                    f"activation lists {len(acts)} names for {len(sizes)} hidden layers; "
                    "give one name per hidden layer, or a single name for all."
                )
            last = acts[-1]
        for name in acts + [last]:
            if name not in ACTIVATIONS:
                raise ValueError(f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")
        for field, value, allowed in (
            ("output", self.output, OUTPUTS),
            ("init", self.init, INITS),
            ("optimizer", self.optimizer, OPTIMIZERS),
        ):
            if value not in allowed:
                raise ValueError(f"Unknown {field} {value!r}; choose one of {', '.join(allowed)}.")
        checks = (
            ("learning_rate", self.learning_rate > 0),
            ("batch_size", int(self.batch_size) == self.batch_size and self.batch_size >= 1),
            ("epochs", int(self.epochs) == self.epochs and self.epochs >= 1),
            ("patience", self.patience >= 1),
            ("validation_fraction", 0 < self.validation_fraction < 1),
            ("l2", self.l2 >= 0),
            ("momentum", 0 <= self.momentum < 1),
            ("report_every", self.report_every >= 0),
        )
        for field, ok in checks:
            if not ok:
                raise ValueError(f"{field}={getattr(self, field)!r} is out of range.")
        if footprint:
            self._check_footprint(sizes)
        return sizes, acts + ["softmax" if self.output == "softmax" else last]

    def training_size(self, *, n_features=None, n_classes=None, n_samples=None, networks=1):
        """The network's parameter count and an estimate of the memory training it takes.

        The estimate adds the weights, their gradient, a scratch buffer, the optimiser's two
        moments and the best epoch's copy (six float32 copies of the parameters) and the
        activations of one mini-batch (every layer's outputs, kept for the backward pass,
        and the widest layer's deltas and derivatives). Unknown sizes count as the smallest
        possible (one input, two classes, a one-row batch), so the estimate is then a lower bound.
        ``networks``: how many such networks the training holds at once (2 when a copy sets the
        open set's threshold).

        Returns
        -------
        (parameters, bytes) : tuple of int
        """
        sizes = self._layer_plan(footprint=False)[0]
        return self._footprint(sizes, n_features, n_classes, n_samples, networks)[:2]

    def check_size(self, *, n_features=None, n_classes=None, n_samples=None, networks=1):
        """Raise ValueError naming the estimate when the network, trained on ``n_samples`` rows of
        ``n_features`` numbers into ``n_classes`` classes, is over :data:`MAX_PARAMETERS` parameters or
        its training over :data:`MAX_TRAINING_GB` (before anything is allocated)."""
        sizes = self._layer_plan(footprint=False)[0]
        self._check_footprint(sizes, n_features, n_classes, n_samples, networks)

    def _footprint(self, sizes, n_features=None, n_classes=None, n_samples=None, networks=1):
        """(parameters, bytes, weight bytes, gradient+optimiser bytes, activation bytes, batch rows)."""
        dims = (max(int(n_features or 1), 1), *sizes, max(int(n_classes or 2), 2))
        parameters = sum(i * o + o for i, o in zip(dims[:-1], dims[1:]))
        rows = max(1, min(int(self.batch_size), int(n_samples))) if n_samples else 1
        weights = 4 * parameters * networks
        optimiser = 4 * parameters * (_TRAINING_COPIES - 1) * networks
        activations = 4 * rows * (sum(dims) + 2 * max(dims[1:]))
        return parameters, weights + optimiser + activations, weights, optimiser, activations, rows

    def _check_footprint(self, sizes, n_features=None, n_classes=None, n_samples=None, networks=1):
        parameters, total, weights, optimiser, activations, rows = self._footprint(sizes, n_features, n_classes,
                                                                                  n_samples, networks)
        shown = (f"{len(sizes)} layers of {sizes[0]}" if len(sizes) > 4 and len(set(sizes)) == 1
                 else f"{len(sizes)} layers, the widest {max(sizes)}" if len(sizes) > 4 else str(tuple(sizes)))
        lower = "at least " if n_features is None or n_classes is None else ""
        both = " of both networks (a copy sets the 'unknown' threshold)" if networks > 1 else ""
        estimate = (f"about {lower}{total / 1e9:.1f} GB: weights {weights / 1e9:.1f} GB, gradients and optimiser "
                    f"state {optimiser / 1e9:.1f} GB{both}, a batch of {rows} rows' activations "
                    f"{activations / 1e9:.1f} GB")
        if parameters > MAX_PARAMETERS:
            raise ValueError(f"hidden_layer_sizes {shown}: {lower}{parameters / 1e6:,.0f} million parameters, at "
                             f"most {MAX_PARAMETERS / 1e6:,.0f} million (training would take {estimate}); use "
                             "fewer or smaller hidden layers.")
        if total > MAX_TRAINING_GB * 1e9:
            raise ValueError(f"hidden_layer_sizes {shown} with batch_size {self.batch_size}: training would take "
                             f"{estimate}, over the {MAX_TRAINING_GB:g} GB allowed; use a smaller batch_size or "
                             "fewer or smaller hidden layers.")

    @property
    def _report_rule(self):
        return self.output == "mse-report"

    def _setup(self, X, classes, rng):
        """Fresh model for training data ``X`` (n, f) and sorted ``classes``: scaler, weights, optimiser."""
        sizes, self._layer_activations = self._layer_plan()
        self._check_footprint(sizes, X.shape[1], len(classes), len(X))  # before anything is allocated
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        if self.standardize:
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            # A constant feature carries no information; dividing by 1 keeps it at 0.
            std[std <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1)] = 1
            self.mean_, self.scale_ = mean.astype(np.float32), std.astype(np.float32)
        else:
            self.mean_ = self.scale_ = None
        dims = (self.n_features_in_, *sizes, len(classes))
        self._shapes = list(zip(dims[:-1], dims[1:]))
        self._params = np.zeros(sum(i * o + o for i, o in self._shapes), dtype=np.float32)
        self._reset_optimizer()
        for W, (fan_in, _), name in zip(self.coefs_, self._shapes, self._layer_activations):
            if self.init == "randn":
                gain = 1.0
            elif self.init == "he" or (self.init == "auto" and name in ("relu", "leaky-relu")):
                gain = math.sqrt(2 / fan_in)
            else:
                gain = math.sqrt(1 / fan_in)
            W[...] = rng.standard_normal(W.shape, dtype=np.float32) * np.float32(gain)
        self._initial_loss = None
        self.loss_curve_, self.validation_scores_, self.history_ = [], [], []
        self.best_epoch_, self.stop_reason_, self.diverged_ = 0, None, False

    def _reset_optimizer(self):
        """Zero the optimiser's moments and allocate the per-step buffers."""
        self._grads = np.zeros_like(self._params)
        self._scratch = np.zeros_like(self._params)
        # Per-layer views, built once: rebuilding them costs more than the
        # maths of a one-sample batch on a small network.
        self._param_views = self._views(self._params)
        self._grad_views = self._views(self._grads)
        self._n_weights = sum(i * o for i, o in self._shapes)
        # Both moments always exist, so set_params(optimizer=...) between
        # partial_fit calls works.
        self._moment1 = np.zeros_like(self._params)
        self._moment2 = np.zeros_like(self._params)
        self._steps = 0

    def _views(self, flat):
        """Split a flat parameter-sized vector into per-layer (weights, biases) views."""
        weights, biases, offset = [], [], 0
        for fan_in, fan_out in self._shapes:
            weights.append(flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out))
            offset += fan_in * fan_out
        for _, fan_out in self._shapes:
            biases.append(flat[offset : offset + fan_out])
            offset += fan_out
        return weights, biases

    @property
    def coefs_(self):
        return self._param_views[0]

    @property
    def intercepts_(self):
        return self._param_views[1]

    def __getstate__(self):
        # Views would be pickled as copies, cut off from the buffers they view.
        state = dict(super().__getstate__())
        state.pop("_param_views", None)
        state.pop("_grad_views", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_params" in state:
            self._param_views = self._views(self._params)
            self._grad_views = self._views(self._grads)

    # ------------------------------------------------------------- validation

    def _check_fitted(self):
        if not hasattr(self, "_params"):
            raise NotFittedError(
                f"This {type(self).__name__} is not trained yet: call fit(X, y) or partial_fit first."
            )

    def _scale(self, X):
        return X if self.mean_ is None else (X - self.mean_) / self.scale_

    # --------------------------------------------------------------- maths

    def _forward(self, X, params):
        """Activations of every layer for inputs X (n, f): [X, a1, ..., out].

        ``out`` is (n, n_classes): the logits for softmax output, the output
        activation for MSE output.
        """
        acts = [X]
        views = self._param_views if params is self._params else self._views(params)
        for W, b, name in zip(*views, self._layer_activations):
            z = acts[-1] @ W
            z += b
            if name != "softmax":
                activate(z, name=name, out=z)
            acts.append(z)
        return acts

    def _output_loss(self, out, y):
        """Mean loss over the batch and its gradient with respect to the output pre-activations.

        Parameters
        ----------
        out : ndarray (n, k)
            Last entry of :meth:`_forward`.
        y : ndarray (n,) of int
            Class indices.

        Returns
        -------
        loss : float
        delta : ndarray (n, k)
        """
        n, k = out.shape
        rows = np.arange(n)
        if self._layer_activations[-1] == "softmax":
            shifted = out - out.max(axis=1, keepdims=True)
            delta = np.exp(shifted)
            total = delta.sum(axis=1, keepdims=True)
            loss = (float(np.log(total).sum()) - float(shifted[rows, y].sum())) / n
            delta /= total
            delta[rows, y] -= 1
            delta /= n
            return loss, delta
        name = self._layer_activations[-1]
        delta = out.copy()
        delta[rows, y] -= 1  # out - one-hot target
        loss = float(np.vdot(delta, delta)) / (n * k)
        if self._report_rule:  # the seed's error: output - target, averaged over the batch only
            delta /= n
            return loss, delta
        delta *= 2 / (n * k)
        if name != "identity":
            delta *= activation_derivative(out, name=name)
        return loss, delta

    def _loss_and_grads(self, X, y, *, params=None, grads=None):
        """Mean data loss on a batch and its gradient with respect to every parameter.

        Works in the dtype of ``params`` (float32 in training, float64 in the
        gradient check). The ``l2`` penalty is not included: it is applied as
        weight decay in :meth:`_step`.

        Parameters
        ----------
        X : ndarray (n, f)
            Standardised inputs.
        y : ndarray (n,) of int
            Class indices.
        params : ndarray (n_params,) or None
            Flat parameter vector; the model's own if None.
        grads : ndarray (n_params,) or None
            Where to write the gradient; a new array if None.

        Returns
        -------
        loss : float
        grads : ndarray (n_params,)
        out : ndarray (n, n_classes)
            The network's outputs (argmax = predicted class).
        """
        params = self._params if params is None else params
        grads = np.empty_like(params) if grads is None else grads
        acts = self._forward(X, params)
        loss, delta = self._output_loss(acts[-1], y)
        weights = (self._param_views if params is self._params else self._views(params))[0]
        grad_w, grad_b = self._grad_views if grads is self._grads else self._views(grads)
        for layer in range(len(weights) - 1, -1, -1):
            # np.dot, not matmul: NumPy's matmul skips BLAS for the rank-1 case
            # of one-sample batches and is then 7x slower.
            np.dot(acts[layer].T, delta, out=grad_w[layer])
            np.add.reduce(delta, axis=0, out=grad_b[layer])
            if layer:
                delta = delta @ weights[layer].T
                name = self._layer_activations[layer - 1]
                if name != "identity":
                    a = acts[layer]
                    if self._report_rule and name == "bipolar-sigmoid":
                        a = activate(a, name=name)  # the seed's derivative(f(z)) evaluated at f(f(z))
                    delta *= activation_derivative(a, name=name)
        return loss, grads, acts[-1]

    def _step(self, grads):
        """One in-place optimiser update of the flat parameters from ``grads`` (overwritten)."""
        params, scratch, lr = self._params, self._scratch, self.learning_rate
        n_w = self._n_weights
        if self.optimizer == "sgd":
            # p - lr (g + l2 p) == (1 - lr l2) p - lr g: one pass fewer, which
            # counts with the seed's one-sample batches.
            if self.l2:
                params[:n_w] *= 1 - lr * self.l2
            grads *= lr
            params -= grads
            return
        if self.l2:
            np.multiply(params[:n_w], self.l2, out=scratch[:n_w])
            grads[:n_w] += scratch[:n_w]
        if self.optimizer == "momentum":
            velocity = self._moment1
            velocity *= self.momentum
            grads *= lr
            velocity -= grads
            params += velocity
        else:
            # Adam with its moments kept divided by (1 - beta): m' = m / (1 - b1)
            # and v' = v / (1 - b2) update as m' = b1 m' + g, v' = b2 v' + g^2,
            # two passes fewer per step than the textbook form; the constants
            # and the bias correction fold into the step size and epsilon.
            self._steps += 1
            m, v = self._moment1, self._moment2
            m *= _ADAM_BETA1
            m += grads
            v *= _ADAM_BETA2
            np.multiply(grads, grads, out=scratch)
            v += scratch
            root = math.sqrt(1 - _ADAM_BETA2)
            step = lr * (1 - _ADAM_BETA1) / root * math.sqrt(1 - _ADAM_BETA2**self._steps)
            step /= 1 - _ADAM_BETA1**self._steps
            np.sqrt(v, out=scratch)
            scratch += _ADAM_EPS / root
            np.divide(m, scratch, out=scratch)
            scratch *= step
            params -= scratch

    # ------------------------------------------------------------ training

    def check_params(self):
        """Raise ValueError naming a bad setting (before any data is touched)."""
        self._layer_plan()

    def fit(self, X, y, *, X_val=None, y_val=None, groups=None, on_epoch=None, should_stop=None):
        """Train from scratch.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
        y : array-like (n_samples,)
            Labels, ints or strings.
        X_val, y_val : array-like or None
            Validation data; when given, used instead of a held-out part of X.
        groups : array-like (n_samples,) or None
            The clip each row came from (windows of one recording): the
            early-stopping hold-out takes whole groups, so no recording is on
            both sides.
        on_epoch : callable(dict) or None
            Called after every epoch (and every ``report_every`` mini-batches)
            with a plain dict: epoch (1-based), epochs, loss, accuracy,
            val_loss, val_accuracy (None without validation data), per_class
            ({str(label): accuracy on the validation data if any, else on the
            training batches seen; None for a class without samples}),
            seconds (since fit started), batch (None for epoch reports, else the
            1-based mini-batch index within the epoch).
        should_stop : callable() -> bool or None
            Checked before every mini-batch; True stops training, keeps the
            weights of the best epoch (by validation loss; the current ones
            without validation data) and returns normally.

        Returns
        -------
        self
        """
        self.templates_ = None  # a new training: templates, if any, come after it (set_templates)
        self._layer_plan()
        X, y = validate_data(self, _flat(X), y, dtype=np.float32)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds one class only ({classes[0]!r}); training needs at least two classes.")
        if (X_val is None) != (y_val is None):
            raise ValueError("Pass both X_val and y_val, or neither.")
        rng = np.random.default_rng(self.random_state)
        X_train, y_train = X, y_idx
        if X_val is not None:
            X_val = validate_data(self, _flat(X_val), dtype=np.float32, reset=False)
            y_val = _encode(classes, y_val, n_samples=len(X_val))
        elif self.early_stopping and groups is not None:
            groups = np.asarray(groups)
            uniq, first = np.unique(groups, return_index=True)
            _, val_g = _stratified_split(y_idx[first], fraction=self.validation_fraction, rng=rng)
            is_val = np.isin(groups, uniq[val_g])
            if is_val.any() and not is_val.all():
                X_train, y_train = X[~is_val], y_idx[~is_val]
                X_val, y_val = X[is_val], y_idx[is_val]
        elif self.early_stopping:
            train_idx, val_idx = _stratified_split(y_idx, fraction=self.validation_fraction, rng=rng)
            if len(val_idx):
                X_train, y_train = X[train_idx], y_idx[train_idx]
                X_val, y_val = X[val_idx], y_idx[val_idx]
        self._rng = rng
        self._setup(X_train, classes, rng)
        X_train = self._scale(X_train)
        X_val = None if X_val is None else self._scale(X_val)
        with _one_blas_thread():
            self._train(X_train, y_train, X_val, y_val, on_epoch=on_epoch, should_stop=should_stop)
        return self

    def partial_fit(self, X, y, classes=None):
        """Train for one epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
        y : array-like (n_samples,)
        classes : array-like or None
            Every label the model will ever see; required on the first call
            (which also fits the standardisation on this first X).

        Returns
        -------
        self
        """
        if not hasattr(self, "_params"):
            if classes is None:
                raise ValueError("partial_fit needs classes=[...all labels...] on its first call.")
            self._layer_plan()
            X = validate_data(self, _flat(X), dtype=np.float32)
            classes = np.unique(np.asarray(classes))
            if len(classes) < 2:
                raise ValueError(f"classes holds {len(classes)} label; training needs at least two classes.")
            self._rng = np.random.default_rng(self.random_state)
            self._setup(X, classes, self._rng)
        else:
            X = validate_data(self, _flat(X), dtype=np.float32, reset=False)
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
                raise ValueError(
                    f"classes differ from the ones of the first call: {self.classes_.tolist()}."
                )
        y = _encode(self.classes_, y, n_samples=len(X))
        before = self._params.copy()
        epoch = len(self.loss_curve_) + 1
        started = time.perf_counter()
        with _one_blas_thread():
            status, loss, ys, correct = self._run_epoch(
                self._scale(X), y, epoch=epoch, on_epoch=None, should_stop=None, started=started
            )
        if status is None:
            status = self._explosion(loss)
        if status is not None:
            self._params[...] = before
            self._diverge(epoch, status)
            return self
        self.loss_curve_.append(loss)
        self.history_.append(
            self._report(
                epoch, loss, correct.mean(), None, None, self._per_class(ys, correct),
                time.perf_counter() - started, None,
            )
        )
        self.best_epoch_ = epoch
        return self

    def _insides(self, X):
        """Per-layer health after an epoch, on a fixed sample of training rows ``X`` (standardised).

        What decides whether a net learns (the report's randn-initialised
        sigmoid net stayed at chance): the size of each layer's weights and of
        its last mini-batch gradient, the share of dead ReLU units (zero for
        every sample), the share of saturated sigmoid/tanh outputs, and a
        histogram of each hidden layer's activations.

        Returns
        -------
        list of dict, one per layer: layer, activation, weight_rms, grad_rms,
        dead (share of units; ReLU-like layers, else None), saturated (share of
        outputs; sigmoid-like layers, else None), hist (counts), edges
        """
        weights, _ = self._param_views
        grads, _ = self._views(self._grads)
        with np.errstate(over="ignore", invalid="ignore"):
            acts = self._forward(X, self._params)[1:]
        out = []
        last = len(weights) - 1
        for i, (W, G, a, name) in enumerate(zip(weights, grads, acts, self._layer_activations)):
            entry = {"layer": "output" if i == last else f"hidden {i + 1}", "activation": name,
                     "weight_rms": float(np.sqrt(np.mean(np.square(W, dtype=np.float64)))),
                     "grad_rms": float(np.sqrt(np.mean(np.square(G, dtype=np.float64)))),
                     "dead": None, "saturated": None, "hist": [], "edges": []}
            if i < last and a.size and np.all(np.isfinite(a)):
                if name in ("relu", "leaky-relu"):
                    entry["dead"] = float(np.mean(np.all(a <= 0, axis=0)))
                elif name in ("bipolar-sigmoid", "tanh"):
                    entry["saturated"] = float(np.mean(np.abs(a) > 0.95))
                elif name == "logistic":
                    entry["saturated"] = float(np.mean((a < 0.025) | (a > 0.975)))
                counts, edges = np.histogram(a, bins=20)
                entry["hist"], entry["edges"] = counts.tolist(), [float(e) for e in edges]
            out.append(entry)
        return out

    def _train(self, X, y, X_val, y_val, *, on_epoch, should_stop):
        """The epoch loop of :meth:`fit` on standardised data; sets the learned-state attributes."""
        started = time.perf_counter()
        probe = X[:: max(1, len(X) // INSIDES_SAMPLE)][:INSIDES_SAMPLE]  # fixed rows for the insides
        best_params, best_loss, stale = self._params.copy(), math.inf, 0
        for epoch in range(1, int(self.epochs) + 1):
            status, loss, ys, correct = self._run_epoch(
                X, y, epoch=epoch, on_epoch=on_epoch, should_stop=should_stop, started=started
            )
            if status == "stopped":
                # Keep the best completed epoch (by validation loss, or by
                # training loss without validation), never half an epoch.
                if self.best_epoch_:
                    self._params[...] = best_params
                self.stop_reason_ = (f"stopped by user after epoch {epoch - 1}; "
                                     f"kept the weights of epoch {self.best_epoch_}")
                return
            val_loss = val_acc = None
            if status is None and X_val is not None:
                val_loss, val_acc, per_class = self._evaluate(X_val, y_val)
                if not math.isfinite(val_loss):
                    status = "the validation loss became " + ("nan" if math.isnan(val_loss) else "inf")
            if status is None:
                status = self._explosion(loss)
            if status is not None:
                self._params[...] = best_params
                self._diverge(epoch, status)
                return
            if X_val is None:
                per_class = self._per_class(ys, correct)
            else:
                self.validation_scores_.append(val_acc)
            self.loss_curve_.append(loss)
            stats = self._report(
                epoch, loss, correct.mean(), val_loss, val_acc, per_class, time.perf_counter() - started, None
            )
            stats["layers"] = self._insides(probe)
            self.history_.append(stats)
            if on_epoch is not None:
                on_epoch(dict(stats))
            monitored = loss if val_loss is None else val_loss
            if monitored < best_loss:
                best_loss, stale, self.best_epoch_ = monitored, 0, epoch
                best_params[...] = self._params
            else:
                stale += 1
            if self.early_stopping and stale >= self.patience:
                self._params[...] = best_params
                what = "training" if X_val is None else "validation"
                self.stop_reason_ = (
                    f"Early stopping after epoch {epoch}: the {what} loss has not improved for "
                    f"{self.patience} epochs; kept the weights of epoch {self.best_epoch_}."
                )
                return
        if self.early_stopping:
            self._params[...] = best_params
        else:
            self.best_epoch_ = int(self.epochs)

    def _run_epoch(self, X, y, *, epoch, on_epoch, should_stop, started):
        """One shuffled pass of mini-batch updates over standardised X (n, f), y (n,).

        Returns
        -------
        status : None, "stopped" or a description of how the loss blew up
        loss : float
            Mean of the mini-batch losses, weighted by batch size.
        ys : ndarray (n,)
            The labels in the order they were visited.
        correct : ndarray (n,) of bool
            Whether each visited sample was classified right before its update.
        """
        n = len(X)
        order = self._rng.permutation(n)
        X, ys = X[order], y[order]  # one copy per epoch, then every batch is a contiguous slice
        correct = np.zeros(n, dtype=bool)
        size, grads, loss_sum = int(self.batch_size), self._grads, 0.0
        for batch, start in enumerate(range(0, n, size), 1):
            if should_stop is not None and should_stop():
                return "stopped", math.nan, ys, correct
            stop = min(start + size, n)
            yb = ys[start:stop]
            # A diverging run overflows float32; the finite-loss check below
            # catches it and explains it, so the warnings would only repeat it.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss, _, out = self._loss_and_grads(X[start:stop], yb, grads=grads)
                if not math.isfinite(loss):
                    return "the loss became " + ("nan" if math.isnan(loss) else "inf"), math.nan, ys, correct
                self._step(grads)
            if self._initial_loss is None:
                self._initial_loss = loss
            loss_sum += loss * (stop - start)
            correct[start:stop] = out.argmax(axis=1) == yb
            if on_epoch is not None and self.report_every and batch % int(self.report_every) == 0:
                on_epoch(
                    self._report(
                        epoch, loss_sum / stop, correct[:stop].mean(), None, None,
                        self._per_class(ys[:stop], correct[:stop]), time.perf_counter() - started, batch,
                    )
                )
        return None, loss_sum / n, ys, correct

    def _explosion(self, loss):
        """None while the epoch's mean ``loss`` and the weights are sane, else how they blew up."""
        start = self._initial_loss
        if start is not None and loss > _MAX_LOSS_GROWTH * max(start, 1e-2):
            return f"the loss grew from {start:.3g} to {loss:.3g}"
        with np.errstate(invalid="ignore"):
            largest = float(np.abs(self._params).max())
        if not math.isfinite(largest):
            return "the weights became " + ("nan" if math.isnan(largest) else "inf")
        if largest > _MAX_WEIGHT:
            return f"a weight reached {largest:.3g}"
        return None

    def _diverge(self, epoch, what):
        """Record a blown-up run; the caller has already put back the last good weights."""
        self._reset_optimizer()  # its moments hold the blown-up gradients
        self.diverged_ = True
        advice = f"lower the learning rate (now {self.learning_rate:g})"
        if not self.standardize:
            advice += " or turn on standardisation"
        self.stop_reason_ = f"Training diverged at epoch {epoch} ({what}): {advice}."

    def _evaluate(self, X, y):
        """(loss, accuracy, per-class accuracy) of the current weights on standardised X, y."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._forward(X, self._params)[-1]
            loss, _ = self._output_loss(out, y)
        correct = out.argmax(axis=1) == y
        return loss, float(correct.mean()), self._per_class(y, correct)

    def _per_class(self, y, correct):
        """{str(label): accuracy} from class indices y (n,) and hits (n,); None for absent classes."""
        k = len(self.classes_)
        totals = np.bincount(y, minlength=k)
        hits = np.bincount(y, weights=correct, minlength=k)
        return {
            str(label): (float(hit / total) if total else None)
            for label, hit, total in zip(self.classes_.tolist(), hits, totals)
        }

    def _report(self, epoch, loss, accuracy, val_loss, val_accuracy, per_class, seconds, batch):
        return {
            "epoch": epoch,
            "epochs": int(self.epochs),
            "loss": float(loss),
            "accuracy": float(accuracy),
            "val_loss": None if val_loss is None else float(val_loss),
            "val_accuracy": None if val_accuracy is None else float(val_accuracy),
            "per_class": per_class,
            "seconds": float(seconds),
            "batch": batch,
        }

    # ---------------------------------------------------------- prediction

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like (n_samples, n_features)

        Returns
        -------
        ndarray (n_samples, n_classes), float32
            Columns follow ``classes_``; for ``output="mse"`` the softmax of the outputs.
        """
        self._check_fitted()
        raw = validate_data(self, _flat(X), dtype=np.float32, reset=False)
        proba = _softmax(self._forward(self._scale(raw), self._params)[-1])
        templates = getattr(self, "templates_", None)
        if templates is not None:  # your takes, matched directly (core.templates)
            proba = templates.blend(proba, raw).astype(np.float32)
        return proba

    def predict(self, X):
        """Most probable label per sample, (n_samples,), drawn from ``classes_``."""
        proba = self.predict_proba(X)  # first: an unfitted model says so (not an AttributeError on classes_)
        return self.classes_[proba.argmax(axis=1)]

    def set_templates(self, X, labels, *, frames):
        """Blend every later prediction with these clips (a new voice's takes) as templates of their
        labels (core.templates; frame sequences of ``frames`` frames). Returns how many were kept
        (0: none, e.g. takes of a single class)."""
        from ..templates import Templates

        self._check_fitted()
        classes = [str(c) for c in self.classes_.tolist()]
        keep = [i for i, lab in enumerate(labels) if str(lab) in classes]
        y = np.array([classes.index(str(labels[i])) for i in keep], dtype=np.int64)
        X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)[keep]
        self.templates_ = Templates.fit(X, y, frames=frames)
        return 0 if self.templates_ is None else len(y)

    # --------------------------------------------------------- persistence

    def get_state(self):
        """Everything needed to rebuild the trained model, without pickle.

        Returns
        -------
        config : dict
            JSON-serialisable: ``get_params()``, the architecture and the training record.
        arrays : dict of str -> ndarray
            ``coef_<i>``, ``intercept_<i>``, ``classes`` (numeric or unicode,
            never object) and, when standardising, ``mean`` and ``scale``;
            loadable with ``np.load(allow_pickle=False)``.
        """
        self._check_fitted()
        params = self.get_params()
        params["hidden_layer_sizes"] = [int(fan_out) for _, fan_out in self._shapes[:-1]]
        if not isinstance(params["activation"], str):
            params["activation"] = list(params["activation"])
        rs = params["random_state"]
        params["random_state"] = int(rs) if isinstance(rs, (int, np.integer)) else None
        classes = np.asarray(self.classes_.tolist())
        if classes.dtype.kind not in "biuU":
            raise TypeError(
                f"Labels of type {self.classes_.dtype} cannot be saved without pickle; use ints or strings."
            )
        arrays = {"classes": classes}
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            arrays[f"coef_{i}"], arrays[f"intercept_{i}"] = W.copy(), b.copy()
        if self.mean_ is not None:
            arrays["mean"], arrays["scale"] = self.mean_.copy(), self.scale_.copy()
        templates = getattr(self, "templates_", None)
        if templates is not None:
            t_config, t_arrays = templates.to_state()
            arrays.update(t_arrays)
        config = {
            "templates": t_config if templates is not None else None,
            "format": "speechlab-mlp/1",
            "params": params,
            "n_features_in": int(self.n_features_in_),
            "layer_activations": list(self._layer_activations),
            "loss_curve": [float(v) for v in self.loss_curve_],
            "validation_scores": [float(v) for v in self.validation_scores_],
            "best_epoch": int(self.best_epoch_),
            "stop_reason": self.stop_reason_,
            "diverged": bool(self.diverged_),
            "initial_loss": self._initial_loss,
        }
        return config, arrays

    @classmethod
    def from_state(cls, config, arrays):
        """Rebuild a model saved with :meth:`get_state`; it predicts exactly as the original.

        Parameters
        ----------
        config : dict
        arrays : mapping of str -> ndarray (a dict or an ``np.load`` result)

        Returns
        -------
        MLPClassifier
        """
        params = dict(config["params"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        if not isinstance(params["activation"], str):
            params["activation"] = tuple(params["activation"])
        if params.get("output") == "mse-seed":  # saved before the report's rule was renamed
            params["output"] = OUTPUTS[-1]
        model = cls(**params)
        model._layer_plan()  # refuses unknown activations, outputs, sizes
        layer_activations = list(config["layer_activations"])
        if not 1 <= len(layer_activations) <= 64 or not all(a in (*ACTIVATIONS, "softmax") for a in layer_activations):
            raise ValueError("layer activations are missing or unknown")
        n_layers = len(layer_activations)
        coefs = [np.asarray(arrays[f"coef_{i}"], dtype=np.float32) for i in range(n_layers)]
        intercepts = [np.asarray(arrays[f"intercept_{i}"], dtype=np.float32) for i in range(n_layers)]
        # The arrays must chain: n_features_in -> hidden sizes -> number of classes.
        fan_in = int(config["n_features_in"])
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            if W.ndim != 2 or W.shape[0] != fan_in or b.shape != (W.shape[1],):
                raise ValueError(f"layer {i} has shape {W.shape} / {b.shape}, expected ({fan_in}, n) / (n,)")
            fan_out = W.shape[1]
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                raise ValueError(f"layer {i} holds non-finite weights")
            fan_in = fan_out
        n_classes = np.asarray(arrays["classes"]).shape
        if len(n_classes) != 1 or n_classes[0] != fan_in:
            raise ValueError(f"{n_classes} classes for an output layer of {fan_in} units")
        if np.asarray(arrays["classes"]).dtype.kind not in "biuU":
            raise ValueError("class names must be numbers or text")
        if "mean" in arrays and (np.shape(arrays["mean"]) != (coefs[0].shape[0],)
                                 or np.shape(arrays["scale"]) != (coefs[0].shape[0],)):
            raise ValueError("standardisation arrays do not match the input size")
        model._layer_activations = layer_activations
        model._shapes = [W.shape for W in coefs]
        model._params = np.concatenate([a.ravel() for a in coefs + intercepts])
        model.classes_ = np.asarray(arrays["classes"])
        model.n_features_in_ = int(config["n_features_in"])
        if "mean" in arrays:
            model.mean_ = np.asarray(arrays["mean"], dtype=np.float32)
            model.scale_ = np.asarray(arrays["scale"], dtype=np.float32)
        else:
            model.mean_ = model.scale_ = None
        model.loss_curve_ = list(config.get("loss_curve", []))
        model.validation_scores_ = list(config.get("validation_scores", []))
        model.history_ = []
        model.best_epoch_ = int(config.get("best_epoch", 0))
        model.stop_reason_ = config.get("stop_reason")
        model.diverged_ = bool(config.get("diverged", False))
        model._rng = np.random.default_rng(params["random_state"])
        model._reset_optimizer()
        model._initial_loss = config.get("initial_loss")
        model.templates_ = None
        if config.get("templates") is not None:
            from ..templates import Templates

            model.templates_ = Templates.from_state(config["templates"], arrays, n_features=model.n_features_in_,
                                                    n_classes=len(model.classes_))
        return model
