"""A rescan of an unchanged folder trusts the last scan (core.datasets.ScanSnapshot): it lists nothing, yet
every added, removed, renamed or rewritten file is seen, and the feature matrix's key is the same whether the
scan's identities or fresh ``stat`` calls make it (core.cache.MatrixCache.key)."""
import os
import time

import numpy as np
import pytest

import core.datasets
from core.cache import MatrixCache
from core.datasets import ScanSnapshot, scan_dataset
from tests.core import datagen


def age(root, seconds=60):
    """Every folder below ``root`` last changed ``seconds`` ago (a folder changed in the two seconds before
    a scan is never trusted afterwards)."""
    past = time.time_ns() - seconds * 1_000_000_000
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, ns=(past, past))


def refuse_listing(monkeypatch):
    """From now on listing a folder fails: a scan that still succeeds took its list of files from the
    snapshot."""
    def refuse(*args, **kwargs):
        raise AssertionError("the folder was listed")

    monkeypatch.setattr(os, "walk", refuse)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLAB_CACHE_DIR", str(tmp_path / "cache"))
    data = datagen.digits_nested(tmp_path / "set", digits=range(3), speakers=("01", "02"), per_speaker=2)
    datagen.add_bad_files(data / "01", names=datagen.coded_bad_names(speaker="01", digit=1), cls=1)
    (data / "02" / "notes_about_this.wav").write_bytes(b"RIFF" * 3)  # a name that is not {digit}_{speaker}_{index}
    age(data)
    return data


def same(a, b):
    return (a.items == b.items and a.skipped == b.skipped and a.info == b.info and a.layout == b.layout
            and a.label_kind == b.label_kind and a.root == b.root and a.excluded_folders == b.excluded_folders)


def test_an_unchanged_folder_is_not_listed_again_and_scans_the_same(tree, monkeypatch):
    first = scan_dataset(tree)
    assert first.skipped and len(first.items) >= 12  # bad files and an uncoded name are listed as skipped
    refuse_listing(monkeypatch)
    again = scan_dataset(tree)
    assert same(first, again)
    assert again.identities.keys() == {it.path for it in again.items}


def test_the_speaker_label_is_not_served_from_the_digit_scan(tree, monkeypatch):
    scan_dataset(tree, label="digit")
    by_speaker = scan_dataset(tree, label="speaker")  # listed: no snapshot for these settings yet
    assert {it.label for it in by_speaker.items} == {"01", "02"}
    refuse_listing(monkeypatch)
    assert {it.label for it in scan_dataset(tree, label="speaker").items} == {"01", "02"}
    assert {it.label for it in scan_dataset(tree, label="digit").items} == {"0", "1", "2"}


def test_an_added_removed_or_renamed_file_is_seen(tree):
    scan_dataset(tree)
    datagen.write_wav(tree / "02" / "2_02_9.wav", datagen.class_signal(cls=2, sr=8000), sr=8000)
    assert "2_02_9.wav" in {os.path.basename(it.path) for it in scan_dataset(tree).items}
    age(tree)
    scan_dataset(tree)
    (tree / "01" / "0_01_0.wav").rename(tree / "01" / "0_01_7.wav")
    names = {os.path.basename(it.path) for it in scan_dataset(tree).items}
    assert "0_01_7.wav" in names and "0_01_0.wav" not in names
    age(tree)
    scan_dataset(tree)
    (tree / "01" / "0_01_7.wav").unlink()
    assert "0_01_7.wav" not in {os.path.basename(it.path) for it in scan_dataset(tree).items}


def test_a_file_rewritten_in_place_is_read_again(tree, monkeypatch):
    path = tree / "01" / "2_01_0.wav"
    first = scan_dataset(tree)
    assert first.info[str(path)][0] == pytest.approx(0.4, abs=0.01)
    datagen.write_wav(path, datagen.class_signal(cls=2, sr=8000, seconds=1.5), sr=8000)  # the folder's mtime stays
    refuse_listing(monkeypatch)
    again = scan_dataset(tree)
    assert again.info[str(path)][0] == pytest.approx(1.5, abs=0.01)
    assert scan_dataset(tree).info[str(path)][0] == pytest.approx(1.5, abs=0.01)  # and remembered


def test_a_bad_file_is_checked_again_each_time_and_used_once_repaired(tree, monkeypatch):
    first = scan_dataset(tree)
    bad = next(s.path for s in first.skipped if os.path.getsize(s.path) > 0 and s.path.endswith(".wav")
               and "empty" not in s.reason and os.path.basename(s.path)[0].isdigit())
    refuse_listing(monkeypatch)
    assert bad in {s.path for s in scan_dataset(tree).skipped}
    datagen.write_wav(bad, datagen.class_signal(cls=1, sr=8000), sr=8000)
    assert bad in {it.path for it in scan_dataset(tree).items}


def test_a_folder_changed_just_before_the_scan_is_not_trusted(tree, monkeypatch):
    os.utime(tree / "01")  # now: a file system with coarse times could hide a later change in the same tick
    scan_dataset(tree)
    calls = []
    real_walk = os.walk
    monkeypatch.setattr(os, "walk", lambda *a, **k: (calls.append(a), real_walk(*a, **k))[1])
    scan_dataset(tree)
    assert calls, "a folder modified within two seconds of the last scan must be listed again"


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 not a zip", None])
def test_a_damaged_snapshot_means_a_full_scan_not_an_error(tree, damage):
    first = scan_dataset(tree)
    (snap,) = (ScanSnapshot.default().folder).glob("*.npz")
    if damage is None:  # well-formed, but its arrays disagree
        with np.load(snap) as z:
            parts = {k: z[k] for k in z.files}
        np.savez(snap, **{**parts, "label_index": parts["label_index"][:3]})
    else:
        snap.write_bytes(damage)
    assert same(first, scan_dataset(tree))


