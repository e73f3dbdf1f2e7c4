"""Scanning dataset folders: layouts, labels, speakers, bad files, summaries and splits."""
import collections
import pathlib

import numpy as np
import pytest

from core.datasets import make_split, scan_dataset, split_by_speaker, split_random, summarize
from core.errors import SpeechLabError
from tests.core import datagen

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def audiomnist(tmp_path_factory):
    """AudioMNIST layout (3 speakers × 10 digits × 2) with the bad files in speaker 01's folder."""
    data = datagen.digits_nested(tmp_path_factory.mktemp("audiomnist"))
    bad = datagen.add_bad_files(data / "01", names=datagen.coded_bad_names(speaker="01", digit=3), cls=3)
    return data, bad


@pytest.fixture(scope="module")
def fsdd_like(tmp_path_factory):
    """FSDD layout: flat folder, 3 named speakers × 10 digits × 2."""
    return datagen.digits_flat(tmp_path_factory.mktemp("fsdd"))


@pytest.fixture(scope="module")
def gtzan(tmp_path_factory):
    return datagen.genres_tree(tmp_path_factory.mktemp("gtzan"))


@pytest.fixture(scope="module")
def speeches(tmp_path_factory):
    return datagen.speakers_tree(tmp_path_factory.mktemp("speakers"))


# ----------------------------------------------------------------------------- layouts and labels


def test_nested_digit_files_give_digit_labels_and_speakers(audiomnist):
    data, bad = audiomnist
    ds = scan_dataset(data)
    assert ds.layout == "filename"
    assert ds.labels == DIGITS
    assert ds.speakers == ["01", "02", "03"]
    for it in ds.items:
        digit, speaker, _ = pathlib.Path(it.path).stem.split("_")
        assert (it.label, it.speaker) == (digit, speaker)
    counts = ds.class_counts()
    # 3 speakers × 2 clips each, and digit 3 also holds the stereo, 30 s and silent files
    # (the silent one is only found out when it is decoded).
    assert counts == {d: (9 if d == "3" else 6) for d in DIGITS}


def test_flat_digit_files_with_speaker_as_label(fsdd_like):
    ds = scan_dataset(fsdd_like, label="speaker")
    assert ds.layout == "filename"
    assert ds.labels == ["alice", "bob", "carol"]
    assert all(it.label == it.speaker for it in ds.items)
    assert ds.class_counts() == {"alice": 20, "bob": 20, "carol": 20}


def test_layout_is_detected(audiomnist, gtzan, speeches):
    assert scan_dataset(audiomnist[0]).layout == "filename"
    assert scan_dataset(gtzan).layout == "folders"
    assert scan_dataset(speeches).layout == "folders"


def test_forced_folders_layout_uses_folder_names(audiomnist):
    ds = scan_dataset(audiomnist[0], layout="folders")
    assert ds.layout == "folders"
    assert ds.labels == ["01", "02", "03"]


def test_forced_filename_layout_on_uncoded_names_explains(gtzan):
    with pytest.raises(SpeechLabError, match="No usable audio files") as err:
        scan_dataset(gtzan, layout="filename")
    assert str(gtzan) in str(err.value)
    assert "{digit}_{speaker}_{index}" in str(err.value)


@pytest.mark.parametrize("level", ["genres_original", "Data", "parent of Data"])
def test_genre_folders_found_from_any_parent(gtzan, level):
    root = {"genres_original": gtzan / "genres_original", "Data": gtzan, "parent of Data": gtzan.parent}[level]
    ds = scan_dataset(root)
    assert ds.labels == ["blues", "jazz", "rock"]
    assert ds.class_counts() == {"blues": 3, "jazz": 3, "rock": 3}
    assert all(it.label == pathlib.Path(it.path).parent.name for it in ds.items)
    # The spectrogram pictures beside the audio are neither classes nor skipped files.
    assert not any("images_original" in p for p in ds.paths() + [s.path for s in ds.skipped])


def test_noise_folders_left_out_by_default_and_reported(speeches):
    ds = scan_dataset(speeches)
    assert ds.labels == ["Alice_Smith", "Bob_Jones", "Carol_King"]
    assert ds.excluded_folders == ["_background_noise_", "other"]
    assert not ds.has_speakers


def test_noise_folders_kept_when_nothing_is_excluded(speeches):
    ds = scan_dataset(speeches, exclude=[])
    assert ds.labels == ["Alice_Smith", "Bob_Jones", "Carol_King", "_background_noise_", "other"]
    assert ds.excluded_folders == []


