"""One training request: everything a training depends on, as plain values, for every face.

The GUI, ``main.py train``, sweeps and re-runs all build a :class:`TrainRequest`
and hand it to :func:`train_and_record`; the task's defaults are filled in one
place (:func:`resolve`), and a run's stored settings are exactly its resolved
request, so Re-run trains the same thing whatever face started it.

A request is JSON-able (``to_dict``/``from_dict``) so it can be sent to another
process (a sweep worker, the GUI's training process) as is.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import time

from .errors import SpeechLabError

SPLITS = ("random", "speaker", "loso", "kfold")

# A later data folder (your takes) weighs this share of an average speaker of the first folder: one take of
# every digit beside 3 speakers of 50 clips a digit trains 50 times (benchmarks/your_voice.py: as good as
# half or twice that)
TAKES_WEIGHT = 1.0
MAX_FOLDER_WEIGHT = 100

# Short setting names the CLI, sweeps and the GUI share -> the model keyword they set
MODEL_KEYS = {
    "hidden": "hidden_layer_sizes", "activation": "activation", "epochs": "epochs", "lr": "learning_rate",
    "learning_rate": "learning_rate", "batch_size": "batch_size", "optimizer": "optimizer", "output": "output",
    "init": "init", "l2": "l2", "patience": "patience", "standardize": "standardize",
    "early_stopping": "early_stopping", "C": "C", "alpha": "alpha", "kind": "kind", "solver": "solver",
    "max_iter": "max_iter", "dropout": "dropout",
}


@dataclasses.dataclass
class TrainRequest:
    """Everything one training needs.

    ``None`` means "the task's default" for ``features``, ``model``, ``split``, ``folds``, ``seed``,
    ``augment`` and ``open_set``; :func:`resolve` replaces every None by the
    value used, so a resolved request repeats the training exactly.
    """

    task: str = "digits"
    # a folder; a list of folders of the same task (merged, e.g. a dataset and your takes); None: the demo data
    data: str | list | None = None
    label: str | None = None  # "digit" / "speaker" for filename-coded data; None: the task's
    layout: str = "auto"
    features: str | None = None  # a feature set of the task
    feature_settings: dict = dataclasses.field(default_factory=dict)  # FeatureConfig fields changed
    model: str | None = None  # a ModelChoice key of the task
    model_params: dict = dataclasses.field(default_factory=dict)  # the model's settings (over the choice's)
    # "random" (stratified), "speaker" (speaker-independent), "loso", "kfold"; None: the task's default
    # (random; Genres: 5-fold under core.kfold.GENRES_KFOLD_BELOW tracks, decided from the dataset)
    split: str | None = None
    test_size: float = 0.2
    folds: int | None = None  # "kfold": how many folds (None: core.kfold.DEFAULT_FOLDS)
    seed: int | None = None  # the split's, the model's and the open set's random seed (default 42)
    augment: bool | dict | None = None  # perturbed copies of training clips: None task default, False off
    open_set: bool | dict | None = None  # answer "unknown": None task default, False off, dict OpenSetConfig fields
    # How much each data folder's clips weigh (a list of whole numbers, one per folder of ``data``): a later
    # folder with fewer clips of a class than an average speaker of the first (your takes) trains as often
    # as that speaker (TAKES_WEIGHT; _resolve_folder_weights); None: decided from the data, False: each once
    folder_weights: list | bool | None = None
    # Your takes as templates (core.templates): with takes that weigh (``folder_weights``), a model that can
    # (the MLP) also matches each clip against the takes themselves and blends that with what it learned
    take_templates: bool = True
    # What a sweep adds for its tables (never changes the training):
    values: dict = dataclasses.field(default_factory=dict)
    title: str = ""
    reference: float | None = None
    reference_note: str = ""

    def to_dict(self):
        return json.loads(json.dumps(dataclasses.asdict(self), default=_plain))

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SpeechLabError(f"A training request has no field {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in names})

    def with_value(self, key, value):
        """A copy with one swept setting applied (``values`` remembers it)."""
        spec = dataclasses.replace(self, feature_settings=dict(self.feature_settings),
                                   model_params=dict(self.model_params), values={**self.values, key: value})
        if key in ("features", "model", "split", "augment", "open_set", "folder_weights"):
            setattr(spec, key, value)
        elif key == "folds":
            spec.folds = None if value is None else int(value)
        elif key == "test_size":
            spec.test_size = float(value)
        elif key == "seed":
            spec.seed = None if value is None else int(value)
        elif key in MODEL_KEYS:
            spec.model_params[MODEL_KEYS[key]] = value
        else:
            spec.feature_settings[key] = value
        return spec


def _plain(o):
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return list(o)


def _model_class(choice):
    from .models import model_class

    return model_class(choice.type)


def resolve(request, *, dataset=None):
    """The request with every default of its task filled in (the one place defaults are applied).

    The default split depends on the data for Genres (k-fold on a small dataset): a request without
    a split is decided from ``dataset`` (a scanned Dataset of ``request.data``), scanned here when
    not given; the resolved request names the split, so a re-run repeats it whatever the folder holds.

    Raises SpeechLabError naming the bad field (unknown task, model, feature set, setting, split or folds).
    """
    from .features import FeatureConfig
    from .tasks import get_task

    r = request if isinstance(request, TrainRequest) else TrainRequest.from_dict(request)
    task = get_task(r.task)
    choice = task.model_choice(r.model)
    features = r.features or choice.feature or task.default_feature
    if choice.feature and features != choice.feature:
        raise SpeechLabError(f"The {choice.title} model needs the '{choice.feature}' features, not '{features}'")
    fields = {f.name for f in dataclasses.fields(FeatureConfig)} - {"name"}
    bad = sorted(set(r.feature_settings) - fields)
    if bad:
        raise SpeechLabError(f"Feature settings: no setting {', '.join(bad)}")
    base = task.feature_config(features).to_dict()
    base.pop("name", None)
    feature_settings = {**base, **r.feature_settings}
    accepted = inspect.signature(_model_class(choice).__init__).parameters
    unknown = [k for k in r.model_params if k not in accepted]
    if unknown:
        raise SpeechLabError(f"The {choice.key} model has no setting {', '.join(unknown)}")
    seed = 42 if r.seed is None else int(r.seed)
    defaults = {k: p.default for k, p in accepted.items()
                if k != "self" and p.default is not inspect.Parameter.empty}
    params = {**defaults, **choice.params, **r.model_params}  # every setting explicit: a re-run repeats it
    if "random_state" in accepted:
        params["random_state"] = seed
    split = r.split
    if split is not None and split not in SPLITS:
        raise SpeechLabError(f"Unknown split '{r.split}': choose one of {', '.join(SPLITS)}")
    if not 0 < float(r.test_size) < 1:
        raise SpeechLabError(f"test_size must be between 0 and 1, not {r.test_size}")
    folds = _resolve_folds(r.folds, split)
    if split is None:
        split = _default_split(task, r, dataset)
        folds = _resolve_folds(r.folds, split)
    return dataclasses.replace(
        r, data=_resolve_data(r.data), features=features,
        feature_settings=json.loads(json.dumps(feature_settings, default=_plain)),
        model=choice.key, model_params=json.loads(json.dumps(params, default=_plain)), seed=seed, split=split,
        folds=folds,
        label=r.label or task.label_kind, test_size=float(r.test_size),
        augment=_resolve_augment(task, r.augment), open_set=_resolve_open_set(task, r.open_set, seed, choice),
        folder_weights=_resolve_folder_weights(task, r, split, dataset))


def _resolve_folder_weights(task, r, split, dataset):
    """One whole-number weight per data folder (``folder_weights``), or False when every clip weighs 1.

    Only a training on several folders with a random or speaker split, whose first folder names its speakers
    and whose label is not the speaker, weighs its folders: a later folder with fewer clips of each of its
    classes than an average speaker of the first folder has (your takes beside a dataset) weighs so that its
    clips of a class count as TAKES_WEIGHT of that speaker's; any other folder weighs 1."""
    data = _resolve_data(r.data)
    fw = r.folder_weights
    if fw is False or not isinstance(data, list) or split in ("loso", "kfold"):
        return False
    if isinstance(fw, (list, tuple)):
        if len(fw) != len(data):
            raise SpeechLabError(f"folder_weights: one weight per data folder ({len(data)}), not {len(fw)}")
        try:
            weights = [int(w) for w in fw]
        except (TypeError, ValueError):
            raise SpeechLabError(f"folder_weights must be whole numbers, not {fw!r}") from None
        if any(w != v or not 1 <= w <= MAX_FOLDER_WEIGHT for w, v in zip(weights, fw)):
            raise SpeechLabError(f"folder_weights must be whole numbers from 1 to {MAX_FOLDER_WEIGHT}, not {fw!r}")
        return weights if any(w > 1 for w in weights) else False
    if fw not in (None, True):
        raise SpeechLabError(f"folder_weights must be a list of whole numbers, true, false or null, not {fw!r}")
    if dataset is None:
        dataset = _scan(task, data, r.layout, r.label or task.label_kind)
    if dataset.label_kind == "speaker":  # the label is the voice: every folder's voices are classes already
        return False
    folder = folder_of_items(dataset.items, data)
    first = [it for it, f in zip(dataset.items, folder) if f == 0]
    speakers = {it.speaker for it in first if it.speaker}
    if not speakers:  # no voices to weigh against (Genres, a folder per class without speakers)
        return False
    # an average speaker's clips of a class in the first folder, against the folder's clips per class it has
    share = TAKES_WEIGHT * len(first) / (len(speakers) * max(len({it.label for it in first}), 1))
    weights = [1]
    for i in range(1, len(data)):
        mine = [it for it, f in zip(dataset.items, folder) if f == i]
        per_class = len(mine) / max(len({it.label for it in mine}), 1)
        weights.append(min(max(int(round(share / per_class)), 1), MAX_FOLDER_WEIGHT) if mine else 1)
    return weights if any(w > 1 for w in weights) else False


