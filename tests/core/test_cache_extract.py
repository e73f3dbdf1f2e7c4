"""The parallel extractor and its disk cache: hits, invalidation, bad files, progress and stopping."""
import dataclasses
import os
import pathlib

import numpy as np
import pytest

from core.cache import FeatureCache
from core.datasets import scan_dataset
from core.errors import Cancelled
from core.extraction import build_features, extract
from core.features import FeatureConfig
from tests.core import datagen

CONFIG = FeatureConfig(name="mfcc-full", sr=16000)


@pytest.fixture()
def clips(tmp_path):
    """FSDD-like folder: 2 speakers × 10 digits, plus the bad files (coded names, digit 3)."""
    root = datagen.digits_flat(tmp_path / "clips", speakers=("alice", "bob"), per_speaker=1)
    bad = datagen.add_bad_files(root, names=datagen.coded_bad_names(speaker="bob", digit=3), cls=3)
    paths = sorted(str(p) for p in root.glob("*.wav"))
    return root, paths, bad


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """400 one-second clips at AudioMNIST's 48 kHz: enough work to stop in the middle."""
    root = tmp_path_factory.mktemp("many")
    signals = [datagen.class_signal(cls=c, sr=48000, seconds=1.0) for c in range(10)]
    return [str(datagen.write_wav(root / f"{i % 10}_s{i % 4}_{i}.wav", signals[i % 10], sr=48000))
            for i in range(400)]


