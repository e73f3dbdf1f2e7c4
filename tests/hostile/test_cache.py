"""The feature cache is an optimisation: it never fails a run, never mixes two folders, never poisons features."""
import os
import sqlite3

import numpy as np

from core.cache import FeatureCache
from core.datasets import scan_dataset
from core.extraction import build_features
from core.features import FeatureConfig
from tests.core.datagen import class_signal, write_wav

CONFIG = FeatureConfig(name="mfcc-mean")


def make_set(root, *, shift=0):
    for i in range(6):
        write_wav(root / f"{i % 2}_s{i % 3}_{i}.wav", class_signal(cls=(i + shift) % 4, sr=8000, seed=i), sr=8000)
    return root


def test_an_unusable_cache_folder_turns_caching_off_with_a_note(tmp_path):
    (tmp_path / "cachedir").write_text("not a folder")  # a file where the cache folder should be
    cache = FeatureCache(tmp_path / "cachedir" / "features.sqlite")
    fs = build_features(scan_dataset(make_set(tmp_path / "d")), CONFIG, n_jobs=1, cache=cache)
    assert fs.n_clips == 6
    assert len(fs.notes) == 1 and "feature cache off" in fs.notes[0]


def test_a_damaged_database_is_moved_aside_and_a_new_one_started(tmp_path):
    db = tmp_path / "features.sqlite"
    db.write_bytes(b"this is not sqlite" * 100)
    cache = FeatureCache(db)
    ds = scan_dataset(make_set(tmp_path / "d"))
    fs = build_features(ds, CONFIG, n_jobs=1, cache=cache)
    assert fs.n_clips == 6 and any("damaged" in n for n in fs.notes)
    assert (tmp_path / "features.sqlite.damaged").exists()
    again = build_features(ds, CONFIG, n_jobs=1, cache=FeatureCache(db))  # the fresh database works
    assert again.cache_hits == 6 and np.array_equal(again.X, fs.X)
    assert FeatureCache(db).entry_count() == 6


def test_tampered_rows_and_a_tampered_matrix_are_extracted_again(tmp_path):
    db = tmp_path / "features.sqlite"
    ds = scan_dataset(make_set(tmp_path / "d"))
    first = build_features(ds, CONFIG, n_jobs=1, cache=FeatureCache(db))
    con = sqlite3.connect(db)
    con.execute("UPDATE features_v2 SET shape = 'x,y'")
    con.execute("UPDATE features_v2 SET data = ? WHERE rowid = 1", (np.full(12, np.nan, np.float32).tobytes(),))
    con.commit()
    con.close()
    (matrix,) = (tmp_path / "matrices").glob("*.npz")  # the finished matrix too: a well-formed file full of NaN
    with np.load(matrix) as z:
        parts = {k: z[k] for k in z.files}
    np.savez(matrix, **{**parts, "X": np.full_like(parts["X"], np.nan)})
    second = build_features(ds, CONFIG, n_jobs=1, cache=FeatureCache(db))
    assert not second.whole_matrix_cached
    assert second.cache_hits == 0 and np.array_equal(second.X, first.X)


def test_two_folders_with_equal_names_sizes_and_times_never_share_rows(tmp_path, monkeypatch):
    db = tmp_path / "features.sqlite"
    a, b = make_set(tmp_path / "one" / "data"), make_set(tmp_path / "two" / "data", shift=2)
    for fa in a.iterdir():  # same names, sizes and mtimes; different sounds
        os.utime(b / fa.name, ns=(fa.stat().st_atime_ns, fa.stat().st_mtime_ns))
    monkeypatch.chdir(tmp_path / "one")
    fa = build_features(scan_dataset("data"), CONFIG, n_jobs=1, cache=FeatureCache(db))
    monkeypatch.chdir(tmp_path / "two")
    fb = build_features(scan_dataset("data"), CONFIG, n_jobs=1, cache=FeatureCache(db))
    assert fb.cache_hits == 0
    assert not np.allclose(fa.X, fb.X)


def test_the_cache_command_survives_a_damaged_database(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, SPEECHLAB_CACHE_DIR=str(tmp_path))
    (tmp_path / "features.sqlite").write_bytes(b"garbage" * 50)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "main.py", "cache", "--json"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
