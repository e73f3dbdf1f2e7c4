"""Random split and voices never heard, side by side.

A random split puts every speaker on both sides: the test accuracy then
includes voices the model has memorised. A user who speaks into the
microphone is always a new voice, so the number that predicts their
experience is the accuracy on speakers the model never trained on.
:func:`compare_splits` measures both on the same data with the same settings:
the random split once, and speaker-grouped cross-validation (every speaker in
exactly one test fold; leave-one-speaker-out when there are few speakers).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from .errors import Cancelled, SpeechLabError

#: Speaker-grouped folds at most; with fewer speakers every speaker is its own fold.
MAX_FOLDS = 5


def speaker_folds(speakers, n_folds=MAX_FOLDS, *, random_state=0):
    """Speakers cut into test folds: every speaker in exactly one fold.

    With ``n_folds`` or fewer speakers, each speaker is a fold (leave one
    speaker out); otherwise the speakers are shuffled (``random_state``) and
    cut into ``n_folds`` folds of nearly equal size.

    Returns
    -------
    list of tuples of speaker names, each sorted
    """
    speakers = sorted(set(speakers))
    if len(speakers) < 2:
        raise SpeechLabError(f"Speaker-grouped folds need at least 2 speakers; found {len(speakers)}")
    if len(speakers) <= n_folds:
        return [(s,) for s in speakers]
    order = np.random.default_rng(random_state).permutation(len(speakers))
    return [tuple(sorted(speakers[i] for i in part)) for part in np.array_split(order, n_folds)]


def speakers_on_both_sides(ds, metrics):
    """Of the test speakers of a training on ``ds``, those that also had training clips.

    Parameters
    ----------
    ds : datasets.Dataset trained on
    metrics : the training's test metrics (with ``test_files``)

    Returns
    -------
    (shared, test_speakers) : sorted lists of speaker names (empty without speakers)
    """
    test_paths = {f["path"] for f in metrics.get("test_files", [])}
    test = sorted({it.speaker for it in ds.items if it.path in test_paths and it.speaker})
    train = {it.speaker for it in ds.items if it.path not in test_paths and it.speaker}
    return [s for s in test if s in train], test


@dataclasses.dataclass
class SplitComparison:
    """Both numbers for one dataset and one configuration."""

    random_accuracy: float  # stratified random split: every speaker on both sides
    speaker_accuracy: float  # pooled over the speaker-grouped folds: voices never heard
    fold_accuracies: list  # one per fold
    folds: list  # tuples of the test speakers of each fold
    n_speakers: int
    random_result: object  # the random split's TrainResult
    fold_results: list  # one TrainResult per fold
    seconds: float
    per_speaker: dict = dataclasses.field(default_factory=dict)  # speaker -> (accuracy, clips), never heard
    run_id: int | None = None  # where the run history keeps it (set when recorded)
    notes: list = dataclasses.field(default_factory=list)  # history trouble, one line each

    @property
    def gap(self):
        """Points of the random-split accuracy that come from voices seen in training."""
        return self.random_accuracy - self.speaker_accuracy


def compare_splits(ds, *, task, feature_config, make_model, test_size=0.2, random_state=42, n_folds=MAX_FOLDS,
                   train_options=None, on_stage=None, on_epoch=None, should_stop=None, on_progress=None,
                   n_jobs=None, cache=True):
    """Train on a random split and on speaker-grouped folds, with the same settings.

    Parameters
    ----------
    ds : datasets.Dataset with the speaker of every clip, label not the speaker
    make_model : callable() -> a fresh, unfitted model (one per training)
    train_options : dict of further :func:`core.training.train_model` arguments (e.g. ``augment``)
    on_stage : callable(index, total, test_speakers or None) before each training
        (None: the random split, which runs first)

    Returns
    -------
    SplitComparison

    Raises
    ------
    SpeechLabError when the dataset has no speakers (or the label is the speaker);
    core.errors.Cancelled when stopped before both numbers exist.
    """
    from .metrics import evaluate
    from .training import SplitConfig, train_model

    if ds.label_kind == "speaker" or not ds.has_speakers:
        raise SpeechLabError("Comparing with voices never heard needs the speaker of every clip and a label other "
                             "than the speaker")
    folds = speaker_folds(ds.speakers, n_folds)
    total = 1 + len(folds)
    t0 = time.perf_counter()
    kw = dict(task=task, feature_config=feature_config, on_epoch=on_epoch, should_stop=should_stop,
              on_progress=on_progress, n_jobs=n_jobs, cache=cache, **(train_options or {}))

    def run(index, split, test_speakers):
        if should_stop is not None and should_stop():
            raise Cancelled("Comparison stopped")
        if on_stage is not None:
            on_stage(index, total, test_speakers)
        result = train_model(ds, model=make_model(), split=split, **kw)
        if result.stop_reason and result.stop_reason.startswith("stopped by user"):
            raise Cancelled("Comparison stopped")
        return result

    random_result = run(0, SplitConfig(kind="random", test_size=test_size, random_state=random_state), None)
    fold_results = [run(i + 1, SplitConfig(kind="speaker", test_speakers=f), f) for i, f in enumerate(folds)]
    tested = [f for r in fold_results for f in r.metrics["test_files"]]
    truth = [f["label"] for f in tested]
    pred = [f["predicted"] for f in tested]
    pooled = evaluate(truth, pred, random_result.bundle.labels)
    speaker_of = {it.path: it.speaker for it in ds.items}
    right = {}
    for f in tested:  # each voice on its own: the pooled number hides the voices the model fails on
        hits = right.setdefault(speaker_of.get(f["path"]), [0, 0])
        hits[0] += f["label"] == f["predicted"]
        hits[1] += 1
    per_speaker = {s: (h / n, n) for s, (h, n) in sorted(right.items(), key=lambda kv: kv[1][0] / kv[1][1])
                   if s is not None}
    return SplitComparison(
        random_accuracy=float(random_result.metrics["accuracy"]), speaker_accuracy=float(pooled["accuracy"]),
        fold_accuracies=[float(r.metrics["accuracy"]) for r in fold_results], folds=folds,
        n_speakers=len(ds.speakers), random_result=random_result, fold_results=fold_results,
        seconds=time.perf_counter() - t0, per_speaker=per_speaker)
