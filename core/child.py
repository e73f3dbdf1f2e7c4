"""Run one job in a child process: the child side, and how its answers cross the process boundary.

A job is a top-level function ``fn(*args, report, should_stop)`` named
``"module:function"`` with plain arguments (a training request, a dataset).
:func:`child_main` runs it in a fresh (spawned) interpreter, or :func:`spare_main`
in one started ahead that has done the imports and waits for it, and sends every
``report(kind, value)`` and the outcome back over a pipe; the parent (the
GUI's background thread) relays them and forwards Stop through an event.
A model that crashes the interpreter (a TensorFlow abort, out of memory, a
native segfault) then ends only the child.

Model bundles whose model is a Keras network cross as ``.slm`` files (the
app's own format, loaded without pickle of the model and, in the GUI, without
TensorFlow); everything else crosses as pickled plain data between our own two
processes (never read from a file).
"""
from __future__ import annotations

import faulthandler
import importlib
import io
import os
import pickle
import sys
import tempfile
import time
import traceback

#: Reports of one kind sent at most this often (s); epoch ends, phases and results always go.
THROTTLE = 0.1


class _Pickler(pickle.Pickler):
    """Pickles a Keras model bundle as a reference to an ``.slm`` file written beside."""

    def __init__(self, file, folder):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.folder = folder

    def persistent_id(self, obj):
        from .bundle import ModelBundle

        if isinstance(obj, ModelBundle) and _is_keras(obj.model):
            from .bundle import save_bundle

            fd, path = tempfile.mkstemp(suffix=".slm", prefix="speechlab-child-", dir=self.folder)
            os.close(fd)
            save_bundle(obj, path)
            return ("slm", path)
        return None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        kind, path = pid
        if kind != "slm":
            raise pickle.UnpicklingError(f"unknown reference {kind!r}")
        from .bundle import load_bundle

        try:
            return load_bundle(path)
        finally:
            try:
                os.remove(path)
            except OSError:
                pass


def _is_keras(model):
    from .models import model_type_of

    try:
        return model_type_of(model) == "keras-cnn"
    except Exception:  # noqa: BLE001 - not a registered model: pickled as is
        return False


def dumps(obj, folder=None):
    buf = io.BytesIO()
    _Pickler(buf, folder).dump(obj)
    return buf.getvalue()


def loads(data):
    return _Unpickler(io.BytesIO(data)).load()


def _resolve(target):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _setup():
    """What every child does first (a fresh one, or a spare before it waits for its job)."""
    faulthandler.enable()
    import multiprocessing

    # The parent starts this process as a daemon (it never outlives the app); the feature extraction
    # inside may still use its own process pool, whose workers end with this process.
    multiprocessing.current_process().daemon = False
    background_priority()


#: the niceness of a training process (its extraction pool inherits it)
BACKGROUND_NICE = 5


def background_priority():
    """Lower this process to ``BACKGROUND_NICE`` (never raise it back: a process started at nice 10 stays
    there), so that the window's thread gets a core first when both are busy. Not for a sweep's run
    processes: at nice 5 beside a CPU hog at 0 a 2×2 sweep took 108.8 s instead of 67.5 s, and the
    window's longest stall did not shrink (95 vs 53 ms)."""
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, 0, BACKGROUND_NICE)
    except (AttributeError, OSError):  # not on this platform, or not allowed
        pass


def child_main(target, args, conn, stop_event):
    """The child process: run ``target(*args, report=..., should_stop=...)`` and send what happens.

    Messages (pickled tuples sent as bytes): ``("report", kind, value)``,
    then one of ``("finished", result)``, ``("failed", message)``, ``("cancelled", None)``.
    """
    _setup()
    _serve(target, args, conn, stop_event)


#: Modules worth importing ahead in a spare process when the job before it used them (seconds each:
#: TensorFlow alone takes 3-6 s on two cores); always: what every training imports.
HEAVY_MODULES = ("tensorflow", "keras", "sklearn", "scipy", "librosa", "soundfile", "soxr", "numba")
ALWAYS_PRELOAD = ("numpy", "core.request", "core.training", "core.extraction", "core.features", "core.augment",
                  "core.openset", "core.models.mlp")


