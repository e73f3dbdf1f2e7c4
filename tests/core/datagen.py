"""Write small, real audio folders for the tests.

Every clip is a real WAV written by soundfile. A clip's pitch depends on its
class (and a little on its speaker), so classes differ in every feature the
project computes. The layouts copy the real datasets:

* ``digits_nested``: AudioMNIST, ``data/<speaker>/<digit>_<speaker>_<index>.wav``
* ``digits_flat``: FSDD, ``<digit>_<speaker>_<index>.wav`` in one folder
* ``genres_tree``: GTZAN, ``Data/genres_original/<genre>/<genre>.000NN.wav``
  beside ``Data/images_original/<genre>/*.png``
* ``speakers_tree``: the speaker set, ``16000_pcm_speeches/<Name>/<n>.wav``
  with the ``_background_noise_`` and ``other`` noise folders

:func:`add_bad_files` adds the files a real download contains and the loader
must cope with (corrupt, empty, not audio, stereo 44.1 kHz, 30 s, silent).
"""
from __future__ import annotations

import pathlib

import numpy as np
import soundfile as sf

BAD_KINDS = ("corrupt", "empty", "text", "stereo", "long", "silent")
# Of the bad files, these can and must be used; the others are skipped.
USABLE_BAD_KINDS = ("stereo", "long")


