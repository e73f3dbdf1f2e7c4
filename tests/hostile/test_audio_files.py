"""Crafted and broken audio: skipped and listed with the reason, memory bounded, nothing cached that poisons later runs."""
import os
import resource
import struct

import numpy as np
import pytest

from core.audio import load_audio
from core.datasets import scan_dataset
from core.errors import AudioFileError
from core.extraction import build_features
from core.features import FeatureConfig
from tests.core.datagen import class_signal, write_wav


def wav_bytes(samples, *, sr, tag=1, bits=16, channels=1, declared_frames=None):
    """A RIFF/WAVE file with any header values (``declared_frames`` may lie)."""
    data = samples.tobytes()
    frame = channels * bits // 8
    size = (declared_frames if declared_frames is not None else len(data) // frame) * frame
    fmt = struct.pack("<HHIIHH", tag, channels, sr, sr * frame, frame, bits)
    return (b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", size) + data)


def coded_set(root, *, n=6, sr=8000):
    """A small {digit}_{speaker}_{index} set of usable clips (two classes, three speakers)."""
    for i in range(n):
        write_wav(root / f"{i % 2}_s{i % 3}_{i}.wav", class_signal(cls=i % 2, sr=sr, seconds=0.5, seed=i), sr=sr)
    return root


@pytest.fixture
def limit_memory():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, hard))  # the bad cases used to need 8+ GB
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_out_of_range_float_samples_are_skipped_and_never_cached(tmp_path):
    from core.cache import FeatureCache

    root = coded_set(tmp_path / "data")
    y = np.full(4000, 1e30, np.float32) * np.sin(np.arange(4000, dtype=np.float32))
    (root / "1_evil_0.wav").write_bytes(wav_bytes(y, sr=8000, tag=3, bits=32))
    cache = FeatureCache(tmp_path / "cache.sqlite")
    ds = scan_dataset(root)
    for _ in range(2):  # the second run reads the cache: the file must still be skipped, not poisoned
        fs = build_features(ds, FeatureConfig(name="mfcc-mean"), n_jobs=1, cache=cache)
        assert np.all(np.isfinite(fs.X)) and fs.n_clips == 6
        reasons = {os.path.basename(s.path): s.reason for s in fs.skipped}
        assert "1_evil_0.wav" in reasons and "out of range" in reasons["1_evil_0.wav"]


def test_a_header_saying_1_hz_is_refused_quickly(tmp_path, limit_memory):
    path = tmp_path / "slow.wav"
    path.write_bytes(wav_bytes((np.random.default_rng(0).normal(0, 3000, 20000)).astype("<i2"), sr=1))
    with pytest.raises(AudioFileError, match="sample rate 1 Hz"):
        load_audio(path, sr=16000)


def test_only_the_used_part_of_a_huge_file_is_read(tmp_path, limit_memory):
    # A WAV whose header declares 3 GB; the file is sparse, so it costs no disk.
    path = tmp_path / "huge.wav"
    frames = 1_500_000_000
    head = wav_bytes(np.zeros(0, "<i2"), sr=16000, declared_frames=frames)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write((np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes())
        fh.truncate(len(head) + 2 * frames)
    y, sr = load_audio(path, max_seconds=1.0)
    assert sr == 16000 and y.size == 16000


def test_a_truncated_copy_is_reported_with_both_durations(tmp_path):
    path = tmp_path / "cut.wav"
    samples = (np.sin(np.arange(136) / 3) * 8000).astype("<i2")  # 17 ms of an announced 1 s
    path.write_bytes(wav_bytes(samples, sr=8000, declared_frames=8000))
    with pytest.raises(AudioFileError, match=r"truncated: the header says 1 s, the file holds 0.017 s"):
        load_audio(path)


def test_a_cut_off_fmt_chunk_is_a_one_line_reason(tmp_path):
    path = tmp_path / "fmt.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 20) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + b"\x01\x00")
    with pytest.raises(AudioFileError) as info:
        load_audio(path)
    assert "fmt.wav" in str(info.value) and "\n" not in str(info.value)


def test_tiny_clips_are_too_short_for_a_task_with_a_minimum(tmp_path):
    root = coded_set(tmp_path / "data")
    write_wav(root / "0_s9_0.wav", np.array([0.5], np.float32), sr=8000)
    fs = build_features(scan_dataset(root), FeatureConfig(name="mfcc-mean", min_seconds=0.1), n_jobs=1, cache=False)
    reasons = {os.path.basename(s.path): s.reason for s in fs.skipped}
    assert "0_s9_0.wav" in reasons and ("too short" in reasons["0_s9_0.wav"] or "empty" in reasons["0_s9_0.wav"]
                                        or "silent" in reasons["0_s9_0.wav"])


def test_a_named_pipe_and_a_folder_are_named_for_what_they_are(tmp_path):
    pipe = tmp_path / "p.wav"
    os.mkfifo(pipe)
    with pytest.raises(AudioFileError, match="not a regular file"):
        load_audio(pipe)
    folder = tmp_path / "x.wav"
    folder.mkdir()
    with pytest.raises(AudioFileError, match="is a folder"):
        load_audio(folder)


def test_a_long_clip_does_not_blow_up_the_padded_matrix(tmp_path):
    from core.features import MAX_PAD_FRAMES

    root = coded_set(tmp_path / "data")
    write_wav(root / "1_long_0.wav", class_signal(cls=1, sr=8000, seconds=600), sr=8000)
    fs = build_features(scan_dataset(root), FeatureConfig(name="mfcc-full", frames="pad"), n_jobs=1, cache=False)
    assert fs.config.n_frames <= MAX_PAD_FRAMES
    assert fs.X.shape[1] <= 3 * 12 * MAX_PAD_FRAMES