def test_the_matrix_key_is_the_same_from_the_scan_or_from_stat(tmp_path, monkeypatch):
    """Links included: a linked file is keyed by its target, a linked folder by its real path."""
    monkeypatch.setenv("SPEECHLAB_CACHE_DIR", str(tmp_path / "cache"))
    data = datagen.digits_flat(tmp_path / "real", digits=range(2), speakers=("ann",), per_speaker=2)
    os.symlink(data / "0_ann_0.wav", data / "1_ann_5.wav")
    os.symlink(data, tmp_path / "linked")
    for root in (data, tmp_path / "linked"):
        ds = scan_dataset(root)
        assert len(ds.items) == 5 and any(v[4] for v in ds.identities.values())
        assert MatrixCache.key(ds.paths(), "s", ds.identities) == MatrixCache.key(ds.paths(), "s")
    ds = scan_dataset(data)
    touched = ds.paths()[0]
    os.utime(touched, ns=(1, 1))
    assert MatrixCache.key(ds.paths(), "s") != MatrixCache.key(ds.paths(), "s", ds.identities)  # stale: caller's job
    assert MatrixCache.key(ds.paths(), "s", {}) == MatrixCache.key(ds.paths(), "s")  # none given: stat


def test_the_features_command_stats_each_file_once(tmp_path, monkeypatch, capsys):
    """A warm ``features``: the scan's identities make the matrix's key (no second lstat per file)."""
    from cli import main

    monkeypatch.setenv("SPEECHLAB_CACHE_DIR", str(tmp_path / "cache"))
    data = datagen.digits_flat(tmp_path / "d", digits=range(3), speakers=("ann", "bob"), per_speaker=2)
    age(data)
    assert main(["features", "--task", "digits", "--data", str(data), "--json", "--jobs", "1"]) == 0
    counted = []
    real = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: (counted.append(p), real(p, *a, **k))[1])
    assert main(["features", "--task", "digits", "--data", str(data), "--json", "--jobs", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"n_used": 12' in out and '"cache_hits": 12' in out
    wavs = [p for p in counted if str(p).endswith(".wav")]
    assert len(wavs) == 12 and len(set(wavs)) == 12


def test_clearing_the_cache_forgets_the_scans(tree, monkeypatch):
    from core.cache import FeatureCache

    scan_dataset(tree)
    assert list(ScanSnapshot.default().folder.glob("*.npz"))
    FeatureCache.default().clear()
    assert not list(ScanSnapshot.default().folder.glob("*.npz"))
    calls = []
    real_walk = os.walk
    monkeypatch.setattr(os, "walk", lambda *a, **k: (calls.append(a), real_walk(*a, **k))[1])
    scan_dataset(tree)
    assert calls


def test_a_dataset_sent_to_another_process_leaves_its_identities_behind(tree):
    import pickle

    ds = scan_dataset(tree)
    assert ds.identities
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.identities == {} and copy.items == ds.items and copy.info == ds.info and copy.labels == ds.labels


def test_a_folder_with_inode_numbers_beyond_64_bit_signed_scans_extracts_and_caches(tmp_path, monkeypatch, capsys):
    """NTFS file IDs (a sequence number in the top bits), NFS file IDs and ReFS's 128-bit IDs go beyond a
    signed 64-bit integer, which SQLite and NumPy's int64 refuse: the scan and the extraction failed with
    an OverflowError. No such file system can be made on a test machine, so ``os.lstat`` and ``os.stat``
    here report the real files with such inode numbers (distinct per file, stable between calls)."""
    from cli import main

    monkeypatch.setenv("SPEECHLAB_CACHE_DIR", str(tmp_path / "cache"))
    data = datagen.digits_flat(tmp_path / "d", digits=range(3), speakers=("ann", "bob"), per_speaker=2)
    age(data)
    names = ('st_atime', 'st_mtime', 'st_ctime', 'st_atime_ns', 'st_mtime_ns', 'st_ctime_ns', 'st_blksize',
             'st_blocks', 'st_rdev')

    def huge(call):
        def stat_call(p, *a, **k):
            st = call(p, *a, **k)
            if not str(p).endswith(".wav"):
                return st
            fields = list(st)
            fields[1] = st.st_ino | (1 << 63) | (7 << 64)  # above int64, and 128 bits wide
            return os.stat_result(fields, {n: getattr(st, n) for n in names})
        return stat_call

    monkeypatch.setattr(os, "lstat", huge(os.lstat))
    monkeypatch.setattr(os, "stat", huge(os.stat))
    first = scan_dataset(data)
    assert len(first.items) == 12 and not first.skipped
    for _ in range(2):
        assert main(["features", "--task", "digits", "--data", str(data), "--json", "--jobs", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"n_used": 12' in out and '"cache_hits": 12' in out  # the second run read what the first stored
    os.utime(first.paths()[0], ns=(1, 1))  # a changed file is still seen as changed
    assert main(["features", "--task", "digits", "--data", str(data), "--json", "--jobs", "1"]) == 0
    assert '"cache_hits": 11' in capsys.readouterr().out.strip().splitlines()[-1]
