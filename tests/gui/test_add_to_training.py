"""Microphone & files → "Add to training…" (issue 20, record into a class) in any tab, as a user does it: open a
real audio file (or record one), press the button, pick the class and a folder in the dialog, press Add. The take
is saved in the dataset's layout beside the dataset (never overwriting), the tab retrains in the background on the
dataset plus that folder, and every later training keeps the folder until the user leaves it out.

Every wait is on a condition; a timeout only guards against a hang.
"""
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from core.voice_test import is_inside

HANG_MS = 300_000


def loaded_tab(make_tab, qtbot, key):
    tab = make_tab(key)
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    return tab


def open_clip(tab, qtbot, path):
    assert tab.recorder.open_file(str(path))
    qtbot.waitUntil(lambda: tab.recorder.take is not None and tab.recorder.add_button.isEnabled(), timeout=HANG_MS)


def add_through_the_dialog(tab, qtbot, label, folder):
    qtbot.mouseClick(tab.recorder.add_button, Qt.LeftButton)
    dialog = tab._add_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.class_combo.setCurrentText(label)
    dialog.folder_edit.setText(str(folder))
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok), Qt.LeftButton)
    return dialog


def test_a_file_added_to_a_speaker_is_saved_beside_the_dataset_and_kept_in_every_training(make_tab, qtbot,
                                                                                          tmp_path):
    tab = loaded_tab(make_tab, qtbot, "speakers")
    ds = tab.dataset_panel.dataset
    speaker = ds.labels[0]
    clip = next(it.path for it in ds.items if it.label == speaker)
    open_clip(tab, qtbot, clip)
    # the dialog suggests a folder beside the dataset, never inside it
    qtbot.mouseClick(tab.recorder.add_button, Qt.LeftButton)
    suggested = tab._add_dialog.folder_edit.text()
    assert suggested and not is_inside(suggested, ds.root)
    tab._add_dialog.reject()

    folder = tmp_path / "my-takes"
    add_through_the_dialog(tab, qtbot, speaker, folder)
    qtbot.waitUntil(lambda: tab.last_result is not None and not tab.busy, timeout=HANG_MS)
    saved = folder / speaker / "me-0.wav"  # the dataset's layout: one folder per speaker
    assert saved.exists()
    # a trained speakers model (its "decide over N words" row) with a take and its verdict on screen: the tab
    # still fits a 1024-pixel screen (the row of record buttons and a long speaker name once made it 1141 wide)
    assert not tab.recorder.words_spin.isHidden() and tab.recorder.prediction_label.text()
    assert tab.minimumSizeHint().width() <= 1024 - 30, tab.minimumSizeHint()
    result = tab.last_result
    assert result.request.data == [str(ds.root), str(folder)]
    assert tab.dataset_panel.added_row.isVisibleTo(tab) and str(folder) in tab.dataset_panel.added_label.text()

    # a second take of the same speaker: numbered after the first, nothing overwritten, no retraining asked
    first_bytes = saved.read_bytes()
    assert tab.add_take_to_training(speaker, str(folder), retrain=False).name == "me-1.wav"
    assert saved.read_bytes() == first_bytes
    # a new voice, a few takes (another speaker's clips stand in for them): after a plain Train, which keeps
    # every added take, the model knows the new speaker
    others = [it.path for it in ds.items if it.label == ds.labels[1]][:4]
    for path in others:
        open_clip(tab, qtbot, path)
        tab.add_take_to_training("newvoice", str(folder), retrain=False)
    assert "newvoice" not in tab.bundle.labels
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.last_result is not result and not tab.busy, timeout=HANG_MS)
    assert tab.last_result.request.data == [str(ds.root), str(folder)]
    assert "newvoice" in tab.bundle.labels, tab.progress_panel.status_text()
    assert len(list((folder / "newvoice").glob("me-*.wav"))) == 4

    # Leave out: the dataset alone again, the files still on disk
    qtbot.mouseClick(tab.dataset_panel.added_drop, Qt.LeftButton)
    assert not tab.dataset_panel.added_row.isVisibleTo(tab)
    assert tab.train_request().data == str(ds.root)
    assert saved.exists()


def test_a_new_class_is_said_in_the_dialog_and_a_take_needs_a_dataset(make_tab, qtbot, tmp_path):
    from core.errors import SpeechLabError

    tab = make_tab("genres")
    try:
        tab.add_take_to_training("jazz", str(tmp_path / "t"))
    except SpeechLabError as exc:
        assert "Load a dataset first" in str(exc)
    else:
        raise AssertionError("a take was added without a dataset")
    assert not tab.recorder.add_button.isEnabled()  # no take on screen

    tab = loaded_tab(make_tab, qtbot, "genres")
    ds = tab.dataset_panel.dataset
    open_clip(tab, qtbot, ds.items[0].path)
    qtbot.mouseClick(tab.recorder.add_button, Qt.LeftButton)
    dialog = tab._add_dialog
    assert [dialog.class_combo.itemText(i) for i in range(dialog.class_combo.count())] == ds.labels
    dialog.class_combo.setCurrentText("polka")
    assert "'polka' is a new class" in dialog.note.text()
    dialog.class_combo.setCurrentText(ds.labels[1])
    assert dialog.note.text() == ""
    dialog.class_combo.setCurrentText("")
    assert not dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).isEnabled()  # a class is needed
    dialog.reject()
    # saved as the genres data is laid out (a folder per genre), without retraining when not asked
    path = tab.add_take_to_training(ds.labels[1], str(tmp_path / "mine"), retrain=False)
    assert path == tmp_path / "mine" / ds.labels[1] / "me-0.wav" and not tab.busy
    assert tab.train_request().data == [str(ds.root), str(tmp_path / "mine")]


def test_a_digits_take_must_be_one_of_the_digits(make_tab, qtbot, tmp_path):
    """Digits are the classes of the Digits tab: another word would clash with them in every later training,
    so it is refused before anything is saved (a digit is saved as FSDD names its files)."""
    from core.errors import SpeechLabError

    tab = loaded_tab(make_tab, qtbot, "digits")
    ds = tab.dataset_panel.dataset
    open_clip(tab, qtbot, ds.items[0].path)
    try:
        tab.add_take_to_training("hello", str(tmp_path / "takes"), retrain=False)
    except SpeechLabError as exc:
        assert "'hello' is not one of this dataset's digits" in str(exc)
    else:
        raise AssertionError("a word that is not a digit was added")
    assert not (tmp_path / "takes").exists() and tab.added_folders == []
    path = tab.add_take_to_training("7", str(tmp_path / "takes"), retrain=False)
    assert path.name == "7_me_0.wav"
