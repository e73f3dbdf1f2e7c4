"""k-fold cross-validation: every clip tested once, by a model that never trained on its group.

Folds are groups of clips, so that nothing the model heard in training is on
the test side: grouped by **speaker** when every clip's speaker is known and
the label is not the speaker (Digits on FSDD/AudioMNIST), by **track** for
Genres (all windows of a track stay in one fold), and stratified by class
over clips otherwise. Each fold trains with the request's settings and seed;
the folds' accuracies give a mean, a standard deviation and a 95 % interval
(Student's t over the folds). The model kept is then trained on all the data.

Leave-one-speaker-out is the same loop with one fold per speaker
(:func:`core.training.leave_one_speaker_out` runs its rotations through
:func:`run_folds`). This module is the folds and their numbers, below training;
:func:`core.crossval.cross_validate` trains them.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .errors import Cancelled, SpeechLabError

#: k when a request asks for k-fold without saying how many folds.
DEFAULT_FOLDS = 5
#: Genres runs k-fold by default on a dataset with fewer tracks than this (a random split's
#: handful of test tracks moves the accuracy by several points per track).
GENRES_KFOLD_BELOW = 200

GROUPING_TEXT = {"speaker": "by speaker", "track": "by track", "clip": "stratified"}


def grouping_of(ds, task):
    """How the folds of a dataset are grouped: "speaker", "track" (Genres) or "clip"."""
    if ds.label_kind != "speaker" and ds.every_clip_has_speaker and "" not in ds.speakers:
        return "speaker"
    return "track" if task == "genres" else "clip"


def _groups(items, grouping):
    if grouping == "speaker":
        return [str(it.speaker) for it in items]
    return [str(it.path) for it in items]


def check_folds(items, k, grouping):
    """SpeechLabError naming ``folds`` when ``k`` cannot cut these clips (fewer groups than folds)."""
    if k is None or int(k) < 2:
        raise SpeechLabError(f"folds must be at least 2, not {k}")
    n = len(set(_groups(items, grouping)))
    what = {"speaker": "speakers", "track": "tracks"}.get(grouping, "clips")
    if int(k) > n:
        raise SpeechLabError(f"folds = {k} is more than the {n} {what} to cut into folds; choose at most {n}")


def make_folds(items, k, *, random_state=42, grouping="clip"):
    """Test clips of each fold: every clip in exactly one fold, a group never in two.

    Parameters
    ----------
    items : list of datasets.Item (one per clip)
    k : int, number of folds (2 ≤ k ≤ number of groups)
    grouping : "speaker" (StratifiedGroupKFold over speakers), "track" or "clip" (StratifiedKFold)

    Returns
    -------
    list of k sorted np.ndarray of indices into ``items``
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    check_folds(items, k, grouping)
    k = int(k)
    labels = np.asarray([str(it.label) for it in items])
    idx = np.arange(len(items))
    with warnings.catch_warnings():  # "the least populated class has fewer members than n_splits": allowed
        warnings.simplefilter("ignore", UserWarning)
        if grouping == "speaker":
            cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=int(random_state))
            splits = cv.split(idx, labels, groups=np.asarray(_groups(items, grouping)))
        else:
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(random_state))
            splits = cv.split(idx, labels)
        folds = [np.sort(te) for _, te in splits]
    if any(f.size == 0 for f in folds):
        raise SpeechLabError(f"folds = {k} leaves a fold without test clips; choose fewer folds")
    return folds


def summary(accuracies):
    """(mean, std, (low, high)) of the folds' accuracies: the sample standard deviation and a 95 %
    Student-t interval of the mean; std and interval are None for a single fold."""
    a = np.asarray([float(x) for x in accuracies], dtype=np.float64)
    if a.size == 0:
        return None, None, None
    mean = float(a.mean())
    if a.size < 2:
        return mean, None, None
    std = float(a.std(ddof=1))
    from scipy.stats import t

    half = float(t.ppf(0.975, a.size - 1)) * std / math.sqrt(a.size)
    return mean, std, (mean - half, mean + half)


def describe(kfold):
    """One line: "5-fold by track: 78.0 ± 15.2 % (95 % interval 59.1–96.9 %)"."""
    mean, std, ci = kfold.get("mean_accuracy"), kfold.get("std_accuracy"), kfold.get("ci95")
    done, k = len(kfold.get("folds") or []), kfold.get("k")
    head = f"{k}-fold {GROUPING_TEXT.get(kfold.get('grouping'), '')}".strip()
    if done != k:
        head += f" ({done} of {k} folds done)"
    if mean is None:
        return head
    text = f"{head}: {100 * mean:.1f}" + (f" ± {100 * std:.1f} %" if std is not None else " %")
    if ci:
        text += f" (95 % interval {100 * ci[0]:.1f}–{100 * ci[1]:.1f} %)"
    return text


def run_folds(splits, *, train, should_stop=None, on_fold=None, on_result=None, keep_stopped=False):
    """Train once per fold, in order, until done or stopped: the loop k-fold and leave-one-speaker-out share.

    Parameters
    ----------
    splits : list of (SplitConfig, description) for each fold
    train(index, split) : trains one fold, returns a TrainResult
    on_fold(index, total, description) : before each fold
    on_result(TrainResult) : after each fold

    Returns
    -------
    (results, stopped): the finished folds; a fold stopped by the user mid-way ends the loop and is
    kept only with ``keep_stopped`` (leave-one-speaker-out keeps it; k-fold keeps whole folds only,
    so that a half-trained model never enters the mean); core.errors.Cancelled when no fold is kept.
    """
    results, stopped = [], False
    for i, (split, text) in enumerate(splits):
        if should_stop is not None and should_stop():
            stopped = True
            break
        if on_fold is not None:
            on_fold(i, len(splits), text)
        try:
            result = train(i, split)
        except Cancelled:
            stopped = True
            break
        interrupted = bool(result.stop_reason and result.stop_reason.startswith("stopped by user"))
        if interrupted and not keep_stopped:
            stopped = True
            break
        results.append(result)
        if on_result is not None:
            on_result(result)
        if interrupted:
            stopped = True
            break
    if not results:
        raise Cancelled("Stopped before the first fold finished")
    stopped = stopped or len(results) < len(splits) or (should_stop is not None and should_stop())
    return results, stopped
