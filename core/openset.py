"""Open-set speaker recognition: answer "unknown" for a voice the model was not trained on.

A closed-set classifier names one of its speakers for any input. Here every
clip also gets a *score* (higher: more like a known speaker), and a clip
scoring below a threshold is answered ``"unknown"``. Two scorings:

``probability``
    the classifier's own confidence: the largest of the clip's class
    probabilities (the mean of its windows' probabilities).
``distance``
    how close the clip lies to the training data of the speaker the
    classifier chose: minus the mean squared Mahalanobis distance of the
    clip's windows to that speaker's mean, per feature dimension, under one
    covariance shared by all speakers (estimated with shrinkage), in the
    standardised feature space. It does not depend on the model type.
``combined``
    both: each score is turned into its rank among the known speakers'
    calibration clips (0: below all of them, 1: above all), and the lower
    rank counts, so a clip must look known to the classifier *and* lie near
    the speaker's training data. The two fail on different voices.

The threshold is chosen **from the training data only**: a share of the
training clips (``calibration_fraction``, whole clips) is held out of the
fit, scored by the trained model, and the threshold is put at the
``target_frr`` quantile of their scores, so about that share of known
speakers' clips would be rejected. Voices never heard (speakers the user
marks as unknown, or "other"/noise folders) are never trained on; they are
scored on the test side for the false-accept rate, the equal error rate and
the DET curve.

Everything is NumPy on plain arrays; the state saved in a model file is a
JSON-able dict plus arrays (:func:`state_arrays`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .errors import Cancelled, SpeechLabError

UNKNOWN = "unknown"
METHODS = ("distance", "probability", "combined", "cosine")
METHOD_TITLES = {"distance": "Distance to the {cls}'s training data",
                 "probability": "Classifier probability",
                 "combined": "Both (the lower of the two ranks)",
                 "cosine": "Cosine to the {cls}'s centroid (for voice embeddings)"}


def method_title(method, cls="speaker"):
    """How a scoring method is named in the GUI, for classes called ``cls`` ("speaker", "digit")."""
    return METHOD_TITLES[method].format(cls=cls)


# What a model of each type scores with unless the user chooses (core.request): an embedding's direction
# is what the voice encoder was trained to compare (benchmarks/voice_encoder.py).
METHOD_OF_MODEL = {"centroid": "cosine"}
# Chosen by benchmarks/speakers_accuracy.py (see benchmarks/RESULTS.md).
DEFAULT_METHOD = "combined"
TARGET_FRR = 0.05
# Decisions over 2..5 words (continuous listening's "decide over N words") get their own threshold: the mean
# score of N words of a known voice spreads less than one word's, so one word's threshold lets strangers in.
EVIDENCE_WORDS = (2, 3, 4, 5)
# The calibration distributions are kept as these quantiles (compact in the model file).
QUANTILE_GRID = np.linspace(0.0, 1.0, 201)
# Shrinkage of the shared covariance toward its diagonal: keeps it invertible
# with few clips per speaker and many feature dimensions.
SHRINKAGE = 0.1


@dataclasses.dataclass(frozen=True)
class OpenSetConfig:
    """How a speakers model learns to say "unknown".

    Attributes
    ----------
    unknown_labels : labels (speakers) left out of training and tested as voices never heard
    use_other_folders : also test on the dataset's noise / "other" folders as never-heard audio
    calibration_fraction : share of the training clips held out to set the threshold
    target_frr : share of known speakers' calibration clips the threshold may reject
    method : the scoring that decides (one of METHODS); every method is calibrated and saved
    random_state : seed of the calibration hold-out
    refit : after the threshold is set, train the model kept once more on every training clip
        (calibration clips included), keeping the threshold: the hold-out then costs no accuracy.
        The distance state is refit too; the open-set test rates are those of the final model.
    """

    unknown_labels: tuple = ()
    use_other_folders: bool = True
    calibration_fraction: float = 0.2
    target_frr: float = TARGET_FRR
    method: str = DEFAULT_METHOD
    random_state: int = 0
    refit: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise SpeechLabError(f"Unknown open-set scoring '{self.method}': choose one of {', '.join(METHODS)}")
        if not 0.05 <= float(self.calibration_fraction) <= 0.5:
            raise SpeechLabError("The calibration share must be between 0.05 and 0.5 of the training clips")
        if not 0.0 < float(self.target_frr) < 0.5:
            raise SpeechLabError("The target false-reject rate must be between 0 and 0.5")


# ----------------------------------------------------------------------------- data


def split_unknown(ds, config):
    """Known speakers to train on, and the voices never heard.

    Returns
    -------
    known : datasets.Dataset without the unknown labels
    never_heard : list of datasets.Item (label "unknown"-to-be: their own
        label is kept, the model never sees it), from ``unknown_labels`` and,
        with ``use_other_folders``, the files of the excluded noise/other folders
    """
    unknown = {str(x) for x in config.unknown_labels}
    missing = sorted(unknown - set(ds.labels))
    if missing:
        raise SpeechLabError(f"Unknown speaker(s) to hold out not in the dataset: {', '.join(missing)}")
    keep = [i for i, it in enumerate(ds.items) if it.label not in unknown]
    known = ds.subset(keep)
    if len(known.labels) < 2:
        raise SpeechLabError("Holding those speakers out leaves fewer than two speakers to train on")
    never = [it for it in ds.items if it.label in unknown]
    if config.use_other_folders:
        never += other_items(ds)
    return known, never


def other_items(ds):
    """Items of the noise / "other" folders a folder-per-speaker scan left out (never classes)."""
    from .datasets import scan_dataset

    if ds.layout != "folders" or not ds.excluded_folders:
        return []
    names = set(ds.excluded_folders)
    try:
        full = scan_dataset(ds.root, layout="folders", exclude=[])
    except SpeechLabError:
        return []
    return [it for it in full.items if it.label in names]


def calibration_split(labels, groups, rows, *, fraction, random_state=0):
    """Hold whole clips out of training rows ``rows`` for the threshold.

    Parameters
    ----------
    labels, groups : np.ndarray (n_rows,) of the whole FeatureSet
    rows : np.ndarray of int, the training rows

    Returns
    -------
    fit_rows, calibration_rows : np.ndarray of int (every window of a clip on one side;
        ``fraction`` of each speaker's clips, at least one, when a speaker has two or more)
    """
    rng = np.random.default_rng(random_state)
    rows = np.asarray(rows)
    g = np.asarray(groups)[rows]
    uniq, first = np.unique(g, return_index=True)
    lab = np.asarray(labels)[rows][first]
    cal = []
    for c in np.unique(lab):
        clips = rng.permutation(uniq[lab == c])
        n = min(max(int(round(fraction * len(clips))), 1), len(clips) - 1)
        cal.append(clips[:n])
    is_cal = np.isin(g, np.concatenate(cal))
    return rows[~is_cal], rows[is_cal]


# ----------------------------------------------------------------------------- scoring


def fit_distance(X, y, labels):
    """Class means and a shared, shrunk precision matrix in the standardised space.

    Parameters
    ----------
    X : np.ndarray (n, d) feature rows (windows) of the training clips
    y : np.ndarray (n,) their labels
    labels : list of str, the model's labels (the order of ``class_means``)

    Returns
    -------
    dict of arrays: ``mean`` (d,), ``scale`` (d,), ``class_means`` (k, d), ``precision`` (d, d)
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    y = np.asarray(y).astype(str)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    Z = (X - mean) / scale
    d = Z.shape[1]
    means = np.zeros((len(labels), d))
    resid = np.zeros_like(Z)
    for j, lab in enumerate(labels):
        m = y == lab
        if m.any():
            means[j] = Z[m].mean(axis=0)
            resid[m] = Z[m] - means[j]
    cov = resid.T @ resid / max(len(Z) - len(labels), 1)
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * np.diag(np.diag(cov)) + 1e-6 * np.eye(d)
    precision = np.linalg.pinv(cov, hermitian=True)
    # "cosine": each speaker's direction, the mean of their unit-length rows (in the raw feature space)
    U = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    unit_means = np.zeros((len(labels), d))
    for j, lab in enumerate(labels):
        m = y == lab
        if m.any():
            v = U[m].mean(axis=0)
            unit_means[j] = v / max(float(np.linalg.norm(v)), 1e-12)
    return {"mean": mean, "scale": scale, "class_means": means, "precision": precision, "unit_means": unit_means}


def _distances(arrays, X):
    """Squared Mahalanobis distance per dimension of each row to each class: (n, k)."""
    Z = (np.asarray(X, dtype=np.float64).reshape(len(X), -1) - arrays["mean"]) / arrays["scale"]
    P = arrays["precision"]
    M = arrays["class_means"]
    ZP = Z @ P
    d2 = (np.einsum("ij,ij->i", ZP, Z)[:, None] - 2 * ZP @ M.T + np.einsum("ij,jk,ik->i", M, P, M)[None, :])
    return np.maximum(d2, 0.0) / Z.shape[1]


def pool_words(word_proba):
    """One decision's probabilities from several words' (rows: each word's probabilities, labels' order):
    their normalised geometric mean, the posterior of independent words' evidence. A voice must be likely
    in every word to come out likely, so a stranger whose words each sound like a different known voice
    scores low, where the plain mean of the words' probabilities let it through (AudioMNIST-AZ, 20 known and
    10 never-heard voices in 3 rotations, GE2E beside MFCC statistics: strangers' 3-word decisions accepted
    34 -> 22 % at about 5 % of known voices' rejected; benchmarks/voice_encoder.py). One word: its own
    probabilities."""
    return _normalised_exp(np.log(np.clip(np.asarray(word_proba, dtype=np.float64), 1e-12, None)).mean(axis=-2))


def _normalised_exp(log_p):
    """Probabilities from (unnormalised) log-probabilities along the last axis."""
    q = np.exp(log_p - log_p.max(axis=-1, keepdims=True))
    return q / q.sum(axis=-1, keepdims=True)


def clip_scores(proba, X, groups, arrays, words=None):
    """Each clip's closed-set decision and its score under every method.

    Parameters
    ----------
    proba : np.ndarray (n_rows, k), window probabilities in the labels' order
    X : np.ndarray (n_rows, ...) the same windows' features
    groups : np.ndarray (n_rows,) clip of each row
    arrays : the distance state (:func:`fit_distance`)
    words : np.ndarray (n_rows,) or None: the word (a clip of its own) of each row when a "clip" is a
        decision over several words; its probabilities are then each word's mean probabilities pooled
        by :func:`pool_words` instead of the mean of all its rows'

    Returns
    -------
    clip_ids (n_clips,), first row of each clip (n_clips,), predicted index (n_clips,),
    {method: scores (n_clips,)}
    """
    groups = np.asarray(groups)
    clip_ids, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    counts = np.bincount(inverse, minlength=clip_ids.size)[:, None]
    if words is None:
        mean_p = np.zeros((clip_ids.size, proba.shape[1]))
        np.add.at(mean_p, inverse, proba)
        mean_p /= counts
    else:  # each word's mean probabilities, then the words pooled
        pairs, pair_of_row = np.unique(np.stack([inverse, np.asarray(words)], axis=1), axis=0, return_inverse=True)
        pair_of_row = np.asarray(pair_of_row).ravel()
        word_p = np.zeros((len(pairs), proba.shape[1]))
        np.add.at(word_p, pair_of_row, proba)
        word_p /= np.bincount(pair_of_row, minlength=len(pairs))[:, None]
        mean_log = np.zeros((clip_ids.size, proba.shape[1]))
        np.add.at(mean_log, pairs[:, 0], np.log(np.clip(word_p, 1e-12, None)))
        mean_log /= np.bincount(pairs[:, 0], minlength=clip_ids.size)[:, None]
        mean_p = _normalised_exp(mean_log)  # what pool_words gives for each decision's words
    pred = mean_p.argmax(axis=1)
    d2 = _distances(arrays, X)  # (n_rows, k)
    mean_d = np.zeros((clip_ids.size, d2.shape[1]))
    np.add.at(mean_d, inverse, d2)
    mean_d /= counts
    scores = {
        "probability": mean_p.max(axis=1),
        "distance": -mean_d[np.arange(clip_ids.size), pred],
    }
    if "unit_means" in arrays:  # the clip's direction (mean of its unit windows) against the speaker's
        X2 = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        U = X2 / np.maximum(np.linalg.norm(X2, axis=1, keepdims=True), 1e-12)
        mean_u = np.zeros((clip_ids.size, U.shape[1]))
        np.add.at(mean_u, inverse, U)
        mean_u /= np.maximum(np.linalg.norm(mean_u, axis=1, keepdims=True), 1e-12)
        scores["cosine"] = np.einsum("ij,ij->i", mean_u, arrays["unit_means"][pred])
    if "cal_distance" in arrays:  # ranks among the calibration clips (see "combined")
        ranks = [np.searchsorted(arrays[f"cal_{m}"], scores[m], side="right") / max(arrays[f"cal_{m}"].size, 1)
                 for m in ("distance", "probability")]
        scores["combined"] = np.minimum(*ranks)
    return clip_ids, first, pred, scores


def choose_threshold(known_scores, target_frr=TARGET_FRR, weights=None):
    """The score below which ``target_frr`` of the known speakers' (calibration) clips fall.

    ``weights`` (one per clip, or None): a clip of weight n counts as n clips (your takes, weighed like
    an average speaker: the threshold then rejects ``target_frr`` of your voice too, not all of it)."""
    s = np.asarray(known_scores, dtype=np.float64)
    if s.size == 0:
        raise SpeechLabError("No calibration clips to set the open-set threshold from")
    if weights is None:
        return float(np.quantile(s, target_frr, method="lower"))
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(s, kind="stable")
    s, w = s[order], w[order]
    # as np.quantile's "lower" on the scores each repeated its weight's times
    k = int(np.floor(target_frr * (w.sum() - 1) + 1e-9))
    return float(s[min(int(np.searchsorted(np.cumsum(w), k, side="right")), s.size - 1)])


def voice_threshold(scores, target_frr=TARGET_FRR):
    """The score below which ``target_frr`` of a voice's clips fall, from a few of its clips' scores (your
    takes held out for the threshold): a normal fit, since ten clips cannot show where 1 % of a voice lies
    (their lowest is about its 10 % point). +inf (no bound) from fewer than 3 scores."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size < 3:
        return float("inf")
    from scipy.stats import norm

    return float(s.mean() + norm.ppf(target_frr) * s.std(ddof=1))


def rates(known_scores, unknown_scores, threshold):
    """(false-reject rate of known clips, false-accept rate of never-heard clips or None)."""
    k = np.asarray(known_scores, dtype=np.float64)
    u = np.asarray(unknown_scores, dtype=np.float64)
    frr = float(np.mean(k < threshold)) if k.size else None
    far = float(np.mean(u >= threshold)) if u.size else None
    return frr, far


def det_curve(known_scores, unknown_scores, *, max_points=400):
    """False-reject and false-accept rates over every threshold, and the equal error rate.

    Returns
    -------
    dict: ``thresholds``, ``frr``, ``far`` (lists, thresholds ascending; at most
    ``max_points``) and ``eer`` (None without never-heard clips)
    """
    k = np.sort(np.asarray(known_scores, dtype=np.float64))
    u = np.sort(np.asarray(unknown_scores, dtype=np.float64))
    if k.size == 0:
        return {"thresholds": [], "frr": [], "far": [], "eer": None}
    t = np.unique(np.concatenate([k, u]))
    if t.size > max_points:
        t = np.unique(np.quantile(t, np.linspace(0, 1, max_points)))
    frr = np.searchsorted(k, t, side="left") / k.size  # share strictly below the threshold
    far = (1 - np.searchsorted(u, t, side="left") / u.size) if u.size else np.full(t.size, np.nan)
    eer = None
    if u.size:
        i = int(np.argmin(np.abs(frr - far)))
        eer = float((frr[i] + far[i]) / 2)
    return {"thresholds": t.tolist(), "frr": frr.tolist(),
            "far": [None if np.isnan(v) else float(v) for v in far], "eer": eer}


def decide(predicted, scores, threshold):
    """Labels with "unknown" where the score is below ``threshold``.

    Parameters
    ----------
    predicted : sequence of str, the closed-set decisions
    scores : sequence of float
    """
    predicted = np.asarray(predicted).astype(object)
    out = predicted.copy()
    out[np.asarray(scores) < threshold] = UNKNOWN
    return out.astype(str)


def view_at(clips, labels, method, threshold):
    """Open-set results of the test clips at one threshold (cheap: for a live slider).

    Parameters
    ----------
    clips : dict with ``truth`` (str per clip, "unknown" for voices never heard),
        ``predicted`` (closed-set label per clip), ``scores`` {method: list}
    labels : the model's speakers

    Returns
    -------
    dict: ``labels`` (speakers + "unknown"), ``confusion`` (rows truth), ``false_reject_rate``,
    ``false_accept_rate`` (None without never-heard clips), ``known_accuracy``
    (named right, rejections count as errors), ``unknown_rate``, ``accuracy`` (every clip,
    "unknown" right for never-heard voices)
    """
    truth = np.asarray(clips["truth"]).astype(str)
    scores = np.asarray(clips["scores"][method], dtype=np.float64)
    pred = decide(clips["predicted"], scores, threshold)
    names = [str(x) for x in labels] + [UNKNOWN]
    index = {n: i for i, n in enumerate(names)}
    ti = np.array([index.get(t, len(names) - 1) for t in truth], dtype=int)
    pi = np.array([index.get(p, len(names) - 1) for p in pred], dtype=int)
    cm = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(cm, (ti, pi), 1)
    known = truth != UNKNOWN
    frr = float(np.mean(pred[known] == UNKNOWN)) if known.any() else None
    far = float(np.mean(pred[~known] != UNKNOWN)) if (~known).any() else None
    return {
        "labels": names,
        "confusion": cm.tolist(),
        "false_reject_rate": frr,
        "false_accept_rate": far,
        "known_accuracy": float(np.mean(pred[known] == truth[known])) if known.any() else None,
        "unknown_rate": float(np.mean(pred == UNKNOWN)) if pred.size else None,
        "accuracy": float(np.mean(pred == np.where(known, truth, UNKNOWN))) if pred.size else None,
    }


def pooled_decisions(arrays, X, proba, clip_rows, chunks):
    """Decisions over several clips at once, as a decision over several words pools them: the rows of
    the clips of each chunk are one clip for :func:`clip_scores` (the words' probabilities pooled by
    :func:`pool_words`, mean distance, the direction of all their unit rows).

    Parameters
    ----------
    arrays : the distance state
    X, proba : np.ndarray, rows of features and their probabilities (labels' order)
    clip_rows : list of np.ndarray, the rows of each clip
    chunks : list of sequences of clip indices

    Returns
    -------
    pred (n_chunks,), {method: scores (n_chunks,)}
    """
    if not chunks:
        return np.zeros(0, int), {m: np.zeros(0) for m in METHODS}
    preds, scores = [], []
    for a in range(0, len(chunks), 500):  # a few thousand rows at a time: memory stays small
        parts = [np.concatenate([clip_rows[c] for c in chunk]) for chunk in chunks[a:a + 500]]
        rows = np.concatenate(parts)
        groups = np.repeat(np.arange(len(parts)), [len(r) for r in parts])
        words = np.concatenate([np.repeat(np.arange(len(chunk)), [len(clip_rows[c]) for c in chunk])
                                for chunk in chunks[a:a + 500]])
        _, _, pred, sc = clip_scores(proba[rows], X[rows], groups, arrays, words=words)
        preds.append(pred)
        scores.append(sc)
    return np.concatenate(preds), {m: np.concatenate([sc[m] for sc in scores]) for m in scores[0]}


def evidence_quantiles(single, pooled):
    """Row 0: quantiles (:data:`QUANTILE_GRID`) of one calibration clip's score; row n-1: of the pooled
    score of n clips of one known voice (``pooled[n]``, n in :data:`EVIDENCE_WORDS`; row 0's values where
    there is none)."""
    rows = [np.quantile(np.asarray(single, dtype=np.float64), QUANTILE_GRID)]
    for n in EVIDENCE_WORDS:
        v = np.asarray(pooled.get(n, []), dtype=np.float64)
        rows.append(np.quantile(v, QUANTILE_GRID) if v.size else rows[0])
    return np.stack(rows)


def _clip_rows(groups):
    """The rows of each clip (in order of first appearance) of a run of rows with clip ids ``groups``."""
    groups = np.asarray(groups)
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # clips in the order they come
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    clip_of_row = rank[inverse]
    by_clip = np.argsort(clip_of_row, kind="stable")
    return np.split(by_clip, np.cumsum(np.bincount(clip_of_row, minlength=order.size))[:-1])


def random_chunks(labels, words, *, draws=100, random_state=0):
    """Random sets of ``words`` distinct clips of one voice (at most ``draws`` per voice): what a decision
    over ``words`` words of a known voice pools. ``labels``: one per clip."""
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(random_state)
    chunks = []
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        if idx.size < words:
            continue
        pick = np.argsort(rng.random((draws, idx.size)), axis=1)[:, :words]
        chunks += [idx[p] for p in pick]
    return chunks


def disjoint_chunks(labels, words, *, random_state=0):
    """Clips of one voice, ``words`` at a time, each clip in one chunk, in a shuffled order (the test
    clips' decisions over words: files sorted by name put one word's takes side by side, and a listener
    says different words in a row)."""
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(random_state)
    chunks = []
    for lab in dict.fromkeys(labels.tolist()):
        idx = rng.permutation(np.flatnonzero(labels == lab))
        chunks += [idx[k:k + words] for k in range(0, idx.size - words + 1, words)]
    return chunks


def words_threshold(open_set, threshold, words, method=None):
    """The threshold for a decision over ``words`` words: the mean score that rejects the same share of
    known voices' ``words``-word calibration decisions as ``threshold`` rejects of their single clips. The
    one-word threshold itself for one word, an old model file (no quantiles), or a threshold outside the
    calibration scores (the user dragged it past them: it means "accept all" or "reject all")."""
    method = method or (open_set or {}).get("method")
    q = (open_set or {}).get("arrays", {}).get(f"words_{method}")
    if q is None or words < 2 or words > len(EVIDENCE_WORDS) + 1:
        return float(threshold)
    q = np.asarray(q, dtype=np.float64)
    single, pooled = q[0], q[words - 1]
    if not single[0] < threshold <= single[-1]:
        return float(threshold)
    share = float(np.interp(threshold, single, QUANTILE_GRID))
    return float(np.interp(share, QUANTILE_GRID, pooled))


def decide_over(predictions, threshold=None, *, open_set=None, labels=None):
    """One decision from several words' predictions (continuous listening): the speaker named most often
    (a tie goes to the higher mean score), "unknown" when the mean score is below the threshold.

    Parameters
    ----------
    predictions : dicts with ``known_label`` and ``score`` (and ``threshold``, ``word_thresholds``
        {n: threshold for n words}), as open-set predictions give
    threshold : None: the last prediction's threshold for as many words as there are predictions
    open_set, labels : the model's open-set state and labels: with them, and ``evidence`` (the rows and
        probabilities of each word) in every prediction, the words' evidence is pooled into one score (as
        :func:`calibrate` calibrated the n-word thresholds); without, the speaker named most often and the
        mean of the words' scores
    """
    preds = [p for p in predictions if p.get("score") is not None]
    if not preds:
        raise SpeechLabError("No open-set predictions to decide over")
    if threshold is None:
        threshold = (preds[-1].get("word_thresholds") or {}).get(len(preds), preds[-1].get("threshold"))
    if open_set is not None and labels is not None and all(p.get("evidence") for p in preds):
        # pool the words' evidence, as the n-word threshold was calibrated: one clip of all their rows
        X = [np.asarray(p["evidence"]["rows"], dtype=np.float64) for p in preds]
        P = [np.asarray(p["evidence"]["proba"], dtype=np.float64) for p in preds]
        clip_rows = list(np.split(np.arange(sum(len(x) for x in X)), np.cumsum([len(x) for x in X])[:-1]))
        pred, scores = pooled_decisions(open_set["arrays"], np.concatenate(X), np.concatenate(P), clip_rows,
                                        [list(range(len(preds)))])
        best, score = str(labels[int(pred[0])]), float(scores[open_set["method"]][0])
        named = threshold is None or score >= threshold
        return {"label": best if named else UNKNOWN, "known_label": best, "score": score, "threshold": threshold,
                "words": len(preds), "pooled": True}
    by = {}
    for p in preds:
        by.setdefault(str(p["known_label"]), []).append(float(p["score"]))
    best = max(by, key=lambda k: (len(by[k]), float(np.mean(by[k]))))
    score = float(np.mean([float(p["score"]) for p in preds]))
    named = threshold is None or score >= threshold
    return {"label": best if named else UNKNOWN, "known_label": best, "score": score, "threshold": threshold,
            "words": len(preds)}


def evidence_rates(clips, method, threshold, words):
    """False rejects and false accepts when every decision pools ``words`` test clips of one voice
    (:func:`decide_over`: the most named speaker, the mean score), from a model's stored test clips.
    ``threshold``: the one for ``words``-word decisions (:func:`words_threshold`).

    Known voices' clips are pooled per speaker in their order; never-heard clips in theirs. Returns
    ``{"words", "false_reject_rate", "false_accept_rate", "decisions"}`` (rates None without clips)."""
    words = max(1, int(words))
    pooled = (clips.get("words") or {}).get(str(words))
    if pooled is not None and method in pooled.get("scores", {}):  # decisions pooled as decide_over pools them
        truth = np.asarray(pooled["truth"]).astype(str)
        ok = np.asarray(pooled["predicted"]).astype(str) == truth
        named = np.asarray(pooled["scores"][method], dtype=np.float64) >= threshold
        known = truth != UNKNOWN
        return {"words": words,
                "false_reject_rate": float(np.mean(~(ok & named)[known])) if known.any() else None,
                "false_accept_rate": float(np.mean(named[~known])) if (~known).any() else None,
                "decisions": int(truth.size)}
    truth = [str(t) for t in clips["truth"]]
    predicted = [str(p) for p in clips["predicted"]]
    scores = [float(s) for s in clips["scores"][method]]
    groups = {}
    for i, t in enumerate(truth):
        groups.setdefault(t, []).append(i)
    rejected = known_n = accepted = unknown_n = 0
    for t, idx in groups.items():
        for k in range(0, len(idx) - words + 1, words):
            chunk = idx[k:k + words]
            d = decide_over([{"known_label": predicted[i], "score": scores[i]} for i in chunk], threshold)
            if t == UNKNOWN:
                unknown_n += 1
                accepted += d["label"] != UNKNOWN
            else:
                known_n += 1
                rejected += d["label"] != t
    return {"words": words, "false_reject_rate": rejected / known_n if known_n else None,
            "false_accept_rate": accepted / unknown_n if unknown_n else None, "decisions": known_n + unknown_n}


# ----------------------------------------------------------------------------- the bundle's state


def state_arrays(open_set):
    """The arrays of a bundle's open-set state (saved as ``openset/<name>``)."""
    return {k: np.asarray(v) for k, v in open_set.get("arrays", {}).items()}


