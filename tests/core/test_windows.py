"""Clips cut into windows: coverage, one clip never on both sides of a split, clip-level decisions."""
import numpy as np
import pytest

from core.datasets import scan_dataset
from core.extraction import build_features
from core.features import FeatureConfig
from core.models.mlp import MLPClassifier
from core.training import SplitConfig, clip_probabilities, split_features, train_model
from core.windows import window_ranges
from tests.core.datagen import genres_tree


@pytest.mark.parametrize("n, window, overlap", [(100, 30, 0.0), (100, 30, 0.5), (90, 30, 0.0), (31, 30, 0.9),
                                                (10, 30, 0.0), (1, 1, 0.0)])
def test_windows_cover_the_whole_signal(n, window, overlap):
    ranges = window_ranges(n, window=window, overlap=overlap)
    covered = np.zeros(n, bool)
    for a, b in ranges:
        assert 0 <= a < b <= n and b - a == min(window, n)
        covered[a:b] = True
    assert covered.all()
    starts = [a for a, _ in ranges]
    assert starts == sorted(set(starts))


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    root = genres_tree(tmp_path_factory.mktemp("g"), genres=("blues", "jazz", "rock"), per_genre=6, seconds=3.2)
    ds = scan_dataset(root, layout="folders")
    config = FeatureConfig(name="mfcc-stats", sr=16000, n_mfcc=13, n_mels=40, window_seconds=1.0,
                           window_overlap=0.5)
    return ds, build_features(ds, config, n_jobs=1, cache=False)


def test_each_clip_gives_many_windows(windowed):
    ds, fs = windowed
    assert fs.n_clips == len(ds.items) == 18
    # 3.2 s in 1 s windows half a window apart: starts 0, .5, … 2.0 and one ending at 3.2 → 6 windows
    assert np.bincount(fs.groups).tolist() == [6] * 18
    assert len(fs.items) == fs.X.shape[0] == 108
    for g in range(fs.n_clips):  # every window of a clip carries the clip's path and label
        rows = np.flatnonzero(fs.groups == g)
        assert len({fs.items[r].path for r in rows}) == 1


@pytest.mark.parametrize("seed", [0, 1, 2, 42])
def test_no_clip_on_both_sides_of_a_split(windowed, seed):
    _, fs = windowed
    tr, te = split_features(fs, SplitConfig(kind="random", test_size=6 / 18, random_state=seed))
    assert set(fs.groups[tr]).isdisjoint(fs.groups[te])
    assert len(tr) + len(te) == len(fs.items)
    assert len(set(fs.groups[te])) == 6  # a third of the 18 clips, two per genre


def test_clip_probabilities_are_the_mean_of_the_windows():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.0, 1.0]])
    ids, first, mean = clip_probabilities(proba, np.array([5, 5, 5, 7]))
    assert ids.tolist() == [5, 7] and first.tolist() == [0, 3]
    assert np.allclose(mean, [[0.5, 0.5], [0.0, 1.0]])


def test_training_on_windows_reports_clip_and_window_accuracy(windowed, tmp_path):
    ds, _ = windowed
    config = FeatureConfig(name="mfcc-stats", sr=16000, n_mfcc=13, n_mels=40, window_seconds=1.0, window_overlap=0.5)
    model = MLPClassifier(hidden_layer_sizes=(32,), epochs=40, early_stopping=False, random_state=0)
    result = train_model(ds, task="genres", feature_config=config, model=model,
                         split=SplitConfig(test_size=6 / 18), n_jobs=1, cache=False)
    m = result.metrics
    assert result.n_test == 6 and result.bundle.training["n_test_windows"] == 36  # counts are clips
    assert m["n_clips"] == 6 and m["n_windows"] == 36
    assert len(m["test_files"]) == 6
    assert m["accuracy"] >= 0.8 and m["window_accuracy"] >= 0.6
    # A saved model decides a long file from its windows, and says which window chose what.
    y = np.concatenate([np.zeros(8000, np.float32), np.random.default_rng(0).normal(0, 0.1, 40000).astype(np.float32)])
    out = result.bundle.predict_signal(y, 16000)
    assert len(out["windows"]) == 5 and out["windows"][-1]["end"] == pytest.approx(3.0)
    mean = np.mean([[w["probabilities"][k] for k in result.bundle.labels] for w in out["windows"]], axis=0)
    assert np.allclose(mean, [out["probabilities"][k] for k in result.bundle.labels])