def folder_of_items(items, folders):
    """The index in ``folders`` of the folder each item's path lies in (the deepest that holds it; -1: none)."""
    import os

    roots = [os.path.normpath(os.path.abspath(os.path.expanduser(f))) for f in folders]
    out = []
    for it in items:
        path = os.path.normpath(os.path.abspath(it.path))
        best, depth = -1, -1
        for i, root in enumerate(roots):
            if (path == root or path.startswith(root.rstrip(os.sep) + os.sep)) and len(root) > depth:
                best, depth = i, len(root)
        out.append(best)
    return out


def repeat_of(request, dataset):
    """``{path: weight}`` of the clips a resolved request weighs more than once (None when none)."""
    if not request.folder_weights or not isinstance(request.data, list):
        return None
    folder = folder_of_items(dataset.items, request.data)
    repeat = {it.path: int(request.folder_weights[f]) for it, f in zip(dataset.items, folder)
              if f >= 0 and int(request.folder_weights[f]) > 1}
    return repeat or None


def _resolve_folds(folds, split):
    """The number of folds of a k-fold split (None for any other split); SpeechLabError naming ``folds``."""
    from .kfold import DEFAULT_FOLDS

    if folds is not None:
        try:
            k = int(folds)
        except (TypeError, ValueError):
            raise SpeechLabError(f"folds must be a whole number, not {folds!r}") from None
        if k != folds or k < 2:
            raise SpeechLabError(f"folds must be at least 2, not {folds}")
        if split not in (None, "kfold"):
            raise SpeechLabError(f"folds applies to the k-fold split, not '{split}'")
    if split != "kfold":
        return None
    return DEFAULT_FOLDS if folds is None else int(folds)


