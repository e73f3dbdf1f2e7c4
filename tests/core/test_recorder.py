"""core.recorder through a real (virtual) microphone: PulseAudio null sink → ALSA → PortAudio.

Nothing in the audio path is mocked: the sound is played with ``paplay`` and
recorded with sounddevice, as a user's microphone would be.
"""
import threading
import time

import numpy as np
import pytest
import soundfile
from scipy import signal

from core.errors import NoAudioDevice
from core.recorder import (
    InputDevice,
    Recorder,
    UtteranceDetector,
    is_clipped,
    level_dbfs,
    list_input_devices,
    record,
    resample,
    resolve_device,
)

SR = 16000


def _match(recording, source):
    """Best normalised cross-correlation of ``source`` inside ``recording`` (1.0 = identical shape)."""
    c = signal.correlate(recording, source, mode="valid", method="fft")
    lag = int(np.argmax(np.abs(c)))
    segment = recording[lag : lag + len(source)]
    return abs(c[lag]) / (np.linalg.norm(source) * np.linalg.norm(segment) + 1e-12), lag


def _load(path, sr=SR):
    y, file_sr = soundfile.read(path, dtype="float32")
    return resample(y, sr_from=file_sr, sr_to=sr)


def _bounds(y, sr):
    """Where a clean synthetic word really starts and ends, in seconds."""
    loud = np.flatnonzero(np.abs(y) > 0.01)
    return loud[0] / sr, (loud[-1] + 1) / sr


def _two_word_stream(espeak_wav, *, gap_s=0.8, noise_db=-70.0, sr=SR):
    """Silence, "seven", gap, "three", silence, with seeded faint hiss; returns (y, [(start, end), ...])."""
    rng = np.random.default_rng(0)
    parts, truth, t = [], [], 0.0
    for item in (0.5, "seven", gap_s, "three", 0.6):
        if isinstance(item, str):
            word = _load(espeak_wav(item), sr)
            a, b = _bounds(word, sr)
            truth.append((t + a, t + b))
            parts.append(word)
        else:
            parts.append(np.zeros(int(item * sr), np.float32))
        t += len(parts[-1]) / sr
    y = np.concatenate(parts)
    y += (10 ** (noise_db / 20) * rng.standard_normal(len(y))).astype(np.float32)
    return y, truth


def _feed_in_blocks(detector, y, block=512):
    found = []
    for i in range(0, len(y), block):
        found += detector.feed(y[i : i + block])
    return found + detector.flush()


# -- pure functions -------------------------------------------------------------


def test_levels_and_clipping():
    t = np.arange(SR) / SR
    sine = 0.5 * np.sin(2 * np.pi * 440 * t)
    assert level_dbfs(sine) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert level_dbfs(np.zeros(100)) == -120.0
    assert level_dbfs(np.zeros(0)) == -120.0
    assert not is_clipped(sine)
    assert is_clipped(np.clip(3 * sine, -1, 1))


def test_detector_separates_two_words_and_times_them(espeak_wav):
    y, truth = _two_word_stream(espeak_wav)
    found = _feed_in_blocks(UtteranceDetector(SR), y)
    assert len(found) == 2
    for u, (start, end) in zip(found, truth):
        assert abs(u.start - start) <= 0.15 and abs(u.end - end) <= 0.15
        assert len(u.audio) == pytest.approx((u.end - u.start) * SR, abs=1)
    # Same stream, same cuts: nothing depends on timing or randomness.
    again = _feed_in_blocks(UtteranceDetector(SR), y, block=700)
    assert [(u.start, u.end) for u in again] == [(u.start, u.end) for u in found]


def test_detector_separates_words_at_the_shortest_promised_gap(espeak_wav):
    y, _ = _two_word_stream(espeak_wav, gap_s=0.4)
    assert len(_feed_in_blocks(UtteranceDetector(SR), y)) == 2


def test_detector_ignores_silence_and_faint_noise():
    rng = np.random.default_rng(1)
    assert _feed_in_blocks(UtteranceDetector(SR), np.zeros(3 * SR, np.float32)) == []
    hiss = (10 ** (-55 / 20) * rng.standard_normal(3 * SR)).astype(np.float32)
    assert _feed_in_blocks(UtteranceDetector(SR), hiss) == []


def test_detector_drops_clicks():
    y = np.zeros(2 * SR, np.float32)
    y[SR : SR + 400] = 0.5  # a 25 ms bump, far below min_speech_s
    assert _feed_in_blocks(UtteranceDetector(SR), y) == []


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
    player = threading.Timer(0.3, virtual_mic.play, args=(path,))
    player.start()
    try:
        audio, sr = record(2.0, device=virtual_mic.device, samplerate=SR)
    finally:
        player.join()
    assert sr == SR and audio.dtype == np.float32 and audio.shape == (2 * SR,)
    score, _ = _match(audio, _load(path))
    assert score >= 0.9


def test_recorder_stream_matches_source_and_counts_overflows(virtual_mic, espeak_wav):
    source, file_sr = soundfile.read(espeak_wav("three"), dtype="float32")
    rec = Recorder(virtual_mic.device, samplerate=22050)
    assert rec.samplerate == 22050
    with rec:
        time.sleep(0.1)
        virtual_mic.play(source, file_sr)
        time.sleep(0.2)
    assert not rec.active
    audio = rec.read()  # what was queued stays readable after stop()
    assert isinstance(rec.overflows, int) and rec.overflows >= 0
    score, _ = _match(audio, source)
    assert score >= 0.9
    assert rec.read().size == 0  # drained


def test_unplugged_device_is_reported_on_the_next_read(virtual_mic):
    rec = Recorder(virtual_mic.device, samplerate=SR).start()
    try:
        deadline = time.monotonic() + 2
        while rec.read().size == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        virtual_mic.unplug()
        with pytest.raises(NoAudioDevice, match="stopped delivering audio"):
            while time.monotonic() < deadline + 3:
                rec.read()
                time.sleep(0.02)
        assert not rec.active
    finally:
        rec.stop()


def test_recorder_falls_back_to_a_supported_rate(virtual_mic):
    rec = Recorder(virtual_mic.device, samplerate=1)  # no device runs at 1 Hz
    assert rec.samplerate == int(rec.device.default_samplerate)


def test_continuous_listening_cuts_two_words(virtual_mic, espeak_wav):
    y, truth = _two_word_stream(espeak_wav, noise_db=-120)
    detector = UtteranceDetector(SR)
    found = []
    with Recorder(virtual_mic.device, samplerate=SR) as rec:
        player = virtual_mic.play(y, SR, wait=False)
        while player.poll() is None:
            found += detector.feed(rec.read())
            time.sleep(0.03)
        time.sleep(0.3)  # the tail still in flight, then the hangover
        found += detector.feed(rec.read())
    found += detector.flush()
    assert len(found) == 2
    # Both cuts last as long as the words played (the onset offset is unknown).
    for u, (start, end) in zip(found, truth):
        assert (u.end - u.start) == pytest.approx(end - start, abs=0.2)
    assert found[1].start - found[0].start == pytest.approx(truth[1][0] - truth[0][0], abs=0.15)
