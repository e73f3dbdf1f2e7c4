"""Save and load a trained model with everything needed to use it again.

A bundle is ONE file: a NumPy ``.npz`` archive holding the model's arrays
and a JSON document (stored as a uint8 array) with the format version, the
task, the feature configuration (including the fixed frame count), the
label names, the training configuration, the metrics and the curves.

Loading uses ``np.load(allow_pickle=False)`` and ``json``: no code in a model
file is ever executed. Saving writes a temporary file beside the target and
renames it, so a failed save never destroys the previous file.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import tempfile
import zipfile

import numpy as np

from .errors import SpeechLabError
from .features import FeatureConfig
from .models import MODEL_TYPES, model_class, model_type_of

FORMAT = "speechlab-model"
FORMAT_VERSION = 1
SUFFIX = ".slm"

@dataclasses.dataclass
class ModelBundle:
    """A trained model and its context."""

    task: str
    model: object
    feature_config: FeatureConfig
    labels: list
    training: dict = dataclasses.field(default_factory=dict)
    metrics: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)
    created: str = ""
    # Speakers: how the model answers "unknown" (core.openset; None: it always names a class)
    open_set: dict | None = None

    # -------------------------------------------------------------- prediction

    def predict_signal(self, y, sr):
        """Predict one signal (a microphone take or a decoded file); see
        :func:`core.prediction.predict_signal`.

        Returns
        -------
        dict with ``label``, ``probabilities`` {label: p} and ``windows``
        """
        from .prediction import predict_signal

        return predict_signal(self, y, sr)

    def predict_file(self, path, *, clip_seconds=None):
        from .prediction import predict_file

        return predict_file(self, path, clip_seconds=clip_seconds)


# ------------------------------------------------------------------ save / load


def save_bundle(bundle, path):
    """Write ``bundle`` to ``path`` atomically (temp file + rename).

    Returns the path written. Raises SpeechLabError when it cannot be written;
    an existing file at ``path`` is then left untouched.
    """
    path = pathlib.Path(path)
    config, arrays = bundle.model.get_state()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": bundle.task,
        "model_type": model_type_of(bundle.model),
        "model_config": config,
        "feature_config": bundle.feature_config.to_dict(),
        "labels": [str(x) for x in bundle.labels],
        "training": bundle.training,
        "metrics": bundle.metrics,
        "history": bundle.history,
        "created": bundle.created or datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if bundle.open_set:
        from .openset import to_meta

        meta["open_set"] = to_meta(bundle.open_set)
    payload = {f"model/{k}": np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise SpeechLabError(f"Model array '{k}' has object dtype and cannot be saved safely")
    payload["meta"] = np.frombuffer(json.dumps(meta, default=_json_default).encode("utf-8"), dtype=np.uint8)
    tmp_name = None
    if path.is_symlink():  # write through a link to the file it points at; never replace the link
        path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a model file is an ordinary document
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        _check_round_trip(tmp_name, path)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise SpeechLabError(f"Could not save the model to {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path


def _check_round_trip(tmp_name, path):
    """Load the written temporary file as the app will: a model file the app would refuse (classes that
    do not match the labels, a label that is no file name, ...) is never given its name."""
    try:
        load_bundle(tmp_name)
    except SpeechLabError as exc:
        why = str(exc).replace(f"{tmp_name}: ", "").replace(str(tmp_name), "the file")
        raise SpeechLabError(f"Could not save the model to {path}: it would not load again ({why})") from None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# Limits on what a model file may make us allocate. SpeechLab's own models are
# a few MB (the largest CNN about 5 MB); the bounds leave a wide margin.
MAX_ARRAY_BYTES = 512 << 20  # one array
MAX_TOTAL_BYTES = 1 << 30  # all arrays together
MAX_META_BYTES = 32 << 20  # the JSON document
MAX_MEMBERS = 4096
MAX_RATIO = 100  # uncompressed / compressed size of a member (np.savez stores, it does not compress)


def _read_arrays(path):
    """The arrays of an ``.npz`` file, checked before anything is allocated.

    Every member's ``.npy`` header is read first: a shape that claims more
    data than the member holds, an object dtype, or a member that inflates
    far beyond its compressed size is refused without allocating it.
    """
    def refuse(why):
        raise SpeechLabError(f"{path} is not a usable SpeechLab model ({why})")

    arrays = {}
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            refuse(f"{len(infos)} members")
        total = 0
        for info in infos:
            total += info.file_size
            if info.file_size > MAX_ARRAY_BYTES or total > MAX_TOTAL_BYTES:
                refuse(f"member '{info.filename}' would take {info.file_size / 1e6:.0f} MB")
            if info.compress_size and info.file_size > MAX_RATIO * info.compress_size + 4096:
                refuse(f"member '{info.filename}' inflates {info.file_size // max(info.compress_size, 1)}-fold")
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    refuse(f"member '{name}' has an unsupported array format {version}")
                if dtype.hasobject:
                    refuse(f"member '{name}' holds Python objects (pickled data is never loaded)")
                claimed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
                if claimed > info.file_size:
                    refuse(f"member '{name}' claims {claimed / 1e6:.1f} MB but holds {info.file_size / 1e6:.1f} MB")
            with zf.open(info) as fh:
                arrays[name] = np.lib.format.read_array(fh, allow_pickle=False)
    return arrays


def _check_meta(path, meta):
    """Refuse a malformed metadata document with one line naming the field."""
    def bad(field, what):
        raise SpeechLabError(f"{path}: damaged SpeechLab model (field '{field}' {what})")

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SpeechLabError(f"{path} is not a SpeechLab model")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        bad("format_version", "must be an integer")
    if version > FORMAT_VERSION:
        raise SpeechLabError(f"{path} was saved by a newer SpeechLab (format {version}); update the app")
    kind = meta.get("model_type")
    if not isinstance(kind, str) or kind not in MODEL_TYPES:
        raise SpeechLabError(f"{path}: unknown model type '{kind}'")
    for field in ("model_config", "feature_config"):
        if not isinstance(meta.get(field), dict):
            bad(field, "is missing or not an object")
    labels = meta.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels) \
            or len(set(labels)) != len(labels) or len(labels) > 100000:
        bad("labels", "must be a list of at least two distinct names")
    check_label_names(path, labels)
    if not isinstance(meta.get("task", "digits"), str):
        bad("task", "must be a task name")
    for field, kind_ in (("training", dict), ("metrics", dict), ("history", list), ("created", str)):
        if field in meta and not isinstance(meta[field], kind_):
            bad(field, f"must be a {'list' if kind_ is list else 'object' if kind_ is dict else 'string'}")


def check_label_names(path, labels):
    """Labels become file and folder names (takes saved as ``{label}_{speaker}_{index}.wav``, a speaker's
    folder): a model file's labels are untrusted, so one that is not a plain name is refused."""
    from .paths import name_problem, shown_name

    for label in labels:
        problem = name_problem(label)
        if problem:
            raise SpeechLabError(f"{path}: damaged SpeechLab model (label '{shown_name(label)}' {problem})")


