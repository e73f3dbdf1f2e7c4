"""The data explorer's core (core/explore.py) on the real FSDD recordings: the class table, the 2-D map,
the outliers, the lasso. No mocks: real files, real features, the real cache."""
import shutil

import numpy as np
import pytest
import soundfile

from core import explore
from core.datasets import scan_dataset
from core.errors import Cancelled
from core.tasks import TASKS

DIGITS = TASKS["digits"]


@pytest.fixture(scope="module")
def fsdd(fsdd_dir):
    return scan_dataset(fsdd_dir, label="digit")


def one_nn_accuracy(points, labels):
    """Leave-one-out 1-nearest-neighbour accuracy on the 2-D map."""
    p = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels)
    d = np.sum((p[:, None, :] - p[None, :, :]) ** 2, axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[d.argmin(axis=1)] == labels))


def test_class_table_counts_durations_and_levels_match_fsdd(fsdd, fsdd_dir):
    stats = explore.clip_stats(fsdd.paths())
    rows = explore.class_table(fsdd.items, stats)
    on_disk = {}
    for path in fsdd_dir.glob("*.wav"):
        on_disk[path.name.split("_")[0]] = on_disk.get(path.name.split("_")[0], 0) + 1
    assert [r.label for r in rows] == [str(d) for d in range(10)]
    assert {r.label: r.count for r in rows} == on_disk == fsdd.class_counts()
    for r in rows:
        assert r.unreadable == 0
        assert r.speakers == len({it.speaker for it in fsdd.items if it.label == r.label})
        assert 0.1 < r.mean_seconds < 2.0  # FSDD's words are about half a second
        assert r.total_seconds == pytest.approx(r.mean_seconds * r.count)
        assert -60 < r.level_dbfs < 0
    # a clip's numbers are its own: duration from its samples, level = RMS in dBFS
    y, sr = soundfile.read(fsdd.items[0].path, dtype="float32")
    assert stats[0].duration == pytest.approx(len(y) / sr)
    assert stats[0].level_dbfs == pytest.approx(20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))), abs=1e-3)
    # counts alone (before the clips are read)
    assert [(r.label, r.count, r.total_seconds) for r in explore.class_table(fsdd.items)] == [
        (r.label, r.count, None) for r in rows]


def test_pca_map_of_fsdd_separates_the_digits(fsdd):
    fm = explore.feature_map(fsdd, DIGITS.feature_config(), method="pca")
    assert fm.points.shape == (len(fsdd.items), 2) and not fm.sampled
    assert sorted(fm.paths) == sorted(fsdd.paths())
    labels = np.array(fm.labels)
    centroids = np.array([fm.points[labels == lab].mean(axis=0) for lab in fsdd.labels])
    spread = np.linalg.norm(centroids - centroids.mean(axis=0), axis=1)
    assert spread.max() > 0.25 * fm.points.std(axis=0).mean()  # the classes sit in different places
    accuracy = one_nn_accuracy(fm.points, labels)
    assert accuracy > 0.2, accuracy  # chance is 0.1 with ten balanced digits
    assert fm.explained[0] >= fm.explained[1] > 0
    assert "PCA of mfcc-full" in fm.describe()


def test_a_big_dataset_is_sampled_and_says_so(fsdd):
    fm = explore.feature_map(fsdd, DIGITS.feature_config(), limit=500)
    assert len(fm.paths) == 500 and fm.n_usable == 2000 and fm.sampled
    assert "random sample of 2,000" in fm.describe()
    again = explore.feature_map(fsdd, DIGITS.feature_config(), limit=500)
    assert again.paths == fm.paths  # seeded: the same sample, the same picture
    np.testing.assert_allclose(again.points, fm.points, atol=1e-4)


