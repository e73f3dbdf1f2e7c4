"""Test my voice → "Add my takes to training" (issue 20, record into a class), as a user runs it in the Digits
tab: train on the demo digits, say every digit (real FSDD takes of george, a voice the model never heard, fed
through the dialog's take path), add the takes to training: they are saved into the chosen folder in the
dataset's layout without overwriting anything, the tab retrains in the background on the dataset plus that
folder (one request, both folders), and the dialog shows the accuracy on *your* voice before and after.

Every wait is on a condition; a timeout only guards against a hang.
"""
import shutil

import pytest
from PySide6.QtCore import Qt

from core.datasets import scan_dataset
from core.voice_test import is_inside, save_takes
from tests.helpers import load

HANG_MS = 600_000
SMALL = {"hidden_layer_sizes": (32,), "activation": "relu", "epochs": 30}


def say(fsdd_dir, digit, index=7, speaker="george"):
    return load(str(fsdd_dir / f"{digit}_{speaker}_{index}.wav"), 16000), 16000


@pytest.fixture
def trained_tab(make_tab, qtbot):
    tab = make_tab("digits")
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    tab.new_voices.augment.setChecked(False)
    tab.new_voices.not_a_digit.setChecked(False)
    tab.model_panel.set_params(SMALL)
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy and tab.bundle is not None, timeout=HANG_MS)
    return tab


def test_add_my_takes_saves_them_retrains_and_shows_before_and_after(trained_tab, qtbot, fsdd_dir, tmp_path):
    tab = trained_tab
    ds = tab.dataset_panel.dataset
    first_model = tab.bundle
    tab.open_voice_test()
    dialog = tab._voice_test
    assert dialog is not None and dialog.add_button.isVisible()
    assert not dialog.add_button.isEnabled()  # nothing scored yet: no "before" to compare with
    suggested = dialog.suggested_folder()
    assert not is_inside(suggested, ds.root)  # the suggestion is beside the dataset, never inside it
    while dialog.current_prompt() is not None:
        assert dialog.add_take(*say(fsdd_dir, dialog.current_prompt()))
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=HANG_MS)
    before = dialog.result
    assert dialog.add_button.isEnabled()

    folder = tmp_path / "my-takes"
    folder.mkdir()
    shutil.copy(fsdd_dir / "0_george_0.wav", folder / "0_me_0.wav")  # the user's own earlier take
    kept = (folder / "0_me_0.wav").read_bytes()
    with qtbot.waitSignal(dialog.rescored, timeout=HANG_MS) as blocker:
        paths = dialog.add_to_training_at(folder)
        assert not dialog.add_button.isEnabled()  # one retraining at a time
    # saved in the dataset's naming, the earlier take untouched and numbered after
    assert sorted(p.name for p in paths)[0] == "0_me_1.wav" and len(paths) == 10
    assert (folder / "0_me_0.wav").read_bytes() == kept
    assert len(scan_dataset(folder, label="digit").items) == 11
    assert not any(is_inside(p, ds.root) for p in paths)
    # the tab retrained on the dataset plus the folder: one request with both
    result = tab.last_result
    assert tab.bundle is not first_model and tab.bundle is result.bundle
    assert result.request.data == [str(ds.root), str(folder)]
    assert result.n_train + result.n_test == len(ds.items) + 11
    # the takes weigh and are matched directly too (core.templates), and the Log says so
    assert result.request.take_templates and result.bundle.training.get("take_templates") == 11
    assert "your 11 added takes are also matched directly" in tab.log.toPlainText()
    assert tab.history_view is not None
    # before and after on the same takes
    shown = blocker.args[0]
    assert shown["before"] is before and shown["after"] is dialog.after
    after = dialog.after
    assert after["n"] == before["n"] == 10
    assert after["accuracy"] >= before["accuracy"]  # the model has now heard this voice
    text = dialog.summary.text()
    assert f"before {before['accuracy']:.0%}" in text and f"after {after['accuracy']:.0%}" in text
    assert all("→" in dialog.list.item(i).text() for i in range(10))
    dialog.done(0)

    # Re-run from the history: the same two folders again, the panel showing the dataset's folder
    tab.rerun(result.run_id)
    qtbot.waitUntil(lambda: tab.last_result is not result and not tab.busy, timeout=HANG_MS)
    again = tab.last_result
    assert again.request.data == [str(ds.root), str(folder)]
    assert again.n_train + again.n_test == len(ds.items) + 11
    assert tab.dataset_panel.folder_edit.text() == str(ds.root)
    assert tab.added_folders == [str(folder)] and tab.train_request().data == [str(ds.root), str(folder)]


def test_takes_of_a_folders_dataset_are_saved_one_folder_per_digit(fsdd_dir, tmp_path):
    takes = [(d, *say(fsdd_dir, d)) for d in ("3", "4")]
    first = save_takes(tmp_path, "ada", takes, layout="folders")
    second = save_takes(tmp_path, "ada", takes, layout="folders")
    assert [p.relative_to(tmp_path).as_posix() for p in first + second] == [
        "3/ada-0.wav", "4/ada-0.wav", "3/ada-1.wav", "4/ada-1.wav"]
    ds = scan_dataset(tmp_path)
    assert ds.layout == "folders" and ds.labels == ["3", "4"] and len(ds.items) == 4
