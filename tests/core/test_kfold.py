"""k-fold results: folds grouped by speaker or track, mean ± std and a 95 % interval, the final model on all
the data, Stop keeping the finished folds, the run history, a re-run repeating the folds, Genres' default."""
import dataclasses
import sqlite3

import numpy as np
import pytest

from core.datasets import Dataset, Item, scan_dataset
from core.demo import demo_dataset
from core.errors import SpeechLabError
from core.history import RunHistory
from core.kfold import grouping_of, make_folds, summary
from core.request import TrainRequest, request_of_run, resolve, train_and_record

# Tiny trainings: the shape of k-fold, not its accuracy.
DIGITS_FAST = dict(task="digits", model_params={"epochs": 3, "hidden_layer_sizes": [32]}, augment=False, open_set=False)


def _speakers_of(paths, ds):
    speaker = {it.path: it.speaker for it in ds.items}
    return {speaker[p] for p in paths}


@pytest.mark.parametrize(("folder", "k"), [("fsdd/recordings", 4), ("audiomnist-az-dev", 5)])
def test_speaker_grouped_folds_never_put_a_speaker_on_both_sides(shared_data, folder, k):
    ds = scan_dataset(str(shared_data(folder)), label="digit")
    assert grouping_of(ds, "digits") == "speaker"
    folds = make_folds(ds.items, k, random_state=42, grouping="speaker")
    assert len(folds) == k
    every = np.sort(np.concatenate(folds))
    assert np.array_equal(every, np.arange(len(ds.items)))  # every clip tested exactly once
    for test in folds:
        test_speakers = {ds.items[i].speaker for i in test}
        train_speakers = {ds.items[i].speaker for i in np.setdiff1d(np.arange(len(ds.items)), test)}
        assert test_speakers and not test_speakers & train_speakers
    # the same seed gives the same folds; another seed may cut them differently but keeps the rule
    again = make_folds(ds.items, k, random_state=42, grouping="speaker")
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))


def test_too_many_or_too_few_folds_are_one_line_naming_folds(shared_data):
    ds = scan_dataset(str(shared_data("fsdd/recordings")), label="digit")
    with pytest.raises(SpeechLabError, match=r"folds = 5 is more than the 4 speakers"):
        make_folds(ds.items, 5, grouping="speaker")
    with pytest.raises(SpeechLabError, match="folds must be at least 2, not 1"):
        resolve(TrainRequest(task="digits", split="kfold", folds=1))
    with pytest.raises(SpeechLabError, match="folds applies to the k-fold split"):
        resolve(TrainRequest(task="digits", split="random", folds=3))


def test_mean_std_and_t_interval():
    mean, std, (low, high) = summary([0.6, 0.8, 0.9, 0.7, 0.8])
    assert mean == pytest.approx(0.76) and std == pytest.approx(0.1140175, abs=1e-6)
    assert (low, high) == pytest.approx((0.76 - 2.776445 * std / 5 ** 0.5, 0.76 + 2.776445 * std / 5 ** 0.5), abs=1e-6)
    assert summary([0.5]) == (0.5, None, None)


def test_genres_default_is_five_fold_under_200_tracks_decided_from_the_dataset():
    def tracks(n):
        return Dataset(root="/x", layout="folders", label_kind="genre",
                       items=[Item(f"/x/{'ab'[i % 2]}/{i}.wav", "ab"[i % 2]) for i in range(n)])

    small = resolve(TrainRequest(task="genres", model="features-logreg"), dataset=tracks(50))
    assert (small.split, small.folds) == ("kfold", 5)
    big = resolve(TrainRequest(task="genres", model="features-logreg"), dataset=tracks(200))
    assert (big.split, big.folds) == ("random", None)
    # resolved, the split is part of the request: a re-run repeats it whatever the folder holds now
    assert resolve(small, dataset=tracks(500)) == small
    assert resolve(TrainRequest(task="digits")).split == "random"
    assert resolve(TrainRequest(task="digits", split="kfold")).folds == 5


