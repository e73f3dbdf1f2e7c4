"""``train --split kfold --folds K`` as a user runs it (real subprocesses, real shared data, a private history):
folds with no track or speaker in two of them, mean ± std and a 95 % interval, Genres' 5-fold default on a
small dataset, the HTML report's fold table, and a bad K in one line."""
import itertools
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = os.environ.copy()
    e["SPEECHLAB_DATA_DIR"] = str(tmp_path_factory.mktemp("kfold-home"))
    return e


def run_cli(env, *args):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env=env)


def test_genres_on_gtzan_dev_is_five_fold_by_track_by_default(env, shared_data, tmp_path):
    data = shared_data("gtzan-dev/genres_original")
    proc = run_cli(env, "train", "--task", "genres", "--data", data, "--model", "features-logreg",
                   "--out", tmp_path / "g.slm", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert (out["request"]["split"], out["request"]["folds"]) == ("kfold", 5)  # fewer than 200 tracks
    assert out["k"] == 5 and out["grouping"] == "track" and out["completed"] and out["final_model"]
    folds = out["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3, 4, 5]
    tested = [set(f["test"]) for f in folds]
    assert all(not a & b for a, b in itertools.combinations(tested, 2))  # no track in two folds
    used = {str(p) for p in pathlib.Path(data).glob("*/*.wav")} - {s["path"] for s in out["skipped"]}
    assert set().union(*tested) == used and sum(f["n_test"] for f in folds) == len(used) == out["n_test"]
    assert out["n_train"] == len(used)  # the model saved is trained on all the data
    accs = [f["accuracy"] for f in folds]
    assert min(accs) <= out["mean_accuracy"] <= max(accs) and out["accuracy"] == out["mean_accuracy"]
    low, high = out["ci95"]
    assert low <= out["mean_accuracy"] <= high and out["std_accuracy"] > 0
    assert "fold 3/5" in proc.stderr and "final model on all the data" in proc.stderr
    # the HTML report of the run holds the fold table and the mean ± std
    report = tmp_path / "r.html"
    proc = run_cli(env, "report", out["run_id"], "--out", report)
    assert proc.returncode == 0, proc.stderr
    text = report.read_text()
    assert "k-fold cross-validation" in text and "5-fold by track" in text
    assert text.count("<tr><td class=num>") >= 5 and f"{100 * out['std_accuracy']:.1f} %" in text


def test_digits_folds_by_speaker_on_fsdd(env, shared_data, tmp_path):
    data = shared_data("fsdd/recordings")
    proc = run_cli(env, "train", "--task", "digits", "--data", data, "--split", "kfold", "--folds", "4",
                   "--hidden", "32", "--epochs", "2", "--no-augment", "--no-open-set", "--out", tmp_path / "d.slm",
                   "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["grouping"] == "speaker" and len(out["folds"]) == 4
    speakers = [tuple(f["test"]) for f in out["folds"]]
    assert sorted(s for (s,) in speakers) == ["george", "jackson", "lucas", "nicolas"]  # one voice per fold
    for f in out["folds"]:
        assert f["n_test"] == 500


@pytest.mark.parametrize(("args", "line"), [
    (["--folds", "5"], "error: folds = 5 is more than the 4 speakers to cut into folds; choose at most 4"),
    (["--split", "kfold", "--folds", "1"], "argument --folds: must be at least 2, not 1"),
    (["--split", "random", "--folds", "3"], "error: --folds applies to --split kfold, not --split random"),
])
def test_a_bad_number_of_folds_is_one_line_naming_it(env, shared_data, tmp_path, args, line):
    data = shared_data("fsdd/recordings")
    proc = run_cli(env, "train", "--task", "digits", "--data", data, *args, "--out", tmp_path / "x.slm")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert line in last and not (tmp_path / "x.slm").exists()