def class_signal(*, cls, sr, seconds=0.5, speaker=0, seed=0):
    """A clip whose pitch is set by ``cls``: a harmonic tone, a chirp and a noise burst.

    Parameters
    ----------
    cls : int
        Class index; the fundamental is 150 Hz + 90 Hz per class.
    speaker : int
        Shifts the pitch by 3 % per speaker and changes the noise, as voices do.

    Returns
    -------
    np.ndarray, shape (round(seconds * sr),), float32, peak about 0.5
    """
    rng = np.random.default_rng([seed, cls, speaker])
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0 = (150.0 + 90.0 * cls) * (1.0 + 0.03 * speaker)
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
    # A rising chirp over the clip, one octave above the fundamental.
    y = y + 0.3 * np.sin(2 * np.pi * (2 * f0 * t + 0.5 * f0 * t**2 / max(seconds, 1e-3)))
    # A short noise burst whose place in the clip also depends on the class.
    start = int(n * (0.1 + 0.05 * (cls % 10)))
    burst = slice(start, min(n, start + n // 10))
    y[burst] += 0.4 * rng.standard_normal(y[burst].size)
    # Fade in and out so clips start and end quietly, like cut recordings.
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    y = y * fade + 0.003 * rng.standard_normal(n)
    return (0.5 * y / max(np.max(np.abs(y)), 1e-9)).astype(np.float32)


def write_wav(path, y, *, sr):
    """Write ``y`` (n,) or (n, channels) as 16-bit PCM WAV, creating folders; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype="PCM_16")
    return path


def digits_nested(root, *, digits=range(10), speakers=("01", "02", "03"), per_speaker=2, sr=8000, seconds=0.4):
    """AudioMNIST layout under ``root/data``; returns that ``data`` folder."""
    data = pathlib.Path(root) / "data"
    for s, spk in enumerate(speakers):
        for d in digits:
            for i in range(per_speaker):
                y = class_signal(cls=d, sr=sr, seconds=seconds, speaker=s, seed=i)
                write_wav(data / spk / f"{d}_{spk}_{i}.wav", y, sr=sr)
    return data


def digits_flat(root, *, digits=range(10), speakers=("alice", "bob", "carol"), per_speaker=2, sr=8000,
                seconds=0.4):
    """FSDD layout: every ``{digit}_{speaker}_{index}.wav`` in ``root``; returns ``root``."""
    root = pathlib.Path(root)
    for s, spk in enumerate(speakers):
        for d in digits:
            for i in range(per_speaker):
                y = class_signal(cls=d, sr=sr, seconds=seconds, speaker=s, seed=i)
                write_wav(root / f"{d}_{spk}_{i}.wav", y, sr=sr)
    return root


def genres_tree(root, *, genres=("blues", "jazz", "rock"), per_genre=3, sr=22050, seconds=1.0):
    """GTZAN layout under ``root/Data``; returns that ``Data`` folder.

    ``images_original`` holds one PNG per genre, which the scanner must ignore.
    """
    data = pathlib.Path(root) / "Data"
    for g, genre in enumerate(genres):
        for i in range(per_genre):
            y = class_signal(cls=g, sr=sr, seconds=seconds, seed=i)
            write_wav(data / "genres_original" / genre / f"{genre}.{i:05d}.wav", y, sr=sr)
        png = data / "images_original" / genre / f"{genre}00000.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    return data


def speakers_tree(root, *, speakers=("Alice_Smith", "Bob_Jones", "Carol_King"), per_speaker=3, sr=16000,
                  seconds=1.0, noise_files=2):
    """Speaker-set layout under ``root/16000_pcm_speeches``; returns that folder.

    The ``_background_noise_`` and ``other`` folders hold noise, not speakers.
    """
    top = pathlib.Path(root) / "16000_pcm_speeches"
    for s, name in enumerate(speakers):
        for i in range(per_speaker):
            y = class_signal(cls=s, sr=sr, seconds=seconds, speaker=s, seed=i)
            write_wav(top / name / f"{i}.wav", y, sr=sr)
    rng = np.random.default_rng(7)
    for folder in ("_background_noise_", "other"):
        for i in range(noise_files):
            write_wav(top / folder / f"noise{i}.wav", (0.2 * rng.standard_normal(int(sr * seconds))).astype(np.float32),
                      sr=sr)
    return top


def add_bad_files(folder, *, names, cls=0, sr=8000):
    """Write the problem files a real dataset holds into ``folder``.

    Parameters
    ----------
    names : dict kind -> file name, for every kind in :data:`BAD_KINDS`
        (the caller picks names its layout accepts).
    cls : int
        Class whose pitch the usable ones (stereo, long) carry.

    Returns
    -------
    dict kind -> pathlib.Path
        ``corrupt``: a RIFF/WAVE header followed by garbage; ``empty``: 0 bytes;
        ``text``: a text file named ``.wav``; ``stereo``: 2 channels at 44.1 kHz
        (usable); ``long``: 30 s (usable); ``silent``: all zeros.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / names[kind] for kind in BAD_KINDS}
    garbage = np.random.default_rng(3).bytes(4000)
    paths["corrupt"].write_bytes(b"RIFF" + (len(garbage) + 4).to_bytes(4, "little") + b"WAVE" + garbage)
    paths["empty"].write_bytes(b"")
    paths["text"].write_text("This is a text file, not a recording.\n")
    write_wav(paths["stereo"], stereo_signal(cls=cls, sr=44100), sr=44100)
    write_wav(paths["long"], class_signal(cls=cls, sr=sr, seconds=30.0, seed=99), sr=sr)
    write_wav(paths["silent"], np.zeros(sr // 2, np.float32), sr=sr)
    return paths


def stereo_signal(*, cls, sr, seconds=0.5):
    """Two different channels (the right one quieter, with other noise); shape (n, 2), float32."""
    left = class_signal(cls=cls, sr=sr, seconds=seconds, seed=1)
    right = 0.5 * class_signal(cls=cls, sr=sr, seconds=seconds, seed=2)
    return np.stack([left, right], axis=1)


def coded_bad_names(*, speaker, digit=3):
    """File names in the ``{digit}_{speaker}_{index}.wav`` pattern for each bad kind."""
    return {kind: f"{digit}_{speaker}_{90 + i}.wav" for i, kind in enumerate(BAD_KINDS)}


def genre_bad_names(*, genre):
    """File names in the GTZAN pattern for each bad kind."""
    return {kind: f"{genre}.{90 + i:05d}.wav" for i, kind in enumerate(BAD_KINDS)}