def threshold_of(open_set, method=None):
    method = method or open_set["method"]
    return float(open_set["thresholds"][method])


def near_takes(model, X, groups):
    """Per clip (``np.unique(groups)`` order): does it lie near one of the takes the model matches
    directly (core.templates)? Such a clip is a digit in the takes' voice: it is never refused as
    "unknown" (the threshold was set on the dataset's voices). None when the model has no takes."""
    templates = getattr(model, "templates_", None)
    if templates is None or len(X) == 0:
        return None
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    near = np.zeros(inverse.max() + 1, bool)
    np.logical_or.at(near, inverse, templates.is_near(np.asarray(X).reshape(len(X), -1)))
    return near


def score_signal_rows(bundle, X, proba):
    """Decision and score of one signal's windows (rows of ``X`` / ``proba`` in ``bundle.labels`` order).

    Returns
    -------
    dict: ``label`` (a speaker or "unknown"), ``known_label`` (the closest
    speaker), ``score``, ``threshold``, ``method``
    """
    os_ = bundle.open_set
    method = os_["method"]
    _, _, pred, scores = clip_scores(proba, X, np.zeros(len(X), dtype=int), os_["arrays"])
    score = float(scores[method][0])
    threshold = threshold_of(os_)
    known = bundle.labels[int(pred[0])]
    near = near_takes(bundle.model, X, np.zeros(len(X), dtype=int))
    if near is not None and near[0]:  # near one of your takes: a digit in your voice (near_takes)
        score = max(score, float(threshold))
    return {"label": known if score >= threshold else UNKNOWN, "known_label": known, "score": score,
            "threshold": threshold, "method": method,
            "word_thresholds": {n: words_threshold(os_, threshold, n, method) for n in EVIDENCE_WORDS},
            # for a decision over several words (decide_over); plain lists, as the rest of a prediction
            "evidence": {"rows": np.asarray(X, dtype=np.float32).reshape(len(X), -1).tolist(),
                         "proba": np.asarray(proba, dtype=np.float32).tolist()}}


