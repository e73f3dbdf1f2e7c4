"""The best model so far, saved now and then while a training runs.

A GUI training runs in its own process; if that process dies (killed, out of
memory, a native crash in TensorFlow) the epochs it finished would be lost.
:class:`Checkpointer` wraps the ``on_epoch`` callback of a model's ``fit``:
whenever an epoch is the best so far (by validation loss, or training loss
without a validation set) and a save is due, it writes the model's weights
*of that epoch* as an ordinary ``.slm`` model file, atomically, over the
previous checkpoint. The GUI loads it back only if the process dies.

Saves are rationed so they never cost much of a training: the first comes
after ``min_interval`` seconds, and the next only once ``min_interval`` and
``1 / max_share`` times the last save's own duration have both passed (a
CNN whose save and check take 1 s is saved at most every 10 s). The weights
are copied at the epoch's end, so later epochs never leak into the file.
A best epoch that comes while no save is due is kept in memory and written
at the first epoch end where one is (a model that peaks early and then
overfits still leaves its best epoch on disk).
"""
from __future__ import annotations

import math
import os
import pathlib
import time

#: the checkpoint's file name inside the folder the parent gives
FILE_NAME = "best-so-far.slm"


class _Frozen:
    """A model's state at one moment, saved as that model (``model_type`` is set per subclass)."""

    model_type = None

    def __init__(self, config, arrays):
        self._state = (config, arrays)

    def get_state(self):
        return self._state


def frozen(model_type, config, arrays):
    """A stand-in that :func:`core.bundle.save_bundle` writes as a ``model_type`` model with this state."""
    return type(f"Frozen_{model_type}", (_Frozen,), {"model_type": model_type})(config, arrays)


class Checkpointer:
    """Saves the best epoch so far to ``folder/best-so-far.slm`` while a model trains.

    Parameters
    ----------
    folder : where the checkpoint is written (made if missing)
    on_saved(info) : called after each save with ``{"path", "epoch", "epochs", "accuracy",
        "val_accuracy", "seconds"}`` (the parent learns that a checkpoint exists)
    min_interval : seconds from the start to the first save, and at least between two saves
    max_share : the most of the training's time saves may take
    """

    def __init__(self, folder, *, on_saved=None, min_interval=10.0, max_share=0.1, clock=time.monotonic):
        self.folder = pathlib.Path(folder)
        self.path = self.folder / FILE_NAME
        self.on_saved = on_saved
        self.min_interval = float(min_interval)
        self.max_share = float(max_share)
        self._clock = clock
        self._start = clock()
        self._last_end = self._start
        self._last_cost = 0.0
        self._best = math.inf
        self._pending = None  # (model_type, config, arrays, stats) of a best epoch not yet saved
        self.saved = None  # the info of the last save

    def _due(self):
        wait = max(self.min_interval, self._last_cost / self.max_share if self.max_share > 0 else math.inf)
        return self._clock() - self._last_end >= wait

    def watch(self, model, make_bundle, on_epoch=None):
        """An ``on_epoch`` for ``model.fit``: passes every report to ``on_epoch`` and saves a new best
        epoch when a save is due. ``make_bundle(stand_in, stats)`` builds the ModelBundle to write."""

        def wrapped(stats):
            if on_epoch is not None:
                on_epoch(stats)
            if stats.get("batch") is not None:
                return
            monitored = stats.get("val_loss")
            if monitored is None:
                monitored = stats.get("loss")
            try:
                monitored = float(monitored)
            except (TypeError, ValueError):
                return
            if math.isfinite(monitored) and monitored < self._best:
                self._best = monitored  # this epoch's weights are the best so far: the model holds them now
                snapshot = self._snapshot(model, stats)
                if snapshot is None:
                    return
                if not self._due():
                    self._pending = snapshot  # written at the first epoch end where a save is due
                    return
                self._pending = None
                self._save(snapshot, make_bundle)
            elif self._pending is not None and self._due():
                snapshot, self._pending = self._pending, None
                self._save(snapshot, make_bundle)

        return wrapped

    @staticmethod
    def _snapshot(model, stats):
        """This epoch's model as plain arrays (copied: later epochs never change them), or None."""
        from .models import model_type_of

        try:
            config, arrays = model.get_state()
            return model_type_of(model), config, {k: v.copy() for k, v in arrays.items()}, dict(stats)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # a checkpoint is a safety net: a failed one never stops the training

    def _save(self, snapshot, make_bundle):
        from .bundle import save_bundle
        from .errors import SpeechLabError

        model_type, config, arrays, stats = snapshot
        t0 = self._clock()
        try:
            stand_in = frozen(model_type, config, arrays)
            self.folder.mkdir(parents=True, exist_ok=True)
            save_bundle(make_bundle(stand_in, dict(stats)), self.path)
        except (SpeechLabError, OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # a checkpoint is a safety net: a failed one never stops the training
        finally:
            self._last_end = self._clock()
            self._last_cost = self._last_end - t0
        self.saved = {"path": os.fspath(self.path), "epoch": int(stats.get("epoch", 0)),
                      "epochs": stats.get("epochs"), "accuracy": stats.get("accuracy"),
                      "val_accuracy": stats.get("val_accuracy"), "seconds": round(self._last_cost, 3)}
        if self.on_saved is not None:
            self.on_saved(dict(self.saved))