def test_a_noise_clip_put_into_class_3_is_flagged(fsdd, tmp_path):
    """A few real clips of three digits, plus a WAV of white noise named as a "3": the noise is flagged,
    as the most outlying clip of its class."""
    folder = tmp_path / "digits"
    folder.mkdir()
    for digit in ("2", "3", "7"):
        for it in [it for it in fsdd.items if it.label == digit][::25]:  # 8 clips, every speaker
            shutil.copy(it.path, folder)
    rng = np.random.default_rng(3)
    noise = folder / "3_noise_0.wav"
    soundfile.write(noise, (0.1 * rng.standard_normal(4000)).astype(np.float32), 8000, subtype="PCM_16")
    ds = scan_dataset(folder, label="digit")
    assert ds.class_counts() == {"2": 8, "3": 9, "7": 8}
    fm = explore.feature_map(ds, DIGITS.feature_config())
    j = fm.paths.index(str(noise))
    assert fm.outliers[j], fm.scores[j]
    threes = [i for i, lab in enumerate(fm.labels) if lab == "3"]
    assert max(threes, key=lambda i: fm.scores[i]) == j
    assert fm.scores[j] > explore.OUTLIER_Z


def test_the_child_job_gets_the_clips_as_three_strings(fsdd):
    """What the GUI runs in its own process: the clips cross as NUL-joined strings, reports go out."""
    items = [it for it in fsdd.items if it.label in ("1", "8")][::10]
    reports = []
    fm = explore.map_in_child(fsdd.root, "\0".join(it.path for it in items), "\0".join(it.label for it in items),
                              "\0".join(it.speaker or "" for it in items), DIGITS.feature_config(), "pca", 500, 0,
                              report=lambda kind, value: reports.append((kind, value)), should_stop=lambda: False)
    assert fm.paths == [it.path for it in items] and fm.labels == [it.label for it in items]
    assert fm.speakers == [it.speaker for it in items]
    assert [v["name"] for k, v in reports if k == "phase"] == ["features", "outliers", "projection"]
    assert any(k == "progress" for k, _ in reports)


def test_outlier_scores_robust_z():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((41, 5)).astype(np.float32)
    X[7] += 30.0
    labels = ["a"] * 41
    scores, flagged = explore.outlier_scores(X, labels)
    assert flagged[7] and flagged.sum() <= 2
    small, none = explore.outlier_scores(X[:4], labels[:4])  # too few clips to judge
    assert not none.any() and not small.any()


def test_pca_matches_an_exact_svd_and_the_randomised_one_agrees():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((3000, 2)) @ rng.standard_normal((2, 1000)) * 3
    X = explore.standardize(base + rng.standard_normal((3000, 1000)))  # big enough for the randomised SVD
    Y, explained = explore.pca_2d(X)
    Xc = X.astype(np.float64) - X.mean(axis=0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    exact = Xc @ vt[:2].T
    for k in range(2):
        assert abs(np.corrcoef(Y[:, k], exact[:, k])[0, 1]) > 0.999
    np.testing.assert_allclose(explained, s[:2] ** 2 / np.sum(s ** 2), rtol=1e-3)
    small, _ = explore.pca_2d(X[:200, :50])  # the exact path
    assert small.shape == (200, 2)


def test_standardize_drops_constant_columns():
    X = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 2.0], [5.0, 5.0, 4.0]])
    Z = explore.standardize(X)
    assert Z.shape == (3, 2)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-6)


def test_windows_of_a_clip_are_averaged():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    rows = explore.clip_rows(X, np.array([0, 0, 1, 2, 2, 2]))
    np.testing.assert_allclose(rows, [[1, 2], [4, 5], [8, 9]])


def test_points_in_a_lasso_and_a_rectangle():
    points = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [3, 3], [-1, 0.2]])
    square = np.array([[0, 0], [2, 0], [2, 1], [0, 1]])
    assert explore.points_in_polygon(points, square).tolist() == [True, True, False, False, False]
    # a concave "L": the notch is outside
    ell = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]])
    assert explore.points_in_polygon(points, ell).tolist() == [True, True, True, False, False]
    assert not explore.points_in_polygon(points, square[:2]).any()


def test_tsne_gives_a_map_and_stops_at_once():
    rng = np.random.default_rng(2)
    X = np.vstack([rng.standard_normal((30, 8)) + 6 * k for k in range(2)]).astype(np.float32)
    Y = explore.tsne_2d(X)
    assert Y.shape == (60, 2)
    assert one_nn_accuracy(Y, np.repeat([0, 1], 30)) == 1.0
    with pytest.raises(Cancelled):
        explore.tsne_2d(rng.standard_normal((3000, 20)).astype(np.float32), should_stop=lambda: True)
