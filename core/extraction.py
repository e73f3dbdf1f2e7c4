"""The extractor: features of every file of a dataset, in worker processes, with a disk cache.

The feature functions themselves are pure and live in :mod:`core.features`;
this module runs them over many files (fork pool, one BLAS thread per
worker), reports progress, cancels within a second, and caches results.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time

import numpy as np

from .errors import AudioFileError, Cancelled
from .features import FeatureConfig, features_of_file, finalize



@dataclasses.dataclass(frozen=True)
class Progress:
    """What a progress callback receives."""

    done: int
    total: int
    files_per_second: float
    eta_seconds: float
    cache_hits: int
    workers: tuple = ()  # on a Dask cluster: (worker address, files done there), one pair per worker


@dataclasses.dataclass
class Extraction:
    """Raw features per path (None where the file was skipped)."""

    raws: list
    skipped: list  # of datasets.Skipped
    cache_hits: int
    seconds: float
    notes: list = dataclasses.field(default_factory=list)  # one line each, for the user (cache trouble)


def _single_blas_thread():
    """NumPy's and SciPy's BLAS on one thread for a block (a context manager).

    Features multiply small matrices: extra BLAS threads only spin and, with several worker
    processes on few cores, make each product many times slower. On a machine whose cores are
    busy even large products suffer: under a CPU hog the open-set threshold's pseudo-inverse
    (``eigh`` of 1,248 × 1,248) took 7.8 s with two threads and 0.29 s with one (0.24 s with two
    on an idle machine). SciPy's own OpenBLAS is loaded first, so that the limit covers it too
    (threadpoolctl limits only the libraries already loaded)."""
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _die_with_parent():
    """Linux: ask the kernel to end this worker when its parent dies (a ``kill -9``
    of the app must not leave workers blocked forever)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: workers still end when the pool is shut down


def _worker_init(parent_pid=None):
    import signal

    global _WORKER_LIMITS
    # Ctrl-C is the parent's business: it cancels and terminates the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)  # the parent died before the death signal was armed
    _WORKER_LIMITS = _single_blas_thread()  # kept for the life of the worker process


NON_FINITE_REASON = "its features are not finite (samples far out of range?)"


def _extract_chunk(paths, config):
    out = []
    for p in paths:
        try:
            value = features_of_file(p, config)
            if not np.all(np.isfinite(value)):  # never returned, never cached
                out.append((False, NON_FINITE_REASON))
                continue
            out.append((True, value))
        except AudioFileError as exc:
            out.append((False, exc.reason))
        except Exception as exc:  # a decoder crash in one file must not stop the rest
            out.append((False, f"cannot be processed ({exc.__class__.__name__}: {exc})"[:200]))
    return out


def default_jobs():
    return max(1, min(os.cpu_count() or 1, 8))


