"""Microphone input: devices, a queue-fed recorder, levels and utterance cutting.

Everything here works without Qt. The audio callback does nothing but copy
the block into a queue (python-sounddevice's ``plot_input.py`` pattern); the
caller drains it with :meth:`Recorder.read` from its own loop or timer.

``sounddevice`` is imported lazily: it loads PortAudio at import time, and a
machine without ``libportaudio2`` must still be able to train models and open
audio files (it just has no microphone).
"""
from __future__ import annotations

import collections
import queue
import sys
import time
import weakref
from dataclasses import dataclass

import numpy as np

from core.audio import resample  # noqa: F401  (re-exported: takes are resampled like files)
from core.errors import NoAudioDevice

#: Rates tried, in order, after the requested one and the device's default.
FALLBACK_RATES = (48000, 44100, 16000)
SILENCE_DB = -120.0
_RECORDERS: weakref.WeakSet = weakref.WeakSet()  # every Recorder made, to know if a stream runs


@dataclass(frozen=True)
class InputDevice:
    """One audio input as PortAudio reports it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech cut out of a continuous stream.

    ``start`` and ``end`` are seconds from the start of the stream and bound
    ``audio`` exactly (pre-roll included), shape ``(n_samples,)`` float32.
    """

    start: float
    end: float
    audio: np.ndarray


