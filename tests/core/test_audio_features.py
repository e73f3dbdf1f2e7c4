"""Loading audio and computing features: shapes, and values against librosa's own functions."""
import dataclasses

import librosa
import numpy as np
import pytest
import soundfile as sf

from core import features as F
from core.audio import load_audio, trim_silence
from core.errors import AudioFileError, SpeechLabError
from core.features import FeatureConfig, features_of_file, features_of_signal, finalize
from core.tasks import DIGITS, GENRES
from tests.core import datagen


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One clean 8 kHz clip, one 1 s 22.05 kHz clip, and the bad files."""
    root = tmp_path_factory.mktemp("clips")
    out = datagen.add_bad_files(root, names={k: f"{k}.wav" for k in datagen.BAD_KINDS}, cls=4)
    out["mono8k"] = datagen.write_wav(root / "mono8k.wav", datagen.class_signal(cls=2, sr=8000, seconds=0.4), sr=8000)
    out["genre"] = datagen.write_wav(root / "genre.wav", datagen.class_signal(cls=5, sr=22050, seconds=1.0),
                                     sr=22050)
    return out


def _clip(sr=16000, seconds=0.4, cls=3):
    return datagen.class_signal(cls=cls, sr=sr, seconds=seconds)


# ----------------------------------------------------------------------------- audio


def test_stereo_file_is_mono_mix(files):
    y, sr = load_audio(files["stereo"])
    stereo, file_sr = sf.read(str(files["stereo"]), dtype="float32")
    assert (sr, file_sr, stereo.ndim) == (44100, 44100, 2)
    np.testing.assert_allclose(y, stereo.mean(axis=1), atol=1e-7)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:audioread")  # librosa.load imports it
def test_stereo_file_resampled_like_librosa_load(files):
    y, sr = load_audio(files["stereo"], sr=16000)
    ref, _ = librosa.load(str(files["stereo"]), sr=16000, mono=True)
    assert sr == 16000 and y.dtype == np.float32
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_resampling_keeps_pitch_and_duration(tmp_path):
    t = np.arange(44100) / 44100
    path = datagen.write_wav(tmp_path / "a440x2.wav", 0.5 * np.sin(2 * np.pi * 880 * t), sr=44100)
    y, sr = load_audio(path, sr=16000)
    assert sr == 16000 and abs(y.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(y.size, 1 / sr)[spectrum.argmax()] == pytest.approx(880, abs=1.5)


def test_max_seconds_cuts_a_long_file(files):
    y, sr = load_audio(files["long"], max_seconds=5.0)
    assert sr == 8000 and y.size == 5 * 8000
    full, _ = load_audio(files["long"])
    assert full.size == 30 * 8000


@pytest.mark.parametrize("kind, reason", [
    ("corrupt", "not a readable audio file"),
    ("empty", "empty"),
    ("text", "not a readable audio file"),
    ("silent", "silent"),
])
def test_unusable_files_raise_naming_the_file(files, kind, reason):
    with pytest.raises(AudioFileError, match=reason) as err:
        load_audio(files[kind], sr=16000)
    assert err.value.path == str(files[kind])
    assert str(files[kind]) in str(err.value)


def test_missing_file_raises_audio_file_error(tmp_path):
    with pytest.raises(AudioFileError, match="cannot be opened"):
        load_audio(tmp_path / "gone.wav")


def test_trim_cuts_leading_and_trailing_silence():
    sr = 16000
    word = _clip(sr=sr, seconds=0.4)
    y = np.concatenate([np.zeros(sr // 2, np.float32), word, np.zeros(sr // 2, np.float32)])
    trimmed, (start, end) = trim_silence(y, top_db=30, sr=sr)
    # The word starts 0.5 s in and lasts 0.4 s; allow a frame (25 ms) either side.
    assert abs(start - sr // 2) <= 0.025 * sr
    assert abs(end - (sr // 2 + word.size)) <= 0.025 * sr
    assert np.array_equal(trimmed, y[start:end])


# ----------------------------------------------------------------------------- against librosa


@pytest.mark.parametrize("n_mfcc, n_mels, n_fft, hop", [(12, 24, 400, 160), (13, 128, 2048, 512), (20, 40, 512, 128)])
def test_mfcc_matches_librosa(n_mfcc, n_mels, n_fft, hop):
    y = _clip(seconds=1.0)
    ours = F.mfcc(y=y, sr=16000, n_mfcc=n_mfcc, n_mels=n_mels, n_fft=n_fft, hop_length=hop)
    ref = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-3 * np.abs(ref).max())


@pytest.mark.parametrize("seconds", [0.09, 0.4, 1.0])  # 10, 41 and 101 frames
def test_deltas_match_librosa(seconds):
    m = F.mfcc(y=_clip(seconds=seconds), sr=16000)
    stacked = F.deltas(m=m)
    assert stacked.shape == (36, m.shape[1])
    np.testing.assert_array_equal(stacked[:12], m)
    for order, rows in ((1, slice(12, 24)), (2, slice(24, 36))):
        ref = librosa.feature.delta(m, order=order)
        np.testing.assert_allclose(stacked[rows], ref, atol=1e-4 * np.abs(ref).max() + 1e-5)


def test_deltas_of_clips_shorter_than_the_window_are_finite():
    m = F.mfcc(y=_clip(seconds=0.04), sr=16000)  # 5 frames; librosa itself refuses these
    stacked = F.deltas(m=m)
    assert stacked.shape == (36, 5) and np.all(np.isfinite(stacked))


def test_spectral_summary_matches_librosa_means():
    y = _clip(seconds=1.0)
    ours = F.spectral_summary(y=y, sr=16000)
    ref = [
        librosa.feature.spectral_centroid(y=y, sr=16000, n_fft=2048, hop_length=512).mean(),
        librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512).mean(),
        librosa.feature.rms(y=y, frame_length=2048, hop_length=512).mean(),
    ]
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


def test_logmel_matches_librosa_power_to_db():
    # 127 hops of 512 give exactly 128 frames, so the 128×128 image needs no resizing.
    y = _clip(sr=22050, seconds=127 * 512 / 22050)
    img = F.logmel_image(y=y, sr=22050, n_mels=128, n_fft=2048, hop_length=512, size=128)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, n_fft=2048, hop_length=512, n_mels=128),
                              ref=np.max)
    assert img.shape == ref.shape == (128, 128)
    np.testing.assert_allclose(img, ref, atol=1e-3)


def test_resize_shrinks_by_averaging_blocks():
    img = np.random.default_rng(0).standard_normal((256, 64))
    out = F.resize_area(img, shape=(128, 32))
    np.testing.assert_allclose(out, img.reshape(128, 2, 32, 2).mean(axis=(1, 3)), atol=1e-5)
    grown = F.resize_area(np.full((10, 7), -3.0), shape=(128, 128))
    np.testing.assert_allclose(grown, -3.0, atol=1e-6)


# ----------------------------------------------------------------------------- feature names and shapes


@pytest.mark.parametrize("name, shape", [
    ("mfcc-full", (36, 41)),   # 0.4 s at 16 kHz, 10 ms hop: 1 + 6400 // 160 frames
    ("mfcc-mean", (12,)),
    ("mfcc-stats", (144,)),   # mean, std, min, max of 36 rows
    ("spectral", (3,)),
    ("logmel-128", (128, 128)),
])
def test_shape_of_every_feature(files, name, shape):
    config = FeatureConfig(name=name, sr=16000)
    raw = features_of_file(files["mono8k"], config)
    assert raw.shape == shape and raw.dtype == np.float32 and np.all(np.isfinite(raw))
    X, _ = finalize([raw, raw], config)
    assert X.shape == ((2, 36 * 41) if name == "mfcc-full" else (2, *shape))


def test_mfcc_stats_are_statistics_of_mfcc_full(files):
    cfg = FeatureConfig(name="mfcc-full", sr=16000)
    full = features_of_file(files["mono8k"], cfg)
    stats = features_of_file(files["mono8k"], dataclasses.replace(cfg, name="mfcc-stats"))
    mean = features_of_file(files["mono8k"], dataclasses.replace(cfg, name="mfcc-mean"))
    np.testing.assert_allclose(stats, np.concatenate([full.mean(1), full.std(1), full.min(1), full.max(1)]), rtol=1e-5)
    np.testing.assert_allclose(mean, full[:12].mean(1), rtol=1e-5)


def test_genre_logmel_image_is_128_square_in_decibels(files):
    # The report's way: one 128×128 image per whole clip.
    config = dataclasses.replace(GENRES.feature_config("logmel-128"), window_seconds=None, image_size=128)
    img = features_of_file(files["genre"], config)
    assert img.shape == (128, 128)
    windowed = dataclasses.replace(config, window_seconds=3.0)  # a 1 s clip is one (short) 3 s window
    windows = features_of_file(files["genre"], windowed)
    assert windows.shape == (1, 128, 128) and np.allclose(windows[0], img)
    assert img.min() >= -80.0 and img.max() <= 0.0
    assert img.max() > -1.0  # ref=max: the loudest cell sits at (about) 0 dB


def test_mfcc_full_pads_and_cuts_to_n_frames(files):
    config = FeatureConfig(name="mfcc-full", sr=16000)
    short = features_of_file(files["mono8k"], config)              # 41 frames
    long_ = features_of_file(files["genre"], config)               # 1 s: 101 frames
    X, fixed = finalize([short, long_], config)
    assert fixed.n_frames == 101 and X.shape == (2, 36 * 101)
    rows = X.reshape(2, 36, 101)
    np.testing.assert_array_equal(rows[0, :, :41], short)
    assert not rows[0, :, 41:].any()                                # zero-padded at the end
    np.testing.assert_array_equal(rows[1], long_)
    # A model's config fixes the frame count: longer clips are cut, nothing is re-measured.
    X50, kept = finalize([short, long_], dataclasses.replace(config, n_frames=50))
    assert kept.n_frames == 50 and X50.shape == (2, 36 * 50)
    np.testing.assert_array_equal(X50.reshape(2, 36, 50)[1], long_[:, :50])


def test_finalize_of_no_clips_is_an_empty_matrix():
    X, _ = finalize([], FeatureConfig(name="mfcc-full", n_frames=50))
    assert X.shape == (0, 36 * 50)


def test_mfcc_full_resize_stretches_every_clip_to_n_frames(files):
    config = FeatureConfig(name="mfcc-full", sr=16000, frames="resize")
    short = features_of_file(files["mono8k"], config)              # 41 frames
    long_ = features_of_file(files["genre"], config)               # 101 frames
    X, fixed = finalize([short, long_], config)
    assert fixed.n_frames == 32 and X.shape == (2, 36 * 32)
    rows = X.reshape(2, 36, 32)
    # Stretching keeps each coefficient's level: no zero padding, time averages agree.
    assert np.all(rows[0].any(axis=0))
    np.testing.assert_allclose(rows[1].mean(axis=1), long_.mean(axis=1), rtol=1e-3, atol=1e-3)
    X20, kept = finalize([short], dataclasses.replace(config, n_frames=20))
    assert kept.n_frames == 20 and X20.shape == (1, 36 * 20)


@pytest.mark.parametrize("kind", ["mono8k", "stereo", "long"])
@pytest.mark.parametrize("config", [
    DIGITS.feature_config("mfcc-full"),
    DIGITS.feature_config("mfcc-full", frames="pad", n_frames=120),
    DIGITS.feature_config("logmel-128"),
    FeatureConfig(name="mfcc-stats", sr=16000, max_seconds=2.0),
], ids=["digits-mfcc-full", "mfcc-full-pad", "digits-logmel", "stats-max2s"])
def test_signal_features_equal_file_features(files, kind, config):
    """A microphone take goes through the very same path as a dataset file."""
    y, sr = sf.read(str(files[kind]), dtype="float32")
    from_signal = features_of_signal(y, sr, config)
    X, _ = finalize([features_of_file(files[kind], config)], config)
    np.testing.assert_array_equal(from_signal, X[0])


# ----------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize("overrides, field", [
    ({"name": "mfcc-huge"}, "mfcc-huge"),
    ({"n_mfcc": 0}, "n_mfcc"),
    ({"n_mels": 0}, "n_mels"),
    ({"image_size": 0}, "image_size"),
    ({"win_ms": 0}, "win_ms"),
    ({"hop_ms": -10}, "hop_ms"),
    ({"n_frames": 0}, "n_frames"),
    ({"frames": "crop"}, "frames"),
])
def test_bad_settings_name_the_field(overrides, field):
    with pytest.raises(SpeechLabError, match=field):
        FeatureConfig(**overrides)


def test_config_round_trips_through_dict():
    config = DIGITS.feature_config("mfcc-full", n_frames=77)
    assert FeatureConfig.from_dict({**config.to_dict(), "from_a_newer_version": 1}) == config


@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("PCM_16", 2), ("FLOAT", 1), ("PCM_24", 1), ("PCM_U8", 1)])
def test_fast_wav_reader_gives_libsndfiles_samples(tmp_path, subtype, channels):
    """The NumPy fast path for plain WAVs must decode exactly what libsndfile
    decodes; formats it does not handle (24-bit, 8-bit) fall back to libsndfile."""
    import soundfile as sf

    from core.audio import _read_plain_wav, load_audio

    rng = np.random.default_rng(0)
    y = (0.5 * rng.standard_normal((4001, channels))).clip(-1, 1).astype(np.float32)
    path = tmp_path / f"x_{subtype}_{channels}.wav"
    sf.write(path, y if channels > 1 else y[:, 0], 11025, subtype=subtype)
    ref, sr = sf.read(path, dtype="float32")
    fast = _read_plain_wav(path)
    if subtype in ("PCM_16", "FLOAT"):
        assert fast is not None and fast[1] == sr
        np.testing.assert_array_equal(fast[0], ref)
    else:
        assert fast is None
    got, got_sr = load_audio(path)
    np.testing.assert_allclose(got, ref.mean(axis=1) if channels > 1 else ref, atol=1e-7)
    assert got_sr == 11025
