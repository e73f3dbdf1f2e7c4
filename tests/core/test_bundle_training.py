"""Training on the real FSDD recordings, and the one-file model bundle that keeps the result.

Everything runs for real: FSDD clips, the NumPy MLP, files on disk. The only
trick is in :func:`test_save_that_fails_mid_write_keeps_the_old_file`, which
limits the size of files a child process may write (what a full disk does).
"""
import dataclasses
import json
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import soundfile as sf

from core.bundle import FORMAT_VERSION, load_bundle, save_bundle
from core.datasets import scan_dataset
from core.errors import SpeechLabError
from core.features import features_of_file
from core.models.mlp import MLPClassifier
from core.tasks import DIGITS
from core.training import SplitConfig, evaluate_bundle, train_model

ROOT = pathlib.Path(__file__).resolve().parents[2]
METRIC_KEYS = {"accuracy", "balanced_accuracy", "macro_f1", "train_accuracy", "per_class", "confusion", "labels",
               "report", "window_accuracy", "window_balanced_accuracy", "n_windows", "n_clips"}
PER_CLASS_KEYS = {"accuracy", "train_accuracy", "precision", "recall", "f1", "support"}
DIGIT_LABELS = [str(d) for d in range(10)]


def small_mlp(**overrides):
    """The task's model, shrunk so a test trains it in about a second."""
    return MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (32,), "epochs": 8, "random_state": 0,
                            **overrides})


@pytest.fixture(scope="module")
def fsdd(fsdd_dir):
    return scan_dataset(fsdd_dir, label="digit")


@pytest.fixture(scope="module")
def default_result(fsdd):
    """The app's default digits setup (features and model) on a random split."""
    return train_model(fsdd, task="digits", feature_config=DIGITS.feature_config(),
                       model=MLPClassifier(**DIGITS.model, random_state=0))


@pytest.fixture(scope="module")
def padded_result(fsdd):
    """A small model on the seed's padded frames: n_frames is learned from the data (the longest clip)."""
    config = dataclasses.replace(DIGITS.feature_config(frames="pad"), n_frames=None)  # overrides skip None
    return train_model(fsdd, task="digits", feature_config=config, model=small_mlp())