def calibrate(model, fs, *, labels, fit_rows, calibration_rows, test_rows, never_heard, config, weight=None):
    """Everything open-set about a freshly trained model.

    Parameters
    ----------
    model : the trained classifier (``predict_proba``, ``classes_``)
    fs : FeatureSet of the known speakers
    labels : the bundle's labels (known speakers)
    fit_rows, calibration_rows, test_rows : np.ndarray of int into ``fs``
    never_heard : FeatureSet or None, voices never trained on (test side only)
    config : OpenSetConfig
    weight : np.ndarray (one int per row of ``fs``) or None: a calibration clip of weight n counts n
        times in the threshold (core.training's ``repeat``: your takes), and the threshold also lets
        in all but ``target_frr`` of the voice those clips show (:func:`voice_threshold`)

    Returns
    -------
    state : dict for ``ModelBundle.open_set``: ``method``, ``thresholds``
        {method: t}, ``target_frr``, ``n_calibration``, ``arrays`` (distance state)
    metrics : dict for ``metrics["open_set"]``: at the chosen method's threshold
        ``threshold``, ``false_reject_rate``, ``false_accept_rate``, ``eer``;
        ``methods`` {method: {threshold, false_reject_rate, false_accept_rate, eer,
        calibration_frr, curve}}; ``clips`` {truth, predicted, scores} of the test
        clips (known and never heard) for the threshold slider; ``n_unknown``
    """
    labels = [str(x) for x in labels]
    arrays = fit_distance(fs.X[fit_rows], fs.labels[fit_rows], labels)

    probas = {}  # the model's probabilities of each set of rows, predicted once (a Keras model is slow)

    def proba_of(fset, rows):
        key = (id(fset), np.asarray(rows).tobytes())
        if key not in probas:
            probas[key] = _proba_in(model, fset.X[rows], labels)
        return probas[key]

    def score(fset, rows):
        if fset is None or len(rows) == 0:
            return np.zeros(0, int), np.zeros(0, int), {m: np.zeros(0) for m in METHODS}
        _, first, pred, scores = clip_scores(proba_of(fset, rows), fset.X[rows], fset.groups[rows], arrays)
        return np.asarray(rows)[first], pred, scores

    _, _, cal_scores = score(fs, calibration_rows)
    for m in ("distance", "probability"):  # the reference distributions of the combined score
        arrays[f"cal_{m}"] = np.sort(cal_scores[m])
    cal_first, _, cal_scores = score(fs, calibration_rows)
    cal_weight = None if weight is None else np.asarray(weight)[cal_first]

    def pooled_by_words(fset, rows, chunks_of):
        """{n: (clip labels of each chunk, pred, scores)} of decisions pooling n clips of one voice."""
        rows = np.asarray(rows)
        if fset is None or rows.size == 0:
            return {}
        X = fset.X[rows]
        proba = proba_of(fset, rows)
        clip_rows = _clip_rows(fset.groups[rows])
        clip_labels = np.asarray([str(fset.labels[rows[r[0]]]) for r in clip_rows])
        out = {}
        for n in EVIDENCE_WORDS:
            chunks = chunks_of(clip_labels, n)
            pred, scores = pooled_decisions(arrays, X, proba, clip_rows, chunks)
            out[n] = ([clip_labels[c[0]] for c in chunks], pred, scores)
        return out

    if len(cal_first):  # thresholds for decisions over several words, from calibration clips pooled as words
        cal_pooled = pooled_by_words(fs, calibration_rows, random_chunks)
        for m in METHODS:
            arrays[f"words_{m}"] = evidence_quantiles(cal_scores[m], {n: v[2][m] for n, v in cal_pooled.items()})
    test_first, test_pred, test_scores = score(fs, test_rows)
    nh_rows = np.arange(len(never_heard.X)) if never_heard is not None else np.zeros(0, int)
    _, nh_pred, nh_scores = score(never_heard, nh_rows)
    thresholds, methods = {}, {}
    for m in METHODS:
        t = choose_threshold(cal_scores[m], config.target_frr, cal_weight)
        if cal_weight is not None:
            t = min(t, max(voice_threshold(cal_scores[m][cal_weight > 1], config.target_frr),
                           THRESHOLD_RANGES[m][0]))  # a saved threshold stays in its method's range
        thresholds[m] = t
        frr, far = rates(test_scores[m], nh_scores[m], t)
        curve = det_curve(test_scores[m], nh_scores[m])
        methods[m] = {"threshold": t, "false_reject_rate": frr, "false_accept_rate": far, "eer": curve["eer"],
                      "calibration_frr": rates(cal_scores[m], [], t)[0], "curve": curve}
    chosen = methods[config.method]
    lab = np.asarray(labels)
    clips = {
        "truth": [str(x) for x in fs.labels[test_first]] + [UNKNOWN] * len(nh_pred),
        "predicted": lab[test_pred].tolist() + lab[nh_pred].tolist(),
        "scores": {m: np.concatenate([test_scores[m], nh_scores[m]]).tolist() for m in METHODS},
        "never_heard_labels": sorted({str(x) for x in never_heard.labels}) if never_heard is not None else [],
        "words": {},  # {n: decisions pooling n test clips of one voice, for the n-word rates}
    }
    test_pooled = pooled_by_words(fs, test_rows, disjoint_chunks)
    nh_pooled = pooled_by_words(never_heard, nh_rows, disjoint_chunks)
    for n in EVIDENCE_WORDS:
        t_lab, t_pred, t_scores = test_pooled.get(n, ([], np.zeros(0, int), {m: np.zeros(0) for m in METHODS}))
        u_lab, u_pred, u_scores = nh_pooled.get(n, ([], np.zeros(0, int), {m: np.zeros(0) for m in METHODS}))
        clips["words"][str(n)] = {
            "truth": list(t_lab) + [UNKNOWN] * len(u_lab),
            "predicted": lab[np.asarray(t_pred, int)].tolist() + lab[np.asarray(u_pred, int)].tolist(),
            "scores": {m: np.concatenate([t_scores[m], u_scores[m]]).tolist() for m in METHODS}}
    state = {"method": config.method, "thresholds": thresholds, "target_frr": float(config.target_frr),
             "n_calibration": int(len(cal_scores[config.method])), "arrays": arrays}
    metrics = {"method": config.method, "threshold": chosen["threshold"],
               "false_reject_rate": chosen["false_reject_rate"], "false_accept_rate": chosen["false_accept_rate"],
               "eer": chosen["eer"], "target_frr": float(config.target_frr), "methods": methods, "clips": clips,
               "n_unknown": int(len(nh_pred))}
    return state, metrics


