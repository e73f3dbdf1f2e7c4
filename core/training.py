"""Dataset → features → split → fit → evaluate → bundle, with two plain callbacks.

The GUI worker and the CLI both call :func:`train_model`; it knows nothing of
either. ``on_epoch(stats)`` receives the model's per-epoch dicts,
``should_stop()`` is polled between mini-batches (and during extraction),
``on_progress(Progress)`` reports feature extraction.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from .bundle import ModelBundle
from .datasets import make_split, sort_labels
from .errors import SpeechLabError
from .features import build_features
from .metrics import evaluate


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How clips are divided into training and test sets."""

    kind: str = "random"  # "random" (stratified) or "speaker" (speaker-independent)
    test_size: float = 0.2
    random_state: int = 42
    test_speakers: tuple | None = None


@dataclasses.dataclass
class TrainResult:
    bundle: ModelBundle
    metrics: dict
    n_train: int
    n_test: int
    skipped: list
    history: list
    seconds: float
    stop_reason: str | None
    diverged: bool


def split_features(fs, split):
    """Train/test indices into the rows of a FeatureSet."""
    from .datasets import Dataset

    ds = Dataset(root="", layout="", label_kind="", items=fs.items)
    return make_split(ds, kind=split.kind, test_size=split.test_size, random_state=split.random_state,
                      test_speakers=list(split.test_speakers) if split.test_speakers else None)


def train_model(ds, *, task, feature_config, model, split=SplitConfig(), on_epoch=None, should_stop=None,
                on_progress=None, n_jobs=None, cache=True):
    """Train ``model`` on a scanned dataset and evaluate it on a held-out split.

    Parameters
    ----------
    ds : datasets.Dataset
    task : str, the task key stored in the bundle
    feature_config : FeatureConfig
    model : an estimator with fit(X, y, on_epoch=, should_stop=), predict, predict_proba,
        classes_, get_state/from_state
    split : SplitConfig

    Returns
    -------
    TrainResult. When the user stops training, the model keeps its best
    weights so far and the result is still evaluated (``stop_reason`` says so).

    Raises
    ------
    core.errors.Cancelled
        When stopped during feature extraction (nothing was trained yet).
    SpeechLabError
        For data that cannot be trained on (one class, empty split, ...).
    """
    if split.kind == "speaker":  # fail before a long extraction, not after it
        if ds.label_kind == "speaker":
            raise SpeechLabError("Speaker-independent split is impossible when the label is the speaker; "
                                 "use a random split")
        if not ds.has_speakers:
            raise SpeechLabError("Speaker-independent split needs the speaker of every clip; this dataset has none")
    t0 = time.perf_counter()
    fs = build_features(ds, feature_config, progress=on_progress, should_stop=should_stop, n_jobs=n_jobs, cache=cache)
    labels = sort_labels(set(fs.labels.tolist()))
    if len(labels) < 2:
        raise SpeechLabError(f"Training needs at least two classes; {ds.root} gives {len(labels)} usable class(es)")
    tr, te = split_features(fs, split)
    if tr.size == 0 or te.size == 0:
        raise SpeechLabError("The split left no training or no test clips; change the test size or split")
    y = fs.labels
    model.fit(fs.X[tr], y[tr], on_epoch=on_epoch, should_stop=should_stop)
    pred_tr = np.asarray(model.predict(fs.X[tr])).astype(str)
    pred_te = np.asarray(model.predict(fs.X[te])).astype(str)
    metrics = evaluate(y[te], pred_te, labels, y_train_true=y[tr], y_train_pred=pred_tr)
    metrics["test_files"] = [{"path": fs.items[i].path, "label": y[i], "predicted": p} for i, p in zip(te, pred_te)]
    seconds = time.perf_counter() - t0
    history = list(getattr(model, "history_", []))
    stop_reason = getattr(model, "stop_reason_", None)
    training = {
        "dataset": ds.root,
        "layout": ds.layout,
        "label_kind": ds.label_kind,
        "split": dataclasses.asdict(split),
        "test_speakers": sorted({fs.items[i].speaker for i in te if fs.items[i].speaker}) if split.kind == "speaker" else [],
        "n_train": int(tr.size),
        "n_test": int(te.size),
        "n_skipped": len(fs.skipped),
        "seconds": round(seconds, 3),
        "stop_reason": stop_reason,
        "best_epoch": getattr(model, "best_epoch_", None),
    }
    saved_metrics = {k: v for k, v in metrics.items() if k != "test_files"}
    bundle = ModelBundle(task=task, model=model, feature_config=fs.config, labels=labels, training=training,
                         metrics=saved_metrics, history=history)
    return TrainResult(bundle, metrics, int(tr.size), int(te.size), fs.skipped, history, seconds, stop_reason,
                       bool(getattr(model, "diverged_", False)))


