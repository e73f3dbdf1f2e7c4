"""``train --task digits --open-set``: the model says "unknown" for a sound that is not a digit, in
``predict`` as in the GUI."""
import json

import numpy as np
import soundfile as sf

from tests.cli.test_model_commands import run_cli


def test_open_set_digits_model_calls_a_whistle_unknown(fsdd_dir, tmp_path):
    model = tmp_path / "digits.slm"
    proc = run_cli("train", "--task", "digits", "--data", fsdd_dir, "--hidden", "64", "--epochs", "8",
                   "--open-set", "--out", model, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["open_set"]["method"] == "distance"  # the digits default
    sr = 16000
    t = np.arange(sr) / sr
    whistle = tmp_path / "whistle.wav"
    sf.write(whistle, (0.5 * np.sin(2 * np.pi * (2000 + 1500 * np.sin(2 * np.pi * 6 * t)) * t)).astype(np.float32), sr)
    proc = run_cli("predict", model, whistle, fsdd_dir / "4_nicolas_3.wav", "--json")
    assert proc.returncode == 0, proc.stderr
    whistle_r, digit_r = json.loads(proc.stdout)
    assert whistle_r["label"] == "unknown" and whistle_r["score"] < whistle_r["threshold"]
    assert digit_r["label"] == "4"
    text = run_cli("predict", model, whistle).stdout
    assert ": unknown" in text and "closest:" in text


def test_open_set_is_refused_for_a_task_without_it(tmp_path):
    proc = run_cli("train", "--task", "genres", "--open-set", "--out", tmp_path / "g.slm")
    assert proc.returncode != 0
    assert "--open-set is not available for the genres task" in proc.stderr
