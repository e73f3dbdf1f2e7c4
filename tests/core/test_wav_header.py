"""A plain WAV's header facts are read from its chunk headers (core.audio._plain_wav_facts: a first scan
of 100,000 clips opened every file through libsndfile); they must be exactly what libsndfile says, and
anything unusual must go to libsndfile."""
import numpy as np
import pytest
import soundfile as sf

from core.audio import _plain_wav_facts, audio_info
from core.errors import AudioFileError

PLAIN = [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "PCM_U8"), ("WAV", "FLOAT"),
         ("WAV", "DOUBLE"), ("WAVEX", "PCM_16"), ("WAVEX", "FLOAT")]
OTHER = [("WAV", "IMA_ADPCM"), ("WAV", "ULAW"), ("RF64", "PCM_16")]


def write(path, container, subtype, channels, rate=22050, frames=12345, title=None):
    y = np.random.default_rng(0).standard_normal((frames, channels)).astype(np.float32) * 0.1
    with sf.SoundFile(str(path), "w", rate, channels, subtype, format=container) as f:
        if title:
            f.title = title  # a LIST chunk
        f.write(y)
    return path


def libsndfile(path):
    info = sf.info(str(path))
    return float(info.duration), int(info.samplerate), int(info.channels)


@pytest.mark.parametrize("container, subtype", PLAIN)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("cut", [0, 777])
def test_plain_wavs_read_from_the_header_as_libsndfile_reads_them(tmp_path, container, subtype, channels, cut):
    path = write(tmp_path / "a.wav", container, subtype, channels, rate=44100 if channels == 2 else 8000,
                 title="take 1" if subtype == "PCM_16" else None)
    if cut:  # the data chunk claims more than the file holds (a copy that stopped early)
        path.write_bytes(path.read_bytes()[:-cut])
    facts = _plain_wav_facts(str(path))
    assert facts is not None and facts == libsndfile(path)
    assert audio_info(path) == facts


@pytest.mark.parametrize("container, subtype", OTHER)
def test_anything_else_is_left_to_libsndfile(tmp_path, container, subtype):
    path = write(tmp_path / "b.wav", container, subtype, 1)
    assert _plain_wav_facts(str(path)) is None
    assert audio_info(path) == libsndfile(path)


@pytest.mark.parametrize("content", [b"", b"RIFF", b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(40), b"not audio at all" * 10])
def test_a_broken_header_gets_libsndfiles_message(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    assert _plain_wav_facts(str(path)) is None
    with pytest.raises(AudioFileError, match="broken.wav|not a readable audio file"):
        audio_info(path)
