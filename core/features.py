"""Feature functions: pure, keyword-only, one clip at a time (the extractor
that runs them over a dataset, cached and in parallel, is :mod:`core.extraction`).

Every feature the seed uses, with the seed's parameters as defaults:

==============  ==============================================================
``mfcc-full``   12 MFCCs (25 ms window, 24 mel bands) stacked with Δ and ΔΔ:
                (36, frames), padded/cut to a fixed number of frames and
                flattened. The frame count is fixed from the training data
                (the longest clip, as the seed did) and saved with the model.
``mfcc-mean``   the MFCCs averaged over time.
``mfcc-stats``  mean, std, min and max over time of MFCC+Δ+ΔΔ.
``spectral``    mean spectral centroid, zero-crossing rate and RMS energy.
``logmel-128``  mel spectrogram in dB (``ref=max``) resized to ``image_size`` square
                (128 by default; the Digits task uses 32, Genres 64).
``music-stats`` mean and std over time of MFCCs, chroma, spectral centroid,
                rolloff and contrast, zero-crossing rate and RMS (the
                classic genre-classification summary; 2·(n_mfcc + 23) numbers).
``music-embedding``  the pretrained musicnn encoder's embedding (mean over
                3 s patches of its penultimate layer, 200 numbers, or of its
                pooled layer, 1506; ``embedding_layer``), :mod:`core.encoders`.
``voice-embedding``  the pretrained GE2E speaker encoder's embedding (1.6 s
                partials, mean, L2-normalised; 256 numbers).
``voice-mfcc``  both views of a voice side by side: the GE2E embedding (256)
                and the ``mfcc-stats`` of the same clip (12·n_mfcc). GE2E was
                trained on read English sentences; on one short word in
                another language the two make different errors, and together
                they name and reject voices far better than either
                (benchmarks/voice_encoder.py).
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

import numpy as np

from .audio import MIN_CLIP_SECONDS, check_signal, load_audio, resample, to_mono, trim_silence
from .dsp import hann as _hann, mel_basis as _mel_basis, power_spectrogram  # noqa: F401  (used here and by tests)
from .errors import AudioFileError, SpeechLabError

FEATURE_NAMES = ("mfcc-full", "mfcc-mean", "mfcc-stats", "spectral", "logmel-128", "music-stats", "music-embedding",
                 "voice-embedding", "voice-mfcc")
# Feature sets computed by a pretrained encoder (core.encoders): name -> encoder; they need 16 kHz.
ENCODER_FEATURES = {"music-embedding": "musicnn", "voice-embedding": "ge2e", "voice-mfcc": "ge2e"}
# Bump when a feature function changes so cached values are not reused.
FEATURE_VERSION = 1


# field -> (type, lowest, highest, None allowed): every setting is bounded, so a
# model file or a typo cannot ask for gigabytes (n_frames=10**9) or nonsense.
_BOUNDS = {
    "sr": (int, 1000, 384000, True),
    "n_mfcc": (int, 1, 128, False),
    "n_mels": (int, 1, 512, False),
    "win_ms": (float, 0.5, 1000.0, False),
    "hop_ms": (float, 0.1, 1000.0, False),
    "n_fft": (int, 16, 65536, True),
    "hop_length": (int, 1, 65536, True),
    "trim_db": (float, 1.0, 200.0, True),
    "max_seconds": (float, 0.01, 3600.0, True),
    "min_seconds": (float, 0.0, 60.0, False),
    "n_frames": (int, 1, 20000, True),
    "image_size": (int, 8, 1024, False),
    "window_seconds": (float, 0.1, 600.0, True),
    "window_overlap": (float, 0.0, 0.95, False),
    "highpass_hz": (float, 1.0, 1000.0, True),
    "max_rate": (int, 1000, 384000, True),
}
# With frames="pad" and no max_seconds, the padded frame count stops here.
MAX_PAD_FRAMES = 6000


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
    min_seconds : clips shorter than this (after trimming) are skipped as too short
    n_frames : fixed frame count for ``mfcc-full`` (None: set from the training data)
    frames : how ``mfcc-full`` reaches ``n_frames``: "pad" (zero-pad/cut, the
        seed's way) or "resize" (stretch each clip's frames in time to
        ``n_frames``, 32 by default: a slow and a fast speaker line up)
    image_size : side of the ``logmel-128`` image
    window_seconds : cut each clip into windows this long, one feature row per
        window (None: one row per whole clip). A 30 s song gives ten 3 s
        examples; a file's decision is the mean of its windows' probabilities,
        and every window of a file stays on one side of a split.
    window_overlap : fraction of a window shared with the next one (0 ≤ x < 1)
    embedding_layer : which layer of the music encoder ``music-embedding``
        averages: "penultimate" (200 numbers) or "pooled" (1506)
    highpass_hz : remove the DC offset and everything below this frequency
        before trimming (None: off). A constant offset (every clip of
        AudioMNIST_AZ sits at -0.085, i.e. -21 dBFS, as some microphones do)
        is louder than the speech's quiet parts, so without this trimming
        keeps the whole clip and the lowest mel band holds the offset.
    max_rate : a signal at a higher sample rate is first resampled down to this
        one (None: never). Training sets it to the training files' highest rate
        when that is below ``sr`` (:func:`bandwidth_of`): a model that learned
        8 kHz recordings (nothing above 4 kHz) then hears a 48 kHz microphone
        take up to 4 kHz too, as it heard its training clips.
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
    min_seconds: float = 0.0
    n_frames: int | None = None
    frames: str = "pad"
    image_size: int = 128
    window_seconds: float | None = None
    window_overlap: float = 0.0
    highpass_hz: float | None = None
    embedding_layer: str = "penultimate"
    max_rate: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or self.name not in FEATURE_NAMES:
            raise SpeechLabError(f"Unknown feature '{self.name}': choose one of {', '.join(FEATURE_NAMES)}")
        for field, (kind, lo, hi, optional) in _BOUNDS.items():
            value = getattr(self, field)
            if value is None and optional:
                continue
            ok_type = isinstance(value, (int, np.integer)) if kind is int else isinstance(value, (int, float, np.number))
            if isinstance(value, bool) or not ok_type or not np.isfinite(float(value)):
                what = "an integer" if kind is int else "a number"
                raise SpeechLabError(f"Feature setting '{field}' must be {what}" + (" or None" if optional else "")
                                     + f", not {value!r}")
            if not lo <= value <= hi:
                raise SpeechLabError(f"Feature setting '{field}' must be between {lo:g} and {hi:g}, not {value!r}")
        if self.frames not in ("pad", "resize"):
            raise SpeechLabError(f"Feature setting 'frames' must be pad or resize, not '{self.frames}'")
        if float(self.window_overlap) >= 0.95:
            raise SpeechLabError("Feature setting 'window_overlap' must be at least 0 and below 0.95")
        if self.embedding_layer not in ("penultimate", "pooled"):
            raise SpeechLabError(f"Feature setting 'embedding_layer' must be penultimate or pooled, "
                                 f"not {self.embedding_layer!r}")
        if self.name in ENCODER_FEATURES and self.sr != 16000:
            raise SpeechLabError(f"Feature '{self.name}' works at 16000 Hz (its encoder was trained so), "
                                 f"not sr={self.sr!r}")

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
        if d["highpass_hz"] is None:  # added later: settings without it keep their cached features
            d.pop("highpass_hz")
        if d["max_rate"] is None:  # added later, as highpass_hz
            d.pop("max_rate")
        if self.name != "music-embedding":  # added later, as highpass_hz
            d.pop("embedding_layer")
        d["version"] = FEATURE_VERSION
        return json.dumps(d, sort_keys=True)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict_checked(cls, d, *, source):
        """:meth:`from_dict` for untrusted input: every problem becomes one SpeechLabError naming ``source``."""
        try:
            return cls.from_dict(d)
        except SpeechLabError as exc:
            raise SpeechLabError(f"{source}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise SpeechLabError(f"{source}: malformed feature configuration ({exc})") from exc

    @classmethod
    def from_dict(cls, d):
        """Rebuild from :meth:`to_dict` output; anything malformed raises SpeechLabError naming the field."""
        if not isinstance(d, dict):
            raise SpeechLabError("feature configuration must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ----------------------------------------------------------------------------- pure functions


@functools.lru_cache(maxsize=16)
def _savgol_rows(width, order):
    """(width, width) matrix: row i gives the Savitzky–Golay derivative at
    position i of a ``width``-long signal (``mode="interp"``). The middle row
    is the interior kernel; the first/last half rows are the edge fits."""
    from scipy.signal import savgol_filter

    return savgol_filter(np.eye(width), window_length=width, polyorder=order, deriv=order,
                         axis=0, mode="interp").astype(np.float32)


def _delta(m, order, width=9):
    from scipy.ndimage import correlate1d  # SciPy loads when features are first computed, not at start-up

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


def _mel(sr, n_fft, n_mels, warp):
    from .dsp import warped_mel_basis

    return _mel_basis(sr, n_fft, n_mels) if warp == 1.0 else warped_mel_basis(sr, n_fft, n_mels, warp)


def mfcc(*, y, sr, n_mfcc=12, n_mels=24, n_fft=400, hop_length=160, warp=1.0):
    """MFCCs as ``librosa.feature.mfcc`` computes them.

    ``warp`` ≠ 1 reads the mel filterbank through a vocal-tract-length
    perturbation (:func:`core.dsp.vtlp_warp`; augmented copies only).

    Returns
    -------
    np.ndarray, shape (n_mfcc, frames), float32
    """
    import scipy.fft

    mel = _mel(sr, n_fft, n_mels, warp) @ power_spectrogram(y=y, n_fft=n_fft, hop_length=hop_length)
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


def music_summary(*, y, sr, n_mfcc=20, n_mels=128, n_fft=2048, hop_length=512):
    """Mean and standard deviation over frames of the usual genre descriptors.

    Per frame: ``n_mfcc`` MFCCs (as :func:`mfcc`), 12 chroma bins
    (``librosa.feature.chroma_stft`` with ``tuning=0``), spectral centroid,
    roll-off (85 %), 7 spectral-contrast bands, zero-crossing rate and RMS.

    Returns
    -------
    np.ndarray, shape (2 · (n_mfcc + 23),), float32: all means, then all stds
    """
    import librosa
    import scipy.fft

    power = power_spectrogram(y=y, n_fft=n_fft, hop_length=hop_length)
    mag = np.sqrt(power)
    mel = _mel_basis(sr, n_fft, n_mels) @ power
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    mfccs = scipy.fft.dct(db, axis=0, type=2, norm="ortho")[:n_mfcc]
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, tuning=0.0)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=sr, n_fft=n_fft)
    rolloff = librosa.feature.spectral_rolloff(S=mag, sr=sr, n_fft=n_fft)
    # six octave bands above fmin must stay below Nyquist at any rate
    fmin = min(200.0, 0.45 * sr / 2**6)
    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr, n_fft=n_fft, fmin=fmin, n_bands=6)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length, center=True)
    rms = librosa.feature.rms(S=mag, frame_length=n_fft)
    frames = min(m.shape[1] for m in (mfccs, chroma, centroid, rolloff, contrast, zcr, rms))
    stack = np.concatenate([m[:, :frames] for m in (mfccs, chroma, centroid / 1000.0, rolloff / 1000.0, contrast,
                                                    zcr, rms)], axis=0).astype(np.float64)
    return np.concatenate([stack.mean(axis=1), stack.std(axis=1)]).astype(np.float32)


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


def logmel_image(*, y, sr, n_mels=128, n_fft=2048, hop_length=512, size=128, warp=1.0):
    """Mel spectrogram in dB (``ref=max``) resized to ``size``×``size`` (``warp``: as :func:`mfcc`).

    Returns
    -------
    np.ndarray, shape (size, size), float32, values in [-80, 0] dB
    """
    mel = _mel(sr, n_fft, n_mels, warp) @ power_spectrogram(y=y, n_fft=n_fft, hop_length=hop_length)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10) / max(float(mel.max()), 1e-10))
    db = np.maximum(db, -80.0)
    return resize_area(db, shape=(size, size))


def feature_shape(config):
    """Shape of one clip's (or window's) final features, or None when it depends
    on the data (``mfcc-full`` padded to the longest clip before ``n_frames`` is set).

    The one place that knows each feature set's output size.
    """
    name = config.name
    if name == "mfcc-full":
        n_frames = config.n_frames or (32 if config.frames == "resize" else None)
        return (3 * config.n_mfcc * n_frames,) if n_frames else None
    if name == "mfcc-mean":
        return (config.n_mfcc,)
    if name == "mfcc-stats":
        return (12 * config.n_mfcc,)
    if name == "spectral":
        return (3,)
    if name == "logmel-128":
        return (config.image_size, config.image_size)
    if name == "music-stats":
        return (2 * (config.n_mfcc + 23),)  # see music_stats: MFCCs + 12 chroma + 11 spectral rows
    if name == "music-embedding":
        return (200,) if config.embedding_layer == "penultimate" else (1506,)
    if name == "voice-embedding":
        return (256,)
    if name == "voice-mfcc":
        return (256 + 12 * config.n_mfcc,)
    return None


def compute_raw(*, y, sr, config, warp=1.0):
    """A clip's features before fixing the frame count.

    Runs on dataset files and microphone takes alike: trims (when configured)
    and computes. ``y`` must already be at ``config.sr`` (see :func:`prepare_signal`).
    ``warp`` ≠ 1 (augmented copies only) perturbs the vocal tract length of the
    feature sets read through a mel filterbank (the MFCC sets and ``logmel-128``);
    the others do not use it.

    Returns
    -------
    np.ndarray: (3·n_mfcc, frames) for mfcc-full; (n_mfcc,) mfcc-mean;
    (12·n_mfcc,) mfcc-stats; (3,) spectral; (size, size) logmel-128;
    (2·(n_mfcc + 23),) music-stats; (256,) voice-embedding; (256 + 12·n_mfcc,) voice-mfcc.
    """
    n_fft, hop = config.frame_sizes(sr)
    name = config.name
    if name == "music-embedding":
        from .encoders import music_embedding

        return music_embedding(y, layer=config.embedding_layer)
    if name in ("voice-embedding", "voice-mfcc"):
        from .encoders import voice_embedding

        embedding = voice_embedding(y)
        if name == "voice-embedding":
            return embedding
        stats = compute_raw(y=y, sr=sr, config=dataclasses.replace(config, name="mfcc-stats"))
        return np.concatenate([embedding, stats]).astype(np.float32)
    if name == "spectral":
        return spectral_summary(y=y, sr=sr, n_fft=config.n_fft or 2048, hop_length=config.hop_length or 512)
    if name == "logmel-128":
        return logmel_image(y=y, sr=sr, n_mels=config.n_mels, n_fft=n_fft, hop_length=hop, size=config.image_size,
                            warp=warp)
    if name == "music-stats":
        return music_summary(y=y, sr=sr, n_mfcc=config.n_mfcc, n_mels=config.n_mels, n_fft=n_fft, hop_length=hop)
    m = mfcc(y=y, sr=sr, n_mfcc=config.n_mfcc, n_mels=config.n_mels, n_fft=n_fft, hop_length=hop, warp=warp)
    if name == "mfcc-mean":
        return m.mean(axis=1)
    full = deltas(m=m)
    if name == "mfcc-full":
        return full
    return np.concatenate([full.mean(axis=1), full.std(axis=1), full.min(axis=1), full.max(axis=1)])


def bandwidth_of(dataset, config):
    """``config`` with ``max_rate`` set to the dataset's highest sample rate when every file's rate is
    known and that is below ``config.sr`` (an 8 kHz dataset for 16 kHz features); else ``config``."""
    if config.sr is None or config.max_rate is not None or not dataset.items:
        return config
    rates = []
    for it in dataset.items:
        facts = dataset.info.get(it.path)
        if not facts:
            return config  # a file whose rate the scan did not read: do not guess
        rates.append(int(facts[1]))
    top = max(rates)
    return dataclasses.replace(config, max_rate=top) if top < config.sr else config


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
    y, sr = _resample_and_trim(y, sr, config)
    _check_length(y, sr, config, path)
    return y, sr


def _check_length(y, sr, config, path):
    if y.size == 0:
        raise AudioFileError(path, "nothing left after trimming silence")
    least = max(config.min_seconds, MIN_CLIP_SECONDS)  # extraction, prediction and augmentation alike
    if y.size < least * sr:
        raise AudioFileError(path, f"too short: {y.size / sr * 1000:.0f} ms of sound, at least "
                                   f"{least * 1000:.0f} ms needed")


def highpass(*, y, sr, cutoff_hz):
    """Remove the DC offset and the content below ``cutoff_hz`` (4th-order
    Butterworth, zero phase: the word is not shifted in time).

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    from scipy.signal import sosfilt

    y = np.asarray(y, dtype=np.float64)
    y = y - y.mean()  # the offset itself; the filter then only sees what is left
    if y.size > 30 and cutoff_hz < sr / 2:
        # scipy's sosfiltfilt(sos, y, padlen=…) step by step, with the filter's initial state computed once
        # per (cutoff, rate) instead of once per clip (that solve was a third of a cold extraction).
        sos, zi = _highpass_sos(float(cutoff_hz), int(sr))
        edge = min(y.size - 1, 3 * 16)
        ext = np.concatenate([2 * y[0] - y[edge:0:-1], y, 2 * y[-1] - y[-2:-(edge + 2):-1]])
        fwd, _ = sosfilt(sos, ext, zi=zi * ext[0])
        back, _ = sosfilt(sos, fwd[::-1], zi=zi * fwd[-1])
        y = back[::-1][edge:-edge]
    return y.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _highpass_sos(cutoff_hz, sr):
    """(sos, zi): the 4th-order Butterworth high-pass and its steady-state initial conditions."""
    from scipy.signal import butter, sosfilt_zi

    sos = butter(4, cutoff_hz, btype="highpass", fs=sr, output="sos")
    return sos, sosfilt_zi(sos)


