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
    payload = {f"model/{k}": np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise SpeechLabError(f"Model array '{k}' has object dtype and cannot be saved safely")
    payload["meta"] = np.frombuffer(json.dumps(meta, default=_json_default).encode("utf-8"), dtype=np.uint8)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise SpeechLabError(f"Could not save the model to {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def load_bundle(path):
    """Load a bundle written by :func:`save_bundle` (never executes code from it)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise SpeechLabError(f"Model file not found: {path}")
    try:
        # Our own handle, closed whatever np.load makes of the file (it leaks its own on errors).
        with open(path, "rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
                raise SpeechLabError(f"{path} is not a SpeechLab model (no metadata)")
            with loaded as npz:
                if "meta" not in npz.files:
                    raise SpeechLabError(f"{path} is not a SpeechLab model (no metadata)")
                meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
                arrays = {k[len("model/"):]: npz[k] for k in npz.files if k.startswith("model/")}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpeechLabError(f"{path} is not a readable SpeechLab model ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SpeechLabError(f"{path} is not a SpeechLab model")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise SpeechLabError(f"{path} was saved by a newer SpeechLab (format {meta['format_version']}); update the app")
    kind = meta.get("model_type")
    if not isinstance(kind, str) or kind not in MODEL_TYPES:
        raise SpeechLabError(f"{path}: unknown model type '{kind}'")
    try:
        model = model_class(kind).from_state(meta["model_config"], arrays)
    except (KeyError, TypeError, ValueError) as exc:  # missing or mis-shaped model arrays
        raise SpeechLabError(f"{path} is a damaged SpeechLab model ({exc.__class__.__name__}: {exc})") from exc
    return ModelBundle(
        task=meta.get("task", "digits"),
        model=model,
        feature_config=FeatureConfig.from_dict(meta["feature_config"]),
        labels=list(meta["labels"]),
        training=meta.get("training", {}),
        metrics=meta.get("metrics", {}),
        history=meta.get("history", []),
        created=meta.get("created", ""),
    )

