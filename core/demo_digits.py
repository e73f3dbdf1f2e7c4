"""The digits demo: the words "zero" to "nine" spoken by espeak-ng voices.

The clips are shipped in ``resources/demo/digits/{digit}_{speaker}_{index}.flac``
(8 kHz mono like FSDD); :func:`build_digits_demo` (``python -m core.demo
build-digits``) is how they were made. Another espeak-ng or sox version
makes slightly different samples, so :func:`regeneration_report`
(``python -m core.demo verify-digits``) compares a rebuild with the shipped
files for whoever needs bit-exact data; the test suite checks what holds on
every machine (names, lengths, levels, and that a model still recognises
the digits).
"""
from __future__ import annotations

import concurrent.futures
import io
import pathlib
import re
import subprocess
import zlib

import numpy as np
import soundfile as sf

from .errors import SpeechLabError

DEMO_DIGITS_DIR = pathlib.Path(__file__).resolve().parents[1] / "resources" / "demo" / "digits"

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_SR = 8000

# (speaker name in file names, espeak-ng voice+variant, base pitch 0-99).
# Accent, formant set (variant) and pitch all differ, so the voices stay apart
# in MFCC space the way different people do.
DIGIT_VOICES = (
    ("uswhisper", "en-us+whisperf", 50),
    ("usstorm", "en-us+Storm", 50),
    ("ussteph", "en-us+steph", 50),
    ("usf3", "en-us+f3", 70),
    ("usklatt2", "en-us+klatt2", 60),
    ("gbklatt3", "en-gb+klatt3", 50),
    ("rpf1", "en-gb-x-rp+f1", 35),
    ("caribandy", "en-029+Andy", 50),
    ("lancf5", "en-gb-x-gbclan+f5", 65),
    ("nycm7", "en-us-nyc+m7", 25),
)
# One (words per minute, pitch offset) per take; its position is the index in the file name.
DIGIT_TAKES = ((135, -6), (170, 6), (205, 0))
# Background noise, drawn per clip from a seeded generator.
DIGITS_SNR_DB = (12.0, 32.0)
DIGITS_SEED = 2024
# Silence kept before and after the word after trimming.
_MARGIN_S = 0.05


def _espeak(*, text, voice, speed, pitch):
    """Speak ``text`` with espeak-ng; returns (float32 samples, sample rate)."""
    try:
        proc = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
            capture_output=True, check=True, timeout=30,
        )
    except FileNotFoundError:
        raise SpeechLabError(
            "espeak-ng is not installed; install it (apt install espeak-ng) to build the digits demo"
        ) from None
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.decode(errors="replace").strip()
        raise SpeechLabError(f"espeak-ng failed for voice {voice!r}: {reason}") from None
    y, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return y, int(sr)


def _noise(n, *, rng):
    """Background noise of unit RMS, shape (n,): white with a random low-frequency tilt."""
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size) / max(spec.size - 1, 1)
    # Between white (0) and brown-ish (1.5): rooms, fans and hiss differ.
    spec /= np.maximum(f, 0.01) ** rng.uniform(0.0, 1.5)
    y = np.fft.irfft(spec, n)
    return y / np.sqrt(np.mean(y**2))


def synth_digit(*, digit, voice, pitch, speed, seed):
    """One spoken digit as a demo clip.

    Parameters
    ----------
    digit : int, 0..9
    voice : str, espeak-ng voice (``en-us+f3``)
    pitch : int, 0..99 ; speed : int, words per minute
    seed : int, seeds the noise level and colour

    Returns
    -------
    np.ndarray, shape (n,), float32 at :data:`DIGITS_SR`, peak below 1
    """
    from .audio import resample, trim_silence

    y, sr = _espeak(text=DIGIT_WORDS[digit], voice=voice, speed=speed, pitch=pitch)
    y = resample(y, sr_from=sr, sr_to=DIGITS_SR)
    _, (start, end) = trim_silence(y, top_db=40.0, sr=DIGITS_SR)
    margin = int(_MARGIN_S * DIGITS_SR)
    y = y[max(0, start - margin):end + margin].astype(np.float64)
    rng = np.random.default_rng(seed)
    y *= 10 ** (rng.uniform(-14.0, -8.0) / 20) / np.abs(y).max()
    speech_rms = np.sqrt(np.mean(y**2))
    y += _noise(y.size, rng=rng) * speech_rms * 10 ** (-rng.uniform(*DIGITS_SNR_DB) / 20)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def digit_clip_specs():
    """Every clip of the digits demo: (file name, keyword arguments of :func:`synth_digit`).

    Returns
    -------
    list of (str, dict), 10 digits x len(DIGIT_VOICES) x len(DIGIT_TAKES) entries
    """
    specs = []
    for digit in range(10):
        for speaker, voice, base_pitch in DIGIT_VOICES:
            for take, (speed, pitch_offset) in enumerate(DIGIT_TAKES):
                name = f"{digit}_{speaker}_{take}.flac"
                # crc32, not hash(): the same name must give the same noise in every run.
                seed = zlib.crc32(f"{DIGITS_SEED}:{name}".encode())
                pitch = base_pitch + pitch_offset
                specs.append((name, dict(digit=digit, voice=voice, pitch=pitch, speed=speed, seed=seed)))
    return specs


def build_digits_demo(out_dir=DEMO_DIGITS_DIR, *, workers=2):
    """Write the digits demo (:func:`digit_clip_specs`) as 16-bit FLAC files.

    Files already in ``out_dir`` that are named like demo clips are replaced;
    nothing else there is touched.

    Returns
    -------
    list of pathlib.Path, the files written (sorted)
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.flac"):
        if re.fullmatch(r"\d_[^_]+_\d+", old.stem):
            old.unlink()

    def make(spec):
        name, kwargs = spec
        sf.write(out_dir / name, synth_digit(**kwargs), DIGITS_SR, format="FLAC", subtype="PCM_16")
        return out_dir / name

    # espeak-ng runs as a subprocess, so threads overlap its work.
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return sorted(pool.map(make, digit_clip_specs()))


def regeneration_report(folder=DEMO_DIGITS_DIR, *, names=None):
    """Synthesize clips again and compare them with the ones in ``folder``.

    Parameters
    ----------
    names : iterable of str, optional
        File names to check (default: every clip of :func:`digit_clip_specs`).

    Returns
    -------
    list of (name, max_abs_difference_in_int16_steps or None when missing, shipped_samples, fresh_samples)
    """
    folder = pathlib.Path(folder)
    specs = dict(digit_clip_specs())
    rows = []
    for name in names or sorted(specs):
        fresh = np.round(synth_digit(**specs[name]) * 32767).astype(np.int64)
        path = folder / name
        if not path.is_file():
            rows.append((name, None, 0, fresh.size))
            continue
        shipped, _ = sf.read(path, dtype="int16")
        n = min(shipped.size, fresh.size)
        diff = int(np.abs(shipped[:n].astype(np.int64) - fresh[:n]).max()) if n else 0
        if shipped.size != fresh.size:
            diff = max(diff, 32767)
        rows.append((name, diff, shipped.size, fresh.size))
    return rows
