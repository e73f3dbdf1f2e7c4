"""Your takes as templates: a new voice's few recordings matched directly, beside what the model learned.

A Digits model trained on a dataset plus a few takes of the user's voice still answers mostly from the
dataset's voices: one take of a digit is one clip among thousands, however much it weighs. Matching a
clip against the takes themselves (dynamic time warping of their MFCC frames, as speaker-dependent
recognisers did before neural networks) is strong on exactly that voice and blind elsewhere. The two
are blended: the model's log-probability of each class minus ``weight`` times the clip's distance to
the nearest take of that class, distances in units of the typical distance between takes of different
classes. The takes only speak for a clip that sounds like them: the weight fades (a logistic step at
``near``, ``softness`` wide) as the clip's distance to its nearest take grows. A clip of the takes' own
voice sits at about half the typical distance from the take of its class; a clip of another voice sits
at three quarters or more from every take, and the model alone answers it.

Measured (``benchmarks/your_voice.py``, FSDD, 3 speakers + the 4th's takes, accuracy on that speaker's
other clips): see RESULTS.md, "Your voice: takes as templates".

Plain NumPy, no state but arrays: saved with the model (no pickle).
"""
from __future__ import annotations

import dataclasses

import numpy as np

# The blend's weight of the (scaled) distance: chosen on FSDD's held-out voices, 1 and 3 takes a digit
# (a broad optimum from 12 to 24); see RESULTS.md. The nearness step: chosen so that the
# dataset's own voices lose nothing (tests/core/test_takes_weight.py).
DEFAULT_WEIGHT = 16.0
DEFAULT_NEAR, DEFAULT_SOFTNESS = 0.6, 0.1
_CHUNK_PAIRS = 4096  # pairs of clips whose frame distances are held at once (T·U floats each: 32 MB)


