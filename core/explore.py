"""The data explorer's computations: what a dataset holds, a 2-D map of its features, the odd clips.

No Qt here. The GUI's Explore view (``gui/widgets/explorer.py``) runs these in a worker thread:

* :func:`clip_stats` and :func:`class_table`: per class, the number of clips, their total and mean
  duration and their level (RMS, dBFS);
* :func:`feature_map`: the features a training would use (the same cached, parallel extractor,
  :func:`core.extraction.build_features`), one row per clip (windows averaged), projected to 2-D by
  PCA (:func:`pca_2d`, NumPy) or t-SNE (scikit-learn, run in a process of its own so that Stop ends it
  at once); above :data:`MAP_LIMIT` clips a random sample is mapped, and the map says so;
* :func:`outlier_scores`: a robust z-score of every clip's distance to its class median in the
  feature space (the features as extracted); clips above :data:`OUTLIER_Z` are flagged;
* :func:`points_in_polygon`: the points a lasso (or rectangle) encloses.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .errors import AudioFileError, Cancelled, SpeechLabError

#: at most this many clips are mapped; a larger dataset is sampled at random (and the map says so)
MAP_LIMIT = 20_000
#: a clip whose robust z-score of distance to its class median exceeds this is flagged
#: (Iglewicz and Hoaglin's 3.5 for the modified z-score)
OUTLIER_Z = 3.5
#: classes with fewer clips than this have no outliers (a median of three says little)
MIN_CLASS_FOR_OUTLIERS = 5
METHODS = {"pca": "PCA", "tsne": "t-SNE"}


def _progress(done, total, t0, report):
    if report is None:
        return
    from .extraction import Progress

    elapsed = max(time.perf_counter() - t0, 1e-9)
    rate = done / elapsed
    report(Progress(done, total, rate, (total - done) / rate if rate > 0 else math.inf, 0))


# ----------------------------------------------------------------------------- per class


@dataclasses.dataclass(frozen=True)
class ClipStats:
    """One clip's duration (s) and RMS level (dBFS); ``reason`` instead when it cannot be read."""

    path: str
    duration: float | None = None
    level_dbfs: float | None = None
    reason: str | None = None


def clip_stats(paths, *, progress=None, should_stop=None):
    """Duration and level of every file (decoded at its own rate).

    Parameters
    ----------
    paths : sequence of str
    progress : callable(core.extraction.Progress) or None, called at most ~10 times a second
    should_stop : callable() -> bool or None; when true, :class:`Cancelled` is raised

    Returns
    -------
    list of ClipStats, one per path, in order
    """
    from .audio import load_audio
    from .utterances import level_dbfs

    t0 = last = time.perf_counter()
    out = []
    for i, p in enumerate(paths):
        if should_stop is not None and i % 16 == 0 and should_stop():
            raise Cancelled("Reading the clips stopped")
        try:
            y, sr = load_audio(p)
            out.append(ClipStats(str(p), len(y) / sr, level_dbfs(y)))
        except AudioFileError as exc:
            out.append(ClipStats(str(p), reason=exc.reason))
        now = time.perf_counter()
        if now - last >= 0.1:
            last = now
            _progress(i + 1, len(paths), t0, progress)
    _progress(len(paths), len(paths), t0, progress)
    return out


@dataclasses.dataclass(frozen=True)
class ClassRow:
    """One line of the class table. Durations and level are None until the clips were read."""

    label: str
    count: int
    speakers: int
    total_seconds: float | None = None
    mean_seconds: float | None = None
    level_dbfs: float | None = None  # mean of the clips' RMS levels
    unreadable: int = 0


def class_table(items, stats=None):
    """Per class (in the dataset's label order): clips, speakers, durations and mean level.

    Parameters
    ----------
    items : list of core.datasets.Item
    stats : list of ClipStats, one per item (from :func:`clip_stats`), or None (counts only)

    Returns
    -------
    list of ClassRow
    """
    from .datasets import sort_labels

    by_label = {}
    for i, it in enumerate(items):
        by_label.setdefault(it.label, []).append(i)
    rows = []
    for label in sort_labels(by_label):
        idx = by_label[label]
        speakers = len({items[i].speaker for i in idx if items[i].speaker is not None})
        if stats is None:
            rows.append(ClassRow(label, len(idx), speakers))
            continue
        good = [stats[i] for i in idx if stats[i].reason is None]
        durations = np.array([s.duration for s in good], dtype=float)
        levels = np.array([s.level_dbfs for s in good], dtype=float)
        rows.append(ClassRow(label, len(idx), speakers,
                             total_seconds=float(durations.sum()) if good else 0.0,
                             mean_seconds=float(durations.mean()) if good else None,
                             level_dbfs=float(levels.mean()) if good else None,
                             unreadable=len(idx) - len(good)))
    return rows


