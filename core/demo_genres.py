"""The genres demo: short synthetic pieces in six made-up "genres", written with NumPy.

``<folder>/<genre>/<genre>.000NN.wav`` (GTZAN layout), deterministic for a
given seed. :func:`ensure_genres_demo` writes it once into a folder (the
user data folder, see :func:`core.demo.demo_dataset`) and rebuilds it when
the generator changes.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
import uuid

import numpy as np
import soundfile as sf


GENRES = ("ambient", "classicalish", "jazzish", "reggaeish", "rock", "techno")
# Bump when the generator changes, so cached demo sets are rebuilt.
GENRES_VERSION = 1
# What demo_dataset("genres") makes: 72 clips, 19 MB, a few seconds.
GENRES_DEMO_SETTINGS = {"n_per_genre": 12, "seconds": 6.0, "sr": 22050, "seed": 0}
_GENRES_MARKER = ".speechlab-demo.json"
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69) / 12)


def _add(buf, x, start):
    """Mix ``x`` into ``buf`` from sample ``start`` on, cut at the end of ``buf``."""
    if start >= buf.size:
        return
    x = x[: buf.size - start]
    buf[start:start + x.size] += x


def _tone(f0, *, dur, sr, harmonics, attack=0.005, decay=None, release=0.05, vibrato=0.0, rng=None):
    """An additive note.

    Parameters
    ----------
    f0 : float, Hz
    dur : float, seconds the note sounds (plus ``release``)
    harmonics : np.ndarray, shape (k,), amplitude of harmonic 1..k
    attack, release : float, seconds of linear fade in / out
    decay : float or None, exponential decay time constant (plucked / struck)
    vibrato : float, relative depth of a ~5.5 Hz vibrato (strings)

    Returns
    -------
    np.ndarray, shape (round((dur + release) * sr),)
    """
    n = int((dur + release) * sr)
    t = np.arange(n) / sr
    phase = 2 * np.pi * f0 * t
    if vibrato:
        rate = 5.5 if rng is None else rng.uniform(4.8, 6.2)
        phase += vibrato * f0 / rate * np.sin(2 * np.pi * rate * t)
    # sin(k x) = 2 cos(x) sin((k-1) x) - sin((k-2) x): one np.sin for all
    # harmonics, the rest multiply-adds (several times faster).
    n_harm = min(harmonics.size, int(0.45 * sr / f0))  # no aliasing
    two_cos = 2 * np.cos(phase)
    prev, cur = np.zeros(n), np.sin(phase)
    y = harmonics[0] * cur
    for amp in harmonics[1:n_harm]:
        prev, cur = cur, two_cos * cur - prev
        y += amp * cur
    env = np.minimum(1.0, t / max(attack, 1e-4))
    env *= np.clip((dur + release - t) / release, 0.0, 1.0)
    if decay:
        env *= np.exp(-t / decay)
    return y * env


def _strum(notes, **tone):
    """Several MIDI notes struck together, each a :func:`_tone` with the same settings."""
    return sum(_tone(_hz(m), **tone) for m in notes)


def _saw(n_harm, tilt=1.0):
    """Harmonic amplitudes of a saw-like tone; ``tilt`` > 1 is darker."""
    return 1.0 / np.arange(1, n_harm + 1) ** tilt


def _kick(sr, rng):
    t = np.arange(int(0.35 * sr)) / sr
    f = rng.uniform(40, 55) + rng.uniform(80, 140) * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / rng.uniform(0.12, 0.25))


def _hiss(n, rng, *, high):
    """Noise, high-passed by differencing when ``high``."""
    x = rng.standard_normal(n + 1)
    return np.diff(x) / 2 if high else x[:n]


def _snare(sr, rng):
    t = np.arange(int(0.25 * sr)) / sr
    body = np.sin(2 * np.pi * rng.uniform(170, 230) * t) * np.exp(-t / 0.04)
    return 0.6 * body + 0.5 * _hiss(t.size, rng, high=True) * np.exp(-t / rng.uniform(0.05, 0.1))


def _hat(sr, rng, *, length=0.06):
    t = np.arange(int(length * sr)) / sr
    return 0.3 * _hiss(t.size, rng, high=True) * np.exp(-t / (length / 3))


def _ride(sr, rng):
    t = np.arange(int(0.7 * sr)) / sr
    partials = rng.uniform(3000, 7500, size=6)
    metal = np.sin(2 * np.pi * np.outer(partials, t)).sum(axis=0) / 6
    return 0.25 * (metal + 0.5 * _hiss(t.size, rng, high=True)) * np.exp(-t / rng.uniform(0.25, 0.45))


def _reverb(y, *, sr, rng, seconds, mix):
    """Mix in a convolution with decaying noise (a room), through the FFT."""
    t = np.arange(int(seconds * sr)) / sr
    ir = rng.standard_normal(t.size) * np.exp(-t / (seconds / 5))
    n = 1 << int(np.ceil(np.log2(y.size + ir.size)))
    wet = np.fft.irfft(np.fft.rfft(y, n) * np.fft.rfft(ir, n), n)[: y.size]
    wet *= np.sqrt(np.mean(y**2) / max(np.mean(wet**2), 1e-12))
    return (1 - mix) * y + mix * wet


def _chord(root, quality):
    """MIDI notes of a chord on ``root``."""
    shapes = {
        "maj": (0, 4, 7), "min": (0, 3, 7), "maj7": (0, 4, 7, 11),
        "min7": (0, 3, 7, 10), "dom7": (0, 4, 7, 10), "power": (0, 7, 12),
    }
    return [root + i for i in shapes[quality]]


def _pads(rng, n, sr, *, key, scale, level, chord_s=(2.0, 3.5)):
    """Slow overlapping seventh/triad chords with soft attacks, two detuned copies each."""
    y = np.zeros(n)
    t = 0.0
    while t < n / sr:
        dur = rng.uniform(*chord_s)
        root = key + scale[int(rng.integers(0, 7))]
        h = _saw(4, tilt=rng.uniform(1.8, 2.6))
        attack = rng.uniform(0.6, 1.4)
        for m in _chord(root, rng.choice(["maj7", "min7", "maj", "min"])):
            for detune in (-0.004, 0.004):  # a chorus shimmer
                note = _tone(_hz(m) * (1 + detune), dur=dur, sr=sr, harmonics=h, attack=attack, release=1.0)
                _add(y, level * note, int(t * sr))
        t += dur * rng.uniform(0.6, 0.9)  # chords overlap
    return y


def _techno(rng, n, sr):
    beat = 60 / rng.uniform(125, 135)
    key = int(rng.integers(33, 41))  # A1..E2
    y = np.zeros(n)
    kick, hat, clap = _kick(sr, rng), _hat(sr, rng), _snare(sr, rng) * 0.6
    bass_h = _saw(int(rng.integers(8, 24)), tilt=rng.uniform(0.9, 1.4))
    riff = key + rng.choice([0, 0, 12, 7, 10, 3], size=4)
    bass = {m: 0.35 * _tone(_hz(m), dur=beat / 5, sr=sr, harmonics=bass_h, decay=0.08, release=0.01) for m in set(riff)}
    for b in range(int(n / sr / beat) + 1):
        s = b * beat
        _add(y, kick, int(s * sr))
        _add(y, hat, int((s + beat / 2) * sr))
        if b % 2 == 1 and rng.random() < 0.7:
            _add(y, clap, int(s * sr))
        for j, step in enumerate((0.5, 0.75)):  # rolling offbeat bass
            _add(y, bass[riff[(2 * b + j) % 4]], int((s + step * beat) * sr))
    if rng.random() < 0.3:  # a breakdown pad, as in trance
        y += _pads(rng, n, sr, key=key + 24, scale=_MINOR, level=0.08)
    return y


def _ambient(rng, n, sr):
    key = int(rng.integers(48, 60))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    y = _pads(rng, n, sr, key=key, scale=scale, level=0.12)
    bell_h = np.array([1.0, 0.0, 0.3])
    for _ in range(int(rng.integers(0, 4))):  # sparse high bells
        bell = _tone(_hz(key + 24 + rng.choice(scale)), dur=1.5, sr=sr, harmonics=bell_h, decay=0.6)
        _add(y, 0.1 * bell, int(rng.uniform(0, n / sr - 0.5) * sr))
    if rng.random() < 0.3:  # a soft downtempo pulse
        beat, kick = 60 / rng.uniform(60, 90), 0.3 * _kick(sr, rng)
        for b in range(int(n / sr / beat) + 1):
            _add(y, kick, int(b * beat * sr))
    return _reverb(y, sr=sr, rng=rng, seconds=2.5, mix=0.6)


def _rock(rng, n, sr):
    beat = 60 / rng.uniform(110, 140)
    key = int(rng.integers(40, 48))  # E2..B2
    y = np.zeros(n)
    kick, snare, hat = _kick(sr, rng), _snare(sr, rng), _hat(sr, rng)
    progression = key + np.array([0, rng.choice([-2, 5]), rng.choice([3, 5, 7]), rng.choice([-2, 0, 5])])
    guitar_h = _saw(30, tilt=rng.uniform(0.8, 1.1))
    drive = rng.uniform(0.8, 8)  # from clean-ish to heavy
    chug = {
        root: _strum(_chord(root, "power"), dur=beat / 2.4, sr=sr, harmonics=guitar_h, decay=0.25, release=0.02)
        for root in set(progression)
    }
    gtr = np.zeros(n)
    for b in range(int(n / sr / beat) + 1):
        s = b * beat
        _add(y, kick if b % 2 == 0 else snare, int(s * sr))  # backbeat on 2 and 4
        if b % 4 == 2 and rng.random() < 0.5:
            _add(y, kick, int((s + beat / 2) * sr))
        for half in (0, 1):
            _add(y, hat, int((s + half * beat / 2) * sr))
            _add(gtr, chug[progression[(b // 4) % 4]], int((s + half * beat / 2) * sr))
    return y + 0.5 * np.tanh(drive * gtr / 3)


def _jazzish(rng, n, sr):
    beat = 60 / rng.uniform(120, 180)
    swing = rng.uniform(0.62, 0.7)
    key = int(rng.integers(41, 53))
    y = np.zeros(n)
    # Ride cymbal or, in a ballad, brushes on the snare.
    ride = _ride(sr, rng) if rng.random() < 0.75 else 0.5 * _snare(sr, rng)
    pedal = _hat(sr, rng, length=0.04)
    # ii - V - I - vi, seventh chords, one per bar.
    changes = [(key + 2, "min7"), (key + 7, "dom7"), (key, "maj7"), (key + 9, "min7")]
    piano_h = _saw(6, tilt=rng.uniform(1.5, 2.2))
    bass_h = np.array([1.0, 0.35, 0.1])
    for b in range(int(n / sr / beat) + 1):
        s = b * beat
        root, quality = changes[(b // 4) % 4]
        _add(y, ride, int(s * sr))
        if b % 2 == 1:
            _add(y, 0.8 * ride, int((s + swing * beat) * sr))
            _add(y, pedal, int(s * sr))
        # Walking bass: a chord tone on each beat, a chromatic step before the next bar.
        step = b % 4
        m = root - 12 + (_chord(root, quality)[step % 3] - root if step < 3 else rng.choice([-1, 1, 5]))
        _add(y, 0.5 * _tone(_hz(m), dur=beat * 0.9, sr=sr, harmonics=bass_h, decay=0.5, release=0.03), int(s * sr))
        if rng.random() < 0.4:  # comping on swung offbeats
            when = s + (swing * beat if rng.random() < 0.6 else 0)
            comp = _strum(_chord(root + 12, quality), dur=beat * 0.6, sr=sr, harmonics=piano_h, decay=0.4)
            _add(y, 0.12 * comp, int(when * sr))
    return y


def _classicalish(rng, n, sr):
    beat = 60 / rng.uniform(60, 100)
    key = int(rng.integers(55, 67))
    scale = _MAJOR if rng.random() < 0.7 else _MINOR
    degrees = [0, 3, 4, 0] if rng.random() < 0.5 else [0, 5, 3, 4]
    strings_h = _saw(12, tilt=rng.uniform(1.0, 1.5))
    per_beat = int(rng.choice([2, 3, 4]))  # eighths, triplets or sixteenths
    # Every note of a pitch sounds alike, so each is made once.
    violin = {}
    timpani = 0.5 * _kick(sr, rng) if rng.random() < 0.25 else None
    y = np.zeros(n)
    for b in range(int(n / sr / beat) + 1):
        s = b * beat
        d = degrees[(b // 2) % 4]
        triad = [key + scale[(d + i) % 7] + 12 * ((d + i) // 7) for i in (0, 2, 4)]
        if b % 2 == 0:  # sustained cello under the arpeggio
            cello = _tone(_hz(triad[0] - 24), dur=2 * beat, sr=sr, harmonics=strings_h,
                          attack=0.15, release=0.2, vibrato=0.004, rng=rng)
            _add(y, 0.3 * cello, int(s * sr))
            if timpani is not None and b % 4 == 0:
                _add(y, timpani, int(s * sr))
        arp = triad + [triad[0] + 12]
        for i in range(per_beat):
            m = arp[(b * per_beat + i) % 4]
            if m not in violin:
                violin[m] = 0.2 * _tone(_hz(m), dur=beat / per_beat, sr=sr, harmonics=strings_h,
                                        attack=0.04, release=0.08, vibrato=0.003, rng=rng)
            _add(y, violin[m], int((s + i * beat / per_beat) * sr))
    return _reverb(y, sr=sr, rng=rng, seconds=1.5, mix=0.3)


def _reggaeish(rng, n, sr):
    beat = 60 / rng.uniform(70, 85)
    key = int(rng.integers(36, 46))
    y = np.zeros(n)
    kick, hat = _kick(sr, rng), _hat(sr, rng)
    rim_h = np.array([1.0, 0.5, 0.3])
    rim = 0.6 * _tone(rng.uniform(400, 600), dur=0.03, sr=sr, harmonics=rim_h, decay=0.02, release=0.01)
    skank_h = _saw(10, tilt=rng.uniform(0.7, 1.1))
    progression = [key, key + rng.choice([5, 7, 10]), key, key + rng.choice([3, 5, 7])]
    skank = {
        root: 0.15 * _strum(_chord(root + 24, "maj"), dur=beat / 6, sr=sr, harmonics=skank_h, decay=0.05, release=0.01)
        for root in set(progression)
    }
    bass_line = rng.choice([0, 0, 7, 12, 10, 5], size=4)
    bass_h = np.array([1.0, 0.4])
    for b in range(int(n / sr / beat) + 1):
        s = b * beat
        root = progression[(b // 4) % 4]
        if b % 4 == 2:  # one drop: kick and rim together on beat 3
            _add(y, kick, int(s * sr))
            _add(y, rim, int(s * sr))
        for half in (0, 1):
            _add(y, 0.7 * hat, int((s + half * beat / 2) * sr))
        _add(y, skank[root], int((s + beat / 2) * sr))
        if b % 4 != 2 or rng.random() < 0.3:  # bass rests on the drop
            bass = _tone(_hz(root + bass_line[b % 4]), dur=beat * 0.7, sr=sr, harmonics=bass_h, decay=0.6, release=0.05)
            _add(y, 0.6 * bass, int(s * sr))
    if rng.random() < 0.3:  # an organ bed under the skank
        y += _pads(rng, n, sr, key=key + 12, scale=_MAJOR, level=0.05, chord_s=(1.5, 2.5))
    return y


_COMPOSERS = {
    "ambient": _ambient, "classicalish": _classicalish, "jazzish": _jazzish,
    "reggaeish": _reggaeish, "rock": _rock, "techno": _techno,
}


def _recording(y, *, sr, rng):
    """A random "recording chain": tone tilt, low-pass and hiss, as real tracks differ.

    Mastering and media change the spectrum of whole tracks; without it every
    clip of a genre would share one spectral envelope and be trivial to tell apart.
    """
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(y.size, 1 / sr)
    octaves = np.log2(np.maximum(f, 20.0) / 1000.0)
    gain_db = rng.uniform(-4.0, 2.0) * octaves  # darker or brighter per octave
    gain_db -= 12.0 * np.maximum(0.0, np.log2(np.maximum(f, 1.0) / rng.uniform(3000, 10000)))  # roll-off
    y = np.fft.irfft(spec * 10 ** (gain_db / 20), y.size)
    y /= max(np.abs(y).max(), 1e-9)
    return y + 10 ** (-rng.uniform(25, 50) / 20) * rng.standard_normal(y.size)


def synth_genre_clip(*, genre, seconds, sr, rng):
    """One synthetic piece of ``genre``.

    Returns
    -------
    np.ndarray, shape (round(seconds * sr),), float32, peak 0.3..0.9
    """
    n = int(round(seconds * sr))
    y = _COMPOSERS[genre](rng, n, sr)
    y = _recording(y, sr=sr, rng=rng)
    y *= rng.uniform(0.3, 0.9) / np.abs(y).max()
    return y.astype(np.float32)


def generate_genres_demo(out_dir, *, n_per_genre=12, seconds=6.0, sr=22050, seed=0):
    """Write the synthetic genres set in GTZAN layout.

    ``out_dir/<genre>/<genre>.000NN.wav``, 16-bit mono WAV. Each clip has its own
    generator seeded by (seed, genre, index), so a clip does not depend on how
    many others are made.

    Returns
    -------
    list of pathlib.Path, the files written
    """
    out_dir = pathlib.Path(out_dir)
    written = []
    for g, genre in enumerate(GENRES):
        folder = out_dir / genre
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_genre):
            rng = np.random.default_rng([seed, g, i])
            y = synth_genre_clip(genre=genre, seconds=seconds, sr=sr, rng=rng)
            path = folder / f"{genre}.{i:05d}.wav"
            sf.write(path, y, sr, subtype="PCM_16")
            written.append(path)
    return written


def _genres_settings():
    return {"version": GENRES_VERSION, **GENRES_DEMO_SETTINGS}


def _is_current(folder, settings):
    try:
        return json.loads((folder / _GENRES_MARKER).read_text()) == settings
    except (OSError, ValueError):
        return False


def _remove_leftovers(folder, *, older_than_s=3600):
    """Delete temp folders of generations that were killed (a live one is minutes old at most)."""
    now = time.time()
    for p in [*folder.glob(".genres-*"), *folder.glob(".stale-*")]:
        try:
            if now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass  # removed by another process meanwhile


def ensure_genres_demo(target):
    """Make the demo set at ``target`` unless the current generator's set is already there.

    Returns ``target``. Raises OSError when it cannot be written.
    """
    target = pathlib.Path(target)
    settings = _genres_settings()
    if _is_current(target, settings):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target.parent)
    # Build beside the target and rename: an interrupted run leaves only a
    # temp folder, never a half set under the real name.
    tmp = target.with_name(f".genres-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()  # unlike mkdtemp, keeps the user's umask (not 0700)
    try:
        generate_genres_demo(tmp, **GENRES_DEMO_SETTINGS)
        (tmp / _GENRES_MARKER).write_text(json.dumps(settings))
        if target.exists():  # an older generator's set
            stale = target.with_name(f".stale-{tmp.name}")
            target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            # Another process finished first; use its set if it is current.
            if not _is_current(target, settings):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