def _check_model(path, model, labels, feature_config):
    """The loaded arrays must chain: input size = what the features give, classes = labels."""
    from .features import feature_shape

    classes = [str(c) for c in np.asarray(model.classes_).tolist()]
    if sorted(classes) != sorted(labels):
        raise SpeechLabError(f"{path}: damaged SpeechLab model (the model's classes do not match its labels)")
    n_in = getattr(model, "n_features_in_", None)
    shape = feature_shape(feature_config)
    if n_in is not None and shape is not None and int(np.prod(shape)) != int(n_in):
        raise SpeechLabError(f"{path}: damaged SpeechLab model (the model takes {n_in} inputs, its "
                             f"'{feature_config.name}' features give {int(np.prod(shape))})")
    image = getattr(model, "input_shape_", None)  # the CNN: one image per clip or window
    if image is not None and shape is not None and tuple(image) != tuple(shape):
        raise SpeechLabError(f"{path}: damaged SpeechLab model (the model takes {'×'.join(map(str, image))} "
                             f"images, its '{feature_config.name}' features give {'×'.join(map(str, shape))})")
    # Every model type's standardisation (MLP and linear: the arrays 'mean'/'scale'; the CNN: two numbers):
    # a NaN mean or a zero scale would answer "nan %" for every input.
    for field in ("mean", "scale"):
        value = getattr(model, field + "_", None)
        if value is None:
            continue
        a = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise SpeechLabError(f"{path}: damaged SpeechLab model (the standardisation '{field}' holds NaN "
                                 "or infinity)")
        if field == "scale" and not np.all(a > 0):
            raise SpeechLabError(f"{path}: damaged SpeechLab model (the standardisation 'scale' must be "
                                 "positive)")
    for field in ("coef", "intercept"):  # the linear model's weights (the MLP checks its own)
        value = getattr(model, field + "_", None)
        if isinstance(value, np.ndarray) and not np.all(np.isfinite(value)):
            raise SpeechLabError(f"{path}: damaged SpeechLab model (the array '{field}' holds NaN or infinity)")


