"""Keras predictions in a long-lived child process, so TensorFlow never loads in the GUI process.

The GUI switches the host on once (:func:`use_host`); from then on a Keras CNN
loaded from a model file (:meth:`core.models.cnn.KerasCNNClassifier.from_state`)
is a :class:`RemoteKerasModel`: it keeps the file's settings and weights as
plain data, answers everything a loaded model is asked (``classes_``,
``get_params()``, ``get_state()``, the training summary) without TensorFlow,
and sends ``predict_proba`` to the model host.

The host is one spawned daemon process per parent process, started at the
first prediction. It holds the Keras networks by key: a model is sent once as
``(key, config, arrays)`` and rebuilt there (TensorFlow is imported there, at
the first model), then each request sends ``(key, X)`` and gets back the
probabilities or a one-line error. One lock makes the pipe one request at a
time, whatever thread asks. If the host dies (killed, crashed), the next
request starts a new one and sends its models again; a request that still
fails raises :class:`~core.errors.SpeechLabError`. At interpreter exit the host
is stopped.

The switch is off by default: the CLI, the tests and every child process
(training, sweeps, the host itself) build real Keras models in-process.
A forked child of a process with the host on counts as off too.
"""
from __future__ import annotations

import atexit
import collections
import copy
import os
import threading
import uuid

import numpy as np

from .errors import SpeechLabError

_enabled_in = None  # pid of the process that switched the host on (a forked child does not inherit it)


def use_host(on=True):
    """Switch Keras predictions to the model host (``True``) or back to in-process Keras (``False``).

    Idempotent; affects models loaded after the call."""
    global _enabled_in
    _enabled_in = os.getpid() if on else None


def host_enabled():
    """True when :func:`use_host` switched the host on in this very process."""
    return _enabled_in is not None and _enabled_in == os.getpid()


class _HostDied(Exception):
    """The host process ended (or its pipe broke) during a request."""


# Seconds to wait for the host to end at shutdown, politely and then after terminate().
_STOP_WAIT = 3.0


class ModelHost:
    """The parent's handle on the host process: start on demand, one request at a time, restart after a death."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process = None
        self._conn = None
        self._owner = None  # pid that started the process (a forked child starts its own)
        self._loaded = set()  # keys the running host holds
        self._forgotten = collections.deque()  # keys to drop at the next request (appended by finalizers)
        self.starts = 0  # how many host processes were started (tests, benchmarks)

    # ------------------------------------------------------------------ state

    @property
    def pid(self):
        """The host process's id, or None when none runs."""
        proc = self._process
        return proc.pid if proc is not None and self._owner == os.getpid() and proc.is_alive() else None

    def _alive(self):
        return self._process is not None and self._owner == os.getpid() and self._process.is_alive()

    def _start(self):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_serve, args=(child_end,), name="speechlab-model-host", daemon=True)
        proc.start()
        child_end.close()  # only the child holds it now: its death shows here as EOF
        self._process, self._conn, self._owner = proc, parent_end, os.getpid()
        self._loaded = set()
        self.starts += 1

    def _discard(self):
        """Forget a dead (or inherited) host; end it if it still runs and is ours."""
        proc, conn, owner = self._process, self._conn, self._owner
        self._process = self._conn = self._owner = None
        self._loaded = set()
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
        if proc is not None and owner == os.getpid():
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=_STOP_WAIT)

    # ------------------------------------------------------------------ requests

    def _ask(self, message):
        """Send one message and wait for its answer; the wait ends if the host dies."""
        conn, proc = self._conn, self._process
        try:
            conn.send(message)
            while not conn.poll(0.2):
                if not proc.is_alive():
                    raise _HostDied(proc.exitcode)
            status, value = conn.recv()
        except (EOFError, OSError) as exc:  # BrokenPipeError, ConnectionResetError: the host is gone
            raise _HostDied(exc.__class__.__name__) from None
        if status != "ok":
            raise SpeechLabError(str(value))
        return value

    def predict_proba(self, key, config, arrays, X):
        """Probabilities of the model ``key`` (sent as ``config, arrays`` when the host lacks it) on ``X``."""
        with self._lock:
            for attempt in range(2):
                try:
                    self._hold(key, config, arrays)
                    return self._ask(("predict", key, X))
                except _HostDied as died:
                    code = self._process.exitcode if self._process is not None else None
                    self._discard()
                    if attempt:
                        raise SpeechLabError(
                            "The model process stopped while predicting twice in a row "
                            f"(exit code {code if code is not None else died}); the CNN cannot predict") from None
        raise AssertionError("unreachable")

    def _hold(self, key, config, arrays):
        """With the lock held: a running host that holds model ``key`` (started, and the model sent, when
        needed). Raises SpeechLabError (a start or a rebuild that failed) or _HostDied."""
        if not self._alive():
            self._discard()
            try:
                self._start()
            except Exception as exc:  # noqa: BLE001 - spawn failed (no memory, no processes left, ...)
                raise SpeechLabError(f"The model process could not be started ({_one_line(exc)})") from None
        self._drop_forgotten()
        if key not in self._loaded:
            try:
                self._ask(("load", key, config, arrays))
            except SpeechLabError as exc:
                raise SpeechLabError(f"The CNN could not be rebuilt in the model process: {exc}") from None
            self._loaded.add(key)
            return True
        return False

    def prepare(self, key, config, arrays):
        """Start the host and load model ``key`` before its first prediction: that takes seconds (a process,
        TensorFlow's import, the network rebuilt and traced), so call it from a background thread when a
        model becomes the one in use. Any trouble is left for that first prediction to report."""
        with self._lock:
            try:
                if self._hold(key, config, arrays):
                    self._ask(("predict", key, None))  # traces the network's call on a dummy image
            except _HostDied:
                self._discard()
            except Exception:  # noqa: BLE001 - only a head start; the prediction says what is wrong
                pass

    def forget(self, key):
        """Drop model ``key`` from the host at the next request (safe from a finalizer: takes no lock)."""
        self._forgotten.append(key)

    def _drop_forgotten(self):
        keys = []
        while self._forgotten:
            keys.append(self._forgotten.popleft())
        keys = [k for k in keys if k in self._loaded]
        if keys:
            self._ask(("forget", keys))
            self._loaded.difference_update(keys)

    def stop(self):
        """End the host: ask it to exit, then terminate it; wait a bounded time."""
        locked = self._lock.acquire(timeout=_STOP_WAIT)  # a daemon thread may be mid-request at exit
        try:
            proc, conn, owner = self._process, self._conn, self._owner
            self._process = self._conn = self._owner = None
            self._loaded = set()
            if proc is None or owner != os.getpid():
                return
            if locked and proc.is_alive():
                try:
                    conn.send(("stop",))
                except OSError:
                    pass
            try:
                conn.close()  # the host also ends on EOF
            except OSError:
                pass
            proc.join(timeout=_STOP_WAIT if locked else 0.1)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=_STOP_WAIT)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=_STOP_WAIT)
        finally:
            if locked:
                self._lock.release()