def _proba_in(model, X, labels):
    """Model probabilities with columns in ``labels`` order."""
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = [str(c) for c in model.classes_]
    out = np.zeros((proba.shape[0], len(labels)))
    for j, lab in enumerate(labels):
        if lab in classes:
            out[:, j] = proba[:, classes.index(lab)]
    return out


def attach(bundle, model, fs, *, fit_rows, calibration_rows, test_rows, never_heard_items, config, metrics,
           progress=None, should_stop=None, n_jobs=None, cache=True, weight=None):
    """Calibrate a freshly trained speakers model and store its open-set state and metrics.

    ``never_heard_items`` (datasets.Item) are extracted with the bundle's
    feature settings; the results go to ``bundle.open_set`` and
    ``metrics["open_set"]`` (and ``bundle.metrics["open_set"]``).
    """
    from .datasets import Dataset
    from .extraction import build_features

    never = None
    if never_heard_items:
        nds = Dataset(root="", layout="", label_kind="", items=list(never_heard_items))
        try:
            never = build_features(nds, fs.config, progress=progress, should_stop=should_stop, n_jobs=n_jobs,
                                   cache=cache)
        except Cancelled:  # the model is trained: keep it, without the never-heard test
            never = None
        if never is not None and not never.items:
            never = None
    state, os_metrics = calibrate(model, fs, labels=bundle.labels, fit_rows=fit_rows,
                                  calibration_rows=calibration_rows, test_rows=test_rows, never_heard=never,
                                  config=config, weight=weight)
    bundle.open_set = state
    metrics["open_set"] = os_metrics
    bundle.metrics["open_set"] = os_metrics
    bundle.training["open_set"] = {"unknown_labels": [str(x) for x in config.unknown_labels],
                                   "use_other_folders": bool(config.use_other_folders),
                                   "calibration_fraction": float(config.calibration_fraction),
                                   "n_calibration": state["n_calibration"], "n_never_heard": os_metrics["n_unknown"]}
    return bundle