def _sounddevice():
    """Return the ``sounddevice`` module, or raise NoAudioDevice if PortAudio is missing."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio2 is absent
        raise NoAudioDevice(
            "No audio input available: the PortAudio library is missing "
            f"(install libportaudio2). Details: {exc}"
        ) from exc
    return sounddevice


def list_input_devices(*, rescan: bool = False) -> list[InputDevice]:
    """List the devices that can record.

    Parameters
    ----------
    rescan : bool
        Re-initialise PortAudio first so that devices plugged in (or removed)
        since start-up show up. PortAudio only scans when it initialises, and
        re-initialising would kill open streams, so the rescan is skipped
        while any :class:`Recorder` is running (playback is cut short).

    Returns an empty list when PortAudio is missing or lists no input; use
    :func:`resolve_device` to get a message saying why.
    """
    try:
        sd = _sounddevice()
    except NoAudioDevice:
        return []
    try:
        if rescan and not any(r.active for r in list(_RECORDERS)):
            sd._terminate()  # private, but the only way: PortAudio scans devices once, at init
            sd._initialize()
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError:
        return []
    if default_in is None or default_in < 0:
        default_in = next(
            (api["default_input_device"] for api in hostapis if api["default_input_device"] >= 0), -1
        )
    return [
        InputDevice(
            index=d["index"],
            name=d["name"],
            hostapi=hostapis[d["hostapi"]]["name"],
            max_input_channels=int(d["max_input_channels"]),
            default_samplerate=float(d["default_samplerate"]),
            is_default=d["index"] == default_in,
        )
        for d in devices
        if d["max_input_channels"] > 0
    ]


def resolve_device(device: str | int | InputDevice | None = None) -> InputDevice:
    """Find the input device a user means.

    Parameters
    ----------
    device : None, int, str or InputDevice
        None picks the system default input; an int is a PortAudio index; a
        string matches a device name exactly, else as a case-insensitive
        substring (first match).

    Raises
    ------
    NoAudioDevice
        When there is no input at all, or none matches; the message lists
        the available inputs.
    """
    if isinstance(device, InputDevice):
        device = device.name
    devices = list_input_devices()
    if not devices:
        _sounddevice()  # raises its own message when PortAudio is missing
        raise NoAudioDevice(
            "No microphone found. Connect one (or check that "
            "PulseAudio/ALSA sees it) — you can still open audio files."
        )
    available = ", ".join(f"'{d.name}'" for d in devices)
    if device is None:
        return next((d for d in devices if d.is_default), devices[0])
    if isinstance(device, (int, np.integer)):
        for d in devices:
            if d.index == device:
                return d
        raise NoAudioDevice(f"No input device with index {device}. Available: {available}")
    for d in devices:
        if d.name == device:
            return d
    for d in devices:
        if str(device).lower() in d.name.lower():
            return d
    raise NoAudioDevice(f"No input device named '{device}'. Available: {available}")


class Recorder:
    """A running microphone stream whose blocks are collected in a queue.

    Parameters
    ----------
    device : None, int, str or InputDevice
        See :func:`resolve_device`.
    samplerate : int, optional
        Wanted rate; if the device refuses it, its default rate, then 48 kHz,
        44.1 kHz and 16 kHz are tried. :attr:`samplerate` tells what was chosen.
    channels : int
        Channels opened (capped at what the device has); blocks are mixed to mono.
    blocksize : int, optional
        Frames per callback; None lets PortAudio choose (lowest latency).

    Examples
    --------
    >>> with Recorder() as rec:           # doctest: +SKIP
    ...     time.sleep(1.0)
    ...     y = rec.read()                # (n,) float32 at rec.samplerate
    """

    def __init__(self, device=None, *, samplerate=None, channels=1, blocksize=None):
        self.device = resolve_device(device)
        self.channels = max(1, min(int(channels), self.device.max_input_channels))
        self.blocksize = blocksize
        self._samplerate = self._pick_samplerate(samplerate)
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._overflows = 0
        self._stream = None
        self._stopping = False
        self.stream_error: NoAudioDevice | None = None
        _RECORDERS.add(self)

    # -- setup -------------------------------------------------------------
    def _pick_samplerate(self, wanted) -> int:
        sd = _sounddevice()
        candidates = [wanted, self.device.default_samplerate, *FALLBACK_RATES]
        tried = []
        for rate in candidates:
            if not rate or int(rate) in tried:
                continue
            rate = int(rate)
            tried.append(rate)
            try:
                sd.check_input_settings(
                    device=self.device.index, channels=self.channels, dtype="float32", samplerate=rate
                )
                return rate
            except Exception as exc:  # PortAudioError or ValueError: try the next rate
                last = exc
        raise NoAudioDevice(
            f"Input device '{self.device.name}' accepts none of the rates {tried} Hz: {last}"
        )

    # -- properties ----------------------------------------------------------
    @property
    def samplerate(self) -> int:
        """The rate the stream runs at, in Hz."""
        return self._samplerate

    @property
    def overflows(self) -> int:
        """How many blocks arrived with PortAudio's input-overflow flag (samples lost)."""
        return self._overflows

    @property
    def active(self) -> bool:
        """True while the stream is running."""
        return self._stream is not None and self._stream.active

    # -- stream --------------------------------------------------------------
    def _callback(self, indata, frames, time_info, status):
        # Runs on PortAudio's thread: copy and enqueue only, nothing else.
        if status.input_overflow:
            self._overflows += 1
        if indata.shape[1] == 1:
            self._queue.put(indata[:, 0].copy())
        else:
            self._queue.put(indata.mean(axis=1, dtype=np.float32))

    def _finished(self):
        # PortAudio ends a stream on its own when the device goes away.
        if not self._stopping:
            self.stream_error = NoAudioDevice(
                f"The input device '{self.device.name}' stopped delivering audio "
                "(unplugged or taken by another program)."
            )

    def start(self) -> "Recorder":
        """Open and start the stream. Raises NoAudioDevice if the device refuses."""
        if self.active:
            return self
        sd = _sounddevice()
        self._stopping = False
        self.stream_error = None
        try:
            self._stream = sd.InputStream(
                device=self.device.index,
                samplerate=self._samplerate,
                channels=self.channels,
                blocksize=self.blocksize or 0,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            self._close_stream()
            raise NoAudioDevice(f"Could not open input device '{self.device.name}': {exc}") from exc
        return self

    def _close_stream(self):
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping = True
        try:
            stream.stop()
            stream.close()
        except Exception:  # the device may already be gone; closing is best effort
            try:
                stream.abort()
                stream.close()
            except Exception:
                pass

    def stop(self) -> None:
        """Stop and close the stream; queued audio stays readable."""
        self._stopping = True
        self._close_stream()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def read(self) -> np.ndarray:
        """Take everything recorded since the last call, without waiting.

        Returns
        -------
        np.ndarray, shape (n,), float32
            Mono samples at :attr:`samplerate`; empty if nothing arrived.

        Raises
        ------
        NoAudioDevice
            If the stream ended by itself (device lost) since the last call.
        """
        blocks = []
        while True:
            try:
                blocks.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if self.stream_error is not None and not blocks:
            error, self.stream_error = self.stream_error, None
            self._close_stream()
            raise error
        if not blocks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(blocks)


def record(seconds: float, *, device=None, samplerate=None) -> tuple[np.ndarray, int]:
    """Record a fixed-length take, blocking until it is complete.

    Returns
    -------
    audio : np.ndarray, shape (round(seconds * sr),), float32, mono
    sr : int
        The rate actually used (see :class:`Recorder`).

    Raises
    ------
    NoAudioDevice
        No device, or the device delivered nothing for 2 s past the take.
    """
    rec = Recorder(device, samplerate=samplerate)
    n = int(round(seconds * rec.samplerate))
    parts, got = [], 0
    with rec:
        deadline = time.monotonic() + seconds + 2.0
        while got < n:
            block = rec.read()
            if block.size:
                parts.append(block)
                got += block.size
                continue
            if time.monotonic() > deadline:
                raise NoAudioDevice(
                    f"Input device '{rec.device.name}' delivered only {got / rec.samplerate:.2f} s "
                    f"of a {seconds:g} s take."
                )
            time.sleep(0.01)
    audio = np.concatenate(parts)[:n] if parts else np.zeros(0, np.float32)
    return audio, rec.samplerate


def play_audio(y: np.ndarray, *, sr: int) -> None:
    """Start playing mono ``y`` (shape (n,)) on the default output and return at once.

    Raises
    ------
    NoAudioDevice
        When there is no usable output device.
    """
    sd = _sounddevice()
    try:
        sd.play(np.asarray(y, dtype=np.float32), int(sr))
    except (sd.PortAudioError, ValueError) as exc:
        raise NoAudioDevice(f"Cannot play audio: no usable output device ({exc}).") from exc


def stop_playback() -> None:
    """Stop what :func:`play_audio` started (no-op when nothing plays or PortAudio is missing)."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd.stop()


def level_dbfs(block: np.ndarray) -> float:
    """RMS level of ``block`` in dBFS (full scale = 1.0), floored at -120."""
    block = np.asarray(block, dtype=np.float64)
    if block.size == 0:
        return SILENCE_DB
    rms = np.sqrt(np.mean(block * block))
    return float(max(SILENCE_DB, 20.0 * np.log10(rms + 1e-12)))


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
        See above.
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
        min_speech_s=0.15,
        max_speech_s=10.0,
        hangover_s=0.25,
        pre_roll_s=0.1,
        margin_db=10.0,
        min_level_db=-50.0,
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
        self._last_loud = 0
        self._loud_frames = 0

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
                self._last_loud = i
                self._loud_frames = 1
            else:
                self._pre_roll.append(frame)
            return None
        self._speech.append(frame)
        if db > on - self.HYSTERESIS_DB:
            self._last_loud = i
            self._loud_frames += 1
        if i - self._last_loud >= self._hangover or len(self._speech) >= self._max_frames:
            return self._finish()
        return None

    def _finish(self) -> Utterance | None:
        frames, start = self._speech, self._speech_start
        # End the audio at the last loud frame: the hangover is silence.
        kept = self._last_loud - start + 1
        long_enough = self._loud_frames >= self._min_frames
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
