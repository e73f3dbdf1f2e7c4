"""Augmentation of training clips: what it does to a signal, and that it never
reaches test clips or the cached features of the real files."""
import numpy as np
import pytest

import core.augment as augment_mod
from core.augment import AugmentConfig, augmented_rows, perturb, rng_for, speed_perturb
from core.cache import FeatureCache
from core.datasets import scan_dataset
from core.errors import SpeechLabError
from core.extraction import build_features
from core.models.mlp import MLPClassifier
from core.tasks import DIGITS
from core.training import SplitConfig, train_model

SR = 16000


def tone(freq, seconds=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y, sr=SR):
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return np.fft.rfftfreq(y.size, 1 / sr)[spec.argmax()]


@pytest.fixture(scope="module")
def small_fsdd(fsdd_dir):
    """Every tenth FSDD clip (200 clips, 4 speakers, every digit)."""
    ds = scan_dataset(fsdd_dir, label="digit")
    return ds.subset(range(0, len(ds.items), 10))


def test_speed_perturbation_scales_length_and_pitch_together():
    y = tone(440.0)
    fast = speed_perturb(y=y, factor=1.1)
    slow = speed_perturb(y=y, factor=0.9)
    assert fast.size == pytest.approx(y.size / 1.1, rel=0.01)
    assert slow.size == pytest.approx(y.size / 0.9, rel=0.01)
    assert peak_hz(fast) == pytest.approx(484.0, abs=6)
    assert peak_hz(slow) == pytest.approx(396.0, abs=6)


