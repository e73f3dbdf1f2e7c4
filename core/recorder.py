"""Microphone input: devices, a queue-fed recorder, fixed-length takes and playback.

Everything here works without Qt. The audio callback does nothing but copy
the block into a queue (python-sounddevice's ``plot_input.py`` pattern); the
caller drains it with :meth:`Recorder.read` from its own loop or timer.
Levels and cutting words out of the stream live in :mod:`core.utterances`.

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
            block = rec.read(timeout=0.05)
            if block.size:
                parts.append(block)
                got += block.size
            elif time.monotonic() > deadline:
                raise NoAudioDevice(
                    f"Input device '{rec.device.name}' delivered only {got / rec.samplerate:.2f} s "
                    f"of a {seconds:g} s take."
                )
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