def extract(paths, config, *, progress=None, should_stop=None, n_jobs=None, cache=True, cluster=None):
    """Extract raw features for many files, in parallel processes, with a disk cache.

    Parameters
    ----------
    paths : sequence of str
    config : FeatureConfig
    progress : callable(Progress) or None
        Called from the calling thread, at most ~10 times a second.
    should_stop : callable() -> bool or None
        Polled at least every 0.1 s; when it returns True the extraction
        stops and raises :class:`Cancelled` (within a second).
    n_jobs : int or None
        Worker processes; None = all cores; 1 = in this process.
    cache : bool or FeatureCache
        True = the user's cache (see :mod:`core.cache`); False = none.
    cluster : str, False or None
        A Dask scheduler address: the files not in the cache are extracted there, in chunks (the
        results still come into this machine's cache); False: on this machine; None: where
        :func:`core.cluster.configured` says (this machine unless ``--cluster`` or the GUI chose one).

    Returns
    -------
    Extraction
    """
    from .cache import FeatureCache
    from .datasets import Skipped

    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    n = len(paths)
    store = FeatureCache.default() if cache is True else (cache or None)
    key = config.cache_key()
    raws = [None] * n
    reasons = {}
    hits = 0
    todo = list(range(n))
    if store is not None:
        found = store.get_many(key, paths)
        todo = []
        for i, p in enumerate(paths):
            if p in found:
                ok, value = found[p]
                hits += 1
                if ok:
                    raws[i] = value
                else:
                    reasons[i] = value
            else:
                todo.append(i)
    done = n - len(todo)
    last_report = [0.0]
    per_worker = {}

    def report(force=False):
        now = time.perf_counter()
        if progress is None or (not force and now - last_report[0] < 0.1):
            return
        last_report[0] = now
        elapsed = max(now - t0, 1e-9)
        rate = done / elapsed
        eta = (n - done) / rate if rate > 0 else math.inf
        progress(Progress(done, n, rate, eta, hits, tuple(sorted(per_worker.items()))))

    def stop_requested():
        return should_stop is not None and should_stop()

    new_results = {}
    last_flush = [time.perf_counter()]

    def flush():
        if store is not None and new_results:
            store.put_many(key, dict(new_results))
        new_results.clear()
        last_flush[0] = time.perf_counter()

    def accept(indices, results):
        nonlocal done
        for i, (ok, value) in zip(indices, results):
            if ok:
                raws[i] = value
            else:
                reasons[i] = value
            new_results[paths[i]] = (ok, value)
        done += len(indices)
        # Results reach the cache every few seconds: a crash or a kill keeps most of the work.
        if time.perf_counter() - last_flush[0] > 5.0 or len(new_results) >= 2000:
            flush()

    report(force=True)
    n_jobs = default_jobs() if n_jobs is None else max(1, int(n_jobs))
    if cluster is None and todo:
        from .cluster import configured  # standard library only: Dask is imported when a cluster is set

        cluster = configured()
    try:
        if todo and cluster:
            _extract_on_cluster(cluster, todo, paths, config, accept, report, stop_requested, per_worker)
        elif todo and (n_jobs == 1 or len(todo) < 16):
            with _single_blas_thread():
                for i in todo:
                    if stop_requested():
                        raise Cancelled("Feature extraction stopped")
                    accept([i], _extract_chunk([paths[i]], config))
                    report()
        elif todo:
            _extract_parallel(todo, paths, config, n_jobs, accept, report, stop_requested)
    finally:
        flush()
    report(force=True)
    skipped = [Skipped(paths[i], reasons[i]) for i in sorted(reasons)]
    notes = list(store.notes) if store is not None else []
    return Extraction(raws, skipped, hits, time.perf_counter() - t0, notes)


def _extract_chunk_remote(paths, config):
    """A chunk on a Dask worker: (worker address, results), or (worker address, a path it cannot see)
    when the data folder is not at the same path there (never cached as a broken file)."""
    from .cluster import off, worker_address
    from .memory import numeric_heap

    here = worker_address()
    for p in paths:
        if not os.path.exists(p):
            return here, p
    with off(), _single_blas_thread(), numeric_heap():
        return here, _extract_chunk(paths, config)


