"""Hostile input, round two (issue 17): what training and prediction accept.

Real WAVs (tests/core/datagen.py), real trainings, the real command line in child processes. No test
allocates more than a few MB: oversized networks are refused from their settings, before any array exists.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from core.errors import SpeechLabError
from tests.core.datagen import class_signal, write_wav

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


def one_error_line(proc, *fragments):
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for f in fragments:
        assert f in errors[0], errors[0]
    return errors[0]




# ---------------------------------------------------------------- 14. clips too short to be a word

def tiny_wavs(folder):
    """A 1-sample WAV and a 10 ms WAV: shorter than one 25 ms analysis window. (Trimming keeps whole
    analysis windows, so a longer file never trims below the minimum.)"""
    one = write_wav(folder / "1_tiny_0.wav", np.array([0.5], np.float32), sr=8000)
    ten_ms = write_wav(folder / "1_tiny_1.wav", class_signal(cls=1, sr=8000, seconds=0.01), sr=8000)
    return [one, ten_ms]


def test_predicting_a_clip_too_short_to_be_a_word_is_one_line_naming_the_file(model, tmp_path):
    for path in tiny_wavs(tmp_path):
        proc = cli("predict", model, path)
        one_error_line(proc, path.name, "too short")


def test_training_skips_clips_too_short_to_be_a_word_and_lists_them(good, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in sorted(good.glob("*.wav"))[::2]:  # 6 clips of each class
        (data / f.name).write_bytes(f.read_bytes())
    tiny = tiny_wavs(data)
    proc = cli("train", "--data", data, "--hidden", "8", "--epochs", "2", "--no-augment", "--no-open-set",
               "--out", tmp_path / "m.slm", "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    skipped = {pathlib.Path(s["path"]).name: s["reason"] for s in out["skipped"]}
    assert sorted(skipped) == sorted(p.name for p in tiny), skipped
    assert all("too short" in reason for reason in skipped.values()), skipped
    assert out["n_train"] + out["n_test"] == 12


def test_the_same_minimum_applies_to_extraction_and_to_a_live_signal():
    from core.errors import AudioFileError
    from core.features import FeatureConfig, features_of_signal

    config = FeatureConfig(name="mfcc-mean")
    with pytest.raises(AudioFileError, match="too short"):
        features_of_signal(np.array([0.5], np.float32), 8000, config)
    assert features_of_signal(class_signal(cls=0, sr=8000, seconds=0.1), 8000, config).shape == (12,)


# ---------------------------------------------------------------- 16. never a model file the app refuses to load

@pytest.mark.parametrize("options", [["--no-open-set", "--no-augment"], []], ids=["closed-set", "defaults"])
def test_a_split_leaving_classes_without_training_clips_is_refused_naming_them(tmp_path, options):
    """Ten clips, one per digit: an 80/20 split leaves two digits with no training clip. Before: accuracy 0.0
    and a saved model that predict and evaluate reject as damaged (with the open set: a message about
    calibration clips that named no class)."""
    data = tmp_path / "ten"
    for d in range(10):
        write_wav(data / f"{d}_s0_0.wav", class_signal(cls=d, sr=8000, seed=d), sr=8000)
    out = tmp_path / "m.slm"
    proc = cli("train", "--data", data, "--hidden", "8", "--epochs", "2", "--out", out, "--no-cache", *options)
    line = one_error_line(proc, "no training clip")
    from core.datasets import scan_dataset, split_random

    ds = scan_dataset(data, label="digit")
    tr, te = split_random([it.label for it in ds.items], test_size=0.2, random_state=42)
    missing = sorted({ds.items[i].label for i in te} - {ds.items[i].label for i in tr})
    assert len(missing) == 2 and all(f"'{d}'" in line for d in missing), line
    assert not out.exists() and list(tmp_path.glob(".m.slm*")) == []


def test_a_speaker_split_holding_every_clip_of_a_class_is_refused(tmp_path):
    data = tmp_path / "spk"
    for i in range(12):
        digit = 2 if i < 3 else i % 2  # every '2' is carol's
        speaker = "carol" if i < 3 else ("alice", "bob")[i % 2]
        write_wav(data / f"{digit}_{speaker}_{i}.wav", class_signal(cls=digit, sr=8000, seed=i), sr=8000)
    from core.datasets import scan_dataset
    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS
    from core.training import SplitConfig, train_model

    with pytest.raises(SpeechLabError, match=r"no training clip of class '2'") as info:
        train_model(scan_dataset(data, label="digit"), task="digits", feature_config=DIGITS.feature_config(),
                    model=MLPClassifier(hidden_layer_sizes=(8,), epochs=2), cache=False, n_jobs=1,
                    split=SplitConfig(kind="speaker", test_speakers=("carol",)))
    assert "\n" not in str(info.value)


def test_a_model_that_would_not_load_again_is_never_written(model, tmp_path):
    """The round trip: save_bundle loads the temporary file back before renaming it; a bundle the loader
    refuses (here classes that do not match the labels) fails the save and leaves the old file."""
    from core.bundle import load_bundle, save_bundle

    bundle = load_bundle(model)
    bundle.labels = ["0", "1", "2"]  # the network knows two classes
    target = tmp_path / "kept.slm"
    target.write_bytes(pathlib.Path(model).read_bytes())
    before = target.read_bytes()
    with pytest.raises(SpeechLabError, match="would not load") as info:
        save_bundle(bundle, target)
    message = str(info.value)
    assert "\n" not in message and str(target) in message and ".tmp" not in message, message
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["kept.slm"]
    with pytest.raises(SpeechLabError):
        save_bundle(bundle, tmp_path / "new.slm")
    assert not (tmp_path / "new.slm").exists()


# ---------------------------------------------------------------- 6. an MLP too big to train

HUGE = ",".join(["8192"] * 32)  # 32 layers of 8192 units: 2.1 billion parameters (8.4 GB of weights alone)
MEMORY_CAP = 3 << 30  # every child below runs under this address-space limit: a regression fails, never swaps


def limited(cap=MEMORY_CAP):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def cli_limited(*args):
    """main.py in a child that cannot take more than 3 GB (before the fix, the huge MLP asked for 7.8 GB)."""
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=os.environ.copy(), preexec_fn=limited())


def test_cli_refuses_an_mlp_too_big_to_train_before_any_work(good, tmp_path):
    proc = cli_limited("train", "--data", good, "--hidden", HUGE, "--out", tmp_path / "m.slm", "--no-cache")
    line = one_error_line(proc, "hidden_layer_sizes", "parameters", "GB")
    assert "MemoryError" not in proc.stderr and "Unable to allocate" not in proc.stderr, proc.stderr
    assert "features:" not in proc.stderr  # refused from the settings, before extraction
    assert not (tmp_path / "m.slm").exists()
    assert "2,09" in line  # the estimate: about 2,091 million parameters


def test_a_sweep_refuses_the_same_network_in_the_same_words(good, tmp_path):
    proc = cli_limited("sweep", "--data", good, "--grid", f"hidden=8;{HUGE}", "--epochs", "1",
                       "--no-cache")
    line = one_error_line(proc, "parameters", "GB")
    assert "MemoryError" not in proc.stderr and "Unable to allocate" not in proc.stderr, proc.stderr


_FIT_IN_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from core.errors import SpeechLabError
from core.models import make_model
from core.models.mlp import MLPClassifier
X = np.random.default_rng(0).normal(size=(40, 1248)).astype(np.float32)
y = np.arange(40) % 10
for name, make in (("construct", lambda: make_model("mlp", hidden_layer_sizes=(8192,) * 32)),
                   ("fit", lambda: MLPClassifier(hidden_layer_sizes=(8192,) * 32).fit(X, y)),
                   ("fit wide input", lambda: MLPClassifier(hidden_layer_sizes=(8192, 8192)).fit(
                       np.zeros((40, 600_000), np.float32), y)),
                   ("batch", lambda: MLPClassifier(hidden_layer_sizes=(8192,) * 8, batch_size=200_000).fit(
                       np.zeros((200_000, 4), np.float32), np.arange(200_000) % 2))):
    try:
        make()
        print(name, "ACCEPTED", sep="|")
    except (SpeechLabError, ValueError) as exc:
        print(name, "REFUSED " + str(exc).replace("\n", " "), sep="|")
    except MemoryError as exc:
        print(name, "MEMORYERROR", sep="|")
"""


