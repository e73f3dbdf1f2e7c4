"""Sweeps: a grid of settings → one training per combination, each in its own process, each recorded.

A sweep is a list of :class:`RunSpec` (plain, JSON-able values: the task, the
data folder, the feature set and settings, the model and its overrides, the
split and the seed). :func:`expand_grid` builds that list from one to three
swept settings; "Reproduce the report's tables" builds it from the report's
experiments (:func:`report_sweeps`), each with the report's own number.

:func:`run_sweep` first extracts each distinct feature set once (with the
extractor's own process pool, into the feature cache), then hands the runs to
any ``concurrent.futures.Executor`` — by default a ``ProcessPoolExecutor``
with one process per core — calling the top-level :func:`run_one` in each.
``run_one`` takes and returns plain values, records its run in the history
itself and learns that the user pressed Stop from a file, so the same sweep can
be sent to a cluster engine (Dask's ``client.get_executor()``, Ray's
``ray.util.multiprocessing``) by passing another executor; nothing above this
module changes.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import itertools
import json
import multiprocessing as mp
import os
import pathlib
import queue
import shutil
import tempfile
import time
import uuid

from .errors import SpeechLabError
from .request import MODEL_KEYS, TrainRequest, train_and_record
from .request import build as build_request

MAX_SWEPT_SETTINGS = 3
MAX_RUNS = 500

RUN_KEYS = ("features", "model", "split", "test_size", "seed", "augment", "open_set")


def _hidden(text):
    text = str(text).strip()
    if text.lower() in ("", "none", "0"):
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise SpeechLabError(f"hidden layers must be sizes such as 128,64, not '{text}'") from None
    if any(s < 1 for s in sizes):
        raise SpeechLabError(f"hidden layer sizes must be at least 1: '{text}'")
    return sizes


def _scalar(text):
    """A number, a boolean, None or the text itself."""
    low = str(text).strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return str(text).strip()


# What a swept value must be: the rules of the single flags (``train --epochs N --lr X --seed N
# --test-size X``, ``--no-standardize`` …), so a grid value is refused before any work, as a flag is.
_WHOLE_NUMBERS = ("epochs", "batch_size", "patience", "max_iter", "seed")
_NUMBERS = ("lr", "learning_rate", "l2", "C", "alpha", "dropout", "test_size")
_SWITCHES = ("augment", "open_set", "standardize", "early_stopping")
_TEXTS = ("features", "model", "activation", "optimizer", "output", "init", "kind", "solver")
SWEPT_SPLITS = ("random", "speaker")  # as ``sweep --split``; leave-one-speaker-out is one run of its own
SEED_LIMIT = 2**32  # what NumPy's generators accept, as ``--seed``


def _value(key, text):
    """One swept value, checked by the rules of its flag; SpeechLabError says what it must be."""
    raw = str(text).strip()
    if key == "hidden":
        return _hidden(text)
    if key in _SWITCHES:
        value = _scalar(raw)
        if not isinstance(value, bool):
            raise SpeechLabError(f"{key} is on or off (true/false)")
        return value
    if key in _WHOLE_NUMBERS:
        try:
            value = int(raw)
        except ValueError:
            raise SpeechLabError(f"{key} must be a whole number") from None
        if key == "seed" and not 0 <= value < SEED_LIMIT:
            raise SpeechLabError(f"{key} must be between 0 and {SEED_LIMIT - 1}")
        return value
    if key in _NUMBERS:
        value = _scalar(raw)  # 10 stays 10, 1e-3 is 0.001
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if key == "learning_rate" and raw in _sgd_learning_rates():  # SGD's schedule is named
                return raw
            raise SpeechLabError(f"{key} must be a number")
        if key == "test_size" and not 0 < value < 1:
            raise SpeechLabError(f"{key} must be between 0 and 1")
        return value
    if key == "split":
        if raw not in SWEPT_SPLITS:
            raise SpeechLabError(f"split must be one of {', '.join(SWEPT_SPLITS)}")
        return raw
    if key in _TEXTS:
        return raw
    return _scalar(text)  # a feature setting: checked by FeatureConfig when the runs are built


def _sgd_learning_rates():
    from .models.choices import SGD_LEARNING_RATES

    return SGD_LEARNING_RATES


def parse_value(key, text):
    """One swept value as the setting expects it (``hidden``: layer sizes, numbers as numbers).

    Raises SpeechLabError naming the setting and the value (``--grid seed=-1: seed must be …``).
    """
    try:
        return _value(key, text)
    except SpeechLabError as exc:
        raise SpeechLabError(f"--grid {key}={str(text).strip()}: {exc}") from None


def parse_grid(text):
    """``"hidden=64;128,64"`` -> ("hidden", [(64,), (128, 64)]): values split on ``;`` (``,`` stays in a value)."""
    key, eq, values = str(text).partition("=")
    key = key.strip()
    if not eq or not key:
        raise SpeechLabError(f"--grid needs NAME=VALUE;VALUE…, not '{text}'")
    check_key(key)
    items = [v for v in values.split(";") if v.strip() or key == "hidden"]
    if not items:
        raise SpeechLabError(f"--grid {key}= has no values")
    return key, [parse_value(key, v) for v in items]


def check_key(key):
    from .features import FeatureConfig

    feature_keys = {f.name for f in dataclasses.fields(FeatureConfig)} - {"name"}
    if key not in MODEL_KEYS and key not in RUN_KEYS and key not in feature_keys:
        known = sorted(set(MODEL_KEYS) | set(RUN_KEYS) | feature_keys)
        raise SpeechLabError(f"Cannot sweep '{key}': choose from {', '.join(known)}")


def format_value(value):
    """A swept value as text (``(128, 64)`` -> ``128,64``)."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