def _extract_on_cluster(address, todo, paths, config, accept, report, stop_requested, per_worker):
    """The files of ``todo`` as chunk tasks on the Dask scheduler at ``address``; results come back here."""
    from .cluster import ClusterError, run_tasks

    if stop_requested():
        raise Cancelled("Feature extraction stopped")
    per_chunk = int(np.clip(len(todo) // 200, 16, 256))  # a few hundred tasks: the scheduler's cost stays small
    if config.name == "logmel-128" or (config.max_seconds or 0) > 5:
        per_chunk = 16
    chunks = [todo[i : i + per_chunk] for i in range(0, len(todo), per_chunk)]

    def take(k, answer):
        if isinstance(answer, BaseException):
            raise ClusterError(f"feature extraction failed on the cluster ({answer.__class__.__name__}: "
                               f"{' '.join(str(answer).split())[:160]})")
        worker, results = answer
        if isinstance(results, str):
            raise ClusterError(f"the Dask worker {worker} cannot see {results}: the data folder must be at the "
                               "same path on every worker")
        per_worker[worker] = per_worker.get(worker, 0) + len(results)
        accept(chunks[k], results)

    finished = run_tasks(address, _extract_chunk_remote, [([paths[i] for i in c], config) for c in chunks],
                         accept=take, should_stop=stop_requested, report=report)
    if not finished:
        raise Cancelled("Feature extraction stopped")


def _pool_context():
    import multiprocessing as mp

    # fork starts workers in milliseconds with librosa already imported; the
    # children only run NumPy/librosa code, never Qt or TensorFlow.
    methods = mp.get_all_start_methods()
    if "tensorflow" in sys.modules and "forkserver" in methods:
        # After a Keras model was built or loaded, TensorFlow's thread pools
        # live in this process, and a forked child can hang on a lock one of
        # them held. Workers then come from a clean server process instead
        # (it imports the feature code once; no TensorFlow there).
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["core.extraction"])
        return ctx
    return mp.get_context("fork" if "fork" in methods else "spawn")


def _extract_parallel(todo, paths, config, n_jobs, accept, report, stop_requested):
    import concurrent.futures as cf

    n_jobs = min(n_jobs, max(1, len(todo) // 8))
    # The warm-up can take a second or more (librosa's first import): honour a
    # stop requested before it starts.
    if stop_requested():
        raise Cancelled("Feature extraction stopped")
    # Warm up here, before forking: the children inherit librosa/scipy already
    # imported and the mel basis cached instead of each paying for it.
    accept(todo[:1], _extract_chunk([paths[todo[0]]], config))
    todo = todo[1:]
    # Small chunks keep the progress smooth and cancel quick; big ones cut IPC.
    per_chunk = int(np.clip(len(todo) // (n_jobs * 12), 1, 64))
    if config.name == "logmel-128" or (config.max_seconds or 0) > 5:
        per_chunk = min(per_chunk, 4)
    chunks = [todo[i : i + per_chunk] for i in range(0, len(todo), per_chunk)]
    ctx = _pool_context()
    # A forkserver's workers are children of the server, not of this process.
    pool = cf.ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_worker_init,
                                  initargs=(os.getpid(),) if ctx.get_start_method() == "fork" else ())
    try:
        futures = {pool.submit(_extract_chunk, [paths[i] for i in c], config): c for c in chunks}
        pending = set(futures)
        while pending:
            finished, pending = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
            for f in finished:
                accept(futures[f], f.result())
            if stop_requested():
                raise Cancelled("Feature extraction stopped")
            report()
    finally:
        _terminate(pool)


def _terminate(pool):
    """Stop a pool now: queued chunks are dropped and busy workers are killed
    (a cancel or Ctrl-C must not wait for, or hang on, running chunks)."""
    processes = dict(getattr(pool, "_processes", None) or {})
    manager = getattr(pool, "_executor_manager_thread", None)  # it reaps the workers too
    results = getattr(pool, "_result_queue", None)  # shutdown forgets it; the manager still reads it
    pool.shutdown(wait=False, cancel_futures=True)
    processes.update(getattr(pool, "_processes", None) or {})  # any started meanwhile
    for proc in processes.values():
        if proc.is_alive():
            proc.terminate()
    for proc in processes.values():
        proc.join(timeout=5)
        if proc.is_alive():  # stuck in a signal-blocking call: SIGKILL cannot be ignored
            proc.kill()
            proc.join(timeout=5)
    if manager is not None:  # let it finish reaping, so no worker is seen half-exited afterwards
        manager.join(timeout=5)
        if manager.is_alive() and results is not None:
            # A worker killed while sending a result leaves half a message in the pipe: the manager waits for
            # the rest for ever, and the interpreter's exit waits for the manager (a finished test run hung
            # in concurrent.futures' _python_exit). Every worker is dead now, so closing this process's end
            # of the pipe ends the wait with EOF and the manager winds the pool up as broken.
            try:
                results._writer.close()
            except OSError:
                pass
            manager.join(timeout=5)


@dataclasses.dataclass
class FeatureSet:
    """Model-ready features for the usable items of a dataset.

    One row per clip, or per window of a clip when ``config.window_seconds``
    is set; ``groups`` says which clip each row came from (0..n_clips-1), so
    that every window of a clip stays on one side of a split and clip-level
    decisions can be taken from the windows.
    """

    X: np.ndarray
    labels: np.ndarray  # str labels, one per row of X
    items: list  # datasets.Item, one per row of X
    config: FeatureConfig
    skipped: list
    cache_hits: int
    seconds: float
    groups: np.ndarray | None = None  # clip index of every row
    notes: list = dataclasses.field(default_factory=list)  # one line each, for the user (cache trouble)
    whole_matrix_cached: bool = False  # X came in one piece from core.cache.MatrixCache

    def __post_init__(self):
        if self.groups is None:
            self.groups = np.arange(len(self.items))

    @property
    def n_clips(self):
        return int(self.groups.max()) + 1 if self.groups.size else 0

    def clip_rows(self):
        """Index of the first row of every clip, in clip order."""
        _, first = np.unique(self.groups, return_index=True)
        return first


def build_features(ds, config, *, progress=None, should_stop=None, n_jobs=None, cache=True, cluster=None,
                   identities=None):
    """Extract features for every item of a dataset; skipped files are listed.

    The same files, unchanged, with the same settings, a second time: the finished matrix is read in
    one piece (:class:`core.cache.MatrixCache`; ``whole_matrix_cached`` says so).

    ``identities``: the files' identities from a scan made just before (``ds.identities``), so that the
    matrix's key costs no second ``stat`` per file. Only for a caller that scanned a moment ago (the
    ``features`` command): a dataset scanned long before may hold files changed since; None stats them.

    Returns
    -------
    FeatureSet, with ``config.n_frames`` fixed for mfcc-full.
    """
    from .cache import FeatureCache, MatrixCache
    from .datasets import Skipped

    t0 = time.perf_counter()
    paths = ds.paths()
    if cache is True:
        cache = FeatureCache.default()
    matrices = key = None
    if cache and config.window_seconds is None:
        matrices = MatrixCache.beside(cache)
        key = MatrixCache.key(paths, json.dumps([config.cache_key(), config.to_dict()], sort_keys=True),
                              identities)
        hit = matrices.get(key)
        if hit is not None and hit["keep"].size + hit["skipped"].size == len(paths):
            n_frames = int(hit["n_frames"])
            config = dataclasses.replace(config, n_frames=None if n_frames < 0 else n_frames)
            items = [ds.items[i] for i in hit["keep"]]
            skipped = [Skipped(paths[i], str(r)) for i, r in zip(hit["skipped"], hit["reasons"])]
            if progress is not None:
                rate = len(paths) / max(time.perf_counter() - t0, 1e-9)
                progress(Progress(len(paths), len(paths), rate, 0.0, len(paths), ()))
            return FeatureSet(hit["X"], np.array([it.label for it in items], dtype=str), items, config,
                              list(ds.skipped) + skipped, len(paths), time.perf_counter() - t0,
                              notes=list(cache.notes), whole_matrix_cached=True)
    ex = extract(paths, config, progress=progress, should_stop=should_stop, n_jobs=n_jobs, cache=cache,
                 cluster=cluster)
    keep = [i for i, r in enumerate(ex.raws) if r is not None]
    if config.window_seconds is None:
        X, config = finalize([ex.raws[i] for i in keep], config)
        items = [ds.items[i] for i in keep]
        groups = np.arange(len(items))
        if matrices is not None and not any("feature cache off" in n for n in ex.notes):
            index = {p: i for i, p in enumerate(paths)}
            failed = [(index[s.path], s.reason) for s in ex.skipped if s.path in index]
            matrices.put(key, X, keep, [i for i, _ in failed], [r for _, r in failed], config.n_frames)
    else:
        rows, items, groups = [], [], []
        for g, i in enumerate(keep):
            windows = ex.raws[i]
            rows.extend(windows)
            items.extend([ds.items[i]] * len(windows))
            groups.extend([g] * len(windows))
        X, config = finalize(rows, config)
        groups = np.asarray(groups, dtype=int)
    labels = np.array([it.label for it in items], dtype=str)
    return FeatureSet(X, labels, items, config, list(ds.skipped) + ex.skipped, ex.cache_hits, ex.seconds,
                      groups=groups, notes=ex.notes)