def evaluate_open(bundle, fs):
    """Metrics of an open-set model on every clip of a FeatureSet (the ``evaluate`` command).

    Clips whose speaker the model does not know count as truth "unknown".

    Returns
    -------
    dict as :func:`core.metrics.evaluate` over speakers + "unknown", plus
    ``known_accuracy``, ``false_reject_rate``, ``false_accept_rate`` (None
    without unknown voices), ``unknown_rate``, ``closed_set_accuracy`` (known
    clips, no rejection), ``threshold``, ``method``, ``test_files``
    """
    from .metrics import evaluate

    labels = [str(x) for x in bundle.labels]
    os_ = bundle.open_set
    proba = _proba_in(bundle.model, fs.X, labels)
    _, first, pred, scores = clip_scores(proba, fs.X, fs.groups, os_["arrays"])
    method = os_["method"]
    threshold = threshold_of(os_)
    near = near_takes(bundle.model, fs.X, fs.groups)
    if near is not None:  # a clip near one of your takes is a digit in your voice: it scores at least the threshold
        scores[method] = np.where(near, np.maximum(scores[method], threshold), scores[method])
    truth = np.array([t if t in labels else UNKNOWN for t in fs.labels[first].astype(str)])
    closed = np.asarray(labels)[pred]
    clips = {"truth": truth.tolist(), "predicted": closed.tolist(), "scores": {method: scores[method].tolist()}}
    view = view_at(clips, labels, method, threshold)
    decided = decide(closed, scores[method], threshold)
    metrics = evaluate(truth, decided, labels + [UNKNOWN])
    known = truth != UNKNOWN
    # "Not a digit" (every clip of a known class): an "unknown" answer is a refusal, not a wrong name.
    answered = known & (decided != UNKNOWN)
    metrics.update({
        "n_answered": int(answered.sum()),
        "n_unknown_answers": int(np.sum(decided == UNKNOWN)),
        "answered_accuracy": float(np.mean(decided[answered] == truth[answered])) if answered.any() else None,
        "known_accuracy": view["known_accuracy"],
        "false_reject_rate": view["false_reject_rate"],
        "false_accept_rate": view["false_accept_rate"],
        "unknown_rate": view["unknown_rate"],
        "closed_set_accuracy": float(np.mean(closed[known] == truth[known])) if known.any() else None,
        "threshold": threshold,
        "method": method,
        "n_clips": int(len(first)),
        "test_files": [{"path": fs.items[i].path, "label": str(fs.labels[i]), "predicted": p, "score": float(s)}
                       for i, p, s in zip(first, decided, scores[method])],
    })
    return metrics


