"""Epoch time of the NumPy MLPClassifier against the seed's loop and scikit-learn.

On the FSDD features of three configurations (the Digits default, the seed's
padded ``mfcc-full`` and its ``mfcc-mean``), for the training part of the
80/20 split:

* ``MLPClassifier`` with the app's default training (Adam, mini-batches of 32)
  and with the seed's (plain SGD on single samples, MSE output);
* :class:`SeedMLP`, a faithful re-implementation of the seed's per-sample
  Python loop (timed on a subset and scaled to one epoch);
* ``sklearn.neural_network.MLPClassifier`` (Adam, same batch size), one epoch
  per ``partial_fit`` call, with its default BLAS threads and with one thread
  (ours trains on one BLAS thread on purpose, see ``core/models/mlp.py``).

Same hidden layers everywhere: the default's (256, 128) on the default
features, the seed's one layer of (in+out)/2 on the seed's. Prints the times and the ratios
(seed loop / ours, target >= 50x; scikit-learn / ours, target >= 1.0).

Usage::

    .venv/bin/python benchmarks/mlp_speed.py [--data DIR] [--subset 200] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SEED_LOOP = "seed's per-sample loop"
DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"


class SeedMLP:
    """The seed's hand-written MLP, as its notebook wrote it (float64, one sample at a time).

    Every layer, the output included, applies the activation; the output error
    is ``output - target`` (no output derivative); the hidden derivative is the
    seed's ``derivative(a)`` evaluated on the layer's *output* ``a`` — for the
    bipolar sigmoid that applies the sigmoid a second time, which is what the
    seed computed. All gradients of a sample are computed before any update.

    Parameters
    ----------
    sizes : sequence of int, ``[n_in, hidden..., n_out]``
    activation : "bipolar-sigmoid" or "relu"
    init : "randn" (the seed's first version) or "xavier" (``randn * sqrt(1/fan_in)``)
    learning_rate : float
    rng : np.random.Generator
    """

    def __init__(self, sizes, *, activation="bipolar-sigmoid", init="randn", learning_rate=0.001, rng=None):
        rng = rng or np.random.default_rng()
        self.activation = activation
        self.learning_rate = learning_rate
        self.W = [rng.standard_normal((a, b)) * (np.sqrt(1.0 / a) if init == "xavier" else 1.0)
                  for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros((1, b)) for b in sizes[1:]]

    def _f(self, x):
        if self.activation == "relu":
            return np.maximum(0, x)
        return (2 / (1 + np.exp(-x))) - 1

    def _df(self, x):
        if self.activation == "relu":
            return np.where(x > 0, 1, 0)
        return 0.5 * (1 + self._f(x)) * (1 - self._f(x))

    def forward(self, x):
        self.a = [x]
        for W, b in zip(self.W, self.b):
            self.a.append(self._f(np.dot(self.a[-1], W) + b))
        return self.a[-1]

    def backward(self, y, output):
        m = y.shape[0]
        delta = output - y
        grads = []
        for layer in range(len(self.W) - 1, -1, -1):
            grads.append((np.dot(self.a[layer].T, delta) / m, np.sum(delta, axis=0, keepdims=True) / m))
            if layer:
                delta = np.dot(delta, self.W[layer].T) * self._df(self.a[layer])
        for (dW, db), W, b in zip(grads, reversed(self.W), reversed(self.b)):
            W -= self.learning_rate * dW
            b -= self.learning_rate * db

    def train_epoch(self, X, Y):
        """One pass in order over X (n, f) with one-hot Y (n, k); returns (mean MSE, accuracy)."""
        total_error, correct = 0.0, 0
        for i in range(len(X)):
            x, y = X[i].reshape(1, -1), Y[i].reshape(1, -1)
            output = self.forward(x)
            self.backward(y, output)
            e = np.exp(output - output.max())
            correct += int(np.argmax(e / e.sum()) == np.argmax(y))
            total_error += np.mean((y - output) ** 2)
        return total_error / len(X), correct / len(X)

    def predict(self, X):
        return self.forward(np.asarray(X, dtype=np.float64)).argmax(axis=1)


def _median_epoch(step, repeats):
    """Median wall time of ``step()`` over ``repeats`` calls, after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_config(label, X, y, hidden, *, subset, repeats):
    """Epoch times (seconds) of every trainer on standardised X (n, f), labels y (n,)."""
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS

    classes = np.unique(y)
    n = len(X)

    def log(msg):
        print(f"[{label}] {msg}", file=sys.stderr, flush=True)

    times = {}

    ours = MLPClassifier(**dict(DIGITS.model, hidden_layer_sizes=hidden, standardize=False), random_state=0)
    times["ours, Adam, batch 32"] = _median_epoch(lambda: ours.partial_fit(X, y, classes=classes), repeats)
    log(f"ours (Adam, batch 32): {times['ours, Adam, batch 32']:.3f} s")

    seed_like = MLPClassifier(hidden, "relu", output="mse", init="xavier", optimizer="sgd", learning_rate=1e-3,
                              batch_size=1, l2=0.0, early_stopping=False, standardize=False, random_state=0)
    times["ours, SGD, batch 1 (seed set-up)"] = _median_epoch(
        lambda: seed_like.partial_fit(X, y, classes=classes), repeats)
    log(f"ours (SGD, batch 1): {times['ours, SGD, batch 1 (seed set-up)']:.3f} s")

    Xs = np.asarray(X[:subset], dtype=np.float64)
    Ys = np.eye(len(classes))[np.searchsorted(classes, y[:subset])]
    seed = SeedMLP([X.shape[1], *hidden, len(classes)], activation="relu", init="xavier",
                   rng=np.random.default_rng(0))
    times[SEED_LOOP] = _median_epoch(lambda: seed.train_epoch(Xs, Ys), repeats) * n / len(Xs)
    log(f"seed loop: {times[SEED_LOOP]:.3f} s per epoch "
        f"(timed on {len(Xs)} samples)")

    def sklearn_epoch(model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "maximum iterations reached" after every one-epoch call
            model.partial_fit(X, y, classes=classes)

    def sklearn_model():
        return SkMLP(hidden_layer_sizes=hidden, activation="relu", solver="adam", batch_size=32,
                     learning_rate_init=1e-3, alpha=1e-4, random_state=0)

    sk = sklearn_model()
    times["scikit-learn, Adam, batch 32"] = _median_epoch(lambda: sklearn_epoch(sk), repeats)
    log(f"scikit-learn: {times['scikit-learn, Adam, batch 32']:.3f} s")
    sk1 = sklearn_model()
    with threadpool_limits(limits=1, user_api="blas"):
        times["scikit-learn, 1 BLAS thread"] = _median_epoch(lambda: sklearn_epoch(sk1), repeats)
    log(f"scikit-learn (1 thread): {times['scikit-learn, 1 BLAS thread']:.3f} s")
    return times


def main(argv=None):
    from core.datasets import scan_dataset
    from core.extraction import build_features
    from core.features import FeatureConfig
    from core.presets import REPORT_FULL, REPORT_MEAN
    from core.tasks import DIGITS
    from core.training import SplitConfig, split_features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="FSDD recordings folder")
    parser.add_argument("--subset", type=int, default=200, help="samples the seed's loop is timed on")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per trainer (median)")
    args = parser.parse_args(argv)

    ds = scan_dataset(args.data, label="digit")
    configs = [
        ("default features", DIGITS.feature_config(), tuple(DIGITS.model["hidden_layer_sizes"])),
        ("seed's mfcc-full (pad)", FeatureConfig(**REPORT_FULL), None),
        ("seed's mfcc-mean", FeatureConfig(**REPORT_MEAN), None),
    ]
    rows = []
    for label, fc, hidden in configs:
        fs = build_features(ds, fc)
        tr, _ = split_features(fs, SplitConfig(random_state=42))
        X = fs.X[tr]
        # Standardise once here, so every trainer sees the same inputs.
        X = ((X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)).astype(np.float32)
        y = fs.labels[tr]
        if hidden is None:
            hidden = ((X.shape[1] + 10) // 2,)  # the seed's one layer of (in+out)/2
        times = time_config(label, X, y, hidden, subset=args.subset, repeats=args.repeats)
        rows.append((label, X.shape, hidden, times))

    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
    print()
    print("| features | train X | hidden | trainer | s / epoch |")
    print("|---|---|---|---|---|")
    for label, shape, hidden, times in rows:
        for name, t in times.items():
            print(f"| {label} | {shape[0]}×{shape[1]} | {hidden} | {name} | {t:.3f} |")
    print()
    for label, _, _, times in rows:
        ours = times["ours, Adam, batch 32"]
        print(f"{label}: seed loop / ours (Adam, batch 32) = {times[SEED_LOOP] / ours:.0f}x "
              f"(target >= 50x); seed loop / ours (SGD, batch 1) = "
              f"{times[SEED_LOOP] / times['ours, SGD, batch 1 (seed set-up)']:.1f}x; "
              f"scikit-learn / ours = {times['scikit-learn, Adam, batch 32'] / ours:.2f} "
              f"(1 thread: {times['scikit-learn, 1 BLAS thread'] / ours:.2f}; target >= 1.0)")


if __name__ == "__main__":
    main()