# A sweep's run is a training request (core.request): the same object the GUI, the CLI and re-runs use.
RunSpec = TrainRequest


def expand_grid(base, grid):
    """Every combination of the swept values, in order (the last setting varies fastest).

    Parameters
    ----------
    base : RunSpec
    grid : list of (key, [values]) or dict key -> [values]; one to three settings
    """
    items = list(grid.items()) if isinstance(grid, dict) else list(grid)
    if not 1 <= len(items) <= MAX_SWEPT_SETTINGS:
        raise SpeechLabError(f"A sweep varies one to {MAX_SWEPT_SETTINGS} settings, not {len(items)}")
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise SpeechLabError("A setting appears twice in the sweep")
    n = 1
    for _, values in items:
        n *= len(values)
    if n > MAX_RUNS:
        raise SpeechLabError(f"The sweep has {n} runs; at most {MAX_RUNS}")
    specs = []
    for combo in itertools.product(*[values for _, values in items]):
        spec = base
        for key, value in zip(keys, combo):
            spec = spec.with_value(key, value)
        specs.append(spec)
    return specs


def check_runs(base, specs):
    """Build every run's settings before any work (the dataset is scanned once).

    Raises SpeechLabError naming the swept value at fault, found by leaving each swept value of
    the failing run out in turn (``--grid lr=-1: Model settings: learning_rate=-1 is out of range.``;
    two values that only fail together are both named).
    """
    dataset = None
    for spec in specs:
        try:
            dataset = _built(spec, dataset)
        except SpeechLabError as exc:
            raise SpeechLabError(_blame(base, spec, exc, dataset)) from None


def _built(spec, dataset):
    ds, _, _, _ = build_request(spec, resolve_sizes=False, dataset=dataset)
    return ds


def _blame(base, spec, exc, dataset):
    at_fault = []
    for key in spec.values:
        others = base
        for other, value in spec.values.items():
            if other != key:
                others = others.with_value(other, value)
        try:
            _built(others, dataset)
        except SpeechLabError:
            continue
        at_fault.append(key)
    if not at_fault:  # not a swept value's doing (the data, a fixed setting)
        return str(exc)
    return "--grid " + ", ".join(f"{k}={format_value(spec.values[k])}" for k in at_fault) + f": {exc}"


# --------------------------------------------------------------------- one run


def build(spec, *, resolve=True):
    """(dataset, feature config, model) for a request (see :func:`core.request.build`)."""
    ds, config, model, _ = build_request(spec, resolve_sizes=resolve)
    return ds, config, model


def _stop_checker(stop_file):
    if not stop_file:
        return None
    last = [0.0, False]

    def should_stop():  # a stat at most five times a second
        now = time.monotonic()
        if not last[1] and now - last[0] > 0.2:
            last[0] = now
            last[1] = os.path.exists(stop_file)
        return last[1]

    return should_stop


