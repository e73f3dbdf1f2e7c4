"""A new voice enrolled from 5 takes through the app's own path, for each Speakers model (issue 19).

LibriSpeech voices GE2E never heard in its training (``../shared/data/librispeech-voices-dev``), the 10 longest,
each in turn the newcomer: the other 9 are the dataset (5 takes each, cut from the first half of their one
utterance); the newcomer's first half gives 5 enrolment takes and its second half 5 test takes. For each model
the script trains as the GUI's Train does (``train_and_record``: its defaults, open set on), counts the test
takes answered "unknown" before enrolment, enrols the newcomer as Add speaker… does (``core.enrolment.enrol``)
and counts the test takes then named as the newcomer. Issue 19's target: ≥ 4 of 5 named after, and ≥ 4 of 5
"unknown" before.

    .venv/bin/python benchmarks/enrolment.py [--write]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
MODELS = ("logreg", "voice-cosine", "voice-mfcc-logreg")


def cut(path, half, n=5):
    from core.audio import load_audio

    y, sr = load_audio(path, sr=None)
    part = y[: y.size // 2] if half == 0 else y[y.size // 2:]
    return [(piece, sr) for piece in np.array_split(part, n)]


def one_newcomer(model, voices, work):
    """(test takes "unknown" before, test takes named after) with voices[-1] as the newcomer."""
    import soundfile as sf

    from core.datasets import scan_dataset
    from core.enrolment import enrol
    from core.history import RunHistory
    from core.request import TrainRequest, train_and_record

    data, takes = work / "voices", work / "takes"
    for voice in voices[:-1]:
        speaker = voice.name.split("-")[0]
        (data / speaker).mkdir(parents=True)
        for i, (piece, sr) in enumerate(cut(voice, 0)):
            sf.write(data / speaker / f"{i}.wav", piece, sr)
    takes.mkdir()
    files = {0: [], 1: []}
    for half in (0, 1):
        for i, (piece, sr) in enumerate(cut(voices[-1], half)):
            files[half].append(takes / f"{half}_{i}.wav")
            sf.write(files[half][-1], piece, sr)
    history = RunHistory(work / "history.sqlite")
    before = train_and_record(TrainRequest(task="speakers", data=str(data), model=model, seed=0),
                              history=history, source="benchmark").bundle
    unknown = [before.predict_file(f)["label"] for f in files[1]].count("unknown")
    after = enrol(before, name="newcomer", files=files[0], ds=scan_dataset(data, label="speaker"), n_jobs=1).bundle
    named = [after.predict_file(f)["label"] for f in files[1]].count("newcomer")
    return unknown, named


def main(argv=None):
    import soundfile as sf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    load = os.getloadavg()[0]
    voices = sorted((SHARED / "librispeech-voices-dev").glob("*.flac"), key=lambda f: -sf.info(str(f)).frames)[:10]
    results = {}
    for model in MODELS:
        per = []
        for k in range(len(voices)):
            order = [v for i, v in enumerate(voices) if i != k] + [voices[k]]
            with tempfile.TemporaryDirectory() as tmp:
                per.append(one_newcomer(model, order, pathlib.Path(tmp)))
            print(f"{model}, newcomer {voices[k].name.split('-')[0]}: unknown before {per[-1][0]}/5, "
                  f"named after {per[-1][1]}/5", flush=True)
        results[model] = per
    lines = [
        "## Enrolling a new voice from 5 takes, through the app (issue 19)",
        "",
        f"`python benchmarks/enrolment.py --write` — {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores, "
        f"load average {load:.2f} at the start. The 10 longest LibriSpeech voices of `librispeech-voices-dev`, each "
        "in turn the newcomer; 9 known voices of 5 takes each (the first half of their utterance); 5 enrolment takes "
        "(the newcomer's first half) and 5 test takes (its second half). Trained with each model's defaults, open "
        "set on (the threshold from the training takes only), then Add speaker's path (`core.enrolment.enrol`).",
        "",
        "| model | test takes \"unknown\" before enrolment | named after enrolment | voices with ≥ 4 of 5 named "
        "after | voices with ≥ 4 of 5 \"unknown\" before |",
        "|---|---|---|---|---|",
    ]
    for model, per in results.items():
        before = sum(u for u, _ in per)
        after = sum(n for _, n in per)
        lines.append(f"| {model} | {before}/50 | {after}/50 ({[n for _, n in per]}) | "
                     f"{sum(n >= 4 for _, n in per)}/10 | {sum(u >= 4 for u, _ in per)}/10 |")
    lines += ["", f"Total {time.perf_counter() - t0:.0f} s."]
    from benchmarks._results import publish

    publish(lines, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