def _resample_and_trim(y, sr, config):
    """The part of :func:`prepare_signal` after the cut and the checks."""
    if config.max_rate is not None and sr > config.max_rate:  # no more bandwidth than the training clips had
        y, sr = resample(y, sr_from=sr, sr_to=config.max_rate), config.max_rate
    if config.sr is not None and config.sr != sr:
        y, sr = resample(y, sr_from=sr, sr_to=config.sr), config.sr
    if config.highpass_hz is not None:
        y = highpass(y=y, sr=sr, cutoff_hz=float(config.highpass_hz))
    if config.trim_db is not None:
        y, _ = trim_silence(y, top_db=config.trim_db, sr=sr)
    return y, sr


def _raw_windows(y, sr, config, warp=1.0):
    """Raw features of every window of a prepared signal, stacked: (n_windows, ...),
    and the windows' (start, end) in seconds."""
    from .windows import window_ranges

    ranges = window_ranges(y.size, window=int(round(config.window_seconds * sr)), overlap=config.window_overlap)
    raws = np.stack([compute_raw(y=y[a:b], sr=sr, config=config, warp=warp) for a, b in ranges])
    return raws, [(a / sr, b / sr) for a, b in ranges]


def features_of_signal(y, sr, config):
    """Final feature vector (or image) of one signal, as the model sees it.

    Requires ``config.n_frames`` for mfcc-full (set when a model is trained).
    With ``config.window_seconds`` use :func:`window_features_of_signal`.
    """
    y, sr = prepare_signal(y, sr, config)
    return finalize([compute_raw(y=y, sr=sr, config=config)], config)[0][0]


