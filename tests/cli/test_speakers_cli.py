"""The speakers commands as a user types them: train (open_set JSON), evaluate, predict ("unknown"), enrol."""
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(*args):
    proc = subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def trained(fsdd_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "spk.slm"
    rc, stdout, err = run("train", "--task", "speakers", "--data", fsdd_dir, "--label", "speaker", "--out", out,
                          "--unknown", "lucas", "--jobs", "1", "--json")
    assert rc == 0, err
    return out, json.loads(stdout)


def test_train_reports_closed_and_open_set(trained):
    path, out = trained
    assert path.is_file()
    assert out["accuracy"] >= 0.99 and out["labels"] == ["george", "jackson", "nicolas"]
    os_ = out["open_set"]
    assert set(os_) >= {"threshold", "false_reject_rate", "false_accept_rate", "eer"}
    assert os_["false_accept_rate"] <= 0.15 and os_["false_reject_rate"] <= 0.15
    assert out["history"], "no curve"


def test_evaluate_counts_voices_the_model_does_not_know_as_unknown(trained, fsdd_dir):
    path, _ = trained
    rc, stdout, err = run("evaluate", path, "--data", fsdd_dir, "--jobs", "1", "--json")
    assert rc == 0, err
    out = json.loads(stdout)
    assert out["unknown_labels"] == ["lucas"] and out["labels"][-1] == "unknown"
    assert 0.15 <= out["unknown_rate"] <= 0.4  # lucas is a quarter of the clips
    assert out["false_accept_rate"] <= 0.15 and out["known_accuracy"] >= 0.85


def test_predict_says_unknown_with_score_and_threshold(trained, fsdd_dir):
    path, _ = trained
    files = sorted(fsdd_dir.glob("*_lucas_2*.wav"))[:5] + sorted(fsdd_dir.glob("*_george_2*.wav"))[:1]
    rc, stdout, err = run("predict", path, *files, "--json")
    assert rc == 0, err
    results = json.loads(stdout)
    assert [r["label"] for r in results[:5]].count("unknown") >= 4
    assert all("score" in r and "threshold" in r for r in results)
    rc, text, _ = run("predict", path, files[0])
    assert "unknown" in text and "threshold" in text


def test_no_train_flag_for_speakers_on_digits(fsdd_dir, tmp_path):
    rc, _, err = run("train", "--task", "digits", "--data", fsdd_dir, "--out", tmp_path / "d.slm", "--unknown", "x")
    assert rc != 0 and len(err.strip().splitlines()) == 1 and "--unknown" in err


def test_enrol_adds_a_speaker_and_bad_input_is_one_line(trained, fsdd_dir, tmp_path):
    path, _ = trained
    files = sorted(fsdd_dir.glob("*_lucas_*.wav"))[::10][:30]
    new = tmp_path / "with-lucas.slm"
    rc, stdout, err = run("enrol", path, "--name", "Luc", *files, "--out", new, "--jobs", "1", "--json")
    assert rc == 0, err
    out = json.loads(stdout)
    assert out["labels"] == ["Luc", "george", "jackson", "nicolas"] and out["speaker"] == "Luc"
    rc, stdout, _ = run("predict", new, *sorted(fsdd_dir.glob("*_lucas_*.wav"))[5::10][:6], "--json")
    assert [r["label"] for r in json.loads(stdout)].count("Luc") >= 4
    for args, needle in ((["--name", "Luc", tmp_path / "missing.wav"], "missing.wav"),
                         (["--name", "unknown", files[0]], "reserved")):
        rc, _, err = run("enrol", path, *args, "--out", tmp_path / "x.slm")
        assert rc != 0 and len(err.strip().splitlines()) == 1 and needle in err, err