def _default_split(task, r, dataset):
    """The split of a request that names none: random, except Genres on fewer than
    core.kfold.GENRES_KFOLD_BELOW tracks (a handful of test tracks says little): k-fold."""
    if task.key != "genres":
        return "random"
    from .kfold import GENRES_KFOLD_BELOW

    if dataset is None:
        dataset = _scan(task, r.data, r.layout, r.label or task.label_kind)
    return "kfold" if len(dataset.items) < GENRES_KFOLD_BELOW else "random"


def _scan(task, data, layout, label):
    from .datasets import scan_datasets
    from .demo import demo_dataset

    return scan_datasets(data or str(demo_dataset(task.key)), layout=layout, label=label)


def _resolve_data(data):
    """``data`` as stored: None, one folder (a str, as always), or a list of two or more folders."""
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, (list, tuple)):
        folders = [str(d) for d in data]
        if not folders or any(not f.strip() for f in folders):
            raise SpeechLabError("data: every folder of the list must be named")
        folders = list(dict.fromkeys(folders))  # a folder given twice counts once
        return folders[0] if len(folders) == 1 else folders
    return str(data)


def _resolve_augment(task, augment):
    if augment is False or (augment is None and task.augment is None):
        return False
    from .augment import AugmentConfig

    base = task.augment.to_dict() if task.augment is not None else AugmentConfig().to_dict()
    over = augment if isinstance(augment, dict) else {}
    try:
        cfg = AugmentConfig.from_dict({**base, **over})
    except (TypeError, ValueError) as exc:
        raise SpeechLabError(f"Augmentation settings: {exc}") from exc
    return cfg.to_dict() if cfg.enabled else False


