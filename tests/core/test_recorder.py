"""core.recorder through a real (virtual) microphone: PulseAudio null sink → ALSA → PortAudio.

Nothing in the audio path is mocked: the sound is played with ``paplay`` and
recorded with sounddevice, as a user's microphone would be. Tests wait on
conditions (a capture stream open, samples delivered), never on the clock.
Utterance detection is tested in test_utterances.py.
"""
import threading

import numpy as np
import pytest
import soundfile
from scipy import signal

from core.errors import NoAudioDevice
from core.recorder import InputDevice, Recorder, list_input_devices, record, resolve_device
from tests.helpers import load, wait_for_recording, wait_until

SR = 16000


def _match(recording, source):
    """Best normalised cross-correlation of ``source`` inside ``recording`` (1.0 = identical shape)."""
    c = signal.correlate(recording, source, mode="valid", method="fft")
    lag = int(np.argmax(np.abs(c)))
    segment = recording[lag : lag + len(source)]
    return abs(c[lag]) / (np.linalg.norm(source) * np.linalg.norm(segment) + 1e-12), lag


# -- devices --------------------------------------------------------------------


def test_unknown_device_name_is_a_clear_error(virtual_mic):
    with pytest.raises(NoAudioDevice, match="No input device named 'no-such-mic-42'") as info:
        resolve_device("no-such-mic-42")
    assert "pulse" in str(info.value)  # the message lists what does exist
    with pytest.raises(NoAudioDevice):
        Recorder("no-such-mic-42")


def test_device_listing_shows_the_virtual_mic(virtual_mic):
    devices = list_input_devices()
    assert all(isinstance(d, InputDevice) for d in devices)
    names = [d.name for d in devices]
    assert virtual_mic.device in names
    assert sum(d.is_default for d in devices) == 1
    assert resolve_device(None).is_default
    assert resolve_device(virtual_mic.device).name == virtual_mic.device


# -- recording through the virtual microphone --------------------------------------


def test_record_captures_what_is_played(virtual_mic, espeak_wav):
    path = espeak_wav("seven")
    result = {}
    # 4 s for a 0.6 s word: the player may start a second or more late on a busy machine (2 s failed once)
    recorder = threading.Thread(
        target=lambda: result.update(zip(("audio", "sr"), record(4.0, device=virtual_mic.device, samplerate=SR)))
    )
    recorder.start()
    try:
        wait_for_recording()  # record() has its stream open: now play
        virtual_mic.play(path)
    finally:
        recorder.join()
    audio, sr = result["audio"], result["sr"]
    assert sr == SR and audio.dtype == np.float32 and audio.shape == (4 * SR,)
    score, _ = _match(audio, load(path, SR))
    assert score >= 0.9


def test_recorder_stream_matches_source_without_losing_samples(virtual_mic, espeak_wav):
    source, file_sr = soundfile.read(espeak_wav("three"), dtype="float32")
    rec = Recorder(virtual_mic.device, samplerate=22050)
    assert rec.samplerate == 22050
    parts = []
    with rec:
        wait_until(lambda: parts.append(rec.read(timeout=0.05)) or sum(p.size for p in parts) > 0)
        before = sum(p.size for p in parts)
        virtual_mic.play(source, file_sr)  # returns once played out
        wait_until(lambda: parts.append(rec.read(timeout=0.05)) or sum(p.size for p in parts) >= before + source.size)
        virtual_mic.play(np.zeros(2205, np.float32), file_sr)  # 0.1 s more, then stop with it queued
    assert not rec.active
    audio = np.concatenate([*parts, rec.read()])  # what was queued stays readable after stop()
    assert rec.overflows == 0  # a healthy stream loses nothing
    score, _ = _match(audio, source)
    assert score >= 0.9
    assert rec.read().size == 0  # drained


def test_input_overflows_are_counted_and_the_audio_kept(virtual_mic):
    """PortAudio flags a block after it had to drop input (the program fell behind).

    Driven through the recorder's real callback with sounddevice's own flags
    object: the virtual microphone buffers seconds of audio and never
    overflows on its own.
    """
    import sounddevice

    rec = Recorder(virtual_mic.device, samplerate=SR)
    ok, lost = sounddevice.CallbackFlags(), sounddevice.CallbackFlags()
    lost.input_overflow = True
    block = np.full((160, 1), 0.25, np.float32)
    rec._callback(block, 160, None, ok)
    rec._callback(block, 160, None, lost)
    rec._callback(block, 160, None, lost)
    assert rec.overflows == 2
    assert rec.read().size == 3 * 160  # flagged blocks are still delivered


def test_unplugged_device_is_reported_on_the_next_read(virtual_mic):
    rec = Recorder(virtual_mic.device, samplerate=SR).start()
    try:
        wait_until(lambda: rec.read(timeout=0.05).size > 0, message="the first block")
        virtual_mic.unplug()

        def reported():
            try:
                rec.read(timeout=0.05)
            except NoAudioDevice as exc:
                assert "stopped delivering audio" in str(exc)
                return True
            return False

        wait_until(reported, timeout=30, message="the lost device to be reported")
        assert not rec.active
    finally:
        rec.stop()


def test_a_device_that_goes_quiet_without_ending_the_stream_is_reported(virtual_mic):
    """A stream PortAudio keeps open but that gets no audio (a hung or suspended device) is lost
    after ``stall_s`` seconds without a block, not an endless wait for audio."""
    rec = Recorder(virtual_mic.device, samplerate=SR, stall_s=0.5).start()
    try:
        wait_until(lambda: rec.read(timeout=0.05).size > 0, message="the first block")
        virtual_mic.silence_device()
        errors = []

        def reported():
            try:
                rec.read(timeout=0.05)
            except NoAudioDevice as exc:
                errors.append(str(exc))
                return True
            return False

        wait_until(reported, timeout=30, message="the silent device to be reported")
        assert "stopped delivering audio" in errors[0] and "nothing for 0.5 s" in errors[0]
        assert not rec.active
    finally:
        virtual_mic.silence_device(False)
        rec.stop()


def test_recorder_falls_back_to_a_supported_rate(virtual_mic):
    rec = Recorder(virtual_mic.device, samplerate=1)  # no device runs at 1 Hz
    assert rec.samplerate == int(rec.device.default_samplerate)