def test_digits_kfold_by_speaker_mean_within_folds_final_model_history_and_rerun(tmp_path):
    history = RunHistory(tmp_path / "history")
    events = []
    result = train_and_record(TrainRequest(split="kfold", folds=3, **DIGITS_FAST), history=history, n_jobs=1,
                              on_event=lambda kind, value: events.append((kind, value)))
    kf = result.kfold
    assert kf["grouping"] == "speaker" and kf["completed"] and len(kf["folds"]) == 3
    ds = scan_dataset(str(demo_dataset("digits")))
    for fold, r in zip(kf["folds"], result.results):
        test = {f["path"] for f in r.metrics["test_files"]}
        train = {it.path for it in ds.items} - test
        assert not _speakers_of(test, ds) & _speakers_of(train, ds)
        assert sorted(_speakers_of(test, ds)) == fold["test"] and fold["n_test"] == len(test)
    accs = [f["accuracy"] for f in kf["folds"]]
    assert min(accs) <= kf["mean_accuracy"] <= max(accs) and kf["ci95"][0] <= kf["mean_accuracy"] <= kf["ci95"][1]
    assert result.metrics["accuracy"] == kf["mean_accuracy"] and sum(f["n_test"] for f in kf["folds"]) == len(ds.items)
    # the model kept is trained on all the data afterwards, a phase of its own
    assert result.final and result.bundle.training["n_train"] == len(ds.items)
    folds_seen = [v for kind, v in events if kind == "fold"]
    assert [(v["index"], v["total"]) for v in folds_seen] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert folds_seen[-1]["test"] is None
    phases = [v["name"] for kind, v in events if kind == "phase"]
    assert "fold 2/3: training" in phases and "final model on all the data: training" in phases
    # the run history: one run, accuracy = mean, its std in the list, the folds in the document
    (summary_row,) = history.runs("digits")
    assert summary_row["accuracy"] == pytest.approx(kf["mean_accuracy"])
    assert summary_row["accuracy_std"] == pytest.approx(kf["std_accuracy"]) and summary_row["split"] == "3-fold by speaker"
    run = history.get(result.run_id)
    assert run["kfold"]["folds"] == kf["folds"]
    # a re-run repeats it: same folds, same accuracies with the same seed
    again = train_and_record(request_of_run(run), history=history, n_jobs=1)
    assert resolve(request_of_run(run)) == result.request
    assert [f["test"] for f in again.kfold["folds"]] == [f["test"] for f in kf["folds"]]
    assert [f["accuracy"] for f in again.kfold["folds"]] == pytest.approx(accs)


def test_stop_mid_way_keeps_the_finished_folds(tmp_path):
    history = RunHistory(tmp_path / "history")
    stop = []

    def on_event(kind, value):
        if kind == "fold" and value["index"] == 1:
            stop.append(True)  # the user presses Stop as fold 2 starts

    request = TrainRequest(split="kfold", folds=3, **{**DIGITS_FAST, "model_params": {"epochs": 50,
                                                                                       "hidden_layer_sizes": [32]}})
    result = train_and_record(request, history=history, n_jobs=1, on_event=on_event, should_stop=lambda: bool(stop))
    kf = result.kfold
    assert [f["fold"] for f in kf["folds"]] == [1] and not kf["completed"] and not result.final
    assert result.bundle is result.results[0].bundle  # the finished fold's model is kept
    assert result.stop_reason.startswith("stopped by user after 1 of 3 folds")
    assert kf["mean_accuracy"] == kf["folds"][0]["accuracy"] and kf["std_accuracy"] is None
    (row,) = history.runs("digits")
    assert row["status"] == "stopped" and row["accuracy"] == pytest.approx(kf["mean_accuracy"])


def test_an_older_history_without_the_std_column_is_read_and_then_extended(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    con = sqlite3.connect(str(folder / "history.sqlite"))
    from core import history as history_module

    old_schema = history_module._SCHEMA.replace(",\n    accuracy_std REAL", "")
    con.executescript(old_schema)
    con.close()
    h = RunHistory(folder)
    assert h.runs() == [] and not h.notes
    result = train_and_record(dataclasses.replace(TrainRequest(**DIGITS_FAST), split="random"), history=h, n_jobs=1)
    (row,) = h.runs()
    assert row["id"] == result.run_id and row["accuracy_std"] is None and row["split"].startswith("random")
