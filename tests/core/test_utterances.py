"""core.utterances: levels and cutting words out of a stream, offline and through a
real (virtual) microphone: PulseAudio null sink → ALSA → PortAudio → Recorder."""
import numpy as np
import pytest

from core.recorder import Recorder
from core.utterances import UtteranceDetector, is_clipped, level_dbfs
from tests.helpers import load, wait_until, word, word_stream

SR = 16000
# Four digits spoken fast (0.12–0.25 s of sound each), as a quick speaker says them.
SHORT_WORDS = ("one", "two", "six", "eight")
FAST = 300  # espeak-ng words per minute


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
            w = load(espeak_wav(item), sr)
            a, b = _bounds(w, sr)
            truth.append((t + a, t + b))
            parts.append(w)
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


def _short_quiet_words(espeak_wav, sr, peak_db):
    return [word(espeak_wav, w, sr=sr, speed=FAST, peak_db=peak_db) for w in SHORT_WORDS]


# -- offline ------------------------------------------------------------------------


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


@pytest.mark.parametrize("sr", [16000, 44100])
@pytest.mark.parametrize("peak_db", [-26.0, -35.0])
def test_short_quiet_words_are_found_wherever_the_frame_grid_falls(espeak_wav, sr, peak_db):
    """Live, a word starts anywhere on the detector's 20 ms grid and arrives at the
    device's rate; the count of words found must not depend on either."""
    words = _short_quiet_words(espeak_wav, sr, peak_db)
    assert min(len(w) for w in words) / sr < 0.2 <= max(len(w) for w in words) / sr
    for lead_ms in range(0, 20, 4):
        y, truth = word_stream(words, sr=sr, lead_s=0.5 + lead_ms / 1000, noise_db=-70)
        found = _feed_in_blocks(UtteranceDetector(sr), y)
        assert len(found) == len(words), (lead_ms, [(u.start, u.end) for u in found])
        for u, (start, end) in zip(found, truth):
            assert u.start <= start + 0.02 and u.end >= end - 0.1


# -- through the virtual microphone ----------------------------------------------------


def _listen(virtual_mic, y, sr, *, samplerate=None):
    """Play ``y`` into the microphone while a Recorder feeds a detector, as ``listen`` does.

    Reads until the recorder has delivered the whole played stream (a
    condition on the samples, not on the clock). Returns (utterances, stream rate).
    """
    with Recorder(virtual_mic.device, samplerate=samplerate) as rec:
        detector = UtteranceDetector(rec.samplerate)
        found, got = [], 0

        def take():
            nonlocal got, found
            block = rec.read(timeout=0.05)
            got += block.size
            found += detector.feed(block)

        wait_until(lambda: (take(), got > 0)[1], message="the first block from the microphone")
        before = got
        player = virtual_mic.play(y, sr, wait=False)
        need = before + len(y) / sr * rec.samplerate
        wait_until(lambda: (take(), player.poll() is not None and got >= need)[1], timeout=30,
                   message="the played stream to come back from the microphone")
    return found + detector.flush(), rec.samplerate


def test_continuous_listening_cuts_two_words(virtual_mic, espeak_wav):
    y, truth = _two_word_stream(espeak_wav, noise_db=-120)
    found, _ = _listen(virtual_mic, y, SR, samplerate=SR)
    assert len(found) == 2
    # Both cuts last as long as the words played (the onset offset is unknown).
    for u, (start, end) in zip(found, truth):
        assert (u.end - u.start) == pytest.approx(end - start, abs=0.2)
    assert found[1].start - found[0].start == pytest.approx(truth[1][0] - truth[0][0], abs=0.15)


@pytest.mark.parametrize("peak_db", [-26.0, -35.0])
def test_listening_finds_every_short_quiet_word(virtual_mic, espeak_wav, peak_db):
    """Issue 7, defect 2: four quick digits with 1.5 s between them, at the
    device's own rate (as ``listen`` opens it) — every one is found, as offline."""
    words = _short_quiet_words(espeak_wav, SR, peak_db)
    y, truth = word_stream(words, sr=SR)
    found, rate = _listen(virtual_mic, y, SR)
    assert len(found) == len(words), f"at {rate} Hz: {[(round(u.start, 2), round(u.end, 2)) for u in found]}"
    # The gaps between the words come through as played.
    starts = np.array([u.start for u in found])
    assert np.diff(starts) == pytest.approx(np.diff([a for a, _ in truth]), abs=0.1)
