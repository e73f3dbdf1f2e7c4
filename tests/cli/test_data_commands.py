"""``python main.py features`` as a user runs it: a real subprocess from the repository root."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.core import datagen

ROOT = pathlib.Path(__file__).resolve().parents[2]
JSON_KEYS = {"n_files", "n_skipped", "skipped", "classes", "shape", "seconds", "files_per_second", "cache_hits"}


def run_cli(*args):
    # The child inherits SPEECHLAB_CACHE_DIR from tests/conftest.py, so the user's cache is untouched.
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """2 speakers × 10 digits, plus the bad files (coded as digit 3 of speaker bob)."""
    root = datagen.digits_flat(tmp_path_factory.mktemp("cli") / "digits", speakers=("alice", "bob"), per_speaker=1)
    bad = datagen.add_bad_files(root, names=datagen.coded_bad_names(speaker="bob", digit=3), cls=3)
    return root, bad


@pytest.fixture(scope="module")
def digits_run(digits):
    root, _ = digits
    return run_cli("features", "--task", "digits", "--data", root, "--json", "--no-cache")


def test_features_json_report(digits, digits_run):
    _, bad = digits
    proc = digits_run
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1  # stdout holds the result and nothing else
    out = json.loads(lines[0])
    assert JSON_KEYS <= set(out)
    assert out["n_files"] == 26
    assert out["n_skipped"] == 4
    assert {s["path"] for s in out["skipped"]} == {str(bad[k]) for k in ("corrupt", "empty", "text", "silent")}
    assert all(set(s) == {"path", "reason"} and s["reason"] for s in out["skipped"])
    assert out["classes"] == {str(d): (4 if d == 3 else 2) for d in range(10)}  # stereo and 30 s files used
    assert out["shape"][0] == 22 and len(out["shape"]) == 2 and out["shape"][1] > 0
    assert out["seconds"] > 0 and out["files_per_second"] > 0
    assert out["cache_hits"] == 0


def test_progress_goes_to_stderr_not_stdout(digits_run):
    assert "features:" in digits_run.stderr and "files" in digits_run.stderr
    assert "features:" not in digits_run.stdout


def test_speaker_label(digits):
    root, _ = digits
    proc = run_cli("features", "--data", root, "--label", "speaker", "--features", "mfcc-mean", "--json",
                   "--no-cache")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["classes"] == {"alice": 10, "bob": 12}
    assert out["shape"] == [22, 12]


def test_second_run_reads_the_cache(digits):
    root, _ = digits
    args = ("features", "--data", root, "--features", "spectral", "--json")
    first = json.loads(run_cli(*args).stdout)
    second = json.loads(run_cli(*args).stdout)
    assert second["cache_hits"] == first["n_files"] - 3  # the three unreadable files never reach the extractor
    assert second["shape"] == first["shape"]


def _assert_one_line_error(proc, folder):
    assert proc.returncode != 0
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, proc.stderr
    assert str(folder) in errors[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("contents", ["nothing readable", "only a silent file"])
def test_no_usable_file_fails_naming_the_folder(tmp_path, contents):
    folder = tmp_path / "broken"
    names = datagen.coded_bad_names(speaker="zed")
    bad = datagen.add_bad_files(folder, names=names)
    for kind in ("stereo", "long") if contents == "only a silent file" else ("stereo", "long", "silent"):
        bad[kind].unlink()
    _assert_one_line_error(run_cli("features", "--data", folder, "--json", "--no-cache"), folder)


def test_missing_folder_fails_naming_it(tmp_path):
    folder = tmp_path / "no such folder"
    proc = run_cli("features", "--data", folder, "--json")
    _assert_one_line_error(proc, folder)
    assert "not found" in proc.stderr


def test_set_changes_feature_settings(digits):
    root, _ = digits
    proc = run_cli("features", "--data", root, "--features", "mfcc-mean", "--set", "n_mfcc=20", "--set", "trim_db=none",
                   "--json", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["shape"][1] == 20
    assert out["feature_config"]["n_mfcc"] == 20 and out["feature_config"]["trim_db"] is None


@pytest.mark.parametrize("setting, message", [
    ("n_mfc=20", "unknown feature setting 'n_mfc'"),
    ("n_mfcc=many", "'n_mfcc' must be an integer"),
    ("n_mfcc=0", "'n_mfcc' must be between 1 and 128"),
    ("n_mfcc", "--set needs KEY=VALUE"),
    ("window_overlap=0.99", "'window_overlap' must be between 0 and 0.95"),
    ("n_mels=none", "'n_mels' cannot be none"),
])
def test_bad_settings_are_one_line_errors(digits, setting, message):
    root, _ = digits
    for command in ("features", "train"):
        extra = ["--out", "never.slm"] if command == "train" else []
        proc = run_cli(command, "--data", root, "--set", setting, *extra, "--no-cache")
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