def dtw_distances(A, B):
    """Dynamic-time-warping distance of every sequence in ``A`` to every sequence in ``B``.

    Parameters
    ----------
    A : np.ndarray (n, F, T) ; B : np.ndarray (m, F, U)
        Sequences of T (U) frames of F numbers.

    Returns
    -------
    np.ndarray (n, m): the cheapest monotonic alignment's summed Euclidean frame distance,
    divided by T + U (steps (1, 1), (0, 1), (1, 0), as ``librosa.sequence.dtw``'s default).
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    n, _, T = A.shape
    m, _, U = B.shape
    out = np.empty((n, m))
    if n == 0 or m == 0:
        return out
    a = A.transpose(0, 2, 1)  # (n, T, F)
    b = B.transpose(0, 2, 1)  # (m, U, F)
    b2 = (b**2).sum(-1)  # (m, U)
    rows = max(1, _CHUNK_PAIRS // m)
    for s in range(0, n, rows):
        ac = a[s : s + rows]
        a2 = (ac**2).sum(-1)  # (r, T)
        r = len(ac)
        cross = (ac.reshape(r * T, -1) @ b.reshape(m * U, -1).T).reshape(r, T, m, U).transpose(0, 2, 1, 3)
        d = np.sqrt(np.maximum(a2[:, None, :, None] + b2[None, :, None, :] - 2.0 * cross, 0.0))
        d = d.reshape(-1, T, U)  # (pairs, T, U)
        cost = np.empty_like(d)
        cost[:, 0, 0] = d[:, 0, 0]
        cost[:, 0, 1:] = np.cumsum(d[:, 0, 1:], axis=1) + d[:, 0, :1]
        cost[:, 1:, 0] = np.cumsum(d[:, 1:, 0], axis=1) + d[:, :1, 0]
        for i in range(1, T):
            up, diag = cost[:, i - 1, 1:], cost[:, i - 1, :-1]
            best = np.minimum(up, diag)
            row = cost[:, i]
            for j in range(1, U):
                row[:, j] = d[:, i, j] + np.minimum(best[:, j - 1], row[:, j - 1])
        out[s : s + rows] = (cost[:, T - 1, U - 1] / (T + U)).reshape(-1, m)
    return out


@dataclasses.dataclass
class Templates:
    """The takes a model blends with (see the module's docstring).

    Attributes
    ----------
    X : (n, F·T) float32, the takes' features as the model sees them (MFCC+Δ+ΔΔ, F rows of T frames)
    y : (n,) int, each take's class as a column of the model's ``classes_``
    frames : T
    scale : the median distance between takes of different classes (distances are divided by it)
    weight : how much the scaled distance counts against the model's log-probability
    near, softness : the weight is halved where the clip's nearest take is ``near`` away (scaled)
    """

    X: np.ndarray
    y: np.ndarray
    frames: int
    scale: float
    weight: float = DEFAULT_WEIGHT
    near: float = DEFAULT_NEAR
    softness: float = DEFAULT_SOFTNESS
    # the last clips' distances: a prediction blends (predict_proba) and then asks is_near of the same clips
    _last: tuple = dataclasses.field(default=(None, None), repr=False, compare=False)
    _n_classes: int = dataclasses.field(default=0, repr=False, compare=False)

    @classmethod
    def fit(cls, X, y, *, frames, weight=DEFAULT_WEIGHT):
        """Templates from the takes ``X`` (rows) of classes ``y`` (column indices); None when fewer than
        two classes have takes (nothing to compare a distance with)."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        if X.ndim != 2 or len(X) != len(y) or len(np.unique(y)) < 2 or X.shape[1] % frames:
            return None
        seqs = X.reshape(len(X), -1, frames)
        d = dtw_distances(seqs, seqs)
        apart = d[y[:, None] != y[None, :]]
        scale = float(np.median(apart))
        if not np.isfinite(scale) or scale <= 0:
            return None
        return cls(X=X, y=y, frames=int(frames), scale=scale, weight=float(weight))

    def class_distances(self, X, n_classes):
        """(len(X), n_classes): each clip's scaled distance to the nearest take of each class; a class
        without takes gets the clip's mean over the classes that have some (no pull either way)."""
        X = np.ascontiguousarray(X, dtype=np.float32).reshape(len(X), -1)
        key = (X.shape, n_classes, hash(X.tobytes()))
        if self._last[0] == key:
            return self._last[1].copy()
        d = dtw_distances(X.reshape(len(X), -1, self.frames), self.X.reshape(len(self.X), -1, self.frames))
        out = np.full((len(X), n_classes), np.nan)
        for c in np.unique(self.y):
            out[:, c] = d[:, self.y == c].min(axis=1) / self.scale
        have = ~np.isnan(out[0]) if len(X) else np.zeros(n_classes, bool)
        if len(X) and not have.all():
            out[:, ~have] = out[:, have].mean(axis=1, keepdims=True)
        self._last = (key, out)
        return out.copy()

    def is_near(self, X):
        """(len(X),) bool: the clips that lie near one of the takes (closer than ``near``, scaled): a digit
        in the takes' voice, which the "not a digit" threshold should not refuse."""
        if len(X) == 0:
            return np.zeros(0, bool)
        d = self.class_distances(X, self._n_classes or int(self.y.max()) + 1)  # the model's classes once blended
        return d.min(axis=1) < self.near

    def blend(self, proba, X):
        """The model's probabilities (n, k) blended with the takes: softmax(log p - weight · nearness · distance)."""
        proba = np.asarray(proba, dtype=np.float64)
        if len(proba) == 0 or self.weight <= 0:
            return proba
        self._n_classes = proba.shape[1]
        d = self.class_distances(X, proba.shape[1])
        nearness = 1.0 / (1.0 + np.exp(np.clip((d.min(axis=1, keepdims=True) - self.near) / self.softness, -50, 50)))
        score = np.log(np.maximum(proba, 1e-12)) - self.weight * nearness * d
        score -= score.max(axis=1, keepdims=True)
        e = np.exp(score)
        return e / e.sum(axis=1, keepdims=True)

    # ---------------------------------------------------------------- persistence (no pickle)

    def to_state(self):
        """(config: JSON-able dict, arrays)."""
        return ({"frames": self.frames, "scale": self.scale, "weight": self.weight, "near": self.near,
                 "softness": self.softness},
                {"templates_X": self.X, "templates_y": self.y})

    @classmethod
    def from_state(cls, config, arrays, *, n_features, n_classes):
        """Rebuild and check what a model file holds; raises ValueError naming what is wrong."""
        X = np.asarray(arrays["templates_X"], dtype=np.float32)
        y = np.asarray(arrays["templates_y"])
        frames, scale, weight = int(config["frames"]), float(config["scale"]), float(config["weight"])
        near, softness = float(config["near"]), float(config["softness"])
        if X.ndim != 2 or X.shape[1] != n_features or y.shape != (len(X),) or y.dtype.kind not in "iu":
            raise ValueError(f"templates of shape {X.shape} / {y.shape} do not fit {n_features} features")
        if frames < 1 or n_features % frames or not (np.isfinite(scale) and scale > 0) \
                or not (np.isfinite(weight) and weight >= 0) or not np.all(np.isfinite(X)) \
                or not (np.isfinite(near) and np.isfinite(softness) and softness > 0):
            raise ValueError("template settings are out of range or not finite")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError("templates name classes the model does not have")
        return cls(X=X, y=y.astype(np.int64), frames=frames, scale=scale, weight=weight, near=near,
                   softness=softness)
