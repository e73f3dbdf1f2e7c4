"""Data augmentation for training clips: more voices from the same recordings.

A model trained on a few speakers learns their voices; perturbing the training
clips (never the validation or test clips) makes it see more of them:

``speed``   resample by a factor (Kaldi's speed perturbation): tempo, pitch
            and formants scale together, a cheap stand-in for a different
            vocal tract length.
``pitch``   shift the pitch by up to ± ``pitch_semitones`` with the tempo kept
            (librosa's phase vocoder; slower, off by default).
``shift``   up to ``shift_seconds`` of silence before the word (the start of a
            microphone take is never where a dataset clip starts).
``reverb``  a synthetic room: exponentially decaying noise with a random RT60
            convolved with the clip, mixed with the dry signal.
``gain``    ± ``gain_db`` of level.
``noise``   white noise at a random SNR between ``snr_db`` (dB, over the clip's RMS).
``vtlp``    vocal-tract-length perturbation (Jaitly & Hinton, 2013): the mel
            filterbank of the copy's features is read through a frequency warp
            by a factor drawn from ``vtlp`` (formants move, pitch and tempo do
            not; off by default). Only feature sets built on a mel filterbank
            (the MFCC sets, ``logmel-128``) use it.

Every copy is drawn from its own generator, seeded by ``seed``, the copy number
and the file path: the same settings give the same copies in every run and in
any order, and no global random state is touched (the GUI trains in a worker
thread). audiomentations was considered: installing it here would replace the
soxr the whole app resamples with (1.1 → 0.5), it draws from NumPy's global
random state, and its room simulation needs pyroomacoustics; these few NumPy
lines do what Digits needs.

Augmented copies are cached like dataset features but under their own key
(the feature settings *plus* the augmentation settings and the copy number),
so they can never be mistaken for a file's real features.
"""
from __future__ import annotations

import dataclasses
import json
import zlib

import numpy as np

from .errors import AudioFileError, Cancelled, SpeechLabError

