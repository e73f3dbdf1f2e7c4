"""The Digits defaults chosen by benchmarks/digits_accuracy.py: what a user notices of them.

No accuracy target here beyond floors that catch a broken pipeline; the
targets live in the benchmark (benchmarks/RESULTS.md).
"""
import dataclasses

import numpy as np
import pytest

from core.features import FeatureConfig, features_of_signal, finalize, highpass, prepare_signal
from core.audio import load_audio


@pytest.fixture(scope="module")
def fsdd_clip(fsdd_dir):
    y, sr = load_audio(fsdd_dir / "7_jackson_3.wav", sr=16000)
    return y, sr


def test_a_dc_offset_is_removed_before_trimming(fsdd_clip):
    """A microphone (or AudioMNIST_AZ) with a constant offset: the word is still cut out and
    gets the features of the clean clip."""
    y, sr = fsdd_clip
    silence = np.zeros(sr // 2, np.float32)
    padded = np.concatenate([silence, y, silence])
    offset = padded - np.float32(0.085)  # -21 dBFS, louder than the quiet parts of the word
    config = FeatureConfig(name="mfcc-full", sr=16000, n_mfcc=13, n_mels=32, trim_db=15.0, frames="resize",
                           n_frames=32, highpass_hz=60.0)
    clean_cut, _ = prepare_signal(padded, sr, config)
    offset_cut, _ = prepare_signal(offset, sr, config)
    assert abs(offset_cut.size - clean_cut.size) <= 0.02 * sr  # the same word, not the whole take
    assert offset_cut.size < 0.7 * padded.size
    without = dataclasses.replace(config, highpass_hz=None)
    assert prepare_signal(offset, sr, without)[0].size > 0.95 * padded.size  # the offset defeats trimming
    a, b = features_of_signal(padded, sr, config), features_of_signal(offset, sr, config)
    c = features_of_signal(offset, sr, without)
    assert np.linalg.norm(a - b) < 0.2 * np.linalg.norm(a - c)


def test_highpass_keeps_speech_and_its_timing():
    sr = 16000
    t = np.arange(sr) / sr
    voice = (0.3 * np.sin(2 * np.pi * 300 * t) * (t > 0.4) * (t < 0.6)).astype(np.float32)
    out = highpass(y=voice + np.float32(0.1), sr=sr, cutoff_hz=60.0)
    assert abs(float(out.mean())) < 1e-3
    loud = np.flatnonzero(np.abs(out) > 0.15)
    assert loud[0] / sr == pytest.approx(0.4, abs=0.01) and loud[-1] / sr == pytest.approx(0.6, abs=0.01)
    assert np.max(np.abs(out)) == pytest.approx(0.3, rel=0.1)


def test_settings_without_highpass_keep_their_cached_features():
    config = FeatureConfig(name="mfcc-stats", sr=16000, trim_db=30.0)
    assert "highpass" not in config.cache_key()
    assert dataclasses.replace(config, highpass_hz=60.0).cache_key() != config.cache_key()
    assert FeatureConfig.from_dict({**config.to_dict(), "highpass_hz": 60.0}).highpass_hz == 60.0


def test_highpass_setting_is_bounded():
    from core.errors import SpeechLabError

    with pytest.raises(SpeechLabError, match="highpass_hz"):
        FeatureConfig(name="mfcc-full", highpass_hz=0.0)
    finalize([], FeatureConfig(name="mfcc-full", highpass_hz=60.0))  # an empty set still finalizes


# ----------------------------------------------------------------------------- "not a digit"


def _non_digits(sr=16000):
    """Sounds a user may make at the microphone that are not digits."""
    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    return {
        "bird-like whistle": 0.5 * np.sin(2 * np.pi * (2000 + 1500 * np.sin(2 * np.pi * 6 * t)) * t),
        "rising chirp": 0.5 * np.sin(2 * np.pi * (800 * t + 1500 * t**2)),
        "white noise": 0.3 * rng.standard_normal(sr),
        "mains hum": 0.5 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 440 * t),
        "hand clap": np.concatenate([0.8 * rng.standard_normal(400) * np.exp(-np.arange(400) / 80), np.zeros(sr)]),
    }


