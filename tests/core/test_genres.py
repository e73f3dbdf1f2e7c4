"""Genres in core: windows of a track never cross a split, long files are covered window by window,
the summary features, and extraction stays safe once TensorFlow is loaded."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from core.tasks import GENRES

SMALL_IMAGE = dict(image_size=24, n_mels=32, n_fft=512, hop_length=256)


@pytest.fixture(scope="module")
def demo_genres():
    from core.datasets import scan_dataset
    from core.demo import demo_dataset

    return scan_dataset(demo_dataset("genres"))


def test_task_offers_the_music_encoder_first_then_the_cnn_and_the_baseline_with_their_features():
    assert GENRES.model_keys == ["encoder-logreg", "cnn", "features-logreg"]
    encoder, cnn, baseline = GENRES.models
    assert encoder.type == "linear" and encoder.feature == "music-embedding" == GENRES.default_feature
    assert cnn.type == "keras-cnn" and cnn.feature == "logmel-128"
    assert baseline.type == "linear" and baseline.params["kind"] == "logreg" and baseline.feature == "music-stats"
    default = GENRES.feature_config()
    assert default.window_seconds == 3.0 and default.sr == 16000  # one musicnn patch per window
    cfg = GENRES.feature_config("logmel-128")
    assert cfg.window_seconds == 3.0 and cfg.image_size == 64 and cfg.n_mels == 128


def test_no_track_on_both_sides_of_a_split(demo_genres):
    from core.extraction import build_features
    from core.training import SplitConfig, split_features

    cfg = GENRES.feature_config("logmel-128", **SMALL_IMAGE)
    fs = build_features(demo_genres, cfg, n_jobs=1)
    assert fs.n_clips == len(demo_genres.items) and len(fs.X) >= 3 * fs.n_clips  # 6 s clips: 3 windows each
    tr, te = split_features(fs, SplitConfig(test_size=0.25, random_state=3))
    train_tracks = {fs.items[i].path for i in tr}
    test_tracks = {fs.items[i].path for i in te}
    assert train_tracks and test_tracks and not train_tracks & test_tracks
    assert len(test_tracks) == round(0.25 * fs.n_clips)


def test_music_stats_are_finite_and_sized(demo_genres):
    from core.features import features_of_file

    cfg = GENRES.feature_config("music-stats")
    raw = features_of_file(demo_genres.items[0].path, cfg)
    assert raw.shape == (3, 2 * (cfg.n_mfcc + 23)) and np.isfinite(raw).all()
    # different genres give different summaries
    other = features_of_file(next(it.path for it in demo_genres.items if it.label != demo_genres.items[0].label), cfg)
    assert np.abs(raw.mean(axis=0) - other.mean(axis=0)).max() > 0.1


@pytest.fixture(scope="module")
def small_bundle(demo_genres):
    """A genre model trained on windows (logistic regression: quick; the prediction path is the same)."""
    from core.models import make_model
    from core.training import SplitConfig, train_model

    choice = GENRES.model_choice("features-logreg")
    cfg = GENRES.feature_config("music-stats", n_mfcc=13)
    result = train_model(demo_genres, task="genres", feature_config=cfg, model=make_model(choice.type, **choice.params),
                         split=SplitConfig(test_size=0.25), n_jobs=1)
    assert result.metrics["accuracy"] >= 0.6 and "window_accuracy" in result.metrics
    assert result.n_train + result.n_test == len(demo_genres.items)  # counted in tracks
    return result.bundle


def test_long_file_prediction_covers_the_whole_file(small_bundle, demo_genres, tmp_path):
    """A 42 s 'song' (longer than the 30 s training cut) is classified window by window to its end."""
    from core.audio import load_audio

    parts = [load_audio(it.path)[0] for it in demo_genres.items[::10]][:7]
    y = np.concatenate(parts)
    sr = 22050
    path = tmp_path / "song.flac"
    sf.write(path, y, sr)
    duration = len(y) / sr
    assert duration > small_bundle.feature_config.max_seconds
    result = small_bundle.predict_file(path)
    windows = result["windows"]
    assert windows[0]["start"] == 0.0 and windows[-1]["end"] == pytest.approx(duration, abs=0.01)
    # consecutive windows leave no gap (3 s windows, 1.5 s apart)
    assert all(b["start"] <= a["end"] for a, b in zip(windows, windows[1:]))
    assert len(windows) >= int(duration / 1.5) - 1
    assert set(result["probabilities"]) == set(small_bundle.labels)
    assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)


def test_extraction_after_tensorflow_is_loaded_uses_clean_workers(demo_genres):
    """Once TensorFlow is in the process, worker processes come from a forkserver and give
    the same features as the in-process path."""
    code = f"""
import sys
sys.path.insert(0, {str(_root())!r})
import tensorflow  # noqa: F401  (as after a CNN was trained in the app)
from core.datasets import scan_dataset
from core.extraction import _pool_context, build_features
from core.tasks import GENRES
import numpy as np
ds = scan_dataset({demo_genres.root!r})
ds.items[:] = ds.items[:24]
cfg = GENRES.feature_config("logmel-128", image_size=16, n_mels=32, n_fft=512, hop_length=256)
assert _pool_context().get_start_method() == "forkserver"
pooled = build_features(ds, cfg, n_jobs=2, cache=False)
alone = build_features(ds, cfg, n_jobs=1, cache=False)
assert np.array_equal(pooled.X, alone.X) and not pooled.skipped
print("ok", len(pooled.X))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok")


def _root():
    import pathlib

    return pathlib.Path(__file__).resolve().parents[2]