def _resolve_open_set(task, open_set, seed, choice=None):
    """Speakers always answer "unknown" (their defaults); digits by default; genres only when asked.
    The scoring is the model type's own (``METHOD_OF_MODEL``: cosine for voice embeddings) unless chosen."""
    from .openset import METHOD_OF_MODEL, OpenSetConfig

    if open_set is False:
        return False
    if task.key == "speakers":
        base = OpenSetConfig(random_state=seed)
    elif task.open_set is not None:
        base = dataclasses.replace(task.open_set, random_state=seed)
    elif open_set is None:
        return False
    else:
        base = OpenSetConfig(random_state=seed)
    over = dict(open_set) if isinstance(open_set, dict) else {}
    if over.get("method") is None and choice is not None and choice.type in METHOD_OF_MODEL:
        over["method"] = METHOD_OF_MODEL[choice.type]
    elif over.get("method") is None:
        over.pop("method", None)
    if "unknown_labels" in over:
        over["unknown_labels"] = tuple(over["unknown_labels"] or ())
    try:
        cfg = dataclasses.replace(base, **over)
    except TypeError as exc:
        raise SpeechLabError(f"Open-set settings: {exc}") from exc
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=_plain))


# ------------------------------------------------------------------ building


def build(request, *, resolve_sizes=True, dataset=None):
    """(dataset, feature config, model, resolved request) for a request; SpeechLabError for bad settings.

    Hidden layers given as the report's size formulas (``"(in+out)/2"``) need the
    feature size: with ``resolve_sizes`` the features are extracted (from the cache
    after a sweep's preparation) to turn them into numbers; without, the model is None.
    """
    from .models import make_model
    from .tasks import get_task

    if isinstance(request, dict):
        request = TrainRequest.from_dict(request)
    if request.split is None and dataset is None:  # the default split is decided from the data
        resolve(dataclasses.replace(request, split="kfold" if request.folds is not None else "random",
                                    folder_weights=False))  # bad fields first (the weights need the scan)
        task = get_task(request.task)
        dataset = _scan(task, request.data, request.layout, request.label or task.label_kind)
    r = resolve(request, dataset=dataset)
    task = get_task(r.task)
    choice = task.model_choice(r.model)
    try:
        config = task.feature_config(r.features, **{k: v for k, v in r.feature_settings.items()})
        config = dataclasses.replace(config, **{k: v for k, v in r.feature_settings.items() if v is None})
    except (TypeError, ValueError) as exc:
        raise SpeechLabError(f"Feature settings: {exc}") from exc
    params = dict(r.model_params)
    for k in ("hidden_layer_sizes", "dense_units"):
        if isinstance(params.get(k), list):
            params[k] = tuple(params[k])
    if isinstance(params.get("conv_blocks"), list):
        params["conv_blocks"] = tuple(dict(b) for b in params["conv_blocks"])
    if dataset is None:
        dataset = _scan(task, r.data, r.layout, r.label)
    if task.match_bandwidth and r.feature_settings.get("max_rate") is None:  # takes heard in the data's band
        from .features import bandwidth_of

        config = bandwidth_of(dataset, config)
    if any(isinstance(h, str) for h in params.get("hidden_layer_sizes") or ()):
        if not resolve_sizes:
            return dataset, config, None, r
        import types

        import numpy as np

        from .extraction import build_features
        from .presets import resolve_model

        fs = build_features(dataset, config, n_jobs=1)
        n_in = int(np.prod(fs.X.shape[1:]))
        try:
            params = resolve_model(types.SimpleNamespace(model=params), n_in, len(set(fs.labels.tolist())))
        except ValueError as exc:
            raise SpeechLabError(str(exc)) from exc
        config = fs.config  # with the frame count learned from the data (padded features)
    try:
        _check_size(choice, params, config, dataset, r)
        model = make_model(choice.type, **params)
        if hasattr(model, "_layer_plan"):
            model._layer_plan()  # raises ValueError naming the bad setting before any extraction
    except (TypeError, ValueError) as exc:
        raise SpeechLabError(f"Model settings: {exc}") from exc
    return dataset, config, model, r


