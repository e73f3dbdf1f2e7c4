"""Feature functions (pure, keyword-only) and the cached, parallel extractor.

Every feature the seed uses, with the seed's parameters as defaults:

==============  ==============================================================
``mfcc-full``   12 MFCCs (25 ms window, 24 mel bands) stacked with Δ and ΔΔ:
                (36, frames), padded/cut to a fixed number of frames and
                flattened. The frame count is fixed from the training data
                (the longest clip, as the seed did) and saved with the model.
``mfcc-mean``   the MFCCs averaged over time.
``mfcc-stats``  mean, std, min and max over time of MFCC+Δ+ΔΔ.
``spectral``    mean spectral centroid, zero-crossing rate and RMS energy.
``logmel-128``  mel spectrogram in dB (``ref=max``) resized to 128×128.
==============  ==============================================================

Hop length: the seed meant a 10 ms hop but passed it to its own function, not
to librosa, so librosa's default of 512 samples (32 ms at 16 kHz) was used.
SpeechLab's default is the intended 10 ms (``hop_ms=10``); set
``hop_length=512`` to reproduce the seed exactly.

The MFCC pipeline computes what ``librosa.feature.mfcc`` computes (power STFT,
Slaney mel filters, ``power_to_db``, orthonormal DCT-II) with the mel basis
cached, and the deltas as ``librosa.feature.delta`` (Savitzky–Golay, width 9,
``mode="interp"``) expressed as a cached matrix; tests compare both against
librosa's own functions.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time

import numpy as np
import scipy.fft
from scipy.ndimage import correlate1d

from .audio import check_signal, load_audio, resample, to_mono, trim_silence
from .errors import AudioFileError, Cancelled, SpeechLabError

FEATURE_NAMES = ("mfcc-full", "mfcc-mean", "mfcc-stats", "spectral", "logmel-128")
# Bump when a feature function changes so cached values are not reused.
FEATURE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Everything that determines a clip's features.

    Attributes
    ----------
    name : one of FEATURE_NAMES
    sr : target sample rate; None keeps each file's own rate (the seed's GTZAN choice)
    n_mfcc, n_mels : MFCC count and mel bands
    win_ms, hop_ms : analysis window and hop in milliseconds
    n_fft, hop_length : explicit sizes in samples; override win_ms / hop_ms when set
    trim_db : cut leading/trailing audio quieter than this below the peak (None: no trim)
    max_seconds : use at most this many seconds of each clip (None: all)
    n_frames : fixed frame count for ``mfcc-full`` (None: set from the training data)
    frames : how ``mfcc-full`` reaches ``n_frames``: "pad" (zero-pad/cut, the
        seed's way) or "resize" (stretch each clip's frames in time to
        ``n_frames``, 32 by default: a slow and a fast speaker line up)
    image_size : side of the ``logmel-128`` image
    """

    name: str = "mfcc-full"
    sr: int | None = 16000
    n_mfcc: int = 12
    n_mels: int = 24
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None
    hop_length: int | None = None
    trim_db: float | None = None
    max_seconds: float | None = None
    n_frames: int | None = None
    frames: str = "pad"
    image_size: int = 128

    def __post_init__(self):
        if self.name not in FEATURE_NAMES:
            raise SpeechLabError(f"Unknown feature '{self.name}': choose one of {', '.join(FEATURE_NAMES)}")
        for field in ("n_mfcc", "n_mels", "image_size"):
            if int(getattr(self, field)) < 1:
                raise SpeechLabError(f"Feature setting '{field}' must be at least 1")
        if self.frames not in ("pad", "resize"):
            raise SpeechLabError(f"Feature setting 'frames' must be pad or resize, not '{self.frames}'")
        if self.n_frames is not None and int(self.n_frames) < 1:
            raise SpeechLabError("Feature setting 'n_frames' must be at least 1")
        if self.win_ms <= 0 or self.hop_ms <= 0:
            raise SpeechLabError("Feature settings 'win_ms' and 'hop_ms' must be positive")

    def frame_sizes(self, sr):
        """(n_fft, hop_length) in samples at rate ``sr``."""
        n_fft = self.n_fft or max(16, int(round(self.win_ms * sr / 1000)))
        hop = self.hop_length or max(1, int(round(self.hop_ms * sr / 1000)))
        return int(n_fft), int(hop)

    def cache_key(self):
        """A string that changes whenever a clip's raw features would change."""
        d = dataclasses.asdict(self)
        d.pop("n_frames")  # padding and resizing happen after the cache
        d.pop("frames")
        d["version"] = FEATURE_VERSION
        return json.dumps(d, sort_keys=True)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ----------------------------------------------------------------------------- pure functions