def _same(a, b):
    return all((x is None and y is None) or np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------- cache


def test_second_run_is_all_cache_hits_with_identical_features(clips, tmp_path):
    _, paths, bad = clips
    cache = FeatureCache(tmp_path / "c.sqlite")
    first = extract(paths, CONFIG, cache=cache)
    second = extract(paths, CONFIG, cache=cache)
    assert first.cache_hits == 0
    assert second.cache_hits == len(paths)
    assert _same(first.raws, second.raws)
    # Failures are remembered too, with the same reasons.
    assert second.skipped == first.skipped
    assert {s.path for s in second.skipped} == {str(bad[k]) for k in ("corrupt", "empty", "text", "silent")}


def test_touched_file_is_extracted_again_alone(clips, tmp_path):
    _, paths, _ = clips
    cache = FeatureCache(tmp_path / "c.sqlite")
    extract(paths, CONFIG, cache=cache)
    st = os.stat(paths[4])
    os.utime(paths[4], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    again = extract(paths, CONFIG, cache=cache)
    assert again.cache_hits == len(paths) - 1
    assert extract(paths, CONFIG, cache=cache).cache_hits == len(paths)


def test_rewritten_file_gives_new_features(clips, tmp_path):
    _, paths, _ = clips
    cache = FeatureCache(tmp_path / "c.sqlite")
    before = extract(paths[:1], CONFIG, cache=cache).raws[0]
    st = os.stat(paths[0])
    datagen.write_wav(paths[0], datagen.class_signal(cls=9, sr=8000, seconds=0.4), sr=8000)
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = extract(paths[:1], CONFIG, cache=cache)
    assert after.cache_hits == 0
    assert not np.array_equal(before, after.raws[0])


def test_changed_config_misses_but_frame_count_does_not(clips, tmp_path):
    _, paths, _ = clips
    cache = FeatureCache(tmp_path / "c.sqlite")
    extract(paths, CONFIG, cache=cache)
    other = extract(paths, dataclasses.replace(CONFIG, n_mfcc=13), cache=cache)
    assert other.cache_hits == 0
    assert next(r for r in other.raws if r is not None).shape[0] == 39
    # n_frames only pads or cuts after the cache, so a trained model's config reuses it.
    assert extract(paths, dataclasses.replace(CONFIG, n_frames=50), cache=cache).cache_hits == len(paths)


def test_cache_size_and_clear(clips, tmp_path):
    _, paths, _ = clips
    cache = FeatureCache(tmp_path / "c.sqlite")
    assert cache.size_bytes() == 0 and cache.entry_count() == 0
    extract(paths, CONFIG, cache=cache)
    assert cache.size_bytes() > 0
    assert cache.entry_count() == len(paths)
    cache.clear()
    assert cache.size_bytes() == 0 and cache.entry_count() == 0
    assert extract(paths, CONFIG, cache=cache).cache_hits == 0


def test_default_cache_lives_in_speechlab_cache_dir(clips):
    _, paths, _ = clips
    cache = FeatureCache.default()
    assert pathlib.Path(os.environ["SPEECHLAB_CACHE_DIR"]) in cache.path.parents
    extract(paths, CONFIG, cache=True)
    assert extract(paths, CONFIG, cache=True).cache_hits == len(paths)


def test_no_cache_writes_nothing(clips, tmp_path):
    _, paths, _ = clips
    cache = FeatureCache(tmp_path / "c.sqlite")
    ex = extract(paths, CONFIG, cache=False)
    assert ex.cache_hits == 0 and not cache.path.exists()


def test_damaged_cache_file_is_only_a_slower_run(clips, tmp_path):
    _, paths, _ = clips
    cache = FeatureCache(tmp_path / "c.sqlite")
    cache.path.write_bytes(b"this is not a database" * 100)
    ex = extract(paths, CONFIG, cache=cache)
    assert ex.cache_hits == 0 and sum(r is not None for r in ex.raws) == len(paths) - 4


# ----------------------------------------------------------------------------- extraction


def test_the_same_files_again_come_as_one_finished_matrix(clips, tmp_path):
    root, paths, bad = clips
    ds = scan_dataset(root, probe=False)
    cache = FeatureCache(tmp_path / "c.sqlite")
    first = build_features(ds, CONFIG, cache=cache, n_jobs=1)
    second = build_features(ds, CONFIG, cache=cache, n_jobs=1)
    assert not first.whole_matrix_cached and second.whole_matrix_cached
    assert np.array_equal(first.X, second.X) and first.config == second.config
    assert [it.path for it in second.items] == [it.path for it in first.items]
    assert list(second.labels) == list(first.labels)
    assert [(s.path, s.reason) for s in second.skipped] == [(s.path, s.reason) for s in first.skipped]
    assert {s.path for s in second.skipped} >= {str(bad[k]) for k in ("corrupt", "empty", "text", "silent")}
    assert cache.size_bytes() > (tmp_path / "c.sqlite").stat().st_size  # the matrix counts in the cache's size


def test_a_touched_file_or_other_settings_make_the_matrix_again(clips, tmp_path):
    root, paths, _ = clips
    ds = scan_dataset(root, probe=False)
    cache = FeatureCache(tmp_path / "c.sqlite")
    build_features(ds, CONFIG, cache=cache, n_jobs=1)
    os.utime(paths[0], ns=(1, 1))  # the file changed
    assert not build_features(ds, CONFIG, cache=cache, n_jobs=1).whole_matrix_cached
    assert build_features(ds, CONFIG, cache=cache, n_jobs=1).whole_matrix_cached
    other = dataclasses.replace(CONFIG, frames="resize", n_frames=20)  # same raw features, another matrix
    again = build_features(ds, other, cache=cache, n_jobs=1)
    assert not again.whole_matrix_cached and again.config.n_frames == 20 and again.X.shape[1] % 20 == 0


@pytest.mark.parametrize("damage", ["garbage", "object array", "short"])
def test_a_damaged_or_tampered_matrix_is_made_again_never_run(clips, tmp_path, damage):
    root, _, _ = clips
    ds = scan_dataset(root, probe=False)
    cache = FeatureCache(tmp_path / "c.sqlite")
    first = build_features(ds, CONFIG, cache=cache, n_jobs=1)
    (matrix,) = (tmp_path / "matrices").glob("*.npz")
    if damage == "garbage":
        matrix.write_bytes(b"PK\x03\x04 not a zip at all")
    elif damage == "object array":  # a pickle inside: np.load(allow_pickle=False) refuses it
        np.savez(matrix, X=np.array([object()], dtype=object), keep=np.zeros(1), skipped=np.zeros(0),
                 reasons=np.zeros(0, dtype=str), n_frames=np.asarray(1))
    else:
        matrix.write_bytes(matrix.read_bytes()[:200])
    again = build_features(ds, CONFIG, cache=cache, n_jobs=1)
    assert not again.whole_matrix_cached and np.array_equal(again.X, first.X)
    assert build_features(ds, CONFIG, cache=cache, n_jobs=1).whole_matrix_cached  # written again


def test_only_the_most_recent_matrices_are_kept(clips, tmp_path):
    from core.cache import MatrixCache

    root, _, _ = clips
    ds = scan_dataset(root, probe=False)
    cache = FeatureCache(tmp_path / "c.sqlite")
    for n in range(MatrixCache.KEEP + 2):
        build_features(ds, dataclasses.replace(CONFIG, frames="resize", n_frames=10 + n), cache=cache, n_jobs=1)
    assert len(list((tmp_path / "matrices").glob("*.npz"))) == MatrixCache.KEEP
    cache.clear()
    assert not list((tmp_path / "matrices").glob("*.npz"))


def test_parallel_and_serial_give_the_same_features_in_order(clips):
    _, paths, _ = clips
    serial = extract(paths, CONFIG, n_jobs=1, cache=False)
    parallel = extract(paths, CONFIG, n_jobs=2, cache=False)
    assert _same(serial.raws, parallel.raws)
    assert serial.skipped == parallel.skipped


def test_bad_files_are_skipped_by_name_and_usable_ones_used(clips):
    root, _, bad = clips
    fs = build_features(scan_dataset(root), CONFIG, cache=False)
    reasons = {s.path: s.reason for s in fs.skipped}
    assert set(reasons) == {str(bad[k]) for k in ("corrupt", "empty", "text", "silent")}
    assert "not a readable audio file" in reasons[str(bad["corrupt"])]
    assert "not a readable audio file" in reasons[str(bad["text"])]
    assert "empty" in reasons[str(bad["empty"])]
    assert "silent" in reasons[str(bad["silent"])]
    used = {it.path for it in fs.items}
    assert {str(bad["stereo"]), str(bad["long"])} <= used
    assert len(fs.items) == 22 and fs.X.shape[0] == 22
    # Frames fixed by the longest clip (30 s at a 10 ms hop), as the seed did.
    assert fs.config.n_frames == 3001
    assert fs.X.shape[1] == 36 * 3001
    assert fs.labels.tolist() == [it.label for it in fs.items]


def test_progress_counts_up_to_the_total(many):
    paths = many[:120]
    reports = []
    extract(paths, CONFIG, progress=reports.append, n_jobs=2, cache=False)
    done = [p.done for p in reports]
    assert len(reports) >= 2
    assert all(p.total == len(paths) for p in reports)
    assert done == sorted(done) and done[0] < done[-1] == len(paths)
    assert reports[-1].files_per_second > 0


@pytest.mark.parametrize("when", ["at the first report", "mid-way"])
def test_stop_request_ends_extraction_at_the_next_check(many, when):
    """Pressing Stop ends the extraction at the next check (every 0.1 s and between
    files), not at the end: the first "yes" to should_stop is the last question
    asked, the work stops short of the end, and no worker process is left running."""
    import multiprocessing

    reports, answers = [], []

    def progress(p):
        reports.append(p.done)

    def should_stop():  # the user presses Stop once progress shows (any, or some files done)
        answers.append(bool(reports) and (when == "at the first report" or reports[-1] > 0))
        return answers[-1]

    with pytest.raises(Cancelled):
        extract(many, CONFIG, progress=progress, should_stop=should_stop, n_jobs=2, cache=False)
    assert answers.count(True) == 1 and answers[-1] is True  # it stopped at the first "yes"
    assert reports[-1] < len(many)  # it really stopped before the end
    assert multiprocessing.active_children() == []  # workers are stopped, not left to finish
