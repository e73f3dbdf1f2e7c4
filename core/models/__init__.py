"""The model contract every tab's models follow, and the registry of model types.

Every model SpeechLab trains (the NumPy MLP, the Keras CNN, scikit-learn
linear models) trains, stops, saves, loads and predicts the same way:

- ``fit(X, y, *, on_epoch=None, should_stop=None)``: ``on_epoch(stats)`` gets
  one dict per epoch (``epoch``, ``epochs``, ``loss``, ``accuracy``,
  ``val_loss``, ``val_accuracy``; ``batch`` set for reports inside an epoch);
  ``should_stop()`` is polled between mini-batches. A stop keeps the best
  weights so far.
- ``predict_proba(X)``, ``predict(X)``, ``classes_``.
- after ``fit``: ``history_`` (the epoch dicts), ``best_epoch_``,
  ``stop_reason_`` (None or a sentence for the user), ``diverged_``.
- ``get_state() -> (config: JSON-able dict, arrays: {name: ndarray})`` and
  ``from_state(config, arrays)``: no pickle anywhere.
- ``settings`` (class attribute): the user-facing settings, a tuple of
  :class:`core.models.choices.Setting`; a tab with no page of its own for the
  model builds one from them, so a new model type needs no GUI code.

The registry maps the ``model_type`` stored in a model file to the class that
rebuilds it. Modules are imported only when a model of that type is built or
loaded, so TensorFlow is imported only for Keras models.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol, runtime_checkable

from ..errors import SpeechLabError


@runtime_checkable
class Classifier(Protocol):
    """What :func:`core.training.train_model`, bundles and the GUI rely on."""

    classes_: Any
    history_: list
    best_epoch_: int | None
    stop_reason_: str | None
    diverged_: bool

    def fit(self, X, y, *, on_epoch: Callable | None = None, should_stop: Callable | None = None): ...

    def predict_proba(self, X): ...

    def predict(self, X): ...

    def get_state(self) -> tuple[dict, dict]: ...

    @classmethod
    def from_state(cls, config: dict, arrays: dict): ...


# model_type (as stored in model files) -> "module:Class"
MODEL_TYPES = {
    "mlp": "core.models.mlp:MLPClassifier",
    "keras-cnn": "core.models.cnn:KerasCNNClassifier",
    "linear": "core.models.linear:LinearClassifier",
    "centroid": "core.models.centroid:CentroidClassifier",
}


class EpochTimer:
    """Seconds each finished epoch took, from the epoch reports' ``seconds`` (time since
    the fit started): what the GUI's log and the CLI print beside every epoch."""

    def __init__(self):
        self._seconds, self._epoch = 0.0, 0

    def lap(self, stats):
        """This epoch's seconds; ``stats`` is an epoch report (``batch`` None)."""
        seconds, epoch = float(stats.get("seconds") or 0.0), int(stats.get("epoch") or 0)
        # a new fit (the next fold or rotation, the final model) counts from zero again
        took = seconds if (epoch <= self._epoch or seconds < self._seconds) else seconds - self._seconds
        self._seconds, self._epoch = seconds, epoch
        return max(0.0, took)


def model_class(model_type):
    """The class registered for ``model_type`` (imports its module now)."""
    try:
        target = MODEL_TYPES[model_type]
    except (KeyError, TypeError):
        raise SpeechLabError(f"Unknown model type '{model_type}': known types are {', '.join(MODEL_TYPES)}") from None
    module, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SpeechLabError(f"Model type '{model_type}' is not available in this installation ({exc})") from None


def model_settings(model_type):
    """The user-facing settings a model type declares (a tuple of :class:`~core.models.choices.Setting`).

    The built-in types whose modules load scikit-learn have theirs in :data:`core.models.choices.SETTINGS`
    (read without importing the module); any other type's class is imported and asked."""
    from .choices import SETTINGS

    if model_type in SETTINGS:
        return SETTINGS[model_type]
    return tuple(getattr(model_class(model_type), "settings", ()))


def model_type_of(model):
    """The registry key of a model instance (for saving).

    A stand-in that declares the type it saves as (``model_type``, e.g.
    :class:`core.model_host.RemoteKerasModel` for ``"keras-cnn"``) is that type."""
    declared = getattr(type(model), "model_type", None)
    if isinstance(declared, str) and declared in MODEL_TYPES:
        return declared
    for key, target in MODEL_TYPES.items():
        module, _, name = target.partition(":")
        if type(model).__name__ == name and type(model).__module__ == module:
            return key
    raise SpeechLabError(f"Cannot save a model of type {type(model).__name__}: it is not a registered model type")


def make_model(model_type, **params):
    """A new, unfitted model of a registered type; bad settings raise SpeechLabError naming them."""
    cls = model_class(model_type)
    try:
        model = cls(**params)
        check = getattr(model, "check_params", None)
        if check is not None:
            check()
    except (TypeError, ValueError) as exc:
        raise SpeechLabError(f"Model settings: {exc}") from exc
    return model