@functools.lru_cache(maxsize=32)
def _mel_basis(sr, n_fft, n_mels):
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _savgol_rows(width, order):
    """(width, width) matrix: row i gives the Savitzky–Golay derivative at
    position i of a ``width``-long signal (``mode="interp"``). The middle row
    is the interior kernel; the first/last half rows are the edge fits."""
    from scipy.signal import savgol_filter

    return savgol_filter(np.eye(width), window_length=width, polyorder=order, deriv=order,
                         axis=0, mode="interp").astype(np.float32)


def _delta(m, order, width=9):
    t = m.shape[1]
    if t < width:  # librosa refuses clips this short; use the widest window that fits
        width = t if t % 2 else t - 1
        if width <= order:
            return np.zeros_like(m)
    rows = _savgol_rows(width, order)
    half = width // 2
    # interior: one correlation with the Savitzky–Golay kernel; edges: polynomial fits
    out = correlate1d(m, rows[half], axis=1, mode="constant")
    out[:, :half] = m[:, :width] @ rows[:half].T
    out[:, t - half :] = m[:, t - width :] @ rows[width - half :].T
    return out


@functools.lru_cache(maxsize=32)
def _hann(n_fft):
    from scipy.signal import get_window

    return get_window("hann", n_fft, fftbins=True).astype(np.float32)


def power_spectrogram(*, y, n_fft, hop_length):
    """|STFT|² with a centred, zero-padded periodic Hann window.

    The same numbers as ``np.abs(librosa.stft(y, n_fft=n_fft,
    hop_length=hop_length))**2`` (librosa's defaults: ``center=True``,
    ``pad_mode="constant"``), without its per-call overhead.

    Returns
    -------
    np.ndarray, shape (1 + n_fft // 2, frames), float32
    """
    y = np.asarray(y, dtype=np.float32)
    pad = n_fft // 2
    padded = np.zeros(y.size + 2 * pad + max(0, n_fft - (y.size + 2 * pad)), dtype=np.float32)
    padded[pad : pad + y.size] = y  # np.pad does the same with ten times the overhead
    y = padded
    n_frames = 1 + (y.size - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n_frames, n_fft), strides=(y.strides[0] * hop_length, y.strides[0]), writeable=False
    )
    # scipy's FFT keeps float32 and is several times faster than numpy's on short frames
    spec = scipy.fft.rfft(frames * _hann(n_fft), axis=1)
    return np.ascontiguousarray((spec.real**2 + spec.imag**2).T, dtype=np.float32)


def mfcc(*, y, sr, n_mfcc=12, n_mels=24, n_fft=400, hop_length=160):
    """MFCCs as ``librosa.feature.mfcc`` computes them.

    Returns
    -------
    np.ndarray, shape (n_mfcc, frames), float32
    """
    mel = _mel_basis(sr, n_fft, n_mels) @ power_spectrogram(y=y, n_fft=n_fft, hop_length=hop_length)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return scipy.fft.dct(db, axis=0, type=2, norm="ortho")[:n_mfcc].astype(np.float32)


