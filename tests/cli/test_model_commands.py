"""``python main.py train / evaluate / predict`` as a user runs them: real subprocesses from the repository root.

The children inherit SPEECHLAB_CACHE_DIR from tests/conftest.py, so FSDD's
features come from the test cache and the user's cache is never touched.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from core.bundle import load_bundle
from tests.core import datagen

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIGIT_LABELS = [str(d) for d in range(10)]
# The keys the train report promises (the issue); more may follow.
TRAIN_KEYS = {"accuracy", "train_accuracy", "per_class", "confusion", "labels", "n_train", "n_test", "skipped",
              "history", "seconds"}
METRIC_KEYS = {"accuracy", "train_accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion", "labels",
               "window_accuracy"}
HISTORY_KEYS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}


def cli(*args):
    """argv for ``python main.py ...``."""
    return [sys.executable, "main.py", *map(str, args)]


def run_cli(*args):
    # The timeout only guards against a hang; it is far above any real run.
    return subprocess.run(cli(*args), cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ.copy())


def error_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def trained(fsdd_dir, tmp_path_factory):
    """A small MLP trained by the CLI on FSDD, without "not a digit" (on by default, as in the
    Digits tab): (process, parsed stdout, model path)."""
    path = tmp_path_factory.mktemp("cli-train") / "m.slm"
    proc = run_cli("train", "--task", "digits", "--data", fsdd_dir, "--hidden", "64", "--epochs", "8",
                   "--no-open-set", "--out", path, "--json")
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(proc.stdout), path


def test_train_reports_json_with_every_promised_key(trained):
    proc, out, path = trained
    assert len(proc.stdout.strip().splitlines()) == 1  # stdout is the result and nothing else
    assert TRAIN_KEYS <= set(out)
    assert out["labels"] == DIGIT_LABELS
    assert set(out["per_class"]) == set(DIGIT_LABELS)
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in out["per_class"].values())
    cm = np.asarray(out["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == out["n_test"]
    assert out["n_train"] + out["n_test"] == 2000 and out["n_test"] == 400
    assert out["skipped"] == []  # FSDD has no bad files
    assert [h["epoch"] for h in out["history"]] == list(range(1, 9))
    assert all(set(h) == HISTORY_KEYS for h in out["history"])
    assert all(h["val_loss"] is not None for h in out["history"])  # early stopping holds out validation clips
    assert out["seconds"] > 0
    # Observed 98 %; a 64-unit MLP after 8 epochs is reliably above 93 %.
    assert out["accuracy"] >= 0.93
    assert out["train_accuracy"] >= out["accuracy"] - 0.05
    assert np.trace(cm) / cm.sum() == pytest.approx(out["accuracy"])


def test_train_writes_a_loadable_model(trained):
    _, out, path = trained
    bundle = load_bundle(path)
    assert out["model"] == str(path)
    assert bundle.labels == DIGIT_LABELS and bundle.task == "digits"
    assert bundle.model.hidden_layer_sizes == (64,) and bundle.model.epochs == 8
    assert bundle.feature_config.n_frames == 32 == out["feature_config"]["n_frames"]
    assert bundle.metrics["accuracy"] == out["accuracy"]
    assert [h["loss"] for h in bundle.history] == [h["loss"] for h in out["history"]]


def test_train_progress_goes_to_stderr_not_stdout(trained):
    proc, _, _ = trained
    assert "epoch 1/8" in proc.stderr and "epoch 8/8" in proc.stderr
    # each epoch line says what that epoch took; the eight add up to no more than the whole training
    _, out, _ = trained
    took = [float(t) for t in re.findall(r"^epoch \d+/8: .* \((\d+\.\d\d) s\)$", proc.stderr, flags=re.M)]
    assert len(took) == 8 and all(t > 0 for t in took) and sum(took) <= out["seconds"]
    assert "features:" in proc.stderr
    assert "epoch" not in proc.stdout.split('"history"')[0]  # no progress text before the JSON
    assert not error_lines(proc)


@pytest.fixture(scope="module")
def eval_folder(fsdd_dir, tmp_path_factory):
    """100 FSDD clips (links, every class) plus the bad files a real download holds."""
    root = tmp_path_factory.mktemp("cli-eval") / "recordings"
    root.mkdir()
    for wav in sorted(fsdd_dir.glob("*.wav"))[::20]:
        (root / wav.name).symlink_to(wav)
    bad = datagen.add_bad_files(root, names=datagen.coded_bad_names(speaker="zed"), cls=3)
    return root, bad


def test_evaluate_reports_the_same_metrics_and_the_skipped_files(trained, eval_folder):
    _, _, path = trained
    root, bad = eval_folder
    proc = run_cli("evaluate", path, "--data", root, "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1
    out = json.loads(proc.stdout)
    assert METRIC_KEYS | {"n_test", "skipped", "unknown_labels"} == set(out)
    assert out["train_accuracy"] is None  # there is no training set here
    assert out["unknown_labels"] == []
    assert {s["path"] for s in out["skipped"]} == {str(bad[k]) for k in ("corrupt", "empty", "text", "silent")}
    assert all(set(s) == {"path", "reason"} and s["reason"] for s in out["skipped"])
    # 100 real clips and the two usable odd files (stereo 44.1 kHz, 30 s long).
    assert out["n_test"] == 102 == np.asarray(out["confusion"]).sum()
    assert out["accuracy"] >= 0.9


def test_predict_gives_one_result_per_file(trained, fsdd_dir):
    _, _, path = trained
    files = [fsdd_dir / "3_jackson_7.wav", fsdd_dir / "8_lucas_12.wav"]
    proc = run_cli("predict", path, *files, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["path"] for r in out] == [str(f) for f in files]
    for r, truth in zip(out, ("3", "8")):
        assert set(r) == {"path", "label", "probabilities", "windows"}
        assert len(r["windows"]) == 1 and r["windows"][0]["label"] == r["label"]  # a short clip is one window
        probs = r["probabilities"]
        assert list(probs) == DIGIT_LABELS
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert r["label"] == max(probs, key=probs.get) == truth


@pytest.fixture(scope="module")
def bad_runs(fsdd_dir, trained, tmp_path_factory):
    """Every bad command line, run side by side (they are independent): name -> CompletedProcess."""
    _, _, model = trained
    tmp = tmp_path_factory.mktemp("cli-bad")
    text_wav = tmp / "notes.wav"
    text_wav.write_text("shopping list: milk, eggs\n")
    out = tmp / "bad.slm"
    commands = {
        "hidden 0": ["train", "--data", fsdd_dir, "--hidden", "0", "--out", out],
        "epochs abc": ["train", "--data", fsdd_dir, "--epochs", "abc", "--out", out],
        "no --out": ["train", "--data", fsdd_dir, "--hidden", "8"],
        "missing data": ["train", "--data", tmp / "no-such-folder", "--out", out],
        "speaker split of speakers": ["train", "--data", fsdd_dir, "--split", "speaker", "--label", "speaker",
                                      "--hidden", "8", "--epochs", "1", "--out", out],
        "text file as wav": ["predict", model, text_wav, "--json"],
        "missing model": ["evaluate", tmp / "nothing.slm", "--data", fsdd_dir],
    }
    procs = {name: subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=os.environ.copy()) for name, args in commands.items()}
    results = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    assert not out.exists()  # no failed run leaves a model behind
    return results, {"text_wav": text_wav, "data": tmp / "no-such-folder", "model": tmp / "nothing.slm"}


@pytest.mark.parametrize("case, expected", [
    ("hidden 0", "--hidden"),
    ("epochs abc", "--epochs"),
    ("no --out", "--out"),
    ("missing data", "{data}"),
    ("speaker split of speakers", "Speaker-independent split is impossible"),
    ("text file as wav", "{text_wav}"),
    ("missing model", "{model}"),
])
def test_bad_input_gives_one_error_line_naming_the_culprit(bad_runs, case, expected):
    results, paths = bad_runs
    proc = results[case]
    assert proc.returncode != 0
    errors = error_lines(proc)
    assert len(errors) == 1, proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == errors[0]  # the error is the last word, no traceback
    assert "Traceback" not in proc.stderr
    assert expected.format(**{k: str(v) for k, v in paths.items()}) in errors[0]
    assert proc.stdout.strip() in ("", "[]")  # no result for a failed run ([] from predict --json)


def test_train_leave_one_speaker_out_reports_each_speaker_and_saves_a_model_of_all(fsdd_dir, tmp_path):
    out = tmp_path / "loso.slm"
    proc = run_cli("train", "--task", "digits", "--data", str(fsdd_dir), "--split", "loso", "--hidden", "32",
                   "--epochs", "3", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [r["speaker"] for r in result["rotations"]] == ["george", "jackson", "lucas", "nicolas"]
    assert all(r["n_test"] == 500 for r in result["rotations"])
    assert result["n_test"] == 2000 and result["n_train"] == 2000
    assert result["mean_accuracy"] == pytest.approx(np.mean([r["accuracy"] for r in result["rotations"]]))
    assert sum(map(sum, result["confusion"])) == 2000
    assert "rotation 4/4: testing on nicolas" in proc.stderr
    saved = load_bundle(out)
    assert saved.training["per_speaker"].keys() == {"george", "jackson", "lucas", "nicolas"}
    assert saved.metrics["accuracy"] == pytest.approx(result["accuracy"])
