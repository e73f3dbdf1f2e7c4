"""Run history: real trainings recorded in a real SQLite file, read back after a
"restart" (a new RunHistory on the same folder, and a new process), and a
process killed with SIGKILL while it records runs leaves a readable history."""
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from core.datasets import scan_dataset
from core.demo_digits import DEMO_DIGITS_DIR
from core.history import RunHistory, fingerprint
from core.models.mlp import MLPClassifier
from core.tasks import DIGITS
from core.training import SplitConfig, train_model

ROOT = pathlib.Path(__file__).resolve().parents[2]


def small_mlp(**overrides):
    return MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (16,), "epochs": 4, "early_stopping": False,
                            "random_state": 0, **overrides})


@pytest.fixture(scope="module")
def demo():
    return scan_dataset(DEMO_DIGITS_DIR, label="digit")


@pytest.fixture(scope="module")
def result(demo):
    return train_model(demo, task="digits", feature_config=DIGITS.feature_config("mfcc-mean"), model=small_mlp(),
                       split=SplitConfig(random_state=7))


def test_a_run_is_read_back_whole_after_a_restart(tmp_path, demo, result):
    rid = RunHistory(tmp_path).record_result(result, dataset=demo, source="test", model_text="tiny MLP")
    assert rid == 1

    again = RunHistory(tmp_path)  # a new session on the same folder
    [summary] = again.runs("digits")
    assert summary["id"] == rid and summary["task"] == "digits" and summary["source"] == "test"
    assert summary["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert summary["dataset_name"] == "demo" and summary["n_files"] == len(demo.items)
    assert summary["features"].startswith("mfcc-mean") and summary["model"] == "tiny MLP"
    run = again.get(rid)
    assert run["metrics"]["confusion"] == result.metrics["confusion"]
    assert run["metrics"]["per_class"]["3"]["accuracy"] == pytest.approx(result.metrics["per_class"]["3"]["accuracy"])
    assert [h["loss"] for h in run["history"]] == pytest.approx([h["loss"] for h in result.history])
    assert run["feature_config"]["name"] == "mfcc-mean"
    assert run["model"]["params"]["hidden_layer_sizes"] == [16]
    assert run["seeds"] == {"split": 7, "model": 0}
    assert run["versions"]["numpy"] == np.__version__ and "speechlab" in run["versions"]
    assert len(run["test_files"]) == result.n_test and {"path", "label", "predicted"} <= set(run["test_files"][0])
    assert run["dataset"]["fingerprint"] == fingerprint(demo)[1]
    # the kept model predicts exactly as the trained one
    bundle = again.load_model(rid)
    x = np.random.default_rng(0).standard_normal((3, bundle.model.n_features_in_))
    assert np.allclose(bundle.model.predict_proba(x), result.bundle.model.predict_proba(x))

    # and in a new process too (nothing cached in memory)
    out = subprocess.run([sys.executable, "-c", "import sys; from core.history import RunHistory; "
                          f"r = RunHistory(sys.argv[1]).get({rid}); print(r['accuracy'], r['status'])", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [repr(summary["accuracy"]), "finished"]


def test_note_star_search_and_delete_with_the_model_file(tmp_path, demo, result):
    h = RunHistory(tmp_path)
    a = h.record_result(result, dataset=demo)
    b = h.record_result(result, dataset=demo)
    assert h.set_note(a, "baseline for the slides") and h.set_starred(b)
    assert [r["id"] for r in h.runs(search="slides")] == [a]
    assert [r["id"] for r in h.runs(starred=True)] == [b]
    assert [r["id"] for r in h.runs("genres")] == []
    model = h.model_path(a)
    assert model.is_file()
    assert h.delete(a)
    assert not model.exists() and h.get(a) is None and [r["id"] for r in h.runs()] == [b]
    assert not h.delete(a)


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    for name in ("0_caribandy_0.flac", "1_caribandy_0.flac", "2_caribandy_0.flac"):
        shutil.copy(DEMO_DIGITS_DIR / name, tmp_path / name)
    before = fingerprint(scan_dataset(tmp_path, label="digit"))
    assert fingerprint(scan_dataset(tmp_path, label="digit")) == before
    os.utime(tmp_path / "1_caribandy_0.flac", ns=(1, 1))
    after = fingerprint(scan_dataset(tmp_path, label="digit"))
    assert after[0] == before[0] == 3 and after[1] != before[1]


def test_a_damaged_database_is_moved_aside_and_recording_goes_on(tmp_path, demo, result):
    (tmp_path / "history.sqlite").write_bytes(b"this is not a database" * 100)
    h = RunHistory(tmp_path)
    assert h.runs() == []
    rid = h.record_result(result, dataset=demo)
    assert rid == 1 and len(list(tmp_path.glob("history.sqlite.damaged-*"))) == 1
    assert any("damaged" in n for n in h.notes)


def test_an_unwritable_history_never_fails_the_training(tmp_path, demo, result):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    h = RunHistory(blocker / "runs")
    assert h.record_result(result, dataset=demo) is None
    assert h.notes and h.runs() == []


_RECORDER = """
import sys
from core.datasets import scan_dataset
from core.demo_digits import DEMO_DIGITS_DIR
from core.history import RunHistory
from core.models.mlp import MLPClassifier
from core.tasks import DIGITS
from core.training import train_model
ds = scan_dataset(DEMO_DIGITS_DIR, label="digit")
r = train_model(ds, task="digits", feature_config=DIGITS.feature_config("mfcc-mean"),
                model=MLPClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0))
h = RunHistory(sys.argv[1])
while True:  # record until killed
    print(h.record_result(r, dataset=ds), flush=True)
"""


def test_a_process_killed_while_recording_leaves_a_readable_history(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _RECORDER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        ids = [int(proc.stdout.readline()) for _ in range(5)]  # five runs committed; it is writing more
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert ids == [1, 2, 3, 4, 5]
    h = RunHistory(tmp_path)
    assert h.integrity() == "ok"
    runs = h.runs()
    assert len(runs) >= 5 and {1, 2, 3, 4, 5} <= {r["id"] for r in runs}
    for r in runs:  # every recorded run is whole: its document and its model file
        assert h.get(r["id"])["metrics"]["labels"]
        assert h.load_model(r["id"]).labels == [str(d) for d in range(10)]
    # at most the one model file being written when the kill came has no run
    assert len(h.orphans()) <= 1