def _check_size(choice, params, config, dataset, request):
    """A network too big to train is refused from its settings and the data's sizes, before any extraction
    (the GUI, the CLI, sweeps and re-runs all build here): ValueError naming the estimate."""
    from .features import feature_shape
    from .models import model_class

    model = model_class(choice.type)(**params)
    if not hasattr(model, "check_size"):
        return
    shape = feature_shape(config)
    copies = int(dict(request.augment).get("copies", 0)) if request.augment else 0
    refit = bool(request.open_set) and bool(dict(request.open_set).get("refit"))  # a copy trains beside it
    model.check_size(n_features=int(math.prod(shape)) if shape else None, n_classes=len(dataset.labels) or None,
                     n_samples=len(dataset.items) * (1 + copies) or None, networks=2 if refit else 1)


def augment_config(request):
    """The AugmentConfig of a resolved request, or None."""
    if not request.augment:
        return None
    from .augment import AugmentConfig

    return AugmentConfig.from_dict(dict(request.augment))


def open_set_config(request):
    """The OpenSetConfig of a resolved request, or None."""
    if not request.open_set:
        return None
    from .openset import OpenSetConfig

    d = dict(request.open_set)
    d["unknown_labels"] = tuple(d.get("unknown_labels") or ())
    return OpenSetConfig(**d)


# ------------------------------------------------------------------ training


def train_and_record(request, *, on_epoch=None, should_stop=None, on_progress=None, on_event=None, dataset=None,
                     source="gui", history=None, sweep=None, n_jobs=None, cache=True, record=True, checkpoint=None):
    """Train what ``request`` says and keep it in the run history: the one entry of every face.

    Parameters
    ----------
    on_epoch(stats), should_stop(), on_progress(Progress) : as :func:`core.training.train_model`
    on_event(kind, value) : everything else: ``("phase", {"name", "index", "total", ...})`` for each
        phase of the training, ``("rotation", (i, n, speaker))`` and ``("result", TrainResult)`` for
        leave-one-speaker-out, ``("fold", {"index", "total", "test"})`` before each k-fold fold (index
        == total, test None: the final model on all the data)
    dataset : an already scanned Dataset of ``request.data`` (skips the rescan)
    history : a RunHistory (default: the user's)
    checkpoint : a core.checkpoint.Checkpointer that saves the best epoch so far while the model trains
        (one training: random or speaker split; leave-one-speaker-out and k-fold train many)

    Returns
    -------
    TrainResult, SpeakerRotations for ``split="loso"`` or core.kfold.KFoldResult for ``split="kfold"``,
    with ``run_id`` and ``request`` (resolved) set.
    """
    from .extraction import _single_blas_thread

    # NumPy's and SciPy's BLAS on one thread for the whole training: on a machine whose cores are busy (a CPU
    # hog, the window, other programs) OpenBLAS's threads spin waiting for each other, and a Digits training of
    # 10 epochs on the demo data took 20.4 s instead of 5.8 s (see _single_blas_thread). The MLP's
    # mini-batches already kept to one.
    with _single_blas_thread():
        return _train_and_record(request, on_epoch=on_epoch, should_stop=should_stop, on_progress=on_progress,
                                 on_event=on_event, dataset=dataset, source=source, history=history, sweep=sweep,
                                 n_jobs=n_jobs, cache=cache, record=record, checkpoint=checkpoint)


