"""The pretrained voice encoder's cost per clip against its reference implementation (issue 19: ≤ 2×).

SpeechLab's GE2E port (``core.encoders.voice_embedding``: NumPy, no torch) against Resemblyzer 0.1.4 on torch
(``preprocess_wav`` + ``VoiceEncoder.embed_utterance``), on the same clips, one clip after another, as the app
embeds a dataset (per process) and a microphone take. The reference runs in a throwaway environment that has
torch (it is not a project dependency), started by this script:

    python -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch==2.13.0 numpy scipy librosa \
        webrtcvad-wheels soundfile        # torch's CPU wheel: --index-url https://download.pytorch.org/whl/cpu
    /tmp/refenv/bin/pip install --no-deps Resemblyzer-0.1.4-py3-none-any.whl
    .venv/bin/python benchmarks/encoder_cost.py --reference-python /tmp/refenv/bin/python [--write]

Clips: 40 one-word AudioMNIST-AZ clips (about 0.6 s) and 20 LibriSpeech utterances (2–17 s), 16 kHz, from
``../shared/data``. Both sides run on one thread (the app embeds clips in parallel processes, one thread each)
and, for the reference, also with torch's default threads. Each clip's embedding is compared too (cosine).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"

REFERENCE = r"""
import json, sys, time
import numpy as np
import torch
from resemblyzer import VoiceEncoder, preprocess_wav
threads = int(sys.argv[2])
if threads:
    torch.set_num_threads(threads)
data = np.load(sys.argv[1])
encoder = VoiceEncoder("cpu", verbose=False)
encoder.embed_utterance(preprocess_wav(data["c0"], source_sr=16000))  # warm-up
out = {"seconds": [], "embeddings": []}
for i in range(int(data["n"])):
    t = time.perf_counter()
    e = encoder.embed_utterance(preprocess_wav(data[f"c{i}"], source_sr=16000))
    out["seconds"].append(time.perf_counter() - t)
    out["embeddings"].append(np.asarray(e, dtype=float).tolist())
out["threads"] = torch.get_num_threads()
print(json.dumps(out))
"""


def clips():
    from core.audio import load_audio, resample

    az = sorted((SHARED / "audiomnist-az-dev" / "data").rglob("*.flac"))[::37][:40]
    libri = sorted((SHARED / "librispeech-voices-dev").glob("*.flac"))[::6][:20]
    out = {}
    for name, files in (("one word (AudioMNIST-AZ)", az), ("utterance (LibriSpeech)", libri)):
        signals = []
        for f in files:
            y, sr = load_audio(f, sr=None)
            signals.append(resample(y, sr_from=sr, sr_to=16000).astype(np.float32))
        out[name] = signals
    return out


def ours(signals):
    from core.encoders import voice_embedding

    voice_embedding(signals[0])  # warm-up (weights loaded)
    seconds, embeddings = [], []
    for y in signals:
        t = time.perf_counter()
        embeddings.append(voice_embedding(y))
        seconds.append(time.perf_counter() - t)
    return np.array(seconds), np.array(embeddings)


def reference(python, signals, threads):
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "clips.npz"
        np.savez(path, n=len(signals), **{f"c{i}": y for i, y in enumerate(signals)})
        env = {**os.environ, "OMP_NUM_THREADS": str(threads or os.cpu_count())}
        done = subprocess.run([python, "-c", REFERENCE, str(path), str(threads)], capture_output=True, text=True,
                              env=env, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return np.array(out["seconds"]), np.array(out["embeddings"]), out["threads"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference-python", required=True, help="a Python with torch and Resemblyzer 0.1.4")
    ap.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    rows = []
    for name, signals in clips().items():
        mine, e_mine = ours(signals)
        ref1, e_ref, _ = reference(args.reference_python, signals, 1)
        refn, _, n_threads = reference(args.reference_python, signals, 0)
        cos = np.sum(e_mine * e_ref, axis=1) / (np.linalg.norm(e_mine, axis=1) * np.linalg.norm(e_ref, axis=1))
        seconds = np.median([y.size / 16000 for y in signals])
        rows.append((name, len(signals), seconds, np.median(mine), np.median(ref1), np.median(refn), n_threads,
                     float(cos.min())))
        print(f"{name}: ours {1000 * np.median(mine):.1f} ms, reference 1 thread {1000 * np.median(ref1):.1f} ms, "
              f"{n_threads} threads {1000 * np.median(refn):.1f} ms; lowest cosine {cos.min():.5f}", flush=True)
    lines = [
        "## Voice encoder cost against its reference implementation (issue 19)",
        "",
        f"`python benchmarks/encoder_cost.py --reference-python /tmp/refenv/bin/python --write` — "
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores, load average {load:.2f} at the start. "
        "SpeechLab's GE2E port (NumPy, one BLAS thread) against Resemblyzer 0.1.4 on torch 2.13 (CPU wheel, in a "
        "throwaway environment: torch is not a project dependency), `preprocess_wav` + `embed_utterance`, the "
        "same clips one after another, median per clip (preprocessing included). Target: ≤ 2× the reference.",
        "",
        "| clips | n | median length | SpeechLab | reference, 1 thread | × | reference, all threads | × | "
        "lowest cosine between the two |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n, secs, mine, ref1, refn, threads, cos in rows:
        lines.append(f"| {name} | {n} | {secs:.1f} s | {1000 * mine:.1f} ms | {1000 * ref1:.1f} ms | "
                     f"{mine / ref1:.2f}× | {1000 * refn:.1f} ms ({threads}) | {mine / refn:.2f}× | {cos:.5f} |")
    worst = max(max(r[3] / r[4], r[3] / r[5]) for r in rows)
    lines += ["", f"Largest ratio SpeechLab / reference: **{worst:.2f}×** (target ≤ 2×: "
                  f"**{'met' if worst <= 2 else 'NOT met'}**)."]
    from benchmarks._results import publish

    publish(lines, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