def test_explicit_exclude_list(speeches):
    ds = scan_dataset(speeches, exclude=["Bob_Jones"])
    assert "Bob_Jones" not in ds.labels and "other" in ds.labels
    assert ds.excluded_folders == ["Bob_Jones"]


def test_missing_folder_and_bad_options_raise(tmp_path):
    with pytest.raises(SpeechLabError, match="not found") as err:
        scan_dataset(tmp_path / "nowhere")
    assert "nowhere" in str(err.value)
    with pytest.raises(SpeechLabError, match="No audio files"):
        scan_dataset(tmp_path)
    with pytest.raises(SpeechLabError, match="layout"):
        scan_dataset(tmp_path, layout="zip")
    with pytest.raises(SpeechLabError, match="label"):
        scan_dataset(tmp_path, label="gender")


# ----------------------------------------------------------------------------- bad files and summary


def test_unreadable_files_are_skipped_with_a_reason(audiomnist):
    _, bad = audiomnist
    ds = scan_dataset(audiomnist[0])
    reasons = {s.path: s.reason for s in ds.skipped}
    assert set(reasons) == {str(bad[k]) for k in ("corrupt", "empty", "text")}
    assert "empty" in reasons[str(bad["empty"])]
    assert "not a readable audio file" in reasons[str(bad["corrupt"])]
    assert "not a readable audio file" in reasons[str(bad["text"])]
    # Stereo 44.1 kHz and 30 s files are usable; the silent one is caught on decoding.
    kept = set(ds.paths())
    assert {str(bad[k]) for k in ("stereo", "long", "silent")} <= kept


def test_summary_reports_counts_speakers_durations_and_rates(audiomnist):
    data, bad = audiomnist
    s = summarize(scan_dataset(data))
    assert s["n_files"] == 63
    assert s["classes"]["3"] == 9 and sum(s["classes"].values()) == 63
    assert s["speakers"] == ["01", "02", "03"]
    assert s["duration"]["max"] == pytest.approx(30.0)
    assert s["duration"]["min"] == pytest.approx(0.4)
    assert s["duration"]["total"] == pytest.approx(60 * 0.4 + 0.5 + 30.0 + 0.5)
    assert s["sample_rates"] == {8000: 62, 44100: 1}
    assert s["channels"] == {1: 62, 2: 1}
    assert s["n_skipped"] == 3
    assert {d["path"] for d in s["skipped"]} == {str(bad[k]) for k in ("corrupt", "empty", "text")}
    assert all(d["reason"] for d in s["skipped"])


# ----------------------------------------------------------------------------- splits


def _labels(per_class=20, n_classes=10):
    return np.repeat([str(c) for c in range(n_classes)], per_class)


def test_random_split_is_stratified_80_20():
    labels = _labels()
    tr, te = split_random(labels, test_size=0.2, random_state=42)
    assert (tr.size, te.size) == (160, 40)
    assert np.intersect1d(tr, te).size == 0
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(200))
    assert collections.Counter(labels[te].tolist()) == {str(c): 4 for c in range(10)}