def _train_and_record(request, *, on_epoch, should_stop, on_progress, on_event, dataset, source, history, sweep,
                      n_jobs, cache, record, checkpoint):
    from .training import SplitConfig, leave_one_speaker_out, train_model

    t0 = time.perf_counter()

    def phase(name, **kw):
        if on_event is not None:
            on_event("phase", {"name": name, **kw})

    phase("reading the dataset")
    ds, config, model, r = build(request, dataset=dataset)
    augment = augment_config(r)
    open_set = open_set_config(r)
    common = dict(task=r.task, feature_config=config, on_epoch=on_epoch, should_stop=should_stop,
                  on_progress=on_progress, n_jobs=n_jobs, cache=cache, augment=augment)
    if r.split == "loso":
        def make():
            return build(r, dataset=ds)[2]

        rot = leave_one_speaker_out(
            ds, make_model=make, fit_final=True,
            on_rotation=(lambda i, n, spk: on_event("rotation", (i, n, spk))) if on_event else None,
            on_result=(lambda res: on_event("result", res)) if on_event else None, **common)
        rot.request = r
        rot.seconds = time.perf_counter() - t0
        if record and rot.final is not None:
            rot.final.training["request"] = r.to_dict()
            rot.run_id = _history(history).record_rotations(rot, dataset=ds, source=source, sweep=sweep,
                                                              extra={"request": r.to_dict()})
        return rot
    if r.split == "kfold":
        return _train_kfold(r, ds, model, open_set, common, on_event=on_event, phase=phase, t0=t0, record=record,
                            history=history, source=source, sweep=sweep)
    split = SplitConfig(kind=r.split, test_size=r.test_size, random_state=r.seed)
    result = train_model(ds, model=model, split=split, open_set=open_set, on_phase=phase, checkpoint=checkpoint,
                         repeat=repeat_of(r, ds), take_templates=bool(r.take_templates), **common)
    return _finish(result, r, t0, "record_result", dataset=ds, record=record, history=history, source=source,
                   sweep=sweep)


def _finish(result, r, t0, how, *, dataset, record, history, source, sweep):
    """Stamp a finished training with its request and seconds and record it (``how``: the history's method)."""
    result.request = r
    result.seconds = time.perf_counter() - t0
    result.bundle.training["seconds"] = round(result.seconds, 3)
    result.bundle.training["request"] = r.to_dict()
    if record:
        h = _history(history)
        result.run_id = getattr(h, how)(result, dataset=dataset, source=source, sweep=sweep,
                                        extra={"request": r.to_dict()})
        result.notes.extend(h.notes)
    return result


def _train_kfold(r, ds, model, open_set, common, *, on_event, phase, t0, record, history, source, sweep):
    """k-fold (core.kfold.cross_validate) with the request's settings and seed in every fold, recorded."""
    from .crossval import cross_validate

    models = [model]  # the one build() made serves the first fold; each other training gets a fresh one

    def make():
        return models.pop() if models else build(r, dataset=ds)[2]

    def on_fold(i, n, test):
        if on_event is not None:
            on_event("fold", {"index": i, "total": n, "test": test})

    result = cross_validate(ds, make_model=make, k=r.folds, random_state=r.seed, open_set=open_set,
                            on_fold=on_fold, on_phase=phase, **common)
    return _finish(result, r, t0, "record_kfold", dataset=ds, record=record, history=history, source=source,
                   sweep=sweep)


def _history(history):
    if history is not None:
        return history
    from .history import RunHistory

    return RunHistory.default()


# ------------------------------------------------------------------ re-runs


def request_of_run(run):
    """The request that trains a recorded run again: its stored request, or (a run recorded before
    requests existed) one rebuilt from its dataset, features, model, split and seeds."""
    if run.get("request"):
        # a run recorded before takes were templates trained without them: its re-run does too
        return TrainRequest.from_dict({"take_templates": False, **run["request"]})
    from .tasks import get_task

    task = get_task(run["task"])
    model = run.get("model") or {}
    params = dict(model.get("params") or {})
    choice = next((m for m in task.models if m.type == model.get("type")
                   and m.params.get("kind") == params.get("kind")), None)
    choice = choice or next((m for m in task.models if m.type == model.get("type")), None)
    fc = dict(run.get("feature_config") or {})
    name = fc.pop("name", None)
    split = run.get("split") or {}
    kind = split.get("kind", "random")
    ds = run.get("dataset") or {}
    training = run.get("training") or {}
    accepted = set(inspect.signature(_model_class(choice).__init__).parameters) if choice else set()
    return TrainRequest(
        task=task.key, data=ds.get("path") or None, label=ds.get("label_kind"), features=name, feature_settings=fc,
        model=choice.key if choice else None,
        model_params={k: v for k, v in params.items() if k in accepted and k != "random_state"},
        split="loso" if kind == "leave-one-speaker-out" else kind, test_size=float(split.get("test_size") or 0.2),
        folds=split.get("folds") if kind == "kfold" else None,
        seed=split.get("random_state"), augment=training.get("augment") or False,
        open_set=None if task.key == "speakers" else False)
