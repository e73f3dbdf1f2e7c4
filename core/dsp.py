"""Spectral building blocks shared by the feature sets and the pretrained encoders (NumPy, SciPy)."""
from __future__ import annotations

import functools

import numpy as np

SILENCE_DB = -120.0


def level_dbfs(block: np.ndarray) -> float:
    """RMS level of ``block`` in dBFS (full scale = 1.0), floored at -120."""
    block = np.asarray(block, dtype=np.float64)
    if block.size == 0:
        return SILENCE_DB
    rms = np.sqrt(np.mean(block * block))
    return float(max(SILENCE_DB, 20.0 * np.log10(rms + 1e-12)))


@functools.lru_cache(maxsize=32)
def mel_basis(sr, n_fft, n_mels):
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def vtlp_warp(freqs, *, alpha, nyquist, f_hi=4800.0):
    """Vocal-tract-length perturbation's frequency map (Jaitly & Hinton, 2013).

    Below a boundary the frequency axis is scaled by ``alpha``; above it a
    straight line joins the boundary to the Nyquist frequency, so that
    [0, nyquist] maps onto itself. ``alpha`` > 1 reads a spectrum as if its
    formants sat higher (a shorter vocal tract), < 1 lower.
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    f_hi = min(float(f_hi), 0.9 * nyquist)
    knee = f_hi * min(alpha, 1.0) / alpha
    upper = nyquist - (nyquist - f_hi * min(alpha, 1.0)) / (nyquist - knee) * (nyquist - freqs)
    return np.where(freqs <= knee, alpha * freqs, upper)


def warped_mel_basis(sr, n_fft, n_mels, alpha):
    """The mel filterbank read through :func:`vtlp_warp`: filter m's weight for FFT bin k is
    its weight at the warped frequency of bin k (linear interpolation between bins).
    ``alpha`` = 1 gives :func:`mel_basis` itself."""
    basis = mel_basis(sr, n_fft, n_mels)
    if abs(alpha - 1.0) < 1e-9:
        return basis
    bins = np.linspace(0.0, sr / 2.0, basis.shape[1])
    at = vtlp_warp(bins, alpha=float(alpha), nyquist=sr / 2.0)
    eye = np.eye(basis.shape[1], dtype=np.float64)
    spread = np.stack([np.interp(at, bins, eye[j]) for j in range(basis.shape[1])])  # (bins in, bins out)
    return (basis.astype(np.float64) @ spread).astype(np.float32)


@functools.lru_cache(maxsize=32)
def hann(n_fft):
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
    import scipy.fft  # SciPy loads when features are first computed, not at start-up

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
    spec = scipy.fft.rfft(frames * hann(n_fft), axis=1)
    return np.ascontiguousarray((spec.real**2 + spec.imag**2).T, dtype=np.float32)
