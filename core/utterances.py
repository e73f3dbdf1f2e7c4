"""Levels and utterance detection on a stream of samples: pure NumPy, no device.

:class:`UtteranceDetector` cuts words out of whatever it is fed — blocks from
:class:`core.recorder.Recorder` while listening, or a whole signal offline —
and gives the same cuts for the same samples however they are split into
blocks.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from core.dsp import SILENCE_DB, level_dbfs  # noqa: F401 (both were defined here; the microphone reads them too)


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech cut out of a continuous stream.

    ``start`` and ``end`` are seconds from the start of the stream and bound
    ``audio`` exactly (pre-roll included), shape ``(n_samples,)`` float32.
    """

    start: float
    end: float
    audio: np.ndarray


def peak_dbfs(y: np.ndarray, *, percentile: float = 99.9) -> float:
    """A click-tolerant peak level: the ``percentile`` of |y| in dBFS, floored at -120."""
    y = np.asarray(y)
    if y.size == 0:
        return SILENCE_DB
    peak = float(np.percentile(np.abs(y), percentile))
    return float(max(SILENCE_DB, 20.0 * np.log10(peak + 1e-12)))


def is_clipped(y: np.ndarray, *, threshold: float = 0.001) -> bool:
    """True when more than ``threshold`` (a fraction) of the samples sit at full scale (|y| ≥ 0.999)."""
    y = np.asarray(y)
    if y.size == 0:
        return False
    return bool(np.mean(np.abs(y) >= 0.999) > threshold)


def _frame_db(y: np.ndarray, frame: int) -> np.ndarray:
    """RMS dBFS of consecutive non-overlapping frames; shape (len(y) // frame,)."""
    n = len(y) // frame
    frames = np.asarray(y[: n * frame], dtype=np.float64).reshape(n, frame)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return np.maximum(SILENCE_DB, 20.0 * np.log10(rms + 1e-12))