def deltas(*, m):
    """Stack ``m`` with its first and second deltas (librosa, width 9, interp).

    Parameters
    ----------
    m : np.ndarray, shape (n, frames)

    Returns
    -------
    np.ndarray, shape (3n, frames), float32
    """
    return np.concatenate([m, _delta(m, 1), _delta(m, 2)], axis=0)


def spectral_summary(*, y, sr, n_fft=2048, hop_length=512):
    """Mean spectral centroid (Hz), zero-crossing rate and RMS energy.

    Matches ``librosa.feature.spectral_centroid``, ``zero_crossing_rate`` and
    ``rms`` averaged over frames.

    Returns
    -------
    np.ndarray, shape (3,), float32
    """
    import librosa

    s = np.sqrt(power_spectrogram(y=y, n_fft=n_fft, hop_length=hop_length))
    centroid = librosa.feature.spectral_centroid(S=s, sr=sr, n_fft=n_fft, hop_length=hop_length)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length)
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length)
    return np.array([centroid.mean(), zcr.mean(), rms.mean()], dtype=np.float32)


def resize_area(img, *, shape):
    """Resize a 2-D array by area averaging (anti-aliased when shrinking).

    Returns
    -------
    np.ndarray, shape ``shape``, float32
    """
    out = np.asarray(img, dtype=np.float64)
    for axis, n_out in enumerate(shape):
        out = _resize_axis(out, n_out, axis)
    return out.astype(np.float32)


def _resize_axis(a, n_out, axis):
    n_in = a.shape[axis]
    if n_in == n_out:
        return a
    a = np.moveaxis(a, axis, 0)
    if n_out > n_in:  # enlarge: linear interpolation between cell centres
        pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        pos = np.clip(pos, 0, n_in - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        w = (pos - lo)[:, None] if a.ndim > 1 else pos - lo
        res = a[lo] * (1 - w) + a[hi] * w
    else:  # shrink: exact average over each output cell's span
        csum = np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a, axis=0)])
        edges = np.arange(n_out + 1) * n_in / n_out
        lo_i = np.floor(edges).astype(int)
        frac = (edges - lo_i)[:, None] if a.ndim > 1 else edges - lo_i
        nxt = np.minimum(lo_i + 1, n_in)
        area = csum[lo_i] + (csum[nxt] - csum[lo_i]) * frac
        res = (area[1:] - area[:-1]) / (n_in / n_out)
    return np.moveaxis(res, 0, axis)


def logmel_image(*, y, sr, n_mels=128, n_fft=2048, hop_length=512, size=128):
    """Mel spectrogram in dB (``ref=max``) resized to ``size``×``size``.

    Returns
    -------
    np.ndarray, shape (size, size), float32, values in [-80, 0] dB
    """
    mel = _mel_basis(sr, n_fft, n_mels) @ power_spectrogram(y=y, n_fft=n_fft, hop_length=hop_length)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10) / max(float(mel.max()), 1e-10))
    db = np.maximum(db, -80.0)
    return resize_area(db, shape=(size, size))


def compute_raw(*, y, sr, config):
    """A clip's features before fixing the frame count.

    Runs on dataset files and microphone takes alike: trims (when configured)
    and computes. ``y`` must already be at ``config.sr`` (see :func:`prepare_signal`).

    Returns
    -------
    np.ndarray: (3·n_mfcc, frames) for mfcc-full; (n_mfcc,) mfcc-mean;
    (12·n_mfcc,) mfcc-stats; (3,) spectral; (size, size) logmel-128.
    """
    n_fft, hop = config.frame_sizes(sr)
    name = config.name
    if name == "spectral":
        return spectral_summary(y=y, sr=sr, n_fft=config.n_fft or 2048, hop_length=config.hop_length or 512)
    if name == "logmel-128":
        return logmel_image(y=y, sr=sr, n_mels=config.n_mels, n_fft=n_fft, hop_length=hop, size=config.image_size)
    m = mfcc(y=y, sr=sr, n_mfcc=config.n_mfcc, n_mels=config.n_mels, n_fft=n_fft, hop_length=hop)
    if name == "mfcc-mean":
        return m.mean(axis=1)
    full = deltas(m=m)
    if name == "mfcc-full":
        return full
    return np.concatenate([full.mean(axis=1), full.std(axis=1), full.min(axis=1), full.max(axis=1)])