def test_random_split_is_reproducible():
    labels = _labels()
    a = split_random(labels, random_state=42)
    b = split_random(labels, random_state=42)
    c = split_random(labels, random_state=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_speaker_split_keeps_speakers_apart(audiomnist):
    ds = scan_dataset(audiomnist[0])
    tr, te = make_split(ds, kind="speaker")
    train_speakers = {ds.items[i].speaker for i in tr}
    test_speakers = {ds.items[i].speaker for i in te}
    assert train_speakers and test_speakers
    assert not train_speakers & test_speakers
    assert tr.size + te.size == len(ds.items)
    # Every digit is still taught: each speaker said every digit.
    assert {ds.items[i].label for i in tr} == set(DIGITS)


def test_speaker_split_with_chosen_test_speakers(audiomnist):
    ds = scan_dataset(audiomnist[0])
    tr, te = make_split(ds, kind="speaker", test_speakers=["02"])
    assert {ds.items[i].speaker for i in te} == {"02"}
    assert te.size == 20
    assert "02" not in {ds.items[i].speaker for i in tr}
    with pytest.raises(SpeechLabError, match="zz"):
        make_split(ds, kind="speaker", test_speakers=["zz"])
    with pytest.raises(SpeechLabError, match="at least one for training"):
        make_split(ds, kind="speaker", test_speakers=["01", "02", "03"])


def test_speaker_split_refused_when_label_is_speaker(fsdd_like):
    ds = scan_dataset(fsdd_like, label="speaker")
    with pytest.raises(SpeechLabError, match="label is the speaker"):
        make_split(ds, kind="speaker")


def test_speaker_split_needs_speakers(gtzan):
    with pytest.raises(SpeechLabError, match="speaker"):
        make_split(scan_dataset(gtzan), kind="speaker")
    with pytest.raises(SpeechLabError, match="Unknown split"):
        make_split(scan_dataset(gtzan), kind="by-day")


# ----------------------------------------------------------------------------- the real FSDD


def test_real_fsdd_scan_and_summary(fsdd_dir):
    ds = scan_dataset(fsdd_dir)
    assert ds.layout == "filename"
    assert len(ds.items) == 2000 and not ds.skipped
    assert ds.class_counts() == {d: 200 for d in DIGITS}
    assert len(ds.speakers) == 4
    s = summarize(ds)
    assert s["sample_rates"] == {8000: 2000}
    assert 0 < s["duration"]["min"] < s["duration"]["mean"] < s["duration"]["max"] < 5


def test_real_fsdd_speaker_split(fsdd_dir):
    ds = scan_dataset(fsdd_dir)
    labels = [it.label for it in ds.items]
    speakers = [it.speaker for it in ds.items]
    tr, te = split_by_speaker(labels, speakers, test_size=0.2, random_state=42)
    assert not {speakers[i] for i in tr} & {speakers[i] for i in te}
    # 4 speakers with 500 clips each: one speaker (25 %) is held out.
    assert te.size == 500
    tr2, te2 = split_by_speaker(labels, speakers, test_size=0.2, random_state=42)
    assert np.array_equal(te, te2)


# ----------------------------------------------------------------- a rescan trusts unchanged files (issue 21)


def _count_header_reads(monkeypatch):
    import core.datasets as datasets

    reads = []
    real = datasets.audio_info

    def counting(path):
        reads.append(str(path))
        return real(path)

    monkeypatch.setattr(datasets, "audio_info", counting)
    return reads


def test_a_rescan_reads_no_header_of_an_unchanged_file(tmp_path, monkeypatch):
    import os

    data = datagen.digits_flat(tmp_path / "d", speakers=("alice", "bob"), per_speaker=1)
    bad = datagen.add_bad_files(data, names=datagen.coded_bad_names(speaker="bob", digit=3), cls=3)
    reads = _count_header_reads(monkeypatch)
    first = scan_dataset(data)
    assert len(reads) >= len(first.items) > 0
    reads.clear()
    again = scan_dataset(data)
    assert again.items == first.items
    assert sorted(s.path for s in again.skipped) == sorted(s.path for s in first.skipped)
    # Only the files that failed are read again (a failure is never remembered).
    assert set(reads) == {s.path for s in first.skipped if s.reason != "empty file (0 bytes)"}
    # The summary needs no second read either.
    reads.clear()
    assert summarize(again)["n_files"] == len(first.items) and reads == []
    # A changed file is read again, alone; trust=False reads every header.
    changed = first.items[0].path
    st = os.stat(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    reads.clear()
    scan_dataset(data)
    assert changed in reads and not set(reads) & {it.path for it in first.items[1:]}
    reads.clear()
    scan_dataset(data, trust=False)
    assert {it.path for it in first.items} <= set(reads)
    assert bad  # the broken files stay listed with their reasons


def test_a_file_replaced_by_a_broken_one_is_not_trusted(tmp_path):
    data = datagen.digits_flat(tmp_path / "d", speakers=("alice",), per_speaker=2)
    first = scan_dataset(data)
    victim = pathlib.Path(first.items[0].path)
    victim.unlink()
    victim.write_bytes(b"not audio at all")  # a new inode, another size
    again = scan_dataset(data)
    assert str(victim) not in [it.path for it in again.items]
    assert str(victim) in [s.path for s in again.skipped]


# ----------------------------------------------------------------------------- progress and Stop


def test_scan_reports_progress_from_zero_to_every_file_found(audiomnist):
    calls = []
    ds = scan_dataset(audiomnist[0], trust=False, progress=lambda done, total: calls.append((done, total)))
    found = len(ds.items) + len([s for s in ds.skipped if "not a readable" in s.reason or "empty" in s.reason])
    listing = [c for c in calls if c[1] == 0]  # while the folders are listed: (files found so far, 0)
    checking = [c for c in calls if c[1]]
    assert listing and [d for d, _ in listing] == sorted(d for d, _ in listing) and listing[-1][0] <= found
    assert checking[0] == (0, found) and checking[-1] == (found, found)
    assert calls == listing + checking and [d for d, _ in checking] == sorted(d for d, _ in checking)


def test_a_stop_before_the_first_file_cancels_the_scan(audiomnist):
    from core.errors import Cancelled

    with pytest.raises(Cancelled, match="scan stopped"):
        scan_dataset(audiomnist[0], should_stop=lambda: True)