class UtteranceDetector:
    """Cut utterances out of a continuous stream by short-frame energy.

    A frame (20 ms) starts speech when its level exceeds the on-threshold;
    speech ends once no frame has exceeded the off-threshold (6 dB lower:
    hysteresis) for ``hangover_s``. With ``threshold_db=None`` the
    on-threshold adapts: the 10th percentile of the last 3 s of frame levels
    (the noise floor) plus ``margin_db``, but never below ``min_level_db``
    so that digital silence and faint hiss never count as speech. Pure
    arithmetic on the samples fed, so the same stream gives the same cuts.

    An utterance is kept when its loud part — first to last frame above the
    off-threshold — lasts ``min_speech_s``. (Counting only the loud frames,
    as before, made a short quiet word pass or fail by how the 20 ms frame
    grid and the device's sample rate happened to fall on its softer
    middle: the same word was found offline at 16 kHz and lost live at
    44.1 kHz.)

    Parameters
    ----------
    samplerate : int
    threshold_db : float, optional
        Fixed on-threshold in dBFS instead of the adaptive one.
    min_speech_s : float
        Shorter bursts (clicks, bumps) are dropped.
    max_speech_s : float
        Longer speech is cut into pieces of this length.
    hangover_s : float
        Silence that must follow speech before the utterance ends; gaps
        longer than this separate two utterances.
    pre_roll_s : float
        Audio kept before the detected onset (soft consonants start quietly).
    margin_db, min_level_db : float
        See above. ``min_level_db`` = -65 lets a word peaking at -35 dBFS
        (20 ms levels around -45 to -55 dBFS) through in a quiet room.
    """

    FRAME_S = 0.02
    HYSTERESIS_DB = 6.0
    FLOOR_WINDOW_S = 3.0
    #: Assumed quiet-room floor until 0.5 s of history exists, so that a
    #: stream starting in the middle of a word still triggers.
    INITIAL_FLOOR_DB = -60.0

    def __init__(
        self,
        samplerate,
        *,
        threshold_db=None,
        min_speech_s=0.1,
        max_speech_s=10.0,
        hangover_s=0.25,
        pre_roll_s=0.1,
        margin_db=10.0,
        min_level_db=-65.0,
    ):
        self.samplerate = int(samplerate)
        self.threshold_db = threshold_db
        self.min_speech_s = min_speech_s
        self.max_speech_s = max_speech_s
        self.hangover_s = hangover_s
        self.pre_roll_s = pre_roll_s
        self.margin_db = margin_db
        self.min_level_db = min_level_db
        self._frame = max(1, int(round(self.FRAME_S * self.samplerate)))
        frames_per_s = self.samplerate / self._frame
        self._hangover = max(1, int(round(hangover_s * frames_per_s)))
        self._min_frames = max(1, int(round(min_speech_s * frames_per_s)))
        self._max_frames = max(self._min_frames + 1, int(round(max_speech_s * frames_per_s)))
        self._history = collections.deque(maxlen=int(round(self.FLOOR_WINDOW_S * frames_per_s)))
        self._warmup = int(round(0.5 * frames_per_s))
        self._pre_roll = collections.deque(maxlen=int(round(pre_roll_s * frames_per_s)))
        self._pending = np.zeros(0, dtype=np.float32)
        self._index = 0  # frames seen so far
        self._reset_speech()

    def _reset_speech(self):
        self._speech: list[np.ndarray] | None = None
        self._speech_start = 0  # frame index of the first kept frame (pre-roll included)
        self._first_loud = 0
        self._last_loud = 0

    @property
    def noise_floor_db(self) -> float:
        """Current noise-floor estimate in dBFS."""
        if not self._history:
            return self.INITIAL_FLOOR_DB
        floor = float(np.percentile(np.fromiter(self._history, float), 10))
        return min(floor, self.INITIAL_FLOOR_DB) if len(self._history) < self._warmup else floor

    def _on_threshold(self) -> float:
        if self.threshold_db is not None:
            return float(self.threshold_db)
        return max(self.noise_floor_db + self.margin_db, self.min_level_db)

    def feed(self, block: np.ndarray) -> list[Utterance]:
        """Add samples; return the utterances that ended inside them.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Mono samples continuing the stream (any n, including 0).
        """
        y = np.concatenate([self._pending, np.asarray(block, dtype=np.float32).ravel()])
        n = len(y) // self._frame
        self._pending = y[n * self._frame :]
        if n == 0:
            return []
        frames = y[: n * self._frame].reshape(n, self._frame)
        levels = _frame_db(y[: n * self._frame], self._frame)
        out = []
        for frame, db in zip(frames, levels):
            utterance = self._step(frame, float(db))
            if utterance is not None:
                out.append(utterance)
        return out

    def _step(self, frame: np.ndarray, db: float) -> Utterance | None:
        on = self._on_threshold()
        self._history.append(db)
        i = self._index
        self._index += 1
        if self._speech is None:
            if db > on:
                self._speech = [*self._pre_roll, frame]
                self._speech_start = i - len(self._pre_roll)
                self._pre_roll.clear()
                self._first_loud = self._last_loud = i
            else:
                self._pre_roll.append(frame)
            return None
        self._speech.append(frame)
        if db > on - self.HYSTERESIS_DB:
            self._last_loud = i
        if i - self._last_loud >= self._hangover or len(self._speech) >= self._max_frames:
            return self._finish()
        return None

    def _finish(self) -> Utterance | None:
        frames, start = self._speech, self._speech_start
        # End the audio at the last loud frame: the hangover is silence.
        kept = self._last_loud - start + 1
        long_enough = self._last_loud - self._first_loud + 1 >= self._min_frames
        self._reset_speech()
        if not long_enough:
            return None
        audio = np.concatenate(frames[:kept])
        t0 = start * self._frame / self.samplerate
        return Utterance(start=t0, end=t0 + len(audio) / self.samplerate, audio=audio)

    def flush(self) -> list[Utterance]:
        """End the stream: return the utterance still open, if it is long enough."""
        out = []
        if self._speech is not None:
            utterance = self._finish()
            if utterance is not None:
                out.append(utterance)
        self._pending = np.zeros(0, dtype=np.float32)
        self._pre_roll.clear()
        return out