def evaluate_bundle(bundle, ds, *, on_progress=None, should_stop=None, n_jobs=None, cache=True):
    """Evaluate a saved model on every usable file of a dataset.

    Returns
    -------
    (metrics dict, skipped list). Clips whose label the model does not know
    count as errors and are reported in ``metrics["unknown_labels"]``.
    """
    fs = build_features(ds, bundle.feature_config, progress=on_progress, should_stop=should_stop,
                        n_jobs=n_jobs, cache=cache)  # n_frames is fixed: same shape as in training
    if not fs.items:
        raise SpeechLabError(f"None of the files in {ds.root} could be used")
    pred = np.asarray(bundle.model.predict(fs.X)).astype(str)
    unknown = sorted(set(fs.labels.tolist()) - set(bundle.labels))
    metrics = evaluate(fs.labels, pred, list(bundle.labels) + unknown)
    metrics["unknown_labels"] = unknown
    return metrics, fs.skipped


@dataclasses.dataclass
class SpeakerRotations:
    """Leave-one-speaker-out: one TrainResult per held-out speaker, and the pooled test metrics."""

    results: list
    speakers: list
    metrics: dict  # pooled over every rotation's test clips
    per_speaker: dict  # speaker -> test accuracy
    seconds: float
    final: ModelBundle | None = None  # trained on every speaker, carrying the pooled metrics


def leave_one_speaker_out(ds, *, task, feature_config, make_model, on_rotation=None, on_result=None,
                          on_epoch=None, should_stop=None, on_progress=None, n_jobs=None, cache=True,
                          fit_final=False):
    """Train once per speaker with that speaker held out (the honest test for a new voice).

    Parameters
    ----------
    make_model : callable() -> a fresh, unfitted model for every rotation
    on_rotation : callable(index, total, speaker) or None, called before each rotation
    on_result : callable(TrainResult) or None, called after each rotation
    fit_final : bool
        After all rotations, train one more model on every speaker: the model
        to keep and use, with the pooled leave-one-speaker-out metrics as its
        honest estimate (``on_rotation`` is called with speaker None for it).

    Returns
    -------
    SpeakerRotations; when stopped, the rotations finished so far (at least one,
    and no final model), else core.errors.Cancelled.
    """
    from .errors import Cancelled

    if ds.label_kind == "speaker" or not ds.has_speakers:
        raise SpeechLabError("Leave-one-speaker-out needs the speaker of every clip and a label other than the speaker")
    speakers = ds.speakers
    if len(speakers) < 2:
        raise SpeechLabError(f"Leave-one-speaker-out needs at least 2 speakers; found {len(speakers)}")
    t0 = time.perf_counter()
    results = []
    for i, speaker in enumerate(speakers):
        if should_stop is not None and should_stop():
            break
        if on_rotation is not None:
            on_rotation(i, len(speakers), speaker)
        try:
            result = train_model(ds, task=task, feature_config=feature_config, model=make_model(),
                                 split=SplitConfig(kind="speaker", test_speakers=(speaker,)), on_epoch=on_epoch,
                                 should_stop=should_stop, on_progress=on_progress, n_jobs=n_jobs, cache=cache)
        except Cancelled:
            break
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.stop_reason and result.stop_reason.startswith("stopped by user"):
            break
    if not results:
        raise Cancelled("Stopped before the first rotation finished")
    truth = [f["label"] for r in results for f in r.metrics["test_files"]]
    pred = [f["predicted"] for r in results for f in r.metrics["test_files"]]
    labels = results[0].bundle.labels
    pooled = evaluate(truth, pred, labels)
    done = speakers[: len(results)]
    per_speaker = {s: r.metrics["accuracy"] for s, r in zip(done, results)}
    final = None
    stopped = len(results) < len(speakers) or (should_stop is not None and should_stop())
    if fit_final and not stopped:
        if on_rotation is not None:
            on_rotation(len(speakers), len(speakers), None)
        fs = build_features(ds, feature_config, should_stop=should_stop, n_jobs=n_jobs, cache=cache)  # cached
        model = make_model()
        model.fit(fs.X, fs.labels, on_epoch=on_epoch, should_stop=should_stop)
        training = {**results[-1].bundle.training, "split": {"kind": "leave-one-speaker-out"},
                    "per_speaker": per_speaker, "n_train": len(fs.items), "n_test": 0,
                    "stop_reason": getattr(model, "stop_reason_", None), "best_epoch": getattr(model, "best_epoch_", None)}
        training.pop("test_speakers", None)
        final = ModelBundle(task=task, model=model, feature_config=fs.config, labels=labels, training=training,
                            metrics=pooled, history=list(getattr(model, "history_", [])))
    return SpeakerRotations(results, done, pooled, per_speaker, time.perf_counter() - t0, final)
