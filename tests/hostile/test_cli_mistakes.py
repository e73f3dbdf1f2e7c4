"""Ordinary mistakes on the command line: one line naming the file or field, before any long work,
and nothing the user had is changed. Interrupts stop cleanly."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.core.datagen import class_signal, write_wav
from tests.helpers import child_pids, process_alive

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cli(*args, timeout=180, **kw):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy(), **kw)


def assert_one_line(proc, *fragments, code=None):
    assert proc.returncode != 0 if code is None else proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for f in fragments:
        assert f in errors[0], errors[0]
    assert "features:" not in proc.stderr  # refused before any extraction


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    for i in range(40):
        write_wav(root / f"{i % 2}_s{i % 4}_{i}.wav", class_signal(cls=i % 2, sr=8000, speaker=i % 4, seed=i), sr=8000)
    return root


@pytest.fixture(scope="module")
def model(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "m.slm"
    proc = cli("train", "--data", small, "--hidden", "16", "--epochs", "3", "--out", out, "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("args, fragments", [
    (["--seed", "-1", "--split", "speaker"], ["--seed", "between 0"]),
    (["--hidden", "2000000"], ["hidden_layer_sizes", "8192"]),
    (["--jobs", "1000"], ["--jobs", "between 1 and 64"]),
    (["--test-size", "1.5"], ["--test-size"]),
    (["--set", "n_fft=3"], ["n_fft"]),
])
def test_bad_arguments_before_any_work(small, tmp_path, args, fragments):
    proc = cli("train", "--data", small, "--out", tmp_path / "m.slm", "--no-cache", *args)
    assert_one_line(proc, *fragments)
    assert not (tmp_path / "m.slm").exists()


def test_bad_data_arguments(tmp_path, small):
    (tmp_path / "file.wav").write_bytes(b"RIFF")
    for data, fragment in (("", "--data is empty"), (tmp_path / "file.wav", "is a file"),
                           (tmp_path / "nowhere", "folder not found")):
        assert_one_line(cli("features", "--data", data, "--no-cache"), fragment)


def test_an_output_that_cannot_be_written_is_refused_before_training(small, tmp_path):
    assert_one_line(cli("train", "--data", small, "--out", tmp_path / "missing" / "m.slm"), "does not exist")
    (tmp_path / "dir.slm").mkdir()
    assert_one_line(cli("train", "--data", small, "--out", tmp_path / "dir.slm"), "is a folder")


def test_a_split_left_with_one_class(tmp_path):
    for i in range(3):
        write_wav(tmp_path / f"{0 if i < 2 else 1}_s{i}_{i}.wav", class_signal(cls=i // 2, sr=8000, seed=i), sr=8000)
    proc = cli("train", "--data", tmp_path, "--out", tmp_path / "m.slm", "--no-cache", "--test-size", "0.4")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")


def test_image_features_for_the_mlp_train_instead_of_failing(small, tmp_path):
    proc = cli("train", "--data", small, "--features", "logmel-128", "--set", "image_size=16", "--hidden", "8",
               "--epochs", "2", "--out", tmp_path / "m.slm", "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["feature_config"]["name"] == "logmel-128"


def test_predict_names_each_bad_file_and_goes_on(model, tmp_path, small):
    folder = tmp_path / "x.wav"
    folder.mkdir()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(b"RIFF\x14\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")
    good = sorted(small.glob("*.wav"))[0]
    proc = cli("predict", model, folder, cut, good, "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "is a folder" in errors[0] and "cut.wav" in errors[1]
    assert [r["path"] for r in json.loads(proc.stdout)] == [str(good)]


def test_models_are_saved_readable_and_through_symlinks(small, tmp_path):
    target = tmp_path / "real.slm"
    target.write_bytes(b"old")
    link = tmp_path / "link.slm"
    link.symlink_to(target)
    old_mask = os.umask(0o022)
    try:
        proc = cli("train", "--data", small, "--hidden", "8", "--epochs", "2", "--out", link, "--no-cache")
    finally:
        os.umask(old_mask)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and target.stat().st_size > 1000
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def _wait_for(proc, text, timeout=120):
    """Read stderr lines until one contains ``text``; returns what was read."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}: {''.join(seen)[-2000:]}")


def test_first_ctrl_c_in_train_saves_the_best_model_so_far(small, tmp_path):
    out = tmp_path / "m.slm"
    proc = subprocess.Popen([sys.executable, "main.py", "train", "--data", str(small), "--hidden", "64",
                             "--epochs", "100000", "--no-early-stopping", "--out", str(out), "--no-cache", "--json"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        _wait_for(proc, "epoch 3/")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    result = json.loads(stdout)
    assert "stopped" in (result["stop_reason"] or "")
    assert out.exists() and 3 <= len(result["history"]) < 100000


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """Enough files that a two-process extraction runs for a while (no cache)."""
    root = tmp_path_factory.mktemp("many")
    y = class_signal(cls=1, sr=8000, seconds=3.0)
    for i in range(600):
        write_wav(root / f"{i % 10}_s{i % 3}_{i}.wav", np.roll(y, i), sr=8000)
    return root


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_interrupting_a_parallel_extraction_leaves_no_workers(many, how):
    # Deliberately heavy settings (8192-point FFT every millisecond) so the extraction is still running.
    proc = subprocess.Popen([sys.executable, "main.py", "features", "--data", str(many), "--jobs", "2",
                             "--no-cache", "--features", "mfcc-stats", "--set", "n_fft=8192", "--set", "hop_ms=1",
                             "--set", "n_mels=256"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        _wait_for(proc, "features: ")
        workers = set()
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            workers |= child_pids(proc.pid)
        assert workers, "the pool never started"
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)  # used to hang in 7 of 18 tries
            assert proc.returncode in (1, 130)
        else:
            proc.kill()
            proc.communicate(timeout=10)
        deadline = time.monotonic() + 20
        while any(process_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a condition with a deadline, not a synchronisation sleep
        left = {w: pathlib.Path(f"/proc/{w}/cmdline").read_bytes()[:200] for w in workers if process_alive(w)}
        assert not left
    finally:
        proc.kill()