def test_noise_is_added_at_the_asked_snr():
    y = tone(300.0, seconds=1.0)
    config = AugmentConfig(copies=1, speed=(1.0, 1.0), shift_seconds=0.0, reverb_probability=0.0, gain_db=0.0,
                           snr_db=(10.0, 10.0))
    noisy = perturb(y=y, sr=SR, config=config, rng=np.random.default_rng(0))
    noise = noisy - y
    snr = 10 * np.log10(np.mean(y.astype(float) ** 2) / np.mean(noise.astype(float) ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)


def test_copies_are_reproducible_and_differ_from_each_other():
    y = tone(200.0)
    config = AugmentConfig()
    a = perturb(y=y, sr=SR, config=config, rng=rng_for(0, 0, "a.wav"))
    again = perturb(y=y, sr=SR, config=config, rng=rng_for(0, 0, "a.wav"))
    other_copy = perturb(y=y, sr=SR, config=config, rng=rng_for(0, 1, "a.wav"))
    np.testing.assert_array_equal(a, again)
    assert a.shape != other_copy.shape or not np.allclose(a, other_copy)
    assert np.max(np.abs(a)) <= 1.0


@pytest.mark.parametrize("bad", [dict(copies=-1), dict(copies=True), dict(speed=(1.2, 0.8)), dict(speed=(0.1, 1.0)),
                                 dict(snr_db=(40.0,)), dict(gain_db=-3.0), dict(reverb_probability=2.0)])
def test_bad_settings_are_refused_with_the_setting_named(bad):
    with pytest.raises(SpeechLabError, match=next(iter(bad))):
        AugmentConfig(**bad)


def test_settings_round_trip_through_json_dict():
    config = AugmentConfig(copies=3, speed=(0.9, 1.1), snr_db=None)
    assert AugmentConfig.from_dict(config.to_dict()) == config


def test_training_adds_copies_of_training_clips_only(small_fsdd, tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path / "features.sqlite")
    augmented_paths = []
    real = augment_mod.augmented_raw

    def recording(path, *args):
        augmented_paths.append(path)
        return real(path, *args)

    monkeypatch.setattr(augment_mod, "augmented_raw", recording)
    split = SplitConfig(kind="speaker", test_speakers=("george",))
    result = train_model(small_fsdd, task="digits", feature_config=DIGITS.feature_config(),
                         model=MLPClassifier(**DIGITS.model, random_state=0), split=split, cache=cache,
                         augment=AugmentConfig(copies=2))
    test_paths = {f["path"] for f in result.metrics["test_files"]}
    assert test_paths and all("george" in p for p in test_paths)
    assert augmented_paths and not set(augmented_paths) & test_paths
    assert len(augmented_paths) == 2 * result.n_train
    assert result.bundle.training["augment"]["copies"] == 2
    assert result.bundle.training["n_train_augmented"] == 3 * result.n_train
    assert result.metrics["accuracy"] > 0.3  # a broken pipeline is at chance (0.1)


def test_augmented_copies_never_reach_the_real_files_cache(small_fsdd, tmp_path):
    cache = FeatureCache(tmp_path / "features.sqlite")
    config = DIGITS.feature_config()
    before = build_features(small_fsdd, config, cache=cache, n_jobs=1)
    rows = np.arange(len(before.items))
    X, y, groups, failed = augmented_rows(before, rows, AugmentConfig(copies=1), cache=cache)
    after = build_features(small_fsdd, config, cache=cache, n_jobs=1)
    np.testing.assert_array_equal(before.X, after.X)
    assert failed == 0 and X.shape == (2 * len(rows), before.X.shape[1])
    assert not np.allclose(X[len(rows):], before.X)  # the copies are other sounds
    np.testing.assert_array_equal(groups[len(rows):], before.groups)  # a copy stays in its clip's group
    np.testing.assert_array_equal(y[len(rows):], before.labels)
    # a second run reads the copies back from the cache: the same numbers
    X2, *_ = augmented_rows(before, rows, AugmentConfig(copies=1), cache=cache)
    np.testing.assert_array_equal(X, X2)


def _mel_peak_band(y, warp):
    from core.features import _mel, power_spectrogram

    power = power_spectrogram(y=y, n_fft=400, hop_length=160)
    return float((_mel(SR, 400, 40, warp) @ power).mean(axis=1).argmax())


def test_vocal_tract_length_perturbation_moves_formants_like_a_shorter_or_longer_tract():
    from core.dsp import mel_basis, vtlp_warp, warped_mel_basis

    nyquist = SR / 2
    f = np.linspace(0, nyquist, 201)
    for alpha in (0.9, 1.1):
        g = vtlp_warp(f, alpha=alpha, nyquist=nyquist)
        assert g[0] == 0 and g[-1] == pytest.approx(nyquist) and np.all(np.diff(g) > 0)
        assert vtlp_warp(1000.0, alpha=alpha, nyquist=nyquist) == pytest.approx(1000.0 * alpha)
    np.testing.assert_array_equal(warped_mel_basis(SR, 400, 40, 1.0), mel_basis(SR, 400, 40))
    # read through a warp of 1.1, a 1 kHz tone lands in the mel band of a 1.1 kHz tone (and 0.9: of 900 Hz)
    assert _mel_peak_band(tone(1000.0), 1.1) == _mel_peak_band(tone(1100.0), 1.0)
    assert _mel_peak_band(tone(1000.0), 0.9) == _mel_peak_band(tone(900.0), 1.0)
    assert _mel_peak_band(tone(1100.0), 1.0) > _mel_peak_band(tone(1000.0), 1.0)


def test_vtlp_copies_differ_from_plain_copies_and_leave_the_plain_cache_keys_alone(small_fsdd, tmp_path):
    cache = FeatureCache(tmp_path / "features.sqlite")
    config = DIGITS.feature_config()
    fs = build_features(small_fsdd.subset(range(20)), config, cache=cache, n_jobs=1)
    plain, warped = AugmentConfig(copies=1), AugmentConfig(copies=1, vtlp=(0.9, 1.1))
    assert "vtlp" not in plain.cache_key(config, 0) and "vtlp" in warped.cache_key(config, 0)
    assert AugmentConfig.from_dict(warped.to_dict()) == warped
    rows = np.arange(len(fs.items))
    Xp = augmented_rows(fs, rows, plain, cache=cache)[0][len(rows):]
    Xw = augmented_rows(fs, rows, warped, cache=cache)[0][len(rows):]
    Xw_again = augmented_rows(fs, rows, warped, cache=False)[0][len(rows):]
    np.testing.assert_allclose(Xw, Xw_again, rtol=1e-5, atol=1e-4)  # reproducible, and the cache holds the same
    assert Xp.shape == Xw.shape
    differs = np.abs(Xp - Xw).max(axis=1) > 1e-3
    assert differs.mean() > 0.9  # the warp changes (nearly) every copy's features; the signal is the same
    with pytest.raises(SpeechLabError, match="vtlp"):
        AugmentConfig(vtlp=(1.1, 0.9))