def _n_features(model, feature_config):
    """Numbers per example the model takes (what the open-set state must measure), or None."""
    from .features import feature_shape

    shape = feature_shape(feature_config)
    if shape is not None:
        return int(np.prod(shape))
    n_in = getattr(model, "n_features_in_", None)
    return int(n_in) if n_in is not None else None


def load_bundle(path):
    """Load a bundle written by :func:`save_bundle`.

    Never executes code from the file (no pickle) and never allocates more
    than the file's own checked sizes; anything malformed raises
    SpeechLabError with one line naming the file and the problem.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise SpeechLabError(f"Model file not found: {path}" if not path.is_dir() else f"{path} is a folder, not a model file")
    try:
        arrays = _read_arrays(path)
        meta_arr = arrays.pop("meta", None)
        if meta_arr is None:
            raise SpeechLabError(f"{path} is not a SpeechLab model (no metadata)")
        if meta_arr.ndim != 1 or meta_arr.dtype != np.uint8 or meta_arr.size > MAX_META_BYTES:
            raise SpeechLabError(f"{path} is not a SpeechLab model (malformed metadata)")
        meta = json.loads(meta_arr.tobytes().decode("utf-8"))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, RecursionError) as exc:
        raise SpeechLabError(f"{path} is not a readable SpeechLab model ({_short(exc)})") from exc
    _check_meta(path, meta)
    arrays = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    feature_config = FeatureConfig.from_dict_checked(meta["feature_config"], source=str(path))
    try:
        model = model_class(meta["model_type"]).from_state(meta["model_config"], arrays)
    except SpeechLabError as exc:
        raise SpeechLabError(f"{path}: {exc}") from exc
    except RecursionError:
        raise SpeechLabError(f"{path} is a damaged SpeechLab model (its model settings are nested too deeply)") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise SpeechLabError(f"{path} is a damaged SpeechLab model ({exc.__class__.__name__}: {_short(exc)})") from exc
    labels = list(meta["labels"])
    _check_model(path, model, labels, feature_config)
    return ModelBundle(
        task=meta.get("task", "digits"),
        model=model,
        feature_config=feature_config,
        labels=labels,
        training=meta.get("training", {}),
        metrics=meta.get("metrics", {}),
        history=meta.get("history", []),
        created=meta.get("created", ""),
        open_set=_open_set(meta, path, _n_features(model, feature_config)),
    )


def _open_set(meta, path, n_features):
    if meta.get("open_set") is None:  # models without open set, and files older than it
        return None
    from .openset import from_meta

    return from_meta(meta["open_set"], list(meta["labels"]), source=str(path), n_features=n_features)


def _short(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]