def window_features_of_signal(y, sr, config):
    """Features of every window of a signal (a whole clip is one window when
    ``config.window_seconds`` is None).

    Returns
    -------
    X : np.ndarray, (n_windows, ...) as the model sees it
    spans : list of (start, end) in seconds of the prepared (trimmed) signal
    """
    y, sr = prepare_signal(y, sr, config)
    if config.window_seconds is None:
        return finalize([compute_raw(y=y, sr=sr, config=config)], config)[0], [(0.0, y.size / sr)]
    raws, spans = _raw_windows(y, sr, config)
    return finalize(list(raws), config)[0], spans


def features_of_file(path, config):
    """Raw features of one file (see :func:`compute_raw`); raises AudioFileError.

    With ``config.window_seconds`` the result is the windows' raw features
    stacked on a new first axis.
    """
    # load_audio mono-mixes, cuts to max_seconds and checks, as prepare_signal does
    y, sr = load_audio(path, sr=None, max_seconds=config.max_seconds)
    y, sr = _resample_and_trim(y, sr, config)
    _check_length(y, sr, config, path)
    if config.window_seconds is not None:
        return _raw_windows(y, sr, config)[0]
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
        n_frames = config.n_frames or min(MAX_PAD_FRAMES, max((r.shape[1] for r in raws), default=1))
    config = dataclasses.replace(config, n_frames=int(n_frames))
    rows = raws[0].shape[0] if raws else 3 * config.n_mfcc
    X = np.zeros((len(raws), rows, n_frames), dtype=np.float32)
    if config.frames == "resize":
        _resize_frames_into(X, raws)
    else:
        for i, r in enumerate(raws):
            t = min(n_frames, r.shape[1])
            X[i, :, :t] = r[:, :t]
    return X.reshape(len(raws), rows * n_frames), config  # explicit: -1 fails when no clip is usable


def _resize_frames_into(X, raws, *, chunk=4096):
    """``X[i] = resize_area(raws[i], shape=X.shape[1:])`` for every clip, in bulk.

    Resizing along time is linear, so clips with the same frame count share one
    (n_in × n_out) matrix and a chunk of them is one matrix product: 100,000
    clips take well under a second instead of ~10 s of per-clip calls.
    """
    rows, n_frames = X.shape[1:]
    by_length = {}
    for i, r in enumerate(raws):
        by_length.setdefault(r.shape[1], []).append(i)
    for n_in, idx in by_length.items():
        if raws[idx[0]].shape[0] != rows:  # an odd clip: the exact per-clip path
            for i in idx:
                X[i] = resize_area(raws[i], shape=(rows, n_frames))
            continue
        M = np.ascontiguousarray(_resize_axis(np.eye(n_in), n_frames, 0).T, dtype=np.float32)  # (n_in, n_frames)
        for start in range(0, len(idx), chunk):
            part = idx[start:start + chunk]
            stack = np.stack([raws[i] for i in part]).astype(np.float32, copy=False)
            X[part] = (stack.reshape(-1, n_in) @ M).reshape(len(part), rows, n_frames)  # one product per chunk