def run_one(spec_dict, *, index=0, sweep=None, stop_file=None, events=None, history_folder=None, n_jobs=1,
            cache=True):
    """Train and record one run of a sweep (in a worker process). Plain values in and out.

    Returns
    -------
    dict: index, run_id, accuracy, train_accuracy, balanced_accuracy, seconds, stop_reason, values, title,
    reference; or index, error (a message) when the run could not be trained.
    """
    from .history import RunHistory

    spec = RunSpec.from_dict(spec_dict)
    base = {"index": index, "values": spec.values, "title": spec.title, "reference": spec.reference}
    should_stop = _stop_checker(stop_file)
    if should_stop is not None and should_stop():
        return {**base, "error": "stopped before it started", "stopped": True}
    t0 = time.perf_counter()
    history = RunHistory(history_folder)
    sweep_info = {"id": (sweep or {}).get("id"), "name": (sweep or {}).get("name", ""), "index": index,
                  "values": {k: format_value(v) for k, v in spec.values.items()}, "title": spec.title,
                  "reference": spec.reference, "reference_note": spec.reference_note}

    def on_epoch(stats):
        if events is not None and stats.get("batch") is None:
            events.put((index, {k: stats.get(k) for k in ("epoch", "epochs", "loss", "accuracy", "val_accuracy")}))

    try:
        result = train_and_record(spec, on_epoch=on_epoch, should_stop=should_stop, n_jobs=n_jobs, cache=cache,
                                  source="sweep", history=history, sweep=sweep_info)
    except SpeechLabError as exc:
        return {**base, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad run must not end the sweep
        return {**base, "error": f"{exc.__class__.__name__}: {exc}"}
    m = result.metrics
    return {**base, "run_id": result.run_id, "accuracy": m["accuracy"], "train_accuracy": m.get("train_accuracy"),
            "balanced_accuracy": m.get("balanced_accuracy"), "seconds": round(result.seconds, 3),
            "record_seconds": round(time.perf_counter() - t0 - result.seconds, 4),
            "stop_reason": result.stop_reason, "notes": list(history.notes), "dataset": str(result.bundle.training.get("dataset", ""))}


# ------------------------------------------------------- one run on a Dask worker


def run_one_remote(spec_dict, index, sweep, stop_event, events_queue, cache):
    """Train one run of a sweep on a Dask worker; nothing is recorded there (see :func:`record_remote`).

    The model comes back as the bytes of its ``.slm`` file (read here with the checked loader, never
    unpickled from a file), with what the run history needs. Stop is a ``distributed.Event`` named
    ``stop_event``; epochs go to the ``distributed.Queue`` named ``events_queue``.
    """
    from distributed import Event, Queue

    from .bundle import save_bundle
    from .cluster import off, worker_address
    from .extraction import _single_blas_thread
    from .memory import numeric_heap

    spec = RunSpec.from_dict(spec_dict)
    base = {"index": index, "values": spec.values, "title": spec.title, "reference": spec.reference,
            "worker": worker_address()}
    stop = Event(stop_event)
    last = [0.0, False]

    def should_stop():  # a question to the scheduler at most five times a second
        now = time.monotonic()
        if not last[1] and now - last[0] > 0.2:
            last[0] = now
            last[1] = bool(stop.is_set())
        return last[1]

    if stop.is_set():
        return {**base, "error": "stopped before it started", "stopped": True}
    events = Queue(events_queue) if events_queue else None

    def on_epoch(stats):
        if events is not None and stats.get("batch") is None:
            with contextlib.suppress(Exception):  # progress is a courtesy; the run goes on without it
                events.put((index, {k: stats.get(k) for k in ("epoch", "epochs", "loss", "accuracy",
                                                               "val_accuracy")}))

    sweep_info = _sweep_info(sweep, index, spec)
    try:
        with off(), _single_blas_thread(), numeric_heap():
            ds = _built(spec, None)
            result = train_and_record(spec, on_epoch=on_epoch, should_stop=should_stop, n_jobs=1, cache=cache,
                                      source="sweep", sweep=sweep_info, dataset=ds, record=False)
            record = _record_arguments(result)
            if record is None:
                return {**base, "error": "stopped before a model was trained", "stopped": True}
            with tempfile.TemporaryDirectory(prefix="speechlab-run-") as tmp:
                path = save_bundle(record.pop("bundle"), os.path.join(tmp, "run.slm"))
                model = pathlib.Path(path).read_bytes()
    except SpeechLabError as exc:
        return {**base, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad run must not end the sweep
        return {**base, "error": f"{exc.__class__.__name__}: {exc}"}
    m = record["metrics"]
    return {**base, "accuracy": m["accuracy"], "train_accuracy": m.get("train_accuracy"),
            "balanced_accuracy": m.get("balanced_accuracy"), "seconds": round(record["seconds"], 3),
            "stop_reason": record["stop_reason"], "dataset": str(ds.root), "model": model, "record": record,
            "items": [(it.path, it.label, it.speaker) for it in ds.items],
            "layout": ds.layout, "label_kind": ds.label_kind, "sweep_info": sweep_info}


def _sweep_info(sweep, index, spec):
    return {"id": (sweep or {}).get("id"), "name": (sweep or {}).get("name", ""), "index": index,
            "values": {k: format_value(v) for k, v in spec.values.items()}, "title": spec.title,
            "reference": spec.reference, "reference_note": spec.reference_note}


def _record_arguments(result):
    """What RunHistory.record needs for any result train_and_record returns (as record_result,
    record_rotations and record_kfold give it); None when no model was trained."""
    request = {"request": result.request.to_dict()}
    if hasattr(result, "final"):  # leave one speaker out
        if result.final is None:
            return None
        files = [f for r in result.results for f in r.metrics.get("test_files", [])]
        return dict(bundle=result.final, metrics=result.metrics, history=result.final.history,
                    seconds=result.seconds, stop_reason=result.final.training.get("stop_reason"), diverged=False,
                    test_files=files, extra={"per_speaker": result.per_speaker, **request})
    extra = {"kfold": result.kfold, **request} if hasattr(result, "kfold") else request
    history = result.bundle.history if hasattr(result, "kfold") else result.history
    return dict(bundle=result.bundle, metrics=result.metrics, history=history, seconds=result.seconds,
                stop_reason=result.stop_reason, diverged=bool(getattr(result, "diverged", False)),
                test_files=result.metrics.get("test_files"), extra=extra)


def record_remote(answer, *, history_folder=None):
    """Keep a run trained on a Dask worker in this machine's run history, with its model file.

    ``answer``: :func:`run_one_remote`'s. Returns the answer as :func:`run_one` gives it (run_id, notes).
    """
    from .bundle import load_bundle
    from .datasets import Dataset, Item
    from .history import RunHistory

    answer = dict(answer)
    model, record = answer.pop("model", None), answer.pop("record", None)
    items, layout, label_kind = answer.pop("items", []), answer.pop("layout", ""), answer.pop("label_kind", "")
    sweep_info = answer.pop("sweep_info", None)
    if model is None or record is None:
        return answer
    t0 = time.perf_counter()
    history = RunHistory(history_folder)
    try:
        with tempfile.TemporaryDirectory(prefix="speechlab-run-") as tmp:
            path = pathlib.Path(tmp) / "run.slm"
            path.write_bytes(model)
            bundle = load_bundle(path)  # the checked loader: a model file never executes code
    except (SpeechLabError, OSError) as exc:
        return {**answer, "error": f"the model trained on {answer.get('worker') or 'the cluster'} "
                                   f"could not be read back ({exc})"}
    ds = Dataset(answer.get("dataset", ""), layout, label_kind, [Item(*it) for it in items])
    answer["run_id"] = history.record(bundle, dataset=ds, source="sweep", sweep=sweep_info, **record)
    answer["record_seconds"] = round(time.perf_counter() - t0, 4)
    answer["notes"] = list(history.notes)
    return answer


def _run_on_cluster(address, specs, sweep, results, *, on_result, on_epoch, on_started, should_stop, history_folder,
                    cache):
    """The runs as tasks on the Dask scheduler at ``address``; each recorded here as it comes back
    (once: a run Dask repeated after a worker died comes back once). Returns True when stopped."""
    from distributed import Event, Queue

    from .cluster import configured_field, connect, run_tasks

    client = connect(address, configured_field())
    name = f"speechlab-sweep-{sweep['id']}-{uuid.uuid4().hex[:6]}"
    stop = Event(name + "-stop", client=client)
    events = Queue(name + "-epochs", client=client) if on_epoch is not None else None
    started = set()
    last_poll = [0.0]

    def mark(i):
        if i not in started:
            started.add(i)
            if on_started is not None:
                on_started(i)

    def poll(force=False):
        now = time.monotonic()
        if events is None or (not force and now - last_poll[0] < 0.2):
            return
        last_poll[0] = now
        try:
            batch = events.get(batch=True)
        except Exception:  # noqa: BLE001 - epochs are a courtesy
            return
        for index, stats in batch or []:
            mark(index)
            on_epoch(index, stats)

    def accept(i, answer):
        if isinstance(answer, BaseException):
            answer = {"index": i, "values": specs[i].values, "error": f"{answer.__class__.__name__}: {answer}"}
        else:
            answer = record_remote(answer, history_folder=history_folder)
        poll(force=True)
        results[i] = answer
        mark(i)
        if on_result is not None:
            on_result(answer)

    def on_stop(_client):
        stop.set()

    args = [(spec.to_dict(), i, sweep, name + "-stop", name + "-epochs" if events is not None else None, cache)
            for i, spec in enumerate(specs)]
    try:
        finished = run_tasks(address, run_one_remote, args, accept=accept, should_stop=should_stop,
                             on_stop=on_stop, poll=poll, retries=0)
    finally:
        with contextlib.suppress(Exception):
            if events is not None:
                events.close()
        with contextlib.suppress(Exception):
            stop.clear()
    return not finished


# ------------------------------------------------------------------- the sweep


def default_workers():
    from .extraction import default_jobs

    return max(1, default_jobs())


def process_executor(max_workers=None):
    """One process per core, started fresh (spawn: safe beside Qt's and TensorFlow's threads).

    Its workers ignore Ctrl-C (the sweep's owner decides what it means) and end with the process
    that started them. Start them inside :func:`ctrl_c_held` so that a Ctrl-C cannot reach one
    before it ignores it (spawned workers start when runs are submitted).
    """
    return cf.ProcessPoolExecutor(max_workers=max_workers or default_workers(), mp_context=mp.get_context("spawn"),
                                  initializer=_worker_init, initargs=(os.getpid(),))


def _worker_init(parent_pid):
    """A sweep worker's first act. A terminal's Ctrl-C goes to the whole process group: a worker that
    took it would die with its run unrecorded, or, surviving it, train the runs queued next in full.
    And a ``kill -9`` of the sweep must not leave its workers training for ever."""
    import signal

    from .extraction import _die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C held back since the spawn is dropped here
    with contextlib.suppress(AttributeError, OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent()
    if os.getppid() != parent_pid:
        os._exit(0)  # the sweep died before the death signal was armed


@contextlib.contextmanager
def ctrl_c_held():
    """Hold Ctrl-C back in this thread for the block: processes started here begin with it blocked (it
    waits for their :func:`_worker_init`), and a clean-up here is not cut short; a Ctrl-C that came
    meanwhile is delivered when the block ends."""
    import signal

    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (AttributeError, OSError, ValueError):  # no POSIX signal masks
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _events_manager():
    """The queue of epochs from the workers: its server process ignores Ctrl-C and ends with us, too."""
    from multiprocessing.managers import SyncManager

    manager = SyncManager(ctx=mp.get_context("spawn"))
    manager.start(_worker_init, (os.getpid(),))
    return manager


def _close_pool(pool, *, wait):
    """Shut our pool down: ``wait``, once every run has answered; else end its workers now (a second
    Ctrl-C or an error must not wait for, or hang on, the runs in progress)."""
    from .extraction import _terminate

    if wait:
        pool.shutdown(wait=True, cancel_futures=True)
    _terminate(pool)  # nothing left to end after a clean shutdown


def prepare_features(specs, *, progress=None, should_stop=None, n_jobs=None, cache=True, cluster=None):
    """Extract each distinct (data, features) of the sweep once, into the feature cache, with every core.

    Without this every parallel run would extract the same files at the same time.
    """
    from .extraction import build_features

    seen = set()
    for spec in specs:
        ds, config, _ = build(spec, resolve=False)
        key = (str(ds.root), ds.label_kind, json.dumps(config.to_dict(), sort_keys=True, default=str))
        if key in seen:
            continue
        seen.add(key)
        build_features(ds, config, progress=progress, should_stop=should_stop, n_jobs=n_jobs, cache=cache,
                       cluster=cluster)


def run_sweep(specs, *, name="", executor=None, max_workers=None, on_result=None, on_epoch=None, on_started=None,
              on_progress=None, should_stop=None, history_folder=None, cache=True, prepare=True, cluster=None):
    """Run every RunSpec, in parallel processes, each recorded in the run history.

    Parameters
    ----------
    specs : list of RunSpec
    executor : concurrent.futures.Executor or None
        None: a process pool of ``max_workers`` processes (default one per core),
        shut down at the end. Pass a Dask or Ray executor to send runs elsewhere.
    on_result : callable(dict) — each finished run's :func:`run_one` answer, as it arrives
    on_epoch : callable(index, stats) — the epochs of the runs in progress (process pools only)
    on_started : callable(index) — a run was handed to the executor
    on_progress : callable(Progress) — the feature extraction before the runs
    should_stop : callable() -> bool — polled; runs not started are dropped, running ones stop
        at their next mini-batch and keep their best model (recorded, status "stopped")
    cluster : str, False or None — a Dask scheduler address: the features are extracted and the runs
        trained there, each run recorded here with its model file as it comes back; False: this
        machine; None: :func:`core.cluster.configured` (this machine unless a cluster was chosen)

    Returns
    -------
    dict: id, name, results (in spec order; None for runs never started), seconds, stopped
    """
    from .errors import Cancelled

    sweep = {"id": uuid.uuid4().hex[:12], "name": name}
    t0 = time.perf_counter()
    results = [None] * len(specs)
    if not specs:
        return {**sweep, "results": results, "seconds": 0.0, "stopped": False}
    if cluster is None and executor is None:
        from .cluster import configured  # standard library only: Dask is imported when a cluster is set

        cluster = configured()
    if prepare:
        try:
            prepare_features(specs, progress=on_progress, should_stop=should_stop, cache=cache,
                             cluster=cluster or False)
        except Cancelled:
            return {**sweep, "results": results, "seconds": time.perf_counter() - t0, "stopped": True}
    if cluster:
        stopped = _run_on_cluster(cluster, specs, sweep, results, on_result=on_result, on_epoch=on_epoch,
                                  on_started=on_started, should_stop=should_stop,
                                  history_folder=str(history_folder) if history_folder else None, cache=cache)
        return {**sweep, "results": results, "seconds": time.perf_counter() - t0, "stopped": stopped}
    own = executor is None
    stop_dir = tempfile.mkdtemp(prefix="speechlab-sweep-")
    stop_file = os.path.join(stop_dir, "stop")
    manager = events = None
    stopped = finished = False
    try:
        pending = {}
        with ctrl_c_held():  # the workers start here, and ignore Ctrl-C from their first instruction on
            if own:
                executor = process_executor(max_workers)
                if on_epoch is not None:
                    manager = _events_manager()
                    events = manager.Queue()
            for i, spec in enumerate(specs):
                fut = executor.submit(run_one, spec.to_dict(), index=i, sweep=sweep, stop_file=stop_file,
                                      events=events, history_folder=str(history_folder) if history_folder else None,
                                      cache=cache)
                pending[fut] = i
        started = set()
        while pending:
            done, _ = cf.wait(list(pending), timeout=0.1, return_when=cf.FIRST_COMPLETED)
            if events is not None:
                _drain(events, on_epoch, started, on_started)
            for fut in done:
                i = pending.pop(fut)
                if fut.cancelled():
                    continue
                try:
                    answer = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker process died
                    answer = {"index": i, "values": specs[i].values, "error": f"{exc.__class__.__name__}: {exc}"}
                results[i] = answer
                if on_started is not None and i not in started:
                    started.add(i)
                    on_started(i)
                if on_result is not None:
                    on_result(answer)
            if not stopped and should_stop is not None and should_stop():
                stopped = True
                pathlib.Path(stop_file).touch()
                for fut in list(pending):
                    if fut.cancel():
                        pending.pop(fut)
        finished = True
    finally:
        # A second Ctrl-C (KeyboardInterrupt) or an error lands here with runs in progress: their
        # workers are ended. Ctrl-C is held meanwhile, so that nothing is left behind half-closed.
        with ctrl_c_held():
            if own and executor is not None:
                _close_pool(executor, wait=finished)
            if manager is not None:
                manager.shutdown()
            shutil.rmtree(stop_dir, ignore_errors=True)
    return {**sweep, "results": results, "seconds": time.perf_counter() - t0, "stopped": stopped}


def _drain(events, on_epoch, started, on_started):
    while True:
        try:
            index, stats = events.get_nowait()
        except (queue.Empty, OSError, EOFError):
            return
        if index not in started:
            started.add(index)
            if on_started is not None:
                on_started(index)
        on_epoch(index, stats)


# ------------------------------------------------------------ sweep summaries


def results_table(specs, answers):
    """Rows for a sweep's table: the swept values, our accuracy, the report's where given."""
    rows = []
    for spec, ans in zip(specs, answers):
        ans = ans or {}
        rows.append({"title": spec.title, "values": {k: format_value(v) for k, v in spec.values.items()},
                     "accuracy": ans.get("accuracy"), "train_accuracy": ans.get("train_accuracy"),
                     "reference": spec.reference, "run_id": ans.get("run_id"), "error": ans.get("error"),
                     "seconds": ans.get("seconds")})
    return rows


# ------------------------------------------------------- the report's tables


# The report's Q3 CNN and training (whole 128x128 clip images, random 80/20); the same settings as the
# Genres tab's "Reproduce the report" (gui/tabs/genres.py REPORT_CNN, which could move to core.models.cnn).
def _report_q3_params():
    from .models.cnn import REPORT_BLOCKS

    return dict(conv_blocks=REPORT_BLOCKS, head="flatten", dense_units=(), dropout=0.0, optimizer="adam",
                learning_rate=1e-4, epochs=30, batch_size=32, early_stopping=False, validation_fraction=0.0,
                standardize=False, freq_mask=0.0, time_mask=0.0, time_shift=0.0, bn_momentum=0.99)


REPORT_TABLES = {
    "q2": "Q2: spoken digits, features x layers x activation (hand-written MLP)",
    "q3": "Q3: music genres, the CNN",
    "q4": "Q4: speakers, parts A and B x SGD / logistic regression",
}
REPORT_TABLE_TASKS = {"q2": "digits", "q3": "genres", "q4": "speakers"}
REPORT_TABLE_DATA = {
    "q2": "AudioMNIST (30,000 clips, 60 speakers), 5 epochs of per-sample SGD",
    "q3": "GTZAN (1,000 clips of 30 s, 10 genres)",
    "q4": "Kaggle's 16000_pcm_speeches (5 speakers, 7,501 clips)",
}


def report_sweep(table, *, data=None, seed=42):
    """The report's experiments of one table as RunSpecs, each with the report's number (``reference``).

    ``data``: the folder to run them on (None: the task's demo data). The
    report measured Q2 on AudioMNIST, Q3 on GTZAN and Q4 on Kaggle's
    16000_pcm_speeches; ``reference_note`` says so for every run.
    """
    table = str(table).lower()
    if table not in REPORT_TABLES:
        raise SpeechLabError(f"Unknown report table '{table}': choose one of {', '.join(REPORT_TABLES)}")
    specs = []
    if table == "q2":
        from .presets import REPORT_PRESETS

        for p in REPORT_PRESETS:
            feature = {k: v for k, v in p.feature.items() if k != "name"}
            model = dict(p.model, hidden_layer_sizes=list(p.model["hidden_layer_sizes"]))
            specs.append(RunSpec(task="digits", data=data, features=p.feature["name"], feature_settings=feature,
                                 model="mlp", model_params=model, seed=seed, title=p.name,
                                 values={"experiment": p.name},
                                 reference=None if p.report_accuracy is None else p.report_accuracy / 100,
                                 reference_note=p.data_note))
    elif table == "q3":
        specs.append(RunSpec(task="genres", data=data, features="logmel-128", feature_settings={"window_seconds": None},
                             model="cnn", model_params=_report_q3_params(), seed=seed, title="Report CNN",
                             values={"experiment": "Report CNN"}, reference=0.68,
                             reference_note="The report measured 68 % on GTZAN (1,000 30-s clips, 10 genres)."))
    else:
        from .models.linear import REPORT_MODELS, REPORT_PRESETS

        for p in REPORT_PRESETS:
            feature = {k: v for k, v in p["feature"].items() if k != "name"}
            params = REPORT_MODELS[p["model"]]
            specs.append(RunSpec(task="speakers", data=data, features=p["feature"]["name"], feature_settings=feature,
                                 model="sgd" if params["kind"] == "sgd" else "logreg", model_params=dict(params),
                                 seed=seed, title=p["title"], values={"experiment": p["title"]},
                                 reference=p["report_accuracy"] / 100,
                                 reference_note="The report measured this on Kaggle's 16000_pcm_speeches "
                                                "(5 speakers, 7,501 clips)."))
    return specs
