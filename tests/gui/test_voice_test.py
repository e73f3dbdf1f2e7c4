"""Test my voice: prompted takes, the model's answers, the accuracy on that voice, takes saved as a dataset.

The takes are real FSDD recordings of a speaker the model never heard, fed
through the dialog's take path (what a finished recording calls); the
microphone path itself (Recorder → level meter → take) is the enrol dialog's,
tested with the virtual microphone in the Speakers tests.
"""
import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.datasets import scan_dataset
from core.voice_test import prompts, save_takes
from gui.dialogs.voice_test import VoiceTestDialog
from tests.helpers import load

HANG_MS = 60_000


@pytest.fixture(scope="module")
def bundle(fsdd_dir):
    """A small digits model trained on three FSDD speakers; george is a new voice to it."""
    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS
    from core.training import SplitConfig, train_model

    ds = scan_dataset(fsdd_dir, label="digit")
    return train_model(ds, task="digits", feature_config=DIGITS.feature_config(),
                       model=MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (64,)}, random_state=0),
                       split=SplitConfig(kind="speaker", test_speakers=("george",))).bundle


@pytest.fixture
def dialog(qtbot, bundle):
    d = VoiceTestDialog(predict=bundle.predict_signal, labels=bundle.labels, seconds=1.5)
    qtbot.addWidget(d)
    d.show()
    yield d
    d.done(0)


def say(fsdd_dir, digit, index=7, speaker="george"):
    return load(str(fsdd_dir / f"{digit}_{speaker}_{index}.wav"), 16000), 16000


def test_prompts_each_digit_and_scores_the_voice(dialog, qtbot, fsdd_dir, tmp_path):
    assert dialog.prompt.text().startswith("Say: 0 (zero)")
    said = []
    while dialog.current_prompt() is not None:
        digit = dialog.current_prompt()
        said.append(digit)
        assert dialog.add_take(*say(fsdd_dir, digit))
    assert sorted(said) == [str(d) for d in range(10)]
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=HANG_MS)
    r = dialog.result
    assert r["n"] == 10
    assert r["accuracy"] == sum(t["ok"] for t in r["per_take"]) / 10
    assert r["accuracy"] >= 0.3  # a new voice, yet well above chance (0.1): the pipeline works
    assert f"Accuracy on your voice: {r['accuracy']:.0%}" in dialog.summary.text()
    assert all(("✓" in dialog.list.item(i).text()) == r["per_take"][i]["ok"] for i in range(10))
    assert not dialog.record_button.isEnabled()  # nothing left to say


def test_a_quiet_take_is_refused_and_the_same_digit_asked_again(dialog, fsdd_dir):
    y, sr = say(fsdd_dir, "0")
    assert not dialog.add_take(y * 1e-3, sr)
    assert "too quiet" in dialog.status.text()
    assert dialog.current_prompt() == "0" and dialog.takes() == []
    assert dialog.add_take(y, sr)
    assert dialog.current_prompt() == "1"
    dialog.redo_last()
    assert dialog.current_prompt() == "0" and dialog.list.count() == 0


def test_takes_are_saved_as_a_dataset_folder_without_overwriting(dialog, qtbot, fsdd_dir, tmp_path):
    for digit in ("0", "1", "2"):
        dialog.add_take(*say(fsdd_dir, digit))
    dialog.speaker_edit.setText("ada")
    first = dialog.save(tmp_path / "my-voice")
    second = dialog.save(tmp_path / "my-voice")
    assert [p.name for p in first] == ["0_ada_0.wav", "1_ada_0.wav", "2_ada_0.wav"]
    assert [p.name for p in second] == ["0_ada_1.wav", "1_ada_1.wav", "2_ada_1.wav"]
    ds = scan_dataset(tmp_path / "my-voice", label="digit")
    assert ds.speakers == ["ada"] and ds.labels == ["0", "1", "2"] and len(ds.items) == 6


def test_speaker_names_that_break_the_file_names_are_refused(tmp_path):
    from core.errors import SpeechLabError

    with pytest.raises(SpeechLabError, match="speaker name"):
        save_takes(tmp_path, "a_b", [("1", np.zeros(100, np.float32), 16000)])
    assert list(tmp_path.iterdir()) == []


def test_two_takes_of_each_digit_shuffled_per_round():
    order = prompts(repeats=2, seed=3)
    assert sorted(order[:10]) == sorted(order[10:]) == [str(d) for d in range(10)]
    assert order[:10] != [str(d) for d in range(10)]


def test_takes_come_from_the_microphone(qtbot, bundle, fsdd_dir, virtual_mic):
    """The real path: Record → the virtual microphone plays george's digit → the take is kept and answered."""
    d = VoiceTestDialog(predict=bundle.predict_signal, labels=bundle.labels, device=virtual_mic.device, seconds=1.2)
    qtbot.addWidget(d)
    d.show()
    try:
        for digit in ("0", "1", "2"):
            assert d.current_prompt() == digit
            with qtbot.waitSignal(d.take_recorded, timeout=20000):
                qtbot.mouseClick(d.record_button, Qt.LeftButton)
                assert d.is_recording() and not d.record_button.isEnabled()
                virtual_mic.play(fsdd_dir / f"{digit}_george_9.wav", wait=False)
        qtbot.waitUntil(lambda: d.list.count() == 3 and "heard" in d.list.item(2).text(), timeout=HANG_MS)
        assert [t[0] for t in d.takes()] == ["0", "1", "2"]
        assert all(t[1].size == int(round(1.2 * t[2])) for t in d.takes())
        from core.utterances import peak_dbfs

        assert all(peak_dbfs(t[1]) > -40 for t in d.takes())  # the voice, not silence, was recorded
    finally:
        d.done(0)
