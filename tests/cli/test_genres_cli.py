"""The command line for genres: train (CNN and baseline), evaluate, predict with windows over a long file."""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = ["--set", "image_size=24", "--set", "n_mels=32", "--set", "n_fft=512", "--set", "hop_length=256"]


def run(*args, timeout=600):
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                         cwd=str(ROOT), timeout=timeout)
    return out


@pytest.fixture(scope="module")
def demo_dir():
    from core.demo import demo_dataset

    return str(demo_dataset("genres"))


@pytest.fixture(scope="module")
def cnn_model(tmp_path_factory, demo_dir):
    path = tmp_path_factory.mktemp("genres") / "cnn.slm"
    out = run("train", "--task", "genres", "--data", demo_dir, "--model", "cnn", "--epochs", "3", "--batch-size", "16",
              "--window-seconds", "2", *SMALL, "--seed", "1", "--split", "random", "--out", str(path), "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    return path, json.loads(out.stdout)


def test_train_cnn_reports_track_and_window_accuracy(cnn_model):
    path, result = cnn_model
    assert path.is_file()
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["window_accuracy"] <= 1.0
    assert result["n_train"] + result["n_test"] == 72  # tracks, not windows
    assert result["feature_config"]["window_seconds"] == 2.0
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3]


def test_predict_returns_windows_covering_a_long_file(cnn_model, demo_dir, tmp_path):
    path, _ = cnn_model
    clips = sorted(pathlib.Path(demo_dir).glob("*/*.wav"))[::12][:6]
    y = np.concatenate([sf.read(c, dtype="float32")[0] for c in clips])
    song = tmp_path / "long song.ogg"
    sf.write(song, y, 22050)
    duration = sf.info(song).duration
    out = run("predict", str(path), str(song), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    (result,) = json.loads(out.stdout)
    assert result["path"] == str(song) and result["label"] in result["probabilities"]
    windows = result["windows"]
    assert windows[0]["start"] == 0.0 and windows[-1]["end"] == pytest.approx(duration, abs=0.05)
    assert all(set(w) == {"start", "end", "label", "probabilities"} for w in windows)


def test_evaluate_on_a_folder(cnn_model, demo_dir):
    path, _ = cnn_model
    out = run("evaluate", str(path), "--data", demo_dir, "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["n_test"] == 72 and "window_accuracy" in result


def test_train_baseline_uses_its_summary_features(demo_dir, tmp_path):
    out = run("train", "--task", "genres", "--data", demo_dir, "--model", "features-logreg",
              "--out", str(tmp_path / "lr.slm"), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["feature_config"]["name"] == "music-stats"
    assert result["accuracy"] >= 0.6  # the synthetic genres are easy for summary statistics


def test_a_cnn_flag_on_the_baseline_is_a_one_line_error(demo_dir, tmp_path):
    out = run("train", "--task", "genres", "--data", demo_dir, "--model", "features-logreg", "--epochs", "3",
              "--out", str(tmp_path / "x.slm"))
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1] == "error: --epochs does not apply to the features-logreg model"
