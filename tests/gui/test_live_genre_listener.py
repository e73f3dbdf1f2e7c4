"""Live genres (the Genres tab's "Listen live") through the virtual microphone and the shared
core.recorder.MicrophoneStream: a rolling window is classified while music plays, a lost device stops it.

The model is a real tiny classifier (loud / quiet by RMS level, tests/gui/test_recorder_widget.py);
audio goes PulseAudio → ALSA → PortAudio. Tests wait on conditions, never on the clock.
"""
import numpy as np

from gui.widgets.genre_timeline import LISTEN_TEXT, GenreTimeline, LiveGenreListener
from tests.gui.test_recorder_widget import LoudnessPredictor


def _listener(qtbot):
    timeline = GenreTimeline()
    listener = LiveGenreListener(timeline)
    qtbot.addWidget(timeline)
    qtbot.addWidget(listener)
    return listener


def test_live_listening_classifies_the_last_window_of_what_is_played(qtbot, virtual_mic):
    listener = _listener(qtbot)
    predictor = LoudnessPredictor()
    listener.set_predictor(predictor, window_seconds=1.0)
    listener.every_spin.setValue(0.5)
    try:
        assert listener.start(virtual_mic.device)
        assert listener.listening and listener.button.text() == "Stop listening"
        sr = 16000
        t = np.arange(int(2.5 * sr)) / sr
        tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        results = []
        listener.result.connect(results.append)
        virtual_mic.play(tone, sr)
        qtbot.waitUntil(lambda: any(r["label"] == "loud" for r in results), timeout=20000)
        y, rate = predictor.calls[-1]
        assert rate == listener._recorder.samplerate and y.size == rate  # the last 1 s window, at the stream's rate
        shown = next(r for r in results if r["label"] == "loud")
        assert shown["source"] == "microphone, live" and shown["windows"][-1]["end"] > shown["windows"][-1]["start"]
    finally:
        listener.shutdown()
    assert not listener.listening and listener.button.text() == LISTEN_TEXT


def test_a_lost_microphone_stops_live_listening_with_the_reason(qtbot, virtual_mic):
    listener = _listener(qtbot)
    listener.set_predictor(LoudnessPredictor(), window_seconds=1.0)
    try:
        assert listener.start(virtual_mic.device)
        qtbot.waitUntil(lambda: listener._heard > 0, timeout=20000)
        virtual_mic.unplug()
        qtbot.waitUntil(lambda: not listener.listening, timeout=20000)
        assert "stopped delivering audio" in listener.status.text()
        assert not listener.button.isChecked() and listener.button.text() == LISTEN_TEXT
    finally:
        listener.shutdown()
