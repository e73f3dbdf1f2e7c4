"""Prediction of one signal or file, for every task: window by window, with the file's decision.

The GUI's microphone and file panel, ``predict`` and ``listen`` all call
these functions, so a song, a long recording and a one-second digit are
classified the same way everywhere.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .errors import AudioFileError, SpeechLabError
from .features import window_features_of_signal

# Models trained on whole clips (digits) classify a signal longer than this
# many clip lengths in sliding windows, half a window apart.
LONG_SIGNAL_FACTOR = 2.0
# Models trained on windows (genres) classify all of a file, not only the first
# ``max_seconds`` their training clips were cut to; this bounds the memory a
# file may take (an hour at 22 kHz is about 300 MB of samples).
MAX_WINDOWED_SECONDS = 3600.0


# A model trained on whole short clips reads at most this much of a file or take
# (in sliding windows): a 3 GB WAV must not be decoded whole (it took 14 GB).
MAX_CLIP_MODEL_SECONDS = 600.0


def _prediction_config(config):
    """The feature config used to predict: a windowed model keeps every window of a long signal;
    every model reads a bounded part of a file."""
    if config.window_seconds is not None and config.max_seconds is not None:
        return dataclasses.replace(config, max_seconds=MAX_WINDOWED_SECONDS)
    if config.max_seconds is None:
        return dataclasses.replace(config, max_seconds=MAX_CLIP_MODEL_SECONDS)
    return config


def _probability_rows(bundle, X):
    """(n, n_labels) probabilities in ``bundle.labels`` order."""
    proba = np.asarray(bundle.model.predict_proba(X), dtype=np.float64)
    classes = [str(c) for c in bundle.model.classes_]
    out = np.zeros((proba.shape[0], len(bundle.labels)))
    for j, lab in enumerate(bundle.labels):
        if lab in classes:
            out[:, j] = proba[:, classes.index(lab)]
    return out


def _as_dict(labels, row):
    return {lab: float(p) for lab, p in zip(labels, row)}


def predict_signal(bundle, y, sr, *, offset=0.0):
    """Classify a signal with ``bundle`` (a trained :class:`core.bundle.ModelBundle`).

    The signal goes through exactly the preprocessing of the training files.
    Models trained on windows (``feature_config.window_seconds``) classify
    every window and decide by the mean of the windows' probabilities.

    Returns
    -------
    dict: ``label``, ``probabilities`` {label: p} (the decision), ``windows``
    [{start, end, label, probabilities}] in seconds (one window for a model
    trained on whole clips)
    """
    X, spans = window_features_of_signal(np.asarray(y, dtype=np.float32), int(sr),
                                         _prediction_config(bundle.feature_config))
    rows = _probability_rows(bundle, X)
    windows = [{"start": round(offset + a, 3), "end": round(offset + b, 3),
                "label": bundle.labels[int(r.argmax())], "probabilities": _as_dict(bundle.labels, r)}
               for (a, b), r in zip(spans, rows)]
    mean = rows.mean(axis=0)
    result = {"label": bundle.labels[int(mean.argmax())], "probabilities": _as_dict(bundle.labels, mean),
              "windows": windows}
    if getattr(bundle, "open_set", None):  # speakers: "unknown" below the threshold, with score and threshold
        from .openset import score_signal_rows

        result.update(score_signal_rows(bundle, X, rows))
    return result


def sliding_predictions(predict, y, sr, *, clip_seconds):
    """Classify a long signal with a whole-clip classifier, window by window.

    Parameters
    ----------
    predict : callable(y, sr) -> {"label", "probabilities"}
    clip_seconds : float or None
        The length the classifier expects (a digit: about 1.5 s). A signal up
        to twice as long (or any signal when None) is predicted whole.
        Longer ones are cut into windows of this length, half a window apart,
        covering the whole signal; each window is one prediction, and the
        decision is the mean of their probabilities. Silent windows are skipped.

    Returns
    -------
    dict: ``label``, ``probabilities``, and ``windows`` [{start, end, label,
    probabilities}] for a signal cut into windows (else what ``predict`` returned)
    """
    from .windows import window_ranges

    y = np.asarray(y, dtype=np.float32)
    if not clip_seconds or y.size <= LONG_SIGNAL_FACTOR * clip_seconds * sr:
        return predict(y, sr)
    windows = []
    for a, b in window_ranges(y.size, window=int(round(clip_seconds * sr)), overlap=0.5):
        try:
            p = predict(y[a:b], sr)
        except SpeechLabError:  # a silent window: skip it, keep the rest
            continue
        windows.append({"start": round(a / sr, 3), "end": round(b / sr, 3), "label": p["label"],
                        "probabilities": dict(p["probabilities"]),
                        **{k: p[k] for k in ("score", "threshold") if k in p}})
    if not windows:
        return predict(y, sr)
    labels = list(windows[0]["probabilities"])
    mean = np.mean([[w["probabilities"].get(lab, 0.0) for lab in labels] for w in windows], axis=0)
    result = {"label": labels[int(mean.argmax())], "probabilities": _as_dict(labels, mean), "windows": windows}
    if all("threshold" in w for w in windows):  # speakers: "unknown" when the windows' mean score is too low
        score = float(np.mean([w["score"] for w in windows]))
        threshold = windows[0]["threshold"]
        result.update(known_label=result["label"], score=score, threshold=threshold,
                      label=result["label"] if score >= threshold else "unknown")
    return result


def predict_long(bundle, y, sr, *, clip_seconds=None):
    """Classify a signal of any length with ``bundle``.

    Models trained on windows use their own windows (:func:`predict_signal`);
    a model trained on whole short clips slides over a long signal
    (:func:`sliding_predictions` with ``clip_seconds``).
    """
    if bundle.feature_config.window_seconds is not None:
        return predict_signal(bundle, y, sr)
    return sliding_predictions(lambda y_, sr_: predict_signal(bundle, y_, sr_), y, sr, clip_seconds=clip_seconds)


def predict_file(bundle, path, *, clip_seconds=None):
    """Classify an audio file (any length, WAV/FLAC/OGG/MP3); adds ``path`` to the result."""
    from .audio import load_audio

    y, sr = load_audio(path, sr=None, max_seconds=_prediction_config(bundle.feature_config).max_seconds)
    try:
        return {"path": str(path), **predict_long(bundle, y, sr, clip_seconds=clip_seconds)}
    except AudioFileError as exc:  # the decoded signal's problem (too short, ...) is the file's: name it
        raise AudioFileError(path, exc.reason) from None