AUGMENT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """How many perturbed copies of each training clip, and how they differ.

    Attributes
    ----------
    copies : augmented copies per training clip (the original is always kept); 0 = off
    speed : (low, high) speed factor, drawn uniformly; (1, 1) = off
    pitch_semitones : largest pitch shift either way (tempo kept); 0 = off
    shift_seconds : largest silence added before the word; 0 = off
    reverb_probability : share of copies given a synthetic room
    rt60 : (low, high) reverberation time in seconds
    gain_db : largest level change either way
    snr_db : (low, high) signal-to-noise ratio of added white noise; None = no noise
    seed : makes the copies reproducible
    vtlp : (low, high) warp factor of the vocal-tract-length perturbation; (1, 1) = off
    """

    copies: int = 2
    speed: tuple = (0.85, 1.15)
    pitch_semitones: float = 0.0
    shift_seconds: float = 0.1
    reverb_probability: float = 0.3
    rt60: tuple = (0.1, 0.5)
    gain_db: float = 6.0
    snr_db: tuple | None = (15.0, 40.0)
    seed: int = 0
    vtlp: tuple = (1.0, 1.0)

    @property
    def warps(self):
        return tuple(self.vtlp) != (1.0, 1.0)

    def __post_init__(self):
        def pair(name, lo, hi):
            value = getattr(self, name)
            try:
                a, b = (float(v) for v in value)
            except (TypeError, ValueError):
                raise SpeechLabError(f"Augmentation setting '{name}' must be two numbers (low, high)") from None
            if not (lo <= a <= b <= hi):
                raise SpeechLabError(f"Augmentation setting '{name}' must satisfy {lo:g} ≤ low ≤ high ≤ {hi:g}")
            object.__setattr__(self, name, (a, b))

        if isinstance(self.copies, bool) or not isinstance(self.copies, (int, np.integer)) or not 0 <= self.copies <= 20:
            raise SpeechLabError("Augmentation setting 'copies' must be a whole number from 0 to 20")
        pair("speed", 0.5, 2.0)
        pair("rt60", 0.0, 3.0)
        pair("vtlp", 0.7, 1.4)
        if self.snr_db is not None:
            pair("snr_db", -10.0, 100.0)
        for name, hi in (("pitch_semitones", 12.0), ("shift_seconds", 2.0), ("reverb_probability", 1.0),
                         ("gain_db", 40.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value <= hi:
                raise SpeechLabError(f"Augmentation setting '{name}' must be a number from 0 to {hi:g}")

    @property
    def enabled(self):
        return self.copies > 0

    def to_dict(self):
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise SpeechLabError("augmentation settings must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})

    def cache_key(self, feature_config, copy):
        """The cache key of copy number ``copy``: never equal to a real feature key."""
        augment = self.to_dict()
        if not self.warps:  # added later: settings without it keep their cached copies
            augment.pop("vtlp")
        if feature_config.max_rate is not None:  # copies are not cut to it (augmented_raw)
            augment["copies_full_band"] = True
        return json.dumps({"features": json.loads(feature_config.cache_key()), "augment": augment,
                           "copy": int(copy), "augment_version": AUGMENT_VERSION}, sort_keys=True)


def rng_for(seed, copy, path):
    """The generator of one copy of one file: independent of order and of any global state."""
    return np.random.default_rng([int(seed), int(copy), zlib.crc32(str(path).encode("utf-8"))])


def speed_perturb(*, y, factor):
    """Play ``y`` ``factor`` times faster (pitch and formants up by the same factor).

    Returns
    -------
    np.ndarray, shape (≈ n / factor,), float32
    """
    from .audio import resample

    if abs(factor - 1.0) < 1e-6:
        return np.asarray(y, dtype=np.float32)
    # resample from a notional rate of 10000·factor to 10000: the same samples, fewer of them
    return resample(y, sr_from=int(round(10000 * factor)), sr_to=10000)


def room_impulse(*, sr, rt60, rng):
    """A synthetic room impulse response: direct path + exponentially decaying noise.

    Returns
    -------
    np.ndarray, shape (≈ rt60 · sr,), float32, direct path = 1
    """
    n = max(2, int(rt60 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / max(rt60, 1e-3))  # -60 dB at rt60
    tail[0] = 0.0
    tail *= 0.5 / max(np.sqrt(np.sum(tail**2)), 1e-9)  # reverberant energy a quarter of the direct path's
    tail[0] = 1.0
    return tail.astype(np.float32)


def perturb(*, y, sr, config, rng):
    """One augmented copy of a mono signal.

    Parameters
    ----------
    y : np.ndarray (n,), float32, at rate ``sr``
    config : AugmentConfig
    rng : np.random.Generator

    Returns
    -------
    np.ndarray, float32 (the length changes with speed, shift and reverberation)
    """
    from scipy.signal import fftconvolve

    y = np.asarray(y, dtype=np.float32)
    lo, hi = config.speed
    if hi > lo or lo != 1.0:
        y = speed_perturb(y=y, factor=float(rng.uniform(lo, hi)))
    if config.pitch_semitones > 0:
        import librosa

        steps = float(rng.uniform(-config.pitch_semitones, config.pitch_semitones))
        y = librosa.effects.pitch_shift(y, sr=sr, n_steps=steps).astype(np.float32)
    if config.shift_seconds > 0:
        y = np.concatenate([np.zeros(int(rng.uniform(0, config.shift_seconds) * sr), np.float32), y])
    if config.reverb_probability > 0 and rng.random() < config.reverb_probability:
        ir = room_impulse(sr=sr, rt60=float(rng.uniform(*config.rt60)), rng=rng)
        y = fftconvolve(y, ir)[: y.size + ir.size // 2].astype(np.float32)
    if config.gain_db > 0:
        y = y * np.float32(10.0 ** (rng.uniform(-config.gain_db, config.gain_db) / 20.0))
    if config.snr_db is not None:
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        snr = float(rng.uniform(*config.snr_db))
        y = y + (rng.standard_normal(y.size) * rms * 10.0 ** (-snr / 20.0)).astype(np.float32)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:  # a microphone clips; the features must not see values no file can hold
        y = y / np.float32(peak)
    return y


def augmented_raw(path, feature_config, config, copy):
    """Raw features (as :func:`core.features.features_of_file`) of one augmented copy of a file."""
    from .audio import load_audio
    from .features import _raw_windows, compute_raw, prepare_signal

    sr_target = feature_config.sr
    y, sr = load_audio(path, sr=sr_target, max_seconds=feature_config.max_seconds)
    rng = rng_for(config.seed, copy, path)
    y = perturb(y=y, sr=sr, config=config, rng=rng)
    # drawn after the signal's perturbations, and only when on: copies without it stay as they were
    warp = float(rng.uniform(*config.vtlp)) if config.warps else 1.0
    # the clip itself is as the dataset holds it; its perturbations (noise, a faster voice) may reach above the
    # dataset's bandwidth, and keeping them there teaches the model to ignore that band (measured better,
    # benchmarks/bandwidth.py), so the copy is not cut to ``max_rate`` again
    y, sr = prepare_signal(y, sr, dataclasses.replace(feature_config, max_rate=None), path=str(path))
    if feature_config.window_seconds is not None:
        return _raw_windows(y, sr, feature_config, warp)[0]
    return compute_raw(y=y, sr=sr, config=feature_config, warp=warp)


def augmented_rows(fs, rows, config, *, progress=None, should_stop=None, cache=True):
    """The training rows of a FeatureSet plus ``config.copies`` augmented copies of each of their clips.

    Parameters
    ----------
    fs : core.extraction.FeatureSet (its ``config`` has the frame count fixed)
    rows : np.ndarray of row indices into ``fs`` (the training side of a split)
    config : AugmentConfig
    progress : callable(core.extraction.Progress) or None
    should_stop : callable() -> bool or None; polled between files (raises Cancelled)
    cache : bool or FeatureCache

    Returns
    -------
    X : np.ndarray, the original rows first, then the copies (same feature shape as ``fs.X``)
    y : np.ndarray of str labels
    groups : np.ndarray, every copy in the group of the clip it came from, so a
        validation hold-out by group never sees a copy of a clip it trains on
    n_failed : copies that could not be made (too short after the perturbation, ...)
    """
    import time

    from .cache import FeatureCache
    from .extraction import Progress
    from .features import finalize

    rows = np.asarray(rows, dtype=int)
    X, y, groups = [fs.X[rows]], [fs.labels[rows]], [fs.groups[rows]]
    if not config.enabled or rows.size == 0:
        return X[0], y[0], groups[0], 0
    clip_ids, first = np.unique(fs.groups[rows], return_index=True)
    clip_rows = rows[first]
    store = FeatureCache.default() if cache is True else (cache or None)
    total = len(clip_rows) * config.copies
    done, failed, t0, last = 0, 0, time.perf_counter(), 0.0
    for copy in range(config.copies):
        key = config.cache_key(fs.config, copy)
        paths = [fs.items[r].path for r in clip_rows]
        found = store.get_many(key, paths) if store is not None else {}
        new = {}
        raws, keep = [], []
        for clip, r, path in zip(clip_ids, clip_rows, paths):
            if should_stop is not None and should_stop():
                if store is not None and new:
                    store.put_many(key, new)
                raise Cancelled("Augmentation stopped")
            if path in found:
                ok, value = found[path]
            else:
                try:
                    value = augmented_raw(path, fs.config, config, copy)
                    ok = bool(np.all(np.isfinite(value)))
                    if not ok:
                        value = "not finite"
                except AudioFileError as exc:
                    ok, value = False, exc.reason
                new[path] = (ok, value)
            done += 1
            if ok:
                windows = list(value) if fs.config.window_seconds is not None else [value]
                raws.extend(windows)
                keep.extend([(clip, fs.labels[r])] * len(windows))
            else:
                failed += 1
            now = time.perf_counter()
            if progress is not None and (now - last > 0.1 or done == total):
                last = now
                rate = done / max(now - t0, 1e-9)
                progress(Progress(done, total, rate, (total - done) / rate if rate > 0 else 0.0, 0))
        if store is not None and new:
            store.put_many(key, new)
        if raws:
            Xc, _ = finalize(raws, fs.config)
            X.append(Xc.reshape((len(raws),) + fs.X.shape[1:]))
            groups.append(np.array([c for c, _ in keep], dtype=fs.groups.dtype))
            y.append(np.array([lab for _, lab in keep], dtype=fs.labels.dtype))
    return np.concatenate(X), np.concatenate(y), np.concatenate(groups), failed