@pytest.fixture(scope="module")
def saved(padded_result, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "digits.slm"
    save_bundle(padded_result.bundle, path)
    return path


def rewrite_bundle(src, dst, *, meta=None, arrays=None):
    """Copy a saved bundle's members to ``dst``, replacing the metadata and/or some arrays."""
    with np.load(src, allow_pickle=False) as npz:
        payload = {k: npz[k] for k in npz.files}
    if meta is not None:
        payload["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    payload.update(arrays or {})
    write_npz(dst, payload)
    return dst


def write_npz(path, payload):
    with open(path, "wb") as fh:  # a path not ending in .npz would get ".npz" appended
        np.savez(fh, **payload)


def finalize_files(paths, config):
    """Model input (n, d) for some files, exactly as training computes it."""
    from core.features import finalize

    return finalize([features_of_file(p, config) for p in paths], config)


def bundle_meta(path):
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(bytes(npz["meta"]).decode())


# --------------------------------------------------------------------------- training


def test_default_digits_model_is_accurate_on_fsdd(fsdd, default_result):
    r = default_result
    # The benchmark reaches about 98 %; the margin absorbs BLAS and platform differences.
    assert r.metrics["accuracy"] >= 0.95
    assert r.metrics["train_accuracy"] >= r.metrics["accuracy"] - 0.05
    assert r.n_train + r.n_test == len(fsdd.items) == 2000
    assert r.n_test == 400  # the default 20 % test split
    assert r.skipped == []
    assert not r.diverged
    # The history is what on_epoch received: one report per trained epoch.
    assert [h["epoch"] for h in r.history] == list(range(1, len(r.history) + 1))
    assert r.bundle.history == r.history
    assert r.bundle.training["n_test"] == r.n_test and r.bundle.training["dataset"] == fsdd.root


def test_metrics_hold_everything_the_results_view_shows(default_result):
    m = default_result.metrics
    assert METRIC_KEYS | {"test_files"} == set(m)
    assert m["labels"] == DIGIT_LABELS
    assert set(m["per_class"]) == set(DIGIT_LABELS)
    assert all(set(v) == PER_CLASS_KEYS for v in m["per_class"].values())
    cm = np.asarray(m["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == default_result.n_test
    assert np.trace(cm) / cm.sum() == pytest.approx(m["accuracy"])
    assert [v["support"] for v in m["per_class"].values()] == cm.sum(axis=1).tolist()
    assert len(m["test_files"]) == default_result.n_test
    assert sum(f["label"] == f["predicted"] for f in m["test_files"]) == np.trace(cm)
    # The bundle keeps the metrics but not the per-file list (it would bloat every model file).
    assert set(default_result.bundle.metrics) == METRIC_KEYS
    json.dumps(default_result.bundle.metrics)  # plain JSON values only


def test_on_epoch_and_should_stop_are_honoured(fsdd):
    reports = []

    def should_stop():
        return len(reports) >= 2  # the user presses Stop after the second epoch

    r = train_model(fsdd, task="digits", feature_config=DIGITS.feature_config(), model=small_mlp(epochs=50),
                    on_epoch=reports.append, should_stop=should_stop)
    epochs = [s["epoch"] for s in reports if s.get("batch") is None]
    assert epochs == [1, 2]
    assert "stopped" in r.stop_reason
    assert r.bundle.training["stop_reason"] == r.stop_reason
    assert r.metrics["accuracy"] is not None  # a stopped model is still evaluated and kept


def test_speaker_split_keeps_test_speakers_out_of_training(fsdd):
    r = train_model(fsdd, task="digits", feature_config=DIGITS.feature_config(), model=small_mlp(epochs=5),
                    split=SplitConfig(kind="speaker"))
    test_speakers = set(r.bundle.training["test_speakers"])
    assert test_speakers and test_speakers < set(fsdd.speakers)
    test_paths = {f["path"] for f in r.metrics["test_files"]}
    speaker_of = {it.path: it.speaker for it in fsdd.items}
    assert {speaker_of[p] for p in test_paths} == test_speakers
    train_speakers = {it.speaker for it in fsdd.items if it.path not in test_paths}
    assert not train_speakers & test_speakers
    assert r.n_test == len(test_paths) and r.n_train == len(fsdd.items) - len(test_paths)
    assert r.bundle.training["split"]["kind"] == "speaker"


def test_one_class_is_refused_with_a_clear_message(fsdd):
    zeros = fsdd.subset([i for i, it in enumerate(fsdd.items) if it.label == "0"])
    with pytest.raises(SpeechLabError, match="at least two classes"):
        train_model(zeros, task="digits", feature_config=DIGITS.feature_config(), model=small_mlp())


# --------------------------------------------------------------------------- bundles


def test_bundle_round_trip_predicts_identically(padded_result, saved, fsdd):
    original = padded_result.bundle
    loaded = load_bundle(saved)
    files = [it.path for it in fsdd.items[::97]]
    X, _ = finalize_files(files, original.feature_config)
    assert np.array_equal(loaded.model.predict_proba(X), original.model.predict_proba(X))
    assert loaded.labels == original.labels == DIGIT_LABELS
    assert loaded.task == "digits"
    # The frame count was learned from the training data and must travel with the model.
    assert original.feature_config.n_frames is not None and original.feature_config.n_frames > 32
    assert loaded.feature_config == original.feature_config
    assert loaded.history == original.history and len(loaded.history) == 8
    assert loaded.metrics == original.metrics
    assert loaded.training == original.training
    assert loaded.created  # stamped on save
    for path in files:
        assert loaded.predict_file(path) == original.predict_file(path)


def test_predict_signal_on_a_files_samples_matches_predict_file(saved, fsdd):
    bundle = load_bundle(saved)
    path = fsdd.items[5].path
    y, sr = sf.read(path, dtype="float32")
    from_file = bundle.predict_file(path)
    from_signal = bundle.predict_signal(y, sr)
    assert from_file["path"] == str(path)
    assert from_signal["label"] == from_file["label"]
    assert from_signal["probabilities"] == pytest.approx(from_file["probabilities"], abs=1e-6)
    assert list(from_signal["probabilities"]) == DIGIT_LABELS
    assert sum(from_signal["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert from_signal["label"] == max(from_signal["probabilities"], key=from_signal["probabilities"].get)


def test_loading_never_unpickles(saved, tmp_path):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):  # unpickling this opens (creates) the marker file
            return (open, (str(marker), "w"))

    evil = rewrite_bundle(saved, tmp_path / "evil.slm",
                          arrays={"model/coef_0": np.array([Payload()], dtype=object)})
    with pytest.raises(SpeechLabError, match="evil.slm"):
        load_bundle(evil)
    assert not marker.exists()
    # The file really carries code: a loader that allowed pickles would have run it.
    with np.load(evil, allow_pickle=True) as npz:
        npz["model/coef_0"][0].close()  # the payload's open file
    assert marker.exists()


def test_pickled_metadata_is_refused(saved, tmp_path):
    import pickle

    with np.load(saved, allow_pickle=False) as npz:
        payload = {k: npz[k] for k in npz.files}
    payload["meta"] = np.array([pickle.dumps(bundle_meta(saved))], dtype=object)
    write_npz(tmp_path / "meta.slm", payload)
    with pytest.raises(SpeechLabError, match="meta.slm"):
        load_bundle(tmp_path / "meta.slm")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "plain zip", "npz without metadata",
                                    "npy array", "pickle", "weights missing"])
def test_damaged_model_file_names_the_file(saved, tmp_path, damage):
    path = tmp_path / f"{damage.replace(' ', '-')}.slm"
    data = saved.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "plain zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "not a model")
    elif damage == "npz without metadata":
        write_npz(path, {"weights": np.zeros(3)})
    elif damage == "npy array":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(3))
    elif damage == "pickle":
        import pickle

        path.write_bytes(pickle.dumps({"meta": bundle_meta(saved)}))
    else:
        with np.load(saved, allow_pickle=False) as npz:
            write_npz(path, {k: npz[k] for k in npz.files if k != "model/coef_0"})
    with pytest.raises(SpeechLabError) as info:
        load_bundle(path)
    assert str(path) in str(info.value)


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(SpeechLabError, match="not found.*nothing.slm"):
        load_bundle(tmp_path / "nothing.slm")


def test_model_from_a_newer_version_is_refused(saved, tmp_path):
    meta = bundle_meta(saved)
    meta["format_version"] = FORMAT_VERSION + 1
    future = rewrite_bundle(saved, tmp_path / "future.slm", meta=meta)
    with pytest.raises(SpeechLabError, match=r"newer SpeechLab.*update"):
        load_bundle(future)


def test_file_of_another_format_is_refused(saved, tmp_path):
    meta = bundle_meta(saved)
    meta["format"] = "something-else"
    other = rewrite_bundle(saved, tmp_path / "other.slm", meta=meta)
    with pytest.raises(SpeechLabError, match="not a SpeechLab model"):
        load_bundle(other)


def test_save_replaces_an_existing_model(padded_result, default_result, tmp_path):
    path = tmp_path / "m.slm"
    save_bundle(padded_result.bundle, path)
    save_bundle(default_result.bundle, path)
    assert load_bundle(path).feature_config == default_result.bundle.feature_config
    assert [p.name for p in tmp_path.iterdir()] == ["m.slm"]  # no temporary file left behind


def test_save_under_a_regular_file_fails_cleanly(padded_result, saved):
    before = saved.read_bytes()
    with pytest.raises(SpeechLabError, match="Could not save"):
        save_bundle(padded_result.bundle, saved / "inside.slm")
    assert saved.read_bytes() == before


_FULL_DISK_SCRIPT = """
import resource, signal, sys
sys.path.insert(0, sys.argv[1])
from core.bundle import load_bundle, save_bundle
from core.errors import SpeechLabError
bundle = load_bundle(sys.argv[2])
# Past the limit, write() fails with EFBIG instead of killing the process: a disk that fills up mid-write.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[4]), resource.RLIM_INFINITY))
try:
    save_bundle(bundle, sys.argv[3])
except SpeechLabError as exc:
    print("error:", exc)
else:
    print("saved")
"""


def test_save_that_fails_mid_write_keeps_the_old_file(saved, default_result, tmp_path):
    """A save that runs out of space half-way leaves the previous model byte-identical.

    Root ignores file permissions here, so a read-only folder cannot make the
    write fail. A file-size limit (RLIMIT_FSIZE, set in a child process) makes
    ``write`` fail with EFBIG after the first 64 KiB, exactly as a full disk
    fails it with ENOSPC: the temporary file is half written when the error
    comes.
    """
    target = tmp_path / "model.slm"
    save_bundle(default_result.bundle, target)  # the big default model: well over the limit
    before = target.read_bytes()
    assert len(before) > 4 * 65536
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK_SCRIPT, str(ROOT), str(target), str(target), "65536"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("error: Could not save the model to " + str(target)), proc.stdout
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.slm"]  # the half-written temporary file is gone


# --------------------------------------------------------------------------- evaluation


def test_evaluate_bundle_on_the_training_folder(saved, fsdd, padded_result):
    bundle = load_bundle(saved)
    metrics, skipped = evaluate_bundle(bundle, fsdd)
    assert set(metrics) == METRIC_KEYS | {"unknown_labels", "test_files"}
    assert metrics["unknown_labels"] == [] and skipped == []
    assert metrics["labels"] == DIGIT_LABELS
    assert np.asarray(metrics["confusion"]).sum() == len(fsdd.items)
    # Most of these clips were trained on: at least as good as the held-out score, give or take.
    assert metrics["accuracy"] >= padded_result.metrics["accuracy"] - 0.03


def test_evaluate_counts_clips_of_labels_the_model_does_not_know(fsdd):
    no_nines = fsdd.subset([i for i, it in enumerate(fsdd.items) if it.label != "9"])
    r = train_model(no_nines, task="digits", feature_config=DIGITS.feature_config(), model=small_mlp(epochs=5))
    assert r.bundle.labels == DIGIT_LABELS[:9]
    metrics, _ = evaluate_bundle(r.bundle, fsdd)
    assert metrics["unknown_labels"] == ["9"]
    assert metrics["labels"] == DIGIT_LABELS  # the unknown class is appended, so its clips show in the matrix
    cm = np.asarray(metrics["confusion"])
    assert cm.sum() == 2000
    assert cm[9].sum() == 200 and cm[9, 9] == 0 and cm[:, 9].sum() == 0
    assert metrics["per_class"]["9"]["accuracy"] == 0.0
    # Every 9 counts as an error: at most 1800 of the 2000 clips can be right.
    assert metrics["accuracy"] <= 0.9


def test_leave_one_speaker_out_holds_each_speaker_out_once(fsdd):
    from core.training import leave_one_speaker_out

    seen = []
    rot = leave_one_speaker_out(fsdd, task="digits", feature_config=DIGITS.feature_config(),
                                make_model=lambda: small_mlp(epochs=3),
                                on_rotation=lambda i, n, s: seen.append((i, n, s)))
    assert [s for _, _, s in seen] == fsdd.speakers and {n for _, n, _ in seen} == {4}
    assert rot.speakers == fsdd.speakers
    for speaker, result in zip(rot.speakers, rot.results):
        test_speakers = {f["path"].rsplit("/", 1)[-1].split("_")[1] for f in result.metrics["test_files"]}
        assert test_speakers == {speaker}
    # pooled: every clip is tested exactly once, by the model that never heard its speaker
    assert np.asarray(rot.metrics["confusion"]).sum() == len(fsdd.items)
    pooled = sum(r.metrics["accuracy"] * r.n_test for r in rot.results) / len(fsdd.items)
    assert rot.metrics["accuracy"] == pytest.approx(pooled)
    assert 0.3 < np.mean(list(rot.per_speaker.values())) < 1.0


def test_leave_one_speaker_out_stopped_keeps_the_finished_rotations(fsdd):
    from core.training import leave_one_speaker_out

    done = []
    rot = leave_one_speaker_out(fsdd, task="digits", feature_config=DIGITS.feature_config(),
                                make_model=lambda: small_mlp(epochs=2), on_result=done.append,
                                should_stop=lambda: len(done) >= 1)
    assert len(rot.results) == 1 and rot.speakers == fsdd.speakers[:1]


def test_leave_one_speaker_out_refuses_speaker_labels(fsdd_dir):
    from core.training import leave_one_speaker_out

    ds = scan_dataset(fsdd_dir, label="speaker")
    with pytest.raises(SpeechLabError, match="Leave-one-speaker-out"):
        leave_one_speaker_out(ds, task="digits", feature_config=DIGITS.feature_config(), make_model=small_mlp)


def test_leave_one_speaker_out_final_model_learns_every_speaker(fsdd):
    from core.training import leave_one_speaker_out

    rot = leave_one_speaker_out(fsdd, task="digits", feature_config=DIGITS.feature_config(),
                                make_model=lambda: small_mlp(epochs=3), fit_final=True)
    final = rot.final
    assert final is not None and final.training["n_train"] == len(fsdd.items)
    assert final.metrics == rot.metrics  # the honest estimate travels with the model
    # it heard every speaker: better on all of FSDD than any rotation on its unseen speaker
    assert final.predict_file(fsdd.items[0].path)["label"] in final.labels
    seen_acc = np.mean([final.predict_file(it.path)["label"] == it.label for it in fsdd.items[::20]])
    assert seen_acc > max(rot.per_speaker.values())
