"""``train --data DIR --data MORE_DIR``: several folders of the same task at once (issue 20, record into
a class), on real FSDD clips copied into two layouts; a clash of labels in one line; a re-run from the
run history repeats the two-folder training."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from core.datasets import merge_datasets, scan_dataset
from core.errors import SpeechLabError

ROOT = pathlib.Path(__file__).resolve().parents[2]
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"

pytestmark = pytest.mark.skipif(not FSDD.is_dir(), reason="the shared FSDD recordings are not here")


def _clip(digit, speaker, index):
    return next(FSDD.glob(f"{digit}_{speaker}_{index}.*"))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """a: george, FSDD's own naming (filename layout); b: jackson, one folder per digit (folders layout).
    40 small clips in all."""
    root = tmp_path_factory.mktemp("several")
    a, b = root / "a", root / "b"
    a.mkdir()
    for digit in range(10):
        (b / str(digit)).mkdir(parents=True)
        for i in (0, 1):
            shutil.copy(_clip(digit, "george", i), a)
            src = _clip(digit, "jackson", i)
            shutil.copy(src, b / str(digit) / f"take-{i}{src.suffix}")
    return a, b


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = os.environ.copy()
    e["SPEECHLAB_DATA_DIR"] = str(tmp_path_factory.mktemp("several-home"))
    return e


def run_cli(env, *args):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)  # the timeout only guards against a hang


@pytest.fixture(scope="module")
def two_folder_run(env, folders, tmp_path_factory):
    a, b = folders
    out = tmp_path_factory.mktemp("several-models") / "m.slm"
    proc = run_cli(env, "train", "--data", a, "--data", b, "--features", "mfcc-mean", "--epochs", "8",
                   "--test-size", "0.3", "--no-augment", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_train_on_two_folders_counts_both(two_folder_run, folders):
    a, b = folders
    out = two_folder_run
    assert out["n_train"] + out["n_test"] == 40  # 20 clips of each folder
    assert out["request"]["data"] == [str(a), str(b)]
    assert out["labels"] == [str(d) for d in range(10)]


def test_merged_items_keep_their_paths_and_a_file_counts_once(folders):
    a, b = folders
    da, db = scan_dataset(a), scan_dataset(b)
    assert (da.layout, db.layout) == ("filename", "folders")
    merged = merge_datasets([da, db, scan_dataset(a)])  # a folder given twice: its files count once
    assert len(merged.items) == 40 and merged.labels == [str(d) for d in range(10)]
    assert {it.path for it in merged.items} == {it.path for it in da.items} | {it.path for it in db.items}
    assert {it.speaker for it in merged.items} == {"george", None}


def test_a_clash_of_labels_is_one_line(env, folders, tmp_path):
    a, _ = folders
    names = tmp_path / "names"
    for speaker in ("lucas", "nicolas"):
        (names / speaker).mkdir(parents=True)
        src = _clip(0, speaker, 0)
        shutil.copy(src, names / speaker / f"take{src.suffix}")
    proc = run_cli(env, "train", "--data", a, "--data", names, "--epochs", "2", "--out", tmp_path / "x.slm")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "clash" in lines[0] and "names" in lines[0] and "digits" in lines[0], proc.stderr
    assert not (tmp_path / "x.slm").exists()
    with pytest.raises(SpeechLabError, match="clash"):
        merge_datasets([scan_dataset(a), scan_dataset(names)])


def test_a_missing_second_folder_is_one_line(env, folders, tmp_path):
    a, _ = folders
    proc = run_cli(env, "train", "--data", a, "--data", tmp_path / "nowhere", "--out", tmp_path / "x.slm")
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "--data" in proc.stderr, proc.stderr


def test_one_folder_stays_a_string(env, folders, tmp_path):
    a, _ = folders
    proc = run_cli(env, "train", "--data", a, "--features", "mfcc-mean", "--epochs", "2", "--test-size", "0.5",
                   "--no-augment", "--no-open-set", "--out", tmp_path / "one.slm", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["request"]["data"] == str(a) and out["n_train"] + out["n_test"] == 20


def test_a_rerun_from_the_history_repeats_both_folders(env, two_folder_run, folders):
    from core.history import RunHistory
    from core.request import request_of_run, train_and_record

    history = RunHistory(pathlib.Path(env["SPEECHLAB_DATA_DIR"]) / "runs")
    run = history.get(two_folder_run["run_id"], strict=True)
    request = request_of_run(run)
    assert request.data == [str(p) for p in folders]
    again = train_and_record(request, history=history, n_jobs=1)
    assert again.n_train + again.n_test == 40
    assert (again.n_train, again.n_test) == (two_folder_run["n_train"], two_folder_run["n_test"])
    assert again.metrics["accuracy"] == pytest.approx(two_folder_run["accuracy"])
    assert history.get(again.run_id, strict=True)["request"]["data"] == [str(p) for p in folders]