@pytest.fixture(scope="module")
def open_set_result(fsdd_dir):
    """The default digits model with its default "not a digit" threshold, george never heard."""
    from core.datasets import scan_dataset
    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS
    from core.training import SplitConfig, train_model

    ds = scan_dataset(fsdd_dir, label="digit")
    return train_model(ds, task="digits", feature_config=DIGITS.feature_config(),
                       model=MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (64,)}, random_state=0),
                       split=SplitConfig(kind="speaker", test_speakers=("george",)), open_set=DIGITS.open_set)


@pytest.mark.parametrize("name", list(_non_digits()))
def test_sounds_that_are_not_digits_are_answered_unknown(open_set_result, name):
    from core.prediction import predict_long

    y = _non_digits()[name].astype(np.float32)
    p = predict_long(open_set_result.bundle, y, 16000, clip_seconds=1.5)
    assert p["label"] == "unknown", (name, p.get("known_label"), p.get("score"), p.get("threshold"))
    assert p["known_label"] in [str(d) for d in range(10)]  # the closest digit is still said


def test_a_new_voice_saying_digits_is_rarely_rejected(open_set_result, fsdd_dir):
    from core.prediction import predict_file

    os_ = open_set_result.metrics["open_set"]
    assert os_["method"] == "distance"
    # the threshold came from held-out clips, then the model kept was trained on all of them
    assert open_set_result.n_train == 1500 == open_set_result.bundle.training["n_train"]
    assert open_set_result.bundle.training["refit_after_calibration"]
    assert os_["false_reject_rate"] < 0.25  # george's digits, never heard: most are accepted
    p = predict_file(open_set_result.bundle, fsdd_dir / "3_george_7.wav")
    assert set(p) >= {"label", "known_label", "score", "threshold"}


def test_the_threshold_survives_saving(open_set_result, tmp_path):
    from core.bundle import load_bundle, save_bundle
    from core.prediction import predict_long

    path = save_bundle(open_set_result.bundle, tmp_path / "digits.slm")
    loaded = load_bundle(path)
    y = _non_digits()["bird-like whistle"].astype(np.float32)
    assert predict_long(loaded, y, 16000, clip_seconds=1.5)["label"] == "unknown"
    assert loaded.open_set["thresholds"] == open_set_result.bundle.open_set["thresholds"]


# ----------------------------------------------------------------------------- the Keras CNN for digits


def test_digits_cnn_trains_on_log_mel_images_and_round_trips(tmp_path):
    """``--model cnn`` / the Digits CNN: the Genres model code on the task's 32×32 log-mel images."""
    from core.bundle import load_bundle, save_bundle
    from core.datasets import scan_dataset
    from core.demo import demo_dataset
    from core.models import make_model
    from core.tasks import DIGITS
    from core.training import train_model

    choice = DIGITS.model_choice("cnn")
    assert choice.type == "keras-cnn" and choice.feature == "logmel-128"
    ds = scan_dataset(demo_dataset("digits"), label="digit")
    model = make_model(choice.type, **{**choice.params, "epochs": 15, "early_stopping": False}, random_state=0)
    result = train_model(ds, task="digits", feature_config=DIGITS.feature_config(choice.feature), model=model)
    assert result.bundle.feature_config.image_size == 32
    assert result.metrics["accuracy"] > 0.3  # chance is 0.1: the pipeline learns
    loaded = load_bundle(save_bundle(result.bundle, tmp_path / "cnn.slm"))
    y, sr = load_audio(ds.items[0].path, sr=16000)
    assert loaded.predict_signal(y, sr)["probabilities"] == pytest.approx(
        result.bundle.predict_signal(y, sr)["probabilities"], abs=1e-5)
