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
from .extraction import _single_blas_thread, build_features
from .metrics import evaluate


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How clips are divided into training and test sets."""

    kind: str = "random"  # "random" (stratified), "speaker" (speaker-independent), "kfold" (one fold
    # of core.kfold's folds tested) or "all" (every clip trains: k-fold's final model, nothing tested)
    test_size: float = 0.2
    random_state: int = 42
    test_speakers: tuple | None = None
    folds: int | None = None  # "kfold": how many folds, which one is tested, grouped how
    fold: int | None = None
    grouping: str | None = None


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
    notes: list = dataclasses.field(default_factory=list)  # one line each for the user (e.g. cache trouble)
    run_id: int | None = None  # its id in the run history (core.history), once recorded


def split_features(fs, split):
    """Train/test row indices into a FeatureSet; every window of a clip stays on one side."""
    from .datasets import Dataset

    first = fs.clip_rows()
    if split.kind == "all":
        return np.arange(len(fs.labels)), np.zeros(0, dtype=np.int64)
    if split.kind == "kfold":  # the same folds for every fold of a run: computed from the clips and the seed
        from .kfold import make_folds

        folds = make_folds([fs.items[i] for i in first], split.folds, random_state=split.random_state,
                           grouping=split.grouping or "clip")
        te_c = folds[split.fold]
        is_test = np.isin(fs.groups, fs.groups[first[te_c]])
        return np.flatnonzero(~is_test), np.flatnonzero(is_test)
    clips = Dataset(root="", layout="", label_kind="", items=[fs.items[i] for i in first])
    tr_c, te_c = make_split(clips, kind=split.kind, test_size=split.test_size, random_state=split.random_state,
                            test_speakers=list(split.test_speakers) if split.test_speakers else None)
    clip_of_row = fs.groups
    return np.flatnonzero(np.isin(clip_of_row, tr_c)), np.flatnonzero(np.isin(clip_of_row, te_c))


def clip_probabilities(proba, groups):
    """Mean of the windows' probabilities per clip.

    Returns
    -------
    clip_ids : np.ndarray (n_clips,), sorted; rows : index of each clip's first window
    mean : np.ndarray (n_clips, n_classes)
    """
    clip_ids, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    sums = np.zeros((clip_ids.size, proba.shape[1]))
    np.add.at(sums, inverse, proba)
    counts = np.bincount(inverse, minlength=clip_ids.size)[:, None]
    return clip_ids, first, sums / counts


def evaluate_rows(model, fs, rows, labels, *, train_rows=None):
    """Metrics of ``model`` on the rows ``rows`` of a FeatureSet, at clip level
    (the headline: mean of each clip's window probabilities) and window level.

    Returns
    -------
    dict as :func:`core.metrics.evaluate` (clip level) plus ``window_accuracy``,
    ``window_balanced_accuracy``, ``n_windows`` and ``test_files`` (one per clip)
    """
    classes = np.asarray([str(c) for c in model.classes_])

    def level(rows_):
        proba = np.asarray(model.predict_proba(fs.X[rows_]))
        window_pred = classes[proba.argmax(axis=1)]
        _, first, mean = clip_probabilities(proba, fs.groups[rows_])
        clip_pred = classes[mean.argmax(axis=1)]
        return window_pred, rows_[first], clip_pred

    y = fs.labels
    w_pred, clip_rows, c_pred = level(rows)
    kw = {}
    if train_rows is not None and len(train_rows):
        _, tr_clip_rows, tr_pred = level(train_rows)
        kw = dict(y_train_true=y[tr_clip_rows], y_train_pred=tr_pred)
    metrics = evaluate(y[clip_rows], c_pred, labels, **kw)
    window = evaluate(y[rows], w_pred, labels)
    metrics["window_accuracy"] = window["accuracy"]
    metrics["window_balanced_accuracy"] = window["balanced_accuracy"]
    metrics["n_windows"] = int(len(rows))
    metrics["n_clips"] = int(len(clip_rows))
    metrics["test_files"] = [{"path": fs.items[i].path, "label": y[i], "predicted": p} for i, p in zip(clip_rows, c_pred)]
    return metrics


def train_model(ds, *, task, feature_config, model, split=SplitConfig(), on_epoch=None, should_stop=None,
                on_progress=None, n_jobs=None, cache=True, open_set=None, augment=None, on_phase=None, features=None,
                checkpoint=None, repeat=None, take_templates=True):
    """Train ``model`` on a scanned dataset and evaluate it on a held-out split.

    Parameters
    ----------
    ds : datasets.Dataset
    task : str, the task key stored in the bundle
    feature_config : FeatureConfig
    model : a :class:`core.models.Classifier`
    split : SplitConfig
    open_set : core.openset.OpenSetConfig or None
        Speakers: hold the ``unknown_labels`` (and noise folders) out as voices
        never heard, hold a share of the training clips out to set the
        "unknown" threshold, and store it in the bundle (``bundle.open_set``,
        ``metrics["open_set"]``).
    augment : core.augment.AugmentConfig or None
        Add perturbed copies of the training clips (never of the test or
        calibration clips) to the fit; recorded in ``bundle.training["augment"]``.
    on_phase : callable(name, **info) or None
        Told when each phase starts: "extracting features", "augmenting", "training",
        "setting the unknown threshold" (with ``epoch``/``epochs`` as the copy learns), "evaluating".
    features : FeatureSet or None
        The features of ``ds`` (without the open set's unknown voices) already extracted with
        ``feature_config``: k-fold extracts once for every fold.
    checkpoint : core.checkpoint.Checkpointer or None
        Saves the best epoch so far now and then while the model trains (the GUI's training
        process, so that a process that dies still leaves its best epoch behind).
    take_templates : bool
        With ``repeat``: a model that can (``set_templates``, the MLP) also matches every clip against
        the clips that weigh more (your takes) and blends that with what it learned (core.templates).
    repeat : dict {path: int} or None
        Clips that weigh more (a few takes of a new voice beside a dataset): they always train (never
        tested), a clip of weight ``n`` trains ``n`` times, each time with the augmentation's copies (new,
        differently perturbed copies when augmenting), counts ``n`` times in the "unknown" distance state
        and, held out for the threshold, ``n`` times there. Recorded in ``bundle.training["repeat"]``.

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

    def phase(name, **info):
        if on_phase is not None:
            on_phase(name, **info)

    never_heard = []
    if open_set is not None:
        from .openset import split_unknown

        ds, never_heard = split_unknown(ds, open_set)
    if features is None:
        phase("extracting features")
        fs = build_features(ds, feature_config, progress=on_progress, should_stop=should_stop, n_jobs=n_jobs,
                            cache=cache)
    else:
        fs = features
    labels = sort_labels(set(fs.labels.tolist()))
    if len(labels) < 2:
        raise SpeechLabError(f"Training needs at least two classes; {ds.root} gives {len(labels)} usable class(es)")
    tr, te = split_features(fs, split)
    weight = _row_weights(fs, repeat)
    if weight is not None and te.size and (weight[te] > 1).any() and not (weight[te] > 1).all():
        # your takes always train (one take of a digit held out for testing would leave that digit unlearned)
        tr, te = np.sort(np.concatenate([tr, te[weight[te] > 1]])), te[weight[te] <= 1]
    everything = split.kind == "all"  # k-fold's final model: nothing is held out for testing
    if tr.size == 0 or (te.size == 0 and not everything):
        raise SpeechLabError("The split left no training or no test clips; change the test size or split")
    if len(set(fs.labels[tr].tolist())) < 2:
        raise SpeechLabError(f"The split left one class ({fs.labels[tr][0]}) for training; {ds.root} needs more "
                             "clips of each class, or a smaller test size")
    untrained = [lab for lab in labels if lab not in set(fs.labels[tr].tolist())]
    if untrained:  # the model could never answer them, and its file would not load (classes != labels)
        names = ", ".join(f"'{lab}'" for lab in untrained[:10]) + (" …" if len(untrained) > 10 else "")
        fix = (f"only test speakers say {'them' if len(untrained) > 1 else 'it'}: choose other test speakers"
               if split.kind == "speaker"
               else f"{ds.root} needs at least two clips of each class, or a smaller test size")
        raise SpeechLabError(f"The split left no training clip of class{'es' if len(untrained) > 1 else ''} "
                             f"{names}; {fix}")
    y = fs.labels
    if open_set is not None:  # the threshold is set on training clips the model never saw
        tr, calibration = _calibration_split(y, fs.groups, tr, open_set, weight)
        if open_set.refit:  # the model kept learns every training clip; a copy without these sets the threshold
            threshold_rows, tr = tr, np.sort(np.concatenate([tr, calibration]))
    if augment is not None and augment.enabled:
        phase("augmenting")
    X_fit, y_fit, g_fit = _fit_rows(fs, tr, augment, on_progress, should_stop, cache, weight=weight)
    phase("training")
    fit_on_epoch = on_epoch
    if checkpoint is not None:
        def make_bundle(stand_in, stats):
            note = (f"the best epoch so far ({stats.get('epoch')} of {stats.get('epochs')}) of a training whose "
                    "process ended before it finished; not evaluated")
            return ModelBundle(task=task, model=stand_in, feature_config=fs.config, labels=labels, metrics={},
                               history=list(model.history_),
                               training={"dataset": ds.root, "layout": ds.layout, "label_kind": ds.label_kind,
                                         "split": dataclasses.asdict(split), "checkpoint": True,
                                         "best_epoch": stats.get("epoch"), "stop_reason": note})

        fit_on_epoch = checkpoint.watch(model, make_bundle, on_epoch)
    model.fit(X_fit, y_fit, groups=g_fit, on_epoch=fit_on_epoch, should_stop=should_stop)
    n_templates = _attach_templates(model, fs, tr, weight) if take_templates else 0
    if everything:  # the folds measured it; these rows only fill the shapes (open-set rates, metrics)
        te = calibration if open_set is not None else tr
    if not everything:
        phase("evaluating")
    metrics = evaluate_rows(model, fs, te, labels, train_rows=tr)
    seconds = time.perf_counter() - t0
    history = list(model.history_)
    stop_reason = model.stop_reason_
    n_train_clips = int(np.unique(fs.groups[tr]).size)
    n_test_clips = 0 if everything else int(np.unique(fs.groups[te]).size)
    training = {
        "dataset": ds.root,
        "layout": ds.layout,
        "label_kind": ds.label_kind,
        "split": dataclasses.asdict(split),
        "test_speakers": sorted({fs.items[i].speaker for i in te if fs.items[i].speaker}) if split.kind == "speaker" else [],
        "n_train": n_train_clips,
        "n_test": n_test_clips,
        "n_train_windows": int(tr.size),
        "n_test_windows": 0 if everything else int(te.size),
        "n_skipped": len(fs.skipped),
        "extraction_seconds": round(fs.seconds, 3),
        "files_per_second": round((fs.n_clips + len(fs.skipped)) / max(fs.seconds, 1e-9), 1),
        "seconds": round(seconds, 3),
        "stop_reason": stop_reason,
        "best_epoch": model.best_epoch_,
    }
    if augment is not None and augment.enabled:
        training["augment"] = augment.to_dict()
        training["n_train_augmented"] = int(len(X_fit))
    if n_templates:
        training["take_templates"] = n_templates
    if weight is not None:
        counts = {}
        for c in np.unique(fs.groups[tr]):
            w = int(weight[np.flatnonzero(fs.groups == c)[0]])
            if w > 1:
                counts[w] = counts.get(w, 0) + 1
        training["repeat"] = {"clips": int(sum(counts.values())),
                              "times": {str(w): n for w, n in sorted(counts.items())}}
        training["n_train_rows"] = int(len(X_fit))
    saved_metrics = {k: v for k, v in metrics.items() if k != "test_files"}
    bundle = ModelBundle(task=task, model=model, feature_config=fs.config, labels=labels, training=training,
                         metrics=saved_metrics, history=history)
    if open_set is not None and open_set.refit:
        _threshold_from_copy(bundle, model, fs, threshold_rows, calibration, te, never_heard, open_set, metrics,
                             augment=augment, on_progress=on_progress, should_stop=should_stop, n_jobs=n_jobs,
                             cache=cache, phase=phase, weight=weight, take_templates=take_templates)
        if bundle.open_set is None:  # stopped before the threshold was set: say so, never silently
            note = 'stopped before the "unknown" threshold was set: "unknown" is off for this model'
            stop_reason = f"{stop_reason}; {note}" if stop_reason else note
            bundle.training["stop_reason"] = stop_reason
            bundle.training["open_set_off"] = note
    elif open_set is not None:
        phase("setting the unknown threshold")
        from .openset import attach

        attach(bundle, model, fs, fit_rows=_repeated(tr, weight), calibration_rows=calibration, test_rows=te,
               never_heard_items=never_heard, config=open_set, metrics=metrics, progress=on_progress,
               should_stop=should_stop, n_jobs=n_jobs, cache=cache, weight=weight)
    seconds = time.perf_counter() - t0  # every phase, the unknown threshold's included
    training["seconds"] = round(seconds, 3)
    return TrainResult(bundle, metrics, n_train_clips, n_test_clips, fs.skipped, history, seconds, stop_reason,
                       bool(model.diverged_), notes=list(fs.notes))


def _calibration_split(y, groups, rows, open_set, weight):
    """The open set's calibration split (whole clips held out of ``rows`` to set the "unknown" threshold).

    Weighed clips (your takes) are split on their own, so that they set the threshold too (weighed there as
    in training: core.openset.choose_threshold): ``calibration_fraction`` of each class's takes, at least one
    when it has two or more; a class with a single take gives it to the threshold too when the kept model is
    trained on every clip (``refit``), so that the threshold knows how your voice scores when not learned."""
    from .openset import calibration_split

    kw = dict(fraction=open_set.calibration_fraction, random_state=open_set.random_state)
    heavy = np.zeros(len(rows), dtype=bool) if weight is None else weight[rows] > 1
    if not heavy.any():
        return calibration_split(y, groups, rows, **kw)
    fit_a, cal_a = calibration_split(y, groups, rows[~heavy], **kw)
    fit_b, cal_b = calibration_split(y, groups, rows[heavy], **kw)
    if open_set.refit and fit_b.size:
        labels, g = y[fit_b], groups[fit_b]
        single = np.array([np.unique(g[labels == lab]).size == 1 for lab in labels], dtype=bool)
        cal_b, fit_b = np.concatenate([cal_b, fit_b[single]]), fit_b[~single]
    return np.sort(np.concatenate([fit_a, fit_b])), np.sort(np.concatenate([cal_a, cal_b]))


def _row_weights(fs, repeat):
    """Each row's weight (int >= 1) from ``{path: times}``, or None when every clip weighs 1."""
    if not repeat:
        return None
    weight = np.array([max(int(repeat.get(it.path, 1)), 1) for it in fs.items], dtype=np.int64)
    return weight if (weight > 1).any() else None


def _repeated(rows, weight):
    """``rows`` with each row repeated its weight's times (the distance state counts a take as often)."""
    rows = np.asarray(rows, dtype=int)
    return rows if weight is None else np.repeat(rows, weight[rows])


def _fit_rows(fs, rows, augment, on_progress, should_stop, cache, weight=None):
    """The training matrix of ``rows``, with augmented copies of their clips when asked (never of test clips).

    ``weight`` (per row of ``fs``, or None): a clip of weight n trains n times: with augmentation, as n·(1 +
    copies) rows (the original and more perturbed copies, each one different); without, its rows n times."""
    rows = np.asarray(rows, dtype=int)
    heavy = np.zeros(0, dtype=int) if weight is None else rows[weight[rows] > 1]
    plain = rows if heavy.size == 0 else rows[weight[rows] <= 1]
    if augment is not None and augment.enabled:
        from .augment import augmented_rows

        X, y, g, _ = augmented_rows(fs, plain, augment, progress=on_progress, should_stop=should_stop, cache=cache)
    else:
        X, y, g = fs.X[plain], fs.labels[plain], fs.groups[plain]
    if heavy.size == 0:
        return X, y, g
    parts = [(X, y, g)]
    for w in np.unique(weight[heavy]):
        r = heavy[weight[heavy] == w]
        if augment is not None and augment.enabled:
            extra = int(w) * (1 + augment.copies) - 1  # copies beyond the original, in blocks of at most 20
            block = 0
            while extra > 0:
                n = min(extra, 20)
                cfg = dataclasses.replace(augment, copies=n, seed=augment.seed + 7919 * (block + 1)) if block else \
                    dataclasses.replace(augment, copies=n)
                Xa, ya, ga, _ = augmented_rows(fs, r, cfg, progress=on_progress, should_stop=should_stop,
                                               cache=cache)
                k = 0 if block == 0 else len(r)  # the original rows once (the first block's)
                parts.append((Xa[k:], ya[k:], ga[k:]))
                extra -= n
                block += 1
        else:
            rr = np.repeat(r, int(w))
            parts.append((fs.X[rr], fs.labels[rr], fs.groups[rr]))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _attach_templates(model, fs, rows, weight):
    """Give ``model`` the weighed clips among ``rows`` (your takes) as templates (core.templates), when it
    can take them and the features are frame sequences (``mfcc-full``); returns how many it got."""
    config = fs.config
    if weight is None or not hasattr(model, "set_templates") or config.name != "mfcc-full" \
            or config.window_seconds is not None or not config.n_frames:
        return 0
    takes = rows[weight[rows] > 1]
    if takes.size == 0:
        return 0
    return model.set_templates(fs.X[takes], fs.labels[takes], frames=int(config.n_frames))


def _threshold_from_copy(bundle, model, fs, fit_rows, calibration_rows, te, never_heard, config, metrics, *,
                         augment, on_progress, should_stop, n_jobs, cache, phase=lambda name, **info: None, weight=None,
                         take_templates=True):
    """``OpenSetConfig.refit``: ``model`` learned every training clip; a silent copy trained without the
    calibration clips scores them and sets the threshold (what an unseen clip scores), which the bundle
    keeps with the distance state of every training clip. The open-set test rates are ``model``'s."""
    import inspect

    from .openset import attach, clip_scores, fit_distance, rates

    def stopped():  # a stop keeps the trained model, without the "unknown" answer
        return should_stop is not None and should_stop()

    if stopped():
        return
    init = inspect.signature(type(model).__init__).parameters
    params = {k: getattr(model, k) for k in init if k != "self" and hasattr(model, k)}
    if "report_every" in params:
        params["report_every"] = 0
    copy = type(model)(**params)
    phase("setting the unknown threshold", epoch=0, epochs=params.get("epochs"))
    from .errors import Cancelled

    try:
        X, y, g = _fit_rows(fs, fit_rows, augment, on_progress, should_stop, cache, weight=weight)
    except Cancelled:  # stopped while the copy's clips were augmented: the trained model is kept
        return

    def copy_epoch(stats):  # the curves are the kept model's; this phase shows its own progress
        if stats.get("batch") is None:
            phase("setting the unknown threshold", epoch=stats.get("epoch"), epochs=stats.get("epochs"))

    copy.fit(X, y, groups=g, on_epoch=copy_epoch, should_stop=should_stop)
    if stopped():
        return
    if take_templates:  # the copy answers as the kept model will: with the takes it trained on as templates
        _attach_templates(copy, fs, fit_rows, weight)
    kept = bundle.model
    attach(bundle, copy, fs, fit_rows=_repeated(fit_rows, weight), calibration_rows=calibration_rows, test_rows=te,
           never_heard_items=never_heard, config=config, metrics=metrics, progress=on_progress,
           should_stop=should_stop, n_jobs=n_jobs, cache=cache, weight=weight)
    bundle.model = kept
    labels = list(bundle.labels)
    rows = _repeated(np.sort(np.concatenate([fit_rows, calibration_rows])), weight)
    state = bundle.open_set
    state["arrays"].update(fit_distance(fs.X[rows], fs.labels[rows], labels))  # thresholds and cal_* kept
    proba = np.asarray(kept.predict_proba(fs.X[te]), dtype=np.float64)
    classes = [str(c) for c in kept.classes_]
    _, _, _, scores = clip_scores(proba[:, [classes.index(lab) for lab in labels]], fs.X[te], fs.groups[te],
                                  state["arrays"])
    method = state["method"]
    os_metrics = metrics["open_set"]
    os_metrics["false_reject_rate"] = rates(scores[method], [], state["thresholds"][method])[0]
    os_metrics["refit"] = True
    bundle.metrics["open_set"] = os_metrics
    bundle.training["refit_after_calibration"] = True


def evaluate_bundle(bundle, ds, *, on_progress=None, should_stop=None, n_jobs=None, cache=True):
    """Evaluate a saved model on every usable file of a dataset.

    Returns
    -------
    (metrics dict, skipped list). Clips whose label the model does not know
    count as errors and are reported in ``metrics["unknown_labels"]``. A model
    that may answer "unknown" (open set) adds ``unknown_rate`` (share of clips
    answered "unknown") and ``answered_accuracy`` (right among the clips it
    answered with a label); ``accuracy`` stays the plain one, where an
    "unknown" answer to a clip of a known class counts as wrong.
    """
    with _single_blas_thread():  # as a training: BLAS threads spin on a busy machine (_single_blas_thread)
        return _evaluate_bundle(bundle, ds, on_progress=on_progress, should_stop=should_stop, n_jobs=n_jobs,
                                cache=cache)


def _evaluate_bundle(bundle, ds, *, on_progress, should_stop, n_jobs, cache):
    fs = build_features(ds, bundle.feature_config, progress=on_progress, should_stop=should_stop,
                        n_jobs=n_jobs, cache=cache)  # n_frames is fixed: same shape as in training
    if not fs.items:
        raise SpeechLabError(f"None of the files in {ds.root} could be used")
    unknown = sorted(set(fs.labels.tolist()) - set(bundle.labels))
    if bundle.open_set:  # speakers: voices the model does not know count as truth "unknown"
        from .openset import evaluate_open

        metrics = evaluate_open(bundle, fs)
        metrics["unknown_labels"] = unknown
        return metrics, fs.skipped
    metrics = evaluate_rows(bundle.model, fs, np.arange(len(fs.items)), list(bundle.labels) + unknown)
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
    run_id: int | None = None  # the final model's id in the run history, once recorded


def leave_one_speaker_out(ds, *, task, feature_config, make_model, on_rotation=None, on_result=None,
                          on_epoch=None, should_stop=None, on_progress=None, n_jobs=None, cache=True,
                          fit_final=False, augment=None):
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
    augment : core.augment.AugmentConfig or None, as in :func:`train_model`

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
    from .kfold import run_folds

    t0 = time.perf_counter()

    def train(_, split):
        return train_model(ds, task=task, feature_config=feature_config, model=make_model(), split=split,
                           on_epoch=on_epoch, should_stop=should_stop, on_progress=on_progress, n_jobs=n_jobs,
                           cache=cache, augment=augment)

    # k-fold's loop with one fold per speaker; a rotation stopped mid-way is kept (its best weights so far)
    try:
        results, stopped = run_folds([(SplitConfig(kind="speaker", test_speakers=(s,)), s) for s in speakers],
                                     train=train, should_stop=should_stop, on_fold=on_rotation, on_result=on_result,
                                     keep_stopped=True)
    except Cancelled:
        raise Cancelled("Stopped before the first rotation finished") from None
    truth = [f["label"] for r in results for f in r.metrics["test_files"]]
    pred = [f["predicted"] for r in results for f in r.metrics["test_files"]]
    labels = results[0].bundle.labels
    pooled = evaluate(truth, pred, labels)
    done = speakers[: len(results)]
    per_speaker = {s: r.metrics["accuracy"] for s, r in zip(done, results)}
    final = None
    if fit_final and not stopped:
        if on_rotation is not None:
            on_rotation(len(speakers), len(speakers), None)
        fs = build_features(ds, feature_config, should_stop=should_stop, n_jobs=n_jobs, cache=cache)  # cached
        model = make_model()
        X_fit, y_fit, g_fit = fs.X, fs.labels, fs.groups
        if augment is not None and augment.enabled:
            from .augment import augmented_rows

            X_fit, y_fit, g_fit, _ = augmented_rows(fs, np.arange(len(fs.labels)), augment, should_stop=should_stop,
                                                    cache=cache)
        model.fit(X_fit, y_fit, groups=g_fit, on_epoch=on_epoch, should_stop=should_stop)
        training = {**results[-1].bundle.training, "split": {"kind": "leave-one-speaker-out"},
                    "per_speaker": per_speaker, "n_train": fs.n_clips, "n_test": 0,
                    "stop_reason": model.stop_reason_, "best_epoch": model.best_epoch_}
        training.pop("test_speakers", None)
        final = ModelBundle(task=task, model=model, feature_config=fs.config, labels=labels, training=training,
                            metrics=pooled, history=list(model.history_))
    return SpeakerRotations(results, done, pooled, per_speaker, time.perf_counter() - t0, final)