def prepare_signal(y, sr, config, *, path="<signal>"):
    """Cut, check, resample and trim a signal exactly as dataset files are.

    Returns
    -------
    y : np.ndarray float32 at ``config.sr`` (or ``sr`` when config.sr is None)
    sr : int
    """
    y = to_mono(y)
    if config.max_seconds is not None:
        y = y[: int(round(config.max_seconds * sr))]
    check_signal(y, path=path)
    return _resample_and_trim(y, sr, config)


def _resample_and_trim(y, sr, config):
    """The part of :func:`prepare_signal` after the cut and the checks."""
    if config.sr is not None and config.sr != sr:
        y, sr = resample(y, sr_from=sr, sr_to=config.sr), config.sr
    if config.trim_db is not None:
        y, _ = trim_silence(y, top_db=config.trim_db, sr=sr)
    return y, sr


def features_of_signal(y, sr, config):
    """Final feature vector (or image) of one signal, as the model sees it.

    Requires ``config.n_frames`` for mfcc-full (set when a model is trained).
    """
    y, sr = prepare_signal(y, sr, config)
    return finalize([compute_raw(y=y, sr=sr, config=config)], config)[0][0]


def features_of_file(path, config):
    """Raw features of one file (see :func:`compute_raw`); raises AudioFileError."""
    # load_audio mono-mixes, cuts to max_seconds and checks, as prepare_signal does
    y, sr = load_audio(path, sr=None, max_seconds=config.max_seconds)
    y, sr = _resample_and_trim(y, sr, config)
    if y.size == 0:
        raise AudioFileError(path, "nothing left after trimming silence")
    return compute_raw(y=y, sr=sr, config=config)


def finalize(raws, config):
    """Turn raw per-clip features into a model input matrix.

    For ``mfcc-full`` the frame count is fixed to ``config.n_frames`` or, when
    that is None, to the longest clip (the seed's choice); shorter clips are
    zero-padded at the end, longer ones cut. With ``frames="resize"`` every
    clip is stretched in time to ``n_frames`` (default 32) instead.

    Returns
    -------
    X : np.ndarray, shape (n, d) or (n, size, size) for logmel-128, float32
    config : FeatureConfig with ``n_frames`` set (mfcc-full)
    """
    if config.name != "mfcc-full":
        if not raws:
            return np.zeros((0,), np.float32), config
        return np.stack(raws).astype(np.float32, copy=False), config
    if config.frames == "resize":
        n_frames = config.n_frames or 32
    else:
        n_frames = config.n_frames or max((r.shape[1] for r in raws), default=1)
    config = dataclasses.replace(config, n_frames=int(n_frames))
    rows = raws[0].shape[0] if raws else 3 * config.n_mfcc
    X = np.zeros((len(raws), rows, n_frames), dtype=np.float32)
    for i, r in enumerate(raws):
        if config.frames == "resize":
            X[i] = resize_area(r, shape=(rows, n_frames))
        else:
            t = min(n_frames, r.shape[1])
            X[i, :, :t] = r[:, :t]
    return X.reshape(len(raws), rows * n_frames), config  # explicit: -1 fails when no clip is usable


