"""Round two (issue 17): saved takes, names, and what training accepts.

A model label that is a path (4), an MLP too big to train (6), clips too short to be a word (14), a split
that leaves classes without training clips (16) and speaker names that are no folder name (21). A full disk
during a take save (7) has no command-line surface (``enrol`` takes files already on disk); it is tested in
tests/hostile/test_round2_takes.py on a real tiny tmpfs.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np

from tests.core.datagen import class_signal, speakers_tree, write_wav
from tests.helpers import write_npz_members

ROOT = pathlib.Path(__file__).resolve().parents[2]
HUGE = ",".join(["8192"] * 32)  # 2.1 billion parameters


def relabelled(model, out, labels):
    """A copy of ``model`` whose labels (and the network's classes) are ``labels``."""
    with np.load(model, allow_pickle=False) as npz:
        payload = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(payload["meta"]).decode())
    meta["labels"] = list(labels)
    payload["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    payload["model/classes"] = np.asarray(list(labels))
    return write_npz_members(out, payload)


def make_cases(tmp, good, clip, model):
    out = tmp / "never.slm"
    cases = [
        ("model with the label '../ESCAPED' (Test my voice would save outside its folder)",
         ["predict", relabelled(model, tmp / "escape.slm", ["0", "../ESCAPED"]), clip], "error"),
        ("model with an absolute label '/tmp/x'",
         ["predict", relabelled(model, tmp / "absolute.slm", ["0", "/tmp/x"]), clip], "error"),
        ("--hidden 32 layers of 8192 (2.1e9 parameters)",
         ["train", "--data", good, "--hidden", HUGE, "--out", out, "--no-cache"], "error"),
        ("sweep --grid hidden=8;(32 x 8192)",
         ["sweep", "--data", good, "--grid", f"hidden=8;{HUGE}", "--epochs", "1", "--no-cache"], "error"),
    ]
    one = write_wav(tmp / "one_sample.wav", np.array([0.5], np.float32), sr=8000)
    cases.append(("a 1-sample WAV, predicted", ["predict", model, one], "error"))
    tiny = tmp / "tiny"
    tiny.mkdir()
    for f in sorted(good.glob("*.wav"))[::2]:
        (tiny / f.name).write_bytes(f.read_bytes())
    write_wav(tiny / "1_tiny_0.wav", np.array([0.5], np.float32), sr=8000)
    cases.append(("a 1-sample WAV in a training folder",
                  ["train", "--data", tiny, "--hidden", "8", "--epochs", "2", "--out", tmp / "tiny.slm",
                   "--no-cache"], "skip"))
    ten = tmp / "ten"
    for d in range(10):
        write_wav(ten / f"{d}_s0_0.wav", class_signal(cls=d, sr=8000, seed=d), sr=8000)
    cases.append(("10 clips, one per digit (the split leaves 2 digits untrained)",
                  ["train", "--data", ten, "--no-open-set", "--hidden", "8", "--epochs", "2", "--out", out,
                   "--no-cache"], "error"))
    speakers = speakers_tree(tmp / "speakers", per_speaker=4)
    speakers_model = tmp / "speakers.slm"
    subprocess.run([sys.executable, "main.py", "train", "--task", "speakers", "--data", speakers, "--out",
                    speakers_model, "--no-cache"], cwd=ROOT, check=True, capture_output=True)
    take = write_wav(tmp / "take.wav", class_signal(cls=4, sr=16000, seconds=1.0), sr=16000)
    for what, name in (("64 emoji (256 bytes)", "\U0001F600" * 64), ("a newline", "two\nlines"),
                       ("a tab", "tab\tname"), ("U+202E", "rtl\u202eevil")):
        cases.append((f"enrol --name with {what}",
                      ["enrol", speakers_model, take, "--name", name, "--out", out, "--no-cache"], "error"))
    return cases