def set_threshold(open_set, threshold, method=None):
    """Make ``threshold`` the open-set state's threshold for ``method`` (default: its current scoring) and
    that scoring its decision; a bad value raises SpeechLabError naming the field."""
    method = method or open_set.get("method")
    if method not in METHODS:
        raise SpeechLabError(f"open-set method '{method}' is not one of {', '.join(METHODS)}")
    lo, hi = THRESHOLD_RANGES[method]
    if not _real(threshold) or not lo <= float(threshold) <= hi:
        raise SpeechLabError(f"threshold is {threshold!r}; it must be a finite number from {lo:g} to {hi:g}")
    open_set["method"] = method
    open_set["thresholds"] = {**open_set["thresholds"], method: float(threshold)}
    return open_set


def with_never_heard(bundle, fs, *, name="not a digit"):
    """A model's open-set test results (``bundle.metrics["open_set"]``) with the clips of ``fs`` added as
    sounds the model should answer "unknown" (the user's recorded or picked non-digit sounds).

    Clips added earlier are replaced, so picking again does not count them twice. Returns a new dict
    (the bundle is not changed): ``clips``, every method's ``false_accept_rate``, ``eer`` and ``curve``
    recomputed, ``n_unknown``; the thresholds are the model's automatic ones, as before.
    """
    base = (bundle.metrics or {}).get("open_set")
    if not bundle.open_set or not base or "clips" not in base:
        raise SpeechLabError("This model has no open-set test results to add sounds to (train it with "
                             "\"not a digit\" on)")
    labels = [str(x) for x in bundle.labels]
    clips = base["clips"]
    keep = [i for i, t in enumerate(clips["truth"]) if t != UNKNOWN]
    proba = _proba_in(bundle.model, fs.X, labels)
    _, _, pred, scores = clip_scores(proba, fs.X, fs.groups, bundle.open_set["arrays"])
    methods = [m for m in base["methods"] if m in scores]
    new_clips = {
        "truth": [clips["truth"][i] for i in keep] + [UNKNOWN] * len(pred),
        "predicted": [clips["predicted"][i] for i in keep] + np.asarray(labels)[pred].tolist(),
        "scores": {m: [clips["scores"][m][i] for i in keep] + scores[m].tolist() for m in methods},
        "never_heard_labels": [name] if len(pred) else [],
    }
    out = {**base, "clips": new_clips, "n_unknown": int(len(pred)), "methods": {}}
    for m in methods:
        known = np.asarray([new_clips["scores"][m][i] for i in range(len(keep))])
        unknown = np.asarray(scores[m])
        t = base["methods"][m]["threshold"]
        frr, far = rates(known, unknown, t)
        curve = det_curve(known, unknown)
        out["methods"][m] = {**base["methods"][m], "false_reject_rate": frr, "false_accept_rate": far,
                             "eer": curve["eer"], "curve": curve}
    chosen = out["methods"].get(base["method"], {})
    out.update({k: chosen.get(k) for k in ("false_reject_rate", "false_accept_rate", "eer")})
    return out