# ----------------------------------------------------------------------------- projection


def subsample(n, limit, *, seed=0):
    """Indices (sorted) of a random sample of ``limit`` of ``n`` items; all of them when ``n <= limit``."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def standardize(X):
    """Columns scaled to zero mean and unit variance; constant columns dropped.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)

    Returns
    -------
    np.ndarray, shape (n, d') float32, d' <= d
    """
    Xc = np.asarray(X, dtype=np.float32)
    Xc = Xc - Xc.mean(axis=0)
    std = np.sqrt(np.mean(Xc * Xc, axis=0))
    keep = std > 1e-6 * max(float(std.max(initial=0.0)), 1e-12)
    return Xc[:, keep] / std[keep]


def pca_2d(X, *, n_components=2, seed=0):
    """Principal components of standardised ``X`` (NumPy SVD; a randomised SVD for big matrices).

    Parameters
    ----------
    X : np.ndarray, shape (n, d), already standardised (:func:`standardize`)

    Returns
    -------
    Y : np.ndarray, shape (n, n_components), float32
    explained : np.ndarray, shape (n_components,): each component's share of the total variance
    """
    X = np.asarray(X, dtype=np.float32)
    n, d = X.shape
    k = min(n_components, n, d)
    Xc = X - X.mean(axis=0)
    total = float(np.sum(Xc.astype(np.float64) ** 2)) or 1.0
    if n * d * min(n, d) <= 2e9:
        _, s, vt = np.linalg.svd(Xc, full_matrices=False)
        vt, s = vt[:k], s[:k]
    else:  # Halko et al.: a few power iterations over a random range; exact enough for a picture
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(Xc @ rng.standard_normal((d, k + 10)).astype(np.float32))
        for _ in range(4):
            q, _ = np.linalg.qr(Xc.T @ q)
            q, _ = np.linalg.qr(Xc @ q)
        _, s, vt = np.linalg.svd(q.T @ Xc, full_matrices=False)
        vt, s = vt[:k], s[:k]
    # A sign convention, so the same data always give the same picture.
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1
    vt = vt * signs[:, None]
    Y = Xc @ vt.T
    if Y.shape[1] < n_components:
        Y = np.pad(Y, ((0, 0), (0, n_components - Y.shape[1])))
        s = np.pad(s, (0, n_components - len(s)))
    return Y.astype(np.float32), (s.astype(np.float64) ** 2 / total)


def _tsne(X, seed, perplexity):
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed,
                    learning_rate="auto").fit_transform(X).astype(np.float32)


def tsne_2d(X, *, seed=0, should_stop=None):
    """t-SNE (scikit-learn) of standardised ``X`` after PCA to at most 50 dimensions.

    It runs in a process of its own: scikit-learn cannot be interrupted, so a Stop ends that process at
    once (:class:`Cancelled`), and the calling thread only waits.

    Returns
    -------
    np.ndarray, shape (n, 2), float32
    """
    from .extraction import _pool_context, _terminate

    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if n < 5:
        raise SpeechLabError(f"t-SNE needs at least 5 clips; this map has {n}")
    reduced, _ = pca_2d(X, n_components=min(50, X.shape[1], n))
    perplexity = float(min(30.0, (n - 1) / 3))
    import concurrent.futures as cf

    pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=_pool_context())
    try:
        future = pool.submit(_tsne, reduced, seed, perplexity)
        while True:
            try:
                return future.result(timeout=0.1)
            except cf.TimeoutError:
                if should_stop is not None and should_stop():
                    raise Cancelled("t-SNE stopped") from None
    finally:
        _terminate(pool)


# ----------------------------------------------------------------------------- outliers


def outlier_scores(X, labels, *, threshold=OUTLIER_Z, min_class=MIN_CLASS_FOR_OUTLIERS):
    """How far each clip lies from its class: a robust z-score of its distance to the class median.

    For each class: the coordinate-wise median of its rows, every row's Euclidean distance ``d`` to it,
    and ``z = (d - median(d)) / (1.4826 * MAD(d))`` (a normal distribution's z-score, robust to the
    outliers themselves). Classes under ``min_class`` clips get 0.

    Parameters
    ----------
    X : np.ndarray, shape (n, d), one row of features per clip
    labels : sequence of str, length n

    Returns
    -------
    scores : np.ndarray, shape (n,), float32
    flagged : np.ndarray, shape (n,), bool: ``scores > threshold``
    """
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=str)
    scores = np.zeros(len(X), dtype=np.float32)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        if len(idx) < min_class:
            continue
        rows = X[idx]
        d = np.sqrt(np.sum((rows - np.median(rows, axis=0)) ** 2, axis=1, dtype=np.float64))
        centre = np.median(d)
        mad = 1.4826 * np.median(np.abs(d - centre))
        if mad <= 1e-12 * max(centre, 1e-12):
            mad = float(np.mean(np.abs(d - centre))) * 1.2533 or 1.0  # over half the class alike: the mean deviation
        scores[idx] = (d - centre) / mad
    return scores, scores > threshold


# ----------------------------------------------------------------------------- the map


@dataclasses.dataclass
class FeatureMap:
    """Every mapped clip as a point, with what the explorer shows about it (plain data)."""

    points: np.ndarray  # (n, 2) float32
    paths: list
    labels: list
    speakers: list  # None where the layout names no speaker
    scores: np.ndarray  # (n,) robust z of distance to the class median
    outliers: np.ndarray  # (n,) bool
    method: str  # "pca" or "tsne"
    feature_name: str
    n_usable: int  # clips of the dataset (before sampling)
    explained: tuple | None = None  # PCA: the two components' shares of the variance
    skipped: list = dataclasses.field(default_factory=list)  # datasets.Skipped of the mapped sample
    seconds: float = 0.0
    notes: list = dataclasses.field(default_factory=list)

    @property
    def sampled(self):
        return len(self.paths) < self.n_usable

    def describe(self):
        """One line for the user."""
        n = len(self.paths)
        words = f"{METHODS[self.method]} of {self.feature_name} features: {n:,} clips"
        if self.sampled:
            words += f" (a random sample of {self.n_usable:,}: the map shows at most {MAP_LIMIT:,})"
        if self.explained is not None:
            words += f"; the axes explain {100 * self.explained[0]:.0f} % and {100 * self.explained[1]:.0f} % of the variance"
        n_out = int(self.outliers.sum())
        words += f"; {n_out} outlier{'s' if n_out != 1 else ''} (z > {OUTLIER_Z:g} from their class)"
        if self.skipped:
            words += f"; {len(self.skipped)} file(s) skipped"
        return words


def clip_rows(X, groups):
    """One row per clip: a clip's windows averaged (``groups`` says which clip each row of ``X`` is).

    Parameters
    ----------
    X : np.ndarray, shape (rows, ...) — images are flattened
    groups : np.ndarray, shape (rows,), clip index 0..n_clips-1

    Returns
    -------
    np.ndarray, shape (n_clips, d), float32
    """
    X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    groups = np.asarray(groups)
    n = int(groups.max()) + 1 if groups.size else 0
    if len(X) == n:
        return X
    sums = np.zeros((n, X.shape[1]), dtype=np.float64)
    np.add.at(sums, groups, X)
    return (sums / np.bincount(groups, minlength=n)[:, None]).astype(np.float32)


def feature_map(ds, config, *, method="pca", limit=MAP_LIMIT, seed=0, progress=None, should_stop=None,
                phase=None, cache=True, n_jobs=None):
    """A 2-D map of a dataset's clips in the feature space a training would use.

    Parameters
    ----------
    ds : core.datasets.Dataset
    config : core.features.FeatureConfig (the tab's features panel)
    method : "pca" or "tsne"
    limit : map at most this many clips (a random sample of the rest, seeded)
    progress, should_stop, cache, n_jobs : as for :func:`core.extraction.build_features`
    phase : callable(str) or None: told "features", "outliers" then "projection" as each starts

    Returns
    -------
    FeatureMap
    """
    from .extraction import build_features

    if method not in METHODS:
        raise SpeechLabError(f"Unknown map method '{method}'; choose one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    n_usable = len(ds.items)
    if n_usable == 0:
        raise SpeechLabError("The dataset has no usable clips to map")
    keep = subsample(n_usable, limit, seed=seed)
    sample = ds.subset(keep) if len(keep) < n_usable else ds
    phase = phase or (lambda name: None)
    phase("features")
    fs = build_features(sample, config, progress=progress, should_stop=should_stop, n_jobs=n_jobs, cache=cache)
    items = [fs.items[i] for i in fs.clip_rows()]
    if len(items) < 2:
        raise SpeechLabError(f"Only {len(items)} clip(s) could be read: nothing to map")
    if should_stop is not None and should_stop():
        raise Cancelled("Map stopped")
    raw = clip_rows(fs.X, fs.groups)
    labels = [it.label for it in items]
    phase("outliers")
    # Outliers in the features as extracted: z-scoring every column first gives the hundreds of columns in
    # which a wrong clip looks ordinary (an MFCC's deltas of stationary noise are near 0, like speech's
    # average) as much weight as the few in which it does not; a noise clip named "3" then scored 0.9
    # among 25 FSDD clips, against 7.0 here.
    scores, flagged = outlier_scores(raw, labels)
    X = standardize(raw)
    del raw
    if should_stop is not None and should_stop():
        raise Cancelled("Map stopped")
    explained = None
    phase("projection")
    if method == "pca":
        points, shares = pca_2d(X, seed=seed)
        explained = (float(shares[0]), float(shares[1]))
    else:
        points = tsne_2d(X, seed=seed, should_stop=should_stop)
    known = set(ds.skipped)
    skipped = [s for s in fs.skipped if s not in known]
    return FeatureMap(points=np.ascontiguousarray(points, dtype=np.float32), paths=[it.path for it in items],
                      labels=labels, speakers=[it.speaker for it in items], scores=scores, outliers=flagged,
                      method=method, feature_name=config.name, n_usable=n_usable, explained=explained,
                      skipped=skipped, seconds=time.perf_counter() - t0, notes=list(fs.notes))


def map_in_child(root, paths, labels, speakers, config, method="pca", limit=MAP_LIMIT, nice=10, *, report,
                 should_stop):
    """:func:`feature_map` as a job of its own process (``core.child``; the GUI's Explore view runs it so).

    The extraction, NumPy's linear algebra (some of which holds Python's lock for a whole call: a QR of
    13,000 rows held it 0.2 s) and t-SNE then never hold up the window's thread; the process runs at
    nice 10 (so do the extraction processes it starts), so that on a busy machine the window comes first.
    The clips come as three strings, each of the clips' paths, labels and speakers ("" for none) joined by
    NUL, not as a Dataset: pickling 13,000 dataclass items on the way out held Python's lock, and so the
    window, 0.1-0.3 s on a busy machine; one string is one copy.
    Reports ``progress`` and ``phase`` ({"name": ...}); returns the FeatureMap.
    """
    import os

    from .datasets import Dataset, Item

    if nice:
        try:
            os.nice(nice)
        except (AttributeError, OSError):
            pass
    paths = paths.split("\0") if paths else []
    columns = zip(paths, labels.split("\0"), speakers.split("\0")) if paths else ()
    ds = Dataset(root=root, layout="", label_kind="", items=[Item(p, lab, spk or None) for p, lab, spk in columns])
    return feature_map(ds, config, method=method, limit=limit, should_stop=should_stop,
                       progress=lambda p: report("progress", p),
                       phase=lambda name: report("phase", {"name": name}))


# ----------------------------------------------------------------------------- selection


def points_in_polygon(points, polygon):
    """Which points lie inside a polygon (even-odd rule; a lasso or a rectangle's four corners).

    Parameters
    ----------
    points : np.ndarray, shape (n, 2)
    polygon : np.ndarray, shape (m, 2), m >= 3 (closed implicitly)

    Returns
    -------
    np.ndarray, shape (n,), bool
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(points), dtype=bool)
    if len(poly) < 3 or not len(points):
        return inside
    x, y = points[:, 0], points[:, 1]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for a, b, c, e in zip(x0, y0, x1, y1):
        crosses = (b > y) != (e > y)
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            at = a + (y - b) * (c - a) / (e - b)
        inside ^= crosses & (x < at)
    return inside