_HOST = None
_HOST_LOCK = threading.Lock()


def host():
    """This process's :class:`ModelHost` (created on first use; its process starts at the first request)."""
    global _HOST
    with _HOST_LOCK:
        if _HOST is None:
            _HOST = ModelHost()
            atexit.register(_shutdown)
        return _HOST


def _shutdown():
    if _HOST is not None:
        _HOST.stop()


# ----------------------------------------------------------------------------- the host process


def _one_line(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {text[:300]}" if text else exc.__class__.__name__


class _CompiledNetwork:
    """A Keras network whose inference call is traced once into a TensorFlow graph (``tf.function``).

    Keras' eager ``network(x, training=False)`` costs about 20 ms a call for the Genres CNN on one
    64×64 window, almost all of it Python overhead; the traced graph about 1 ms. The model's own
    ``predict_proba`` (checks, scaling, chunks) calls it as it would call the network."""

    def __init__(self, network, input_shape):
        import tensorflow as tf

        self.network = network
        spec = tf.TensorSpec((None, *input_shape, 1), tf.float32)
        self._call = tf.function(lambda x: network(x, training=False), input_signature=[spec])
        self._call(np.zeros((1, *input_shape, 1), np.float32))  # trace now, while loading

    def __call__(self, x, training=False):
        if training:
            raise ValueError("the model host only predicts")
        return self._call(x)

    def __getattr__(self, name):
        return getattr(self.__dict__["network"], name)


def _serve(conn):
    """The host's loop: ``("load", key, config, arrays)``, ``("predict", key, X)``, ``("forget", keys)``,
    ``("stop",)``; each answered ``("ok", value)`` or ``("error", one line)``. Ends at ``stop`` or EOF."""
    import signal

    from .memory import return_large_blocks

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the app's terminal is the parent's to handle
    return_large_blocks()  # it lives as long as the app: freed windows and images go back to the system
    use_host(False)  # the host builds real networks
    models = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        op = message[0] if isinstance(message, tuple) and message else None
        try:
            if op == "load":
                _, key, config, arrays = message
                from .models.cnn import KerasCNNClassifier

                try:
                    model = KerasCNNClassifier.from_state(config, arrays)
                    model.model_ = _CompiledNetwork(model.model_, model.input_shape_)
                    models[key] = model
                except SpeechLabError:
                    raise
                except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
                    raise SpeechLabError(f"damaged CNN ({_one_line(exc)})") from None
                reply = ("ok", None)
            elif op == "predict":
                _, key, X = message
                if key not in models:
                    raise SpeechLabError(f"the model process holds no model {key!r}")
                if X is None:  # a warm-up (ModelHost.prepare): one zero image of the model's size
                    X = np.zeros((1, *models[key].input_shape_), dtype=np.float32)
                reply = ("ok", np.asarray(models[key].predict_proba(X), dtype=np.float64))
            elif op == "forget":
                for key in message[1]:
                    models.pop(key, None)
                reply = ("ok", None)
            elif op == "stop":
                conn.send(("ok", None))
                return
            else:
                raise SpeechLabError(f"the model process got an unknown request {op!r}")
        except SpeechLabError as exc:
            reply = ("error", " ".join(str(exc).split()))
        except Exception as exc:  # noqa: BLE001 - any failure of one request is answered, the host lives on
            reply = ("error", f"the CNN could not predict ({_one_line(exc)})")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


# ----------------------------------------------------------------------------- the GUI process's stand-in


class RemoteKerasModel:
    """A Keras CNN loaded from a model file, predicting in the model host.

    Offers what a trained :class:`~core.models.cnn.KerasCNNClassifier` offers
    to the rest of SpeechLab, without TensorFlow: ``classes_``,
    ``input_shape_``, ``get_params()`` (and each setting as an attribute,
    ``conv_blocks``, ``head``, …), ``get_state()`` (the loaded config and
    arrays unchanged, so saving needs no TensorFlow), ``predict_proba``,
    ``predict``, ``history_``, ``best_epoch_``, ``stop_reason_``, ``diverged_``.
    It cannot be trained.
    """

    model_type = "keras-cnn"  # what core.models.model_type_of reports (saving, the run history)

    def __init__(self, config, arrays):
        self._config = copy.deepcopy(config)
        self._arrays = dict(arrays)
        params = dict(config["params"])
        params["conv_blocks"] = tuple(params["conv_blocks"])
        params["dense_units"] = tuple(params["dense_units"])
        self._params = params
        from .models.cnn import restore_fitted

        restore_fitted(self, config, arrays)
        n_weights = int(config["n_weights"])
        missing = [f"w{i}" for i in range(n_weights) if f"w{i}" not in arrays]
        if missing:
            raise SpeechLabError(f"the network's weights are incomplete ({', '.join(missing[:5])} missing)")
        self._key = uuid.uuid4().hex
        self._host = host()
        # The host drops the network when this stand-in goes (no lock taken in the finalizer).
        import weakref

        weakref.finalize(self, self._host.forget, self._key).atexit = False

    @classmethod
    def from_state(cls, config, arrays):
        return cls(config, arrays)

    def __getattr__(self, name):  # the settings as attributes, like KerasCNNClassifier's
        params = self.__dict__.get("_params")
        if params is not None and not name.startswith("_") and not name.endswith("_") and name in params:
            return copy.deepcopy(params[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __reduce__(self):  # a copy (or another process) gets its own stand-in of the same state
        return type(self), (self._config, self._arrays)

    def __repr__(self):
        return f"RemoteKerasModel(input_shape={self.input_shape_}, classes={len(self.classes_)})"

    def get_params(self, deep=True):
        return copy.deepcopy(self._params)

    def get_state(self):
        """(config, arrays) exactly as loaded: a model file again, without TensorFlow."""
        return copy.deepcopy(self._config), dict(self._arrays)

    def fit(self, X, y, **kwargs):
        raise SpeechLabError("A CNN loaded for prediction cannot be trained again; train a new model")

    def _as_images(self, X):  # the same checks and messages as KerasCNNClassifier
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 4 and X.shape[-1] == 1:
            X = X[..., 0]
        if X.ndim != 3:
            raise ValueError(f"the CNN needs feature images (n, height, width); got an array of shape {X.shape} "
                             "(choose the log-mel image features)")
        if X.shape[1:] != self.input_shape_:
            raise SpeechLabError(f"The CNN was trained on {self.input_shape_[0]}×{self.input_shape_[1]} images; "
                                 f"got {X.shape[1]}×{X.shape[2]}")
        return X

    def predict_proba(self, X):
        """Class probabilities, (n, n_classes), columns in ``classes_`` order; computed in the model host."""
        X = self._as_images(X)
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)))
        proba = self._host.predict_proba(self._key, self._config, self._arrays, np.ascontiguousarray(X))
        return np.asarray(proba, dtype=np.float64)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def warm_up(self):
        """Have the host hold this network, traced, before the first prediction asks (blocks for seconds
        the first time: run it in a background thread)."""
        self._host.prepare(self._key, self._config, self._arrays)
