"""core.recorder.MicrophoneStream, the app's one microphone loop, through the virtual microphone.

Nothing is mocked: sound is played into a PulseAudio null sink with ``paplay`` and recorded through
ALSA and PortAudio. Tests wait on conditions (samples delivered, the loss reported), never on the clock.
"""
import numpy as np
import soundfile

from core.errors import NoAudioDevice
from core.recorder import MicrophoneStream
from core.utterances import level_dbfs
from tests.core.test_recorder import _match
from tests.helpers import wait_until

SR = 16000


def test_blocks_go_to_the_callback_with_the_level_and_match_what_is_played(virtual_mic, espeak_wav):
    source, file_sr = soundfile.read(espeak_wav("four"), dtype="float32")
    blocks = []
    mic = MicrophoneStream(virtual_mic.device, samplerate=22050, on_block=blocks.append)
    assert mic.samplerate == 22050 and mic.device.name == virtual_mic.device  # chosen once, at construction
    assert not mic.active
    with mic:
        assert mic.active
        wait_until(lambda: mic.poll(timeout=0.05).size > 0, message="the first block")
        before = mic.frames
        virtual_mic.play(source, file_sr)  # returns once played out
        levels = []

        def arrived():
            mic.poll(timeout=0.05)
            levels.append(mic.level_db)
            return mic.frames >= before + source.size

        wait_until(arrived, message="the word to arrive")
        last = blocks[-1]
    assert not mic.active
    assert mic.frames == sum(b.size for b in blocks)  # every polled sample went to the callback once
    assert abs(mic.seconds - mic.frames / 22050) < 1e-9
    assert mic.level_db == level_dbfs(last)
    assert max(levels) > -40.0  # the word was heard (silence from the null sink is far below)
    score, _ = _match(np.concatenate(blocks), source)
    assert score >= 0.9
    assert mic.stop().size == 0  # stopping twice is harmless
    assert mic.overflows == 0


def test_a_lost_device_is_handed_to_on_error_once_and_the_stream_closed(virtual_mic):
    errors = []
    mic = MicrophoneStream(virtual_mic.device, samplerate=SR, on_error=errors.append).start()
    try:
        wait_until(lambda: mic.poll(timeout=0.05).size > 0, message="the first block")
        virtual_mic.unplug()
        wait_until(lambda: mic.poll(timeout=0.05).size >= 0 and bool(errors), timeout=5,
                   message="the lost device to be reported")
        assert len(errors) == 1 and isinstance(errors[0], NoAudioDevice)
        assert "stopped delivering audio" in str(errors[0])
        assert not mic.active
        assert mic.poll().size == 0 and len(errors) == 1  # reported once
    finally:
        mic.stop()