# ----------------------------------------------------------------------------- extractor


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a progress callback receives."""

    done: int
    total: int
    files_per_second: float
    eta_seconds: float
    cache_hits: int


@dataclasses.dataclass
class Extraction:
    """Raw features per path (None where the file was skipped)."""

    raws: list
    skipped: list  # of datasets.Skipped
    cache_hits: int
    seconds: float


def _single_blas_thread():
    """Features multiply small matrices: extra BLAS threads only spin and, with
    several worker processes on few cores, make each product many times slower."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _worker_init():
    global _WORKER_LIMITS
    _WORKER_LIMITS = _single_blas_thread()  # kept for the life of the worker process


def _extract_chunk(paths, config):
    out = []
    for p in paths:
        try:
            out.append((True, features_of_file(p, config)))
        except AudioFileError as exc:
            out.append((False, exc.reason))
        except Exception as exc:  # a decoder crash in one file must not stop the rest
            out.append((False, f"cannot be processed ({exc.__class__.__name__}: {exc})"[:200]))
    return out


def default_jobs():
    return max(1, min(os.cpu_count() or 1, 8))


def extract(paths, config, *, progress=None, should_stop=None, n_jobs=None, cache=True):
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

    def report(force=False):
        now = time.perf_counter()
        if progress is None or (not force and now - last_report[0] < 0.1):
            return
        last_report[0] = now
        elapsed = max(now - t0, 1e-9)
        rate = done / elapsed
        eta = (n - done) / rate if rate > 0 else math.inf
        progress(Progress(done, n, rate, eta, hits))

    def stop_requested():
        return should_stop is not None and should_stop()

    new_results = {}

    def accept(indices, results):
        nonlocal done
        for i, (ok, value) in zip(indices, results):
            if ok:
                raws[i] = value
            else:
                reasons[i] = value
            new_results[paths[i]] = (ok, value)
        done += len(indices)

    report(force=True)
    n_jobs = default_jobs() if n_jobs is None else max(1, int(n_jobs))
    try:
        if todo and (n_jobs == 1 or len(todo) < 16):
            with _single_blas_thread():
                for i in todo:
                    if stop_requested():
                        raise Cancelled("Feature extraction stopped")
                    accept([i], _extract_chunk([paths[i]], config))
                    report()
        elif todo:
            _extract_parallel(todo, paths, config, n_jobs, accept, report, stop_requested)
    finally:
        if store is not None and new_results:
            store.put_many(key, new_results)
    report(force=True)
    skipped = [Skipped(paths[i], reasons[i]) for i in sorted(reasons)]
    return Extraction(raws, skipped, hits, time.perf_counter() - t0)


def _pool_context():
    import multiprocessing as mp

    # fork starts workers in milliseconds with librosa already imported; the
    # children only run NumPy/librosa code, never Qt or TensorFlow.
    methods = mp.get_all_start_methods()
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
    pool = cf.ProcessPoolExecutor(max_workers=n_jobs, mp_context=_pool_context(), initializer=_worker_init)
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
        pool.shutdown(wait=False, cancel_futures=True)


@dataclasses.dataclass
class FeatureSet:
    """Model-ready features for the usable items of a dataset."""

    X: np.ndarray
    labels: np.ndarray  # str labels, one per row of X
    items: list  # datasets.Item, one per row of X
    config: FeatureConfig
    skipped: list
    cache_hits: int
    seconds: float


def build_features(ds, config, *, progress=None, should_stop=None, n_jobs=None, cache=True):
    """Extract features for every item of a dataset; skipped files are listed.

    Returns
    -------
    FeatureSet, with ``config.n_frames`` fixed for mfcc-full.
    """
    ex = extract(ds.paths(), config, progress=progress, should_stop=should_stop, n_jobs=n_jobs, cache=cache)
    keep = [i for i, r in enumerate(ex.raws) if r is not None]
    X, config = finalize([ex.raws[i] for i in keep], config)
    items = [ds.items[i] for i in keep]
    labels = np.array([it.label for it in items], dtype=str)
    return FeatureSet(X, labels, items, config, list(ds.skipped) + ex.skipped, ex.cache_hits, ex.seconds)