# ----------------------------------------------------------------------------- model file


def _encode_array(a):
    import base64

    # float64: a loaded model scores exactly as the one in memory
    a = np.ascontiguousarray(a, dtype="<f8")
    return {"dtype": "float64", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode_array(d, name, source):
    import base64
    import binascii

    try:
        shape = tuple(int(n) for n in d["shape"])
        raw = base64.b64decode(d["data"].encode("ascii"), validate=True)
        dtype = {"float64": "<f8", "float32": "<f4"}[d.get("dtype")]
        if len(raw) != np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError("size")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.float64)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
        raise SpeechLabError(f"{source}: damaged SpeechLab model (open-set array '{name}')") from None


def to_meta(state):
    """The open-set state as JSON (arrays as base64 little-endian float64: plain data, no pickle)."""
    out = {k: v for k, v in state.items() if k != "arrays"}
    out["arrays"] = {k: _encode_array(v) for k, v in state.get("arrays", {}).items()}
    return out


# Where a saved threshold may lie. Scores: "probability" and "combined" in [0, 1] (the slider goes 2 %
# past the scores it shows), "distance" minus a mean squared distance per dimension (<= 0).
THRESHOLD_RANGES = {"probability": (-1.0, 2.0), "combined": (-1.0, 2.0), "distance": (-1e9, 1e9), "cosine": (-2.0, 2.0)}


