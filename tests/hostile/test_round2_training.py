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


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """24 two-class digit clips in the FSDD naming."""
    root = tmp_path_factory.mktemp("good")
    for i in range(24):
        write_wav(root / f"{i % 2}_s{i % 3}_{i}.wav", class_signal(cls=i % 2, sr=8000, speaker=i % 3, seed=i), sr=8000)
    return root


@pytest.fixture(scope="module")
def model(good, tmp_path_factory):
    """A small digits model trained for real on ``good``."""
    from core.bundle import save_bundle
    from core.datasets import scan_dataset
    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS
    from core.training import train_model

    result = train_model(scan_dataset(good, label="digit"), task="digits", feature_config=DIGITS.feature_config(),
                         model=MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (16,), "epochs": 3},
                                             random_state=0), cache=False, n_jobs=1)
    return save_bundle(result.bundle, tmp_path_factory.mktemp("model") / "digits.slm")


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
