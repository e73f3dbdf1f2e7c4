"""Microphone input: devices, a queue-fed recorder, the one microphone stream, fixed-length takes and playback.

Everything here works without Qt. The audio callback does nothing but copy
the block into a queue (python-sounddevice's ``plot_input.py`` pattern).
:class:`MicrophoneStream` is what every part of the app that listens uses
(the microphone panel's takes and continuous listening, the take dialogs,
live genres, :func:`record`): the device and rate are chosen once, and its
owner calls :meth:`MicrophoneStream.poll` from its own loop or timer, which
hands each new stretch of audio to one callback and keeps its level.
Cutting words out of the stream lives in :mod:`core.utterances`.

``sounddevice`` is imported lazily: it loads PortAudio at import time, and a
machine without ``libportaudio2`` must still be able to train models and open
audio files (it just has no microphone).
"""
from __future__ import annotations

import queue
import sys
import time
import weakref
from dataclasses import dataclass

import numpy as np

from core.dsp import SILENCE_DB, level_dbfs
from core.errors import NoAudioDevice

#: Rates tried, in order, after the requested one and the device's default.
FALLBACK_RATES = (48000, 44100, 16000)
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
    stall_s : float
        A running stream that delivers nothing for this long counts as lost (:meth:`read` raises
        NoAudioDevice), as when the device ends the stream: an unplugged microphone does not always
        make PortAudio end the stream (ALSA's PulseAudio plugin may keep recovering a dead stream).
        PortAudio's own thread delivers the blocks, so a busy GUI thread does not count as a stall.

    Examples
    --------
    >>> with Recorder() as rec:           # doctest: +SKIP
    ...     time.sleep(1.0)
    ...     y = rec.read()                # (n,) float32 at rec.samplerate
    """

    def __init__(self, device=None, *, samplerate=None, channels=1, blocksize=None, stall_s=3.0):
        self.stall_s = float(stall_s)
        self._last_block = 0.0
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
        self._last_block = time.monotonic()
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
        self._last_block = time.monotonic() + self.stall_s  # the first block gets twice the time
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

    def _close_stream(self, *, abort=False):
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping = True
        try:
            if abort:  # a stalled device: stop() would wait ~20 s for a block that never comes
                stream.abort()
            else:
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

    def read(self, *, timeout: float = 0.0) -> np.ndarray:
        """Take everything recorded since the last call.

        Parameters
        ----------
        timeout : float
            Seconds to wait for a block when none is queued yet; 0 (default)
            returns at once, so a GUI timer never blocks.

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
        if timeout > 0:
            try:
                blocks.append(self._queue.get(timeout=timeout))
            except queue.Empty:
                pass
        while True:
            try:
                blocks.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if (not blocks and self.stream_error is None and self._stream is not None and not self._stopping
                and time.monotonic() - self._last_block > self.stall_s):
            self.stream_error = NoAudioDevice(
                f"The input device '{self.device.name}' stopped delivering audio "
                f"(nothing for {self.stall_s:g} s: unplugged or taken by another program)."
            )
        if self.stream_error is not None and not blocks:
            error, self.stream_error = self.stream_error, None
            self._close_stream(abort=True)
            raise error
        if not blocks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(blocks)


class MicrophoneStream:
    """The app's one microphone loop: a :class:`Recorder` whose queued audio goes to one callback.

    Parameters
    ----------
    device : None, int, str or InputDevice
        See :func:`resolve_device`; resolved once, here.
    samplerate : int, optional
        Wanted rate; the rate the device accepts is chosen once, here (see :class:`Recorder`).
    on_block : callable(np.ndarray) or None
        Called by :meth:`poll` with each stretch of new audio, shape (n,) float32 mono at
        :attr:`samplerate`, on the caller's thread (never on PortAudio's).
    on_error : callable(NoAudioDevice) or None
        Called by :meth:`poll` when the device stopped delivering (unplugged, taken by another
        program), after the stream was closed. Without it, :meth:`poll` raises.
    channels, blocksize : see :class:`Recorder`

    Raises NoAudioDevice when no device or rate fits. The owner calls :meth:`poll` regularly
    (a ~30 ms ``QTimer`` in the GUI, ``poll(timeout=0.05)`` in a blocking loop); :attr:`level_db`
    is the last stretch's RMS level, :attr:`frames` the samples delivered since :meth:`start`.

    Examples
    --------
    >>> mic = MicrophoneStream(on_block=chunks.append).start()   # doctest: +SKIP
    >>> while len(chunks) < 10:
    ...     mic.poll(timeout=0.05)
    >>> rest = mic.stop()
    """

    #: How often a GUI owner polls, in ms: short enough for a smooth level meter.
    POLL_MS = 30

    def __init__(self, device=None, *, samplerate=None, on_block=None, on_error=None, channels=1, blocksize=None):
        self._recorder = Recorder(device, samplerate=samplerate, channels=channels, blocksize=blocksize)
        self.on_block = on_block
        self.on_error = on_error
        self.level_db = SILENCE_DB
        self.frames = 0

    @property
    def device(self) -> InputDevice:
        return self._recorder.device

    @property
    def samplerate(self) -> int:
        """The rate the stream runs at, in Hz."""
        return self._recorder.samplerate

    @property
    def overflows(self) -> int:
        """Blocks that arrived with PortAudio's input-overflow flag (samples lost)."""
        return self._recorder.overflows

    @property
    def active(self) -> bool:
        return self._recorder.active

    @property
    def seconds(self) -> float:
        """Audio delivered by :meth:`poll` since :meth:`start`, in seconds."""
        return self.frames / self.samplerate

    def start(self) -> "MicrophoneStream":
        """Open and start the stream (level and frame count from zero). Raises NoAudioDevice."""
        self.level_db, self.frames = SILENCE_DB, 0
        self._recorder.start()
        return self

    def poll(self, *, timeout: float = 0.0) -> np.ndarray:
        """Take the audio queued since the last call, pass it to ``on_block`` and return it.

        ``timeout`` seconds are waited for a first block when none is queued (0: return at once,
        as a GUI timer must). Returns an empty array when nothing arrived or the device was lost
        (then ``on_error`` has been called; without ``on_error`` NoAudioDevice is raised).
        """
        try:
            block = self._recorder.read(timeout=timeout)
        except NoAudioDevice as exc:
            self._recorder.stop()
            if self.on_error is None:
                raise
            self.on_error(exc)
            return np.zeros(0, dtype=np.float32)
        if block.size:
            self.level_db = level_dbfs(block)
            self.frames += block.size
            if self.on_block is not None:
                self.on_block(block)
        return block

    def stop(self) -> np.ndarray:
        """Stop and close the stream; returns the audio still queued (not passed to ``on_block``).
        Safe to call twice and after the device was lost."""
        self._recorder.stop()
        try:
            return self._recorder.read()
        except NoAudioDevice:
            return np.zeros(0, dtype=np.float32)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


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
    parts = []
    mic = MicrophoneStream(device, samplerate=samplerate, on_block=parts.append)
    n = int(round(seconds * mic.samplerate))
    with mic:
        deadline = time.monotonic() + seconds + 2.0
        while mic.frames < n:
            if not mic.poll(timeout=0.05).size and time.monotonic() > deadline:
                raise NoAudioDevice(
                    f"Input device '{mic.device.name}' delivered only {mic.seconds:.2f} s "
                    f"of a {seconds:g} s take."
                )
    audio = np.concatenate(parts)[:n] if parts else np.zeros(0, np.float32)
    return audio, mic.samplerate


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