def _real(v):
    """A JSON number (never ``true``/``false``) that is finite."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def from_meta(meta, labels, *, source="model file", n_features=None):
    """Inverse of :func:`to_meta`, checked before anything uses it; a bad field raises SpeechLabError
    naming it.

    Every threshold is a finite number in its method's range; the distance state is finite, its
    arrays fit the labels and ``n_features`` (the numbers per example the model takes; None: not
    checked), ``scale`` is positive and ``precision`` symmetric positive definite; calibration scores
    are non-empty, finite and sorted.
    """
    def bad(what):
        raise SpeechLabError(f"{source}: damaged SpeechLab model (open_set {what})")

    if not isinstance(meta, dict):
        bad("is not an object")
    method = meta.get("method")
    if method not in METHODS:
        bad(f"method '{method}'")
    thresholds = meta.get("thresholds")
    if not isinstance(thresholds, dict) or method not in thresholds:
        bad("thresholds")
    for m, t in thresholds.items():
        if m not in METHODS:
            bad(f"thresholds: unknown method '{m}'")
        lo, hi = THRESHOLD_RANGES[m]
        if not _real(t) or not lo <= t <= hi:
            bad(f"thresholds '{m}' is {t!r}; it must be a finite number from {lo:g} to {hi:g}")
    if "target_frr" in meta and not (_real(meta["target_frr"]) and 0 < meta["target_frr"] < 0.5):
        bad(f"target_frr is {meta['target_frr']!r}; it must be a number between 0 and 0.5")
    n_cal = meta.get("n_calibration", 0)
    if not isinstance(n_cal, int) or isinstance(n_cal, bool) or n_cal < 0:
        bad(f"n_calibration is {n_cal!r}; it must be a count")
    raw = meta.get("arrays")
    if not isinstance(raw, dict):
        bad("arrays")
    arrays = {k: _decode_array(raw.get(k), k, source) for k in ("mean", "scale", "class_means", "precision")}
    for k in ("cal_distance", "cal_probability", "unit_means", *(f"words_{m}" for m in METHODS)):
        if k in raw:
            arrays[k] = _decode_array(raw[k], k, source)
    for k, a in arrays.items():
        if not np.all(np.isfinite(a)):
            bad(f"array '{k}' holds NaN or infinity")
    d = arrays["mean"].shape[0] if arrays["mean"].ndim == 1 else -1
    if (arrays["scale"].shape != (d,) or arrays["class_means"].shape != (len(labels), d)
            or arrays["precision"].shape != (d, d)):
        bad("arrays do not fit the model's speakers and features")
    if n_features is not None and d != int(n_features):
        bad(f"arrays measure {d} feature values; the model takes {int(n_features)}")
    if "unit_means" in arrays and arrays["unit_means"].shape != (len(labels), d):
        bad("array 'unit_means' does not fit the model's speakers and features")
    if not np.all(arrays["scale"] > 0):
        bad("array 'scale' must be positive")
    P = arrays["precision"]
    if not np.allclose(P, P.T, rtol=1e-6, atol=1e-9 * max(float(np.abs(P).max()), 1e-300)):
        bad("array 'precision' is not symmetric")
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=1, user_api="blas"):  # BLAS threads on a busy machine: 40x slower
            np.linalg.cholesky((P + P.T) / 2)
    except np.linalg.LinAlgError:
        bad("array 'precision' is not positive definite")
    calibration = [k for k in ("cal_distance", "cal_probability") if k in arrays]
    if calibration and len(calibration) != 2:
        bad("needs both calibration score arrays, 'cal_distance' and 'cal_probability'")
    for k in calibration:
        c = arrays[k]
        if c.ndim != 1 or c.size == 0:
            bad(f"array '{k}' must be a non-empty list of scores")
        if np.any(np.diff(c) < 0):
            bad(f"array '{k}' must be sorted")
    if calibration and not (0 <= arrays["cal_probability"][0] and arrays["cal_probability"][-1] <= 1):
        bad("array 'cal_probability' must hold probabilities")
    for m in METHODS:
        q = arrays.get(f"words_{m}")
        if q is not None and (q.shape != (len(EVIDENCE_WORDS) + 1, QUANTILE_GRID.size)
                              or np.any(np.diff(q, axis=1) < 0)):
            bad(f"array 'words_{m}' must hold {len(EVIDENCE_WORDS) + 1} rows of "
                f"{QUANTILE_GRID.size} sorted quantiles")
    if method == "combined" and not calibration:
        bad("method 'combined' needs its calibration scores")
    if method == "cosine" and "unit_means" not in arrays:
        bad("method 'cosine' needs the speakers' directions ('unit_means')")
    return {**{k: v for k, v in meta.items() if k != "arrays"}, "arrays": arrays}


# ----------------------------------------------------------------------------- enrolment