def spare_main(jobs, conn, stop_event, preload):
    """A spare child, started before it is needed: it does the imports a job would (``preload``,
    module names), then waits for one job on ``jobs``: ``(target, args, environ, cwd)``, run as
    :func:`child_main` runs it in the environment and folder the parent has *now* (a setting
    changed since this process started, e.g. the cluster's address, is what the job sees), or
    ``None``: end without one."""
    _setup()
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - only a head start: the job imports it again and says what fails
            pass
    try:
        job = jobs.recv()
    except (EOFError, OSError):  # the app went away
        return
    finally:
        jobs.close()
    if job is None:
        return
    target, args, environ, cwd = job
    os.environ.clear()
    os.environ.update(environ)
    try:
        os.chdir(cwd)
    except OSError:
        pass
    _serve(target, args, conn, stop_event)


def _serve(target, args, conn, stop_event):
    from .errors import Cancelled, SpeechLabError

    last = {}

    def send(msg):
        conn.send_bytes(dumps(msg))

    def report(kind, value):
        if kind in ("progress",) or (kind == "epoch" and value.get("batch") is not None):
            now = time.monotonic()
            if now - last.get(kind, 0.0) < THROTTLE:
                return
            last[kind] = now
        send(("report", kind, value))

    def should_stop():
        return stop_event.is_set()

    try:
        fn = _resolve(target)
        result = fn(*args, report=report, should_stop=should_stop)
    except Cancelled:
        outcome = ("cancelled", None)
    except SpeechLabError as exc:
        outcome = ("failed", str(exc))
    except MemoryError:
        outcome = ("failed", "Out of memory: the training needed more memory than it may use")
    except Exception as exc:  # noqa: BLE001 - the parent shows it in one line
        traceback.print_exc()
        outcome = ("failed", f"Unexpected error: {exc.__class__.__name__}: {exc}")
    else:
        outcome = ("finished", result)
    try:
        # which heavy modules this job needed: the parent's next spare imports them ahead
        send(("report", "_modules", [m for m in HEAVY_MODULES if m in sys.modules]))
        send(outcome)
    finally:
        conn.close()


# ------------------------------------------------------------------ jobs run in a child


def train(request_dict, dataset=None, checkpoint_dir=None, *, report, should_stop):
    """A training request, trained and recorded (core.request.train_and_record) in the child.

    With ``checkpoint_dir`` the best epoch so far is saved there now and then
    (core.checkpoint), each save reported as ``("checkpoint", info)``: if this
    process dies, the parent can still give the user that model."""
    from .request import TrainRequest, train_and_record

    checkpoint = None
    if checkpoint_dir:
        from .checkpoint import Checkpointer

        checkpoint = Checkpointer(checkpoint_dir, on_saved=lambda info: report("checkpoint", info))
    return train_and_record(TrainRequest.from_dict(request_dict), dataset=dataset,
                            on_epoch=lambda s: report("epoch", s), on_progress=lambda p: report("progress", p),
                            on_event=report, should_stop=should_stop, source="gui", checkpoint=checkpoint)


def compare(request_dict, dataset, *, report, should_stop):
    """Same voices vs new voices (core.honest.compare_splits) with a request's settings, in the child."""
    import dataclasses

    from .history import RunHistory
    from .honest import compare_splits
    from .request import TrainRequest, augment_config, build, open_set_config

    ds, config, _, r = build(TrainRequest.from_dict(request_dict), dataset=dataset)  # a bad setting fails here
    options = {"augment": augment_config(r), "open_set": open_set_config(r)}
    comp = compare_splits(ds, task=r.task, feature_config=config, make_model=lambda: build(r, dataset=ds)[2],
                          test_size=r.test_size, random_state=r.seed, train_options=options, should_stop=should_stop,
                          on_stage=lambda i, n, spk: report("stage", (i, n, spk)),
                          on_epoch=lambda s: report("epoch", s), on_progress=lambda p: report("progress", p))
    # Kept in All runs like every training (the random split's model, both numbers, each voice never heard);
    # the request is the random split's, so a re-run trains that model again.
    random = dataclasses.replace(r, split="random")
    comp.random_result.bundle.training["request"] = random.to_dict()
    history = RunHistory.default()
    comp.run_id = history.record_comparison(comp, dataset=ds, source="compare", extra={"request": random.to_dict()})
    comp.notes = list(history.notes)
    return comp


def resident_bytes(pid):
    """A process's resident memory in bytes (Linux ``/proc``), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def total_memory_bytes():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
