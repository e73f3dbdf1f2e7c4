"""The real audio path end to end: FSDD clips played into a virtual microphone
(PulseAudio null sink, reached through PortAudio), recorded by the project's
recorder, predicted by a trained digits model — and the ``listen`` CLI.

Nothing in the audio path is mocked.
"""
import json
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from core.bundle import save_bundle
from core.datasets import scan_dataset
from core.models.mlp import MLPClassifier
from core.audio import resample
from core.recorder import record
from core.tasks import DIGITS
from core.training import train_model
from tests.helpers import wait_for_recording, word, word_stream

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits_model(fsdd_dir, tmp_path_factory):
    """A digits MLP trained on FSDD with the default features (small and quick)."""
    ds = scan_dataset(fsdd_dir)
    model = MLPClassifier(**{**DIGITS.model, "epochs": 25, "hidden_layer_sizes": (128,)}, random_state=0)
    result = train_model(ds, task="digits", feature_config=DIGITS.feature_config(), model=model)
    assert result.metrics["accuracy"] >= 0.9
    path = tmp_path_factory.mktemp("model") / "digits.slm"
    save_bundle(result.bundle, path)
    return result.bundle, path, result.metrics["test_files"]


def _clips(test_files, n):
    """Test-split clips the model gets right, one per digit where possible."""
    chosen, seen = [], set()
    for f in test_files:
        if f["label"] == f["predicted"] and f["label"] not in seen:
            chosen.append(f)
            seen.add(f["label"])
        if len(chosen) == n:
            break
    return chosen


def test_clip_played_into_the_microphone_gets_the_files_prediction(virtual_mic, digits_model):
    bundle, _, test_files = digits_model
    agree = 0
    clips = _clips(test_files, 4)
    for clip in clips:
        y_file, sr_file = sf.read(clip["path"], dtype="float32")
        got = {}
        recorder = threading.Thread(target=lambda: got.update(
            zip(("take", "sr"), record(len(y_file) / sr_file + 0.6, device=virtual_mic.device))))
        recorder.start()
        try:
            wait_for_recording()  # the take's stream is open: now speak
            virtual_mic.play(clip["path"])
        finally:
            recorder.join()
        take, sr = got["take"], got["sr"]
        # The recording really is the clip: normalised cross-correlation at the best lag.
        src = resample(y_file, sr_from=sr_file, sr_to=sr)
        corr = np.correlate(take, src, mode="valid") if take.size >= src.size else np.correlate(src, take, "valid")
        peak = np.max(np.abs(corr)) / (np.linalg.norm(src) * np.linalg.norm(take) + 1e-12)
        # the take holds silence too, so its norm is larger than the clip's part
        assert peak > 0.5, f"{clip['path']}: recording does not match the played clip (corr {peak:.2f})"
        from_mic = bundle.predict_signal(take, sr)
        from_file = bundle.predict_file(clip["path"])
        assert from_file["label"] == clip["label"]
        agree += from_mic["label"] == from_file["label"]
    # Every clip should agree; allow one borderline case across the device path.
    assert agree >= len(clips) - 1, f"only {agree}/{len(clips)} microphone predictions matched the files"


def _two_utterance_stream(clips, sr=16000, gap_s=1.0):
    parts = [np.zeros(int(0.5 * sr), np.float32)]
    for clip in clips:
        y, file_sr = sf.read(clip["path"], dtype="float32")
        parts += [resample(y, sr_from=file_sr, sr_to=sr), np.zeros(int(gap_s * sr), np.float32)]
    return np.concatenate(parts), sr


def test_listen_cli_prints_one_prediction_per_utterance(virtual_mic, digits_model, tmp_path):
    _, model_path, test_files = digits_model
    clips = _clips(test_files, 2)
    stream, sr = _two_utterance_stream(clips)
    seconds = stream.size / sr + 2.5
    proc = subprocess.Popen(
        [sys.executable, "main.py", "listen", str(model_path), "--device", virtual_mic.device,
         "--seconds", f"{seconds:.1f}", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait until it listens (it says so on stderr, then opens the stream) before playing.
    line = proc.stderr.readline()
    assert "listening" in line, line
    wait_for_recording()
    virtual_mic.play(stream, sr)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(lines) == 2, f"expected two utterances, got {lines}\n{err}"
    for pred, clip in zip(lines, clips):
        assert set(pred) >= {"start", "end", "label", "probabilities"}
        assert pred["end"] > pred["start"]
        assert abs(sum(pred["probabilities"].values()) - 1) < 1e-3
        assert pred["label"] == clip["label"]
    assert lines[1]["start"] - lines[0]["end"] > 0.5  # the silence between them


def test_listen_cli_hears_every_short_quiet_word(virtual_mic, espeak_wav, digits_model):
    """Issue 7, defect 2: four quick digits peaking at -35 dBFS, 1.5 s apart: four lines."""
    _, model_path, _ = digits_model
    words = [word(espeak_wav, w, sr=16000, speed=300, peak_db=-35.0) for w in ("one", "two", "six", "eight")]
    stream, truth = word_stream(words, sr=16000)
    proc = subprocess.Popen(
        [sys.executable, "main.py", "listen", str(model_path), "--device", virtual_mic.device,
         "--seconds", f"{stream.size / 16000 + 2.5:.1f}", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert "listening" in proc.stderr.readline()
    wait_for_recording()
    virtual_mic.play(stream, 16000)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(lines) == 4, f"expected four utterances, got {[(d['start'], d['end']) for d in lines]}\n{err}"
    starts = [d["start"] for d in lines]
    assert np.diff(starts) == pytest.approx(np.diff([a for a, _ in truth]), abs=0.1)


def test_listen_cli_without_the_device_fails_with_one_line(digits_model):
    _, model_path, _ = digits_model
    proc = subprocess.run(
        [sys.executable, "main.py", "listen", str(model_path), "--device", "no-such-microphone-xyz", "--seconds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no-such-microphone-xyz" in lines[0], proc.stderr