def test_the_model_itself_refuses_before_allocating():
    """Construction (make_model: requests, enrolment) and fit (any direct use) check the size from the settings
    and the data's shape. In a child limited to 3 GB of address space: a regression is a MemoryError there."""
    proc = subprocess.run([sys.executable, "-c", _FIT_IN_CHILD, str(ROOT)], capture_output=True, text=True,
                          timeout=300, preexec_fn=limited())
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split("|", 1) for line in proc.stdout.strip().splitlines())
    refused = {k: v for k, v in lines.items() if v.startswith("REFUSED")}
    assert sorted(refused) == ["batch", "construct", "fit", "fit wide input"], lines
    assert all("GB" in v for v in refused.values()), refused
    assert "million parameters" in refused["construct"] and "million parameters" in refused["fit wide input"]
    assert "batch" in refused["batch"] and "activations" in refused["batch"]


def test_a_network_well_within_the_limits_trains():
    from core.models.mlp import MLPClassifier

    X = np.random.default_rng(0).normal(size=(60, 20)).astype(np.float32)
    y = np.arange(60) % 3
    model = MLPClassifier(hidden_layer_sizes=(64, 32), epochs=2, random_state=0).fit(X, y)
    parameters, needed = model.training_size(n_features=20, n_classes=3, n_samples=60)
    assert parameters == 20 * 64 + 64 + 64 * 32 + 32 + 32 * 3 + 3 == model._params.size
    assert 24 * parameters <= needed < 24 * parameters + 1_000_000


def test_the_gui_refuses_it_with_the_same_line(qtbot, tmp_path, monkeypatch, good):
    """The Digits tab trains through the same request as the CLI: the same refusal, shown in one line, and no
    child above a few hundred MB (its address space is capped like the CLI's, should the check regress)."""
    import resource

    from gui.tabs import tab_class
    from gui.workers import ensure_gui_gc

    monkeypatch.setenv("SPEECHLAB_SETTINGS", str(tmp_path / "settings.ini"))
    ensure_gui_gc()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    tab = tab_class("digits")()
    qtbot.addWidget(tab)
    try:
        panel = tab.dataset_panel
        panel.folder_edit.setText(str(good))
        from PySide6.QtCore import Qt

        qtbot.keyClick(panel.folder_edit, Qt.Key_Return)
        qtbot.waitUntil(lambda: panel.dataset is not None and not tab.busy, timeout=120_000)
        tab.model_panel.choose("mlp")
        tab.model_panel.layers.set_layers([(8192, "relu")] * 32)
        # the training child inherits this limit: 7 GB, below the 7.8 GB the huge network asked for
        resource.setrlimit(resource.RLIMIT_AS, (7 << 30, hard))
        tab.train()
        qtbot.waitUntil(lambda: not tab.busy, timeout=300_000)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        tab.shutdown()
    text = tab.progress_panel.status_text()
    assert "\n" not in text and "parameters" in text and "GB" in text, text
    assert tab.bundle is None
