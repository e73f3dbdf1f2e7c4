"""Long utterances, voices never heard: where GE2E's open set loses its false accepts (issue 19's target:
false accepts <= 2 % at false rejects <= 5 %), by how much speech each voice has.

    .venv/bin/python benchmarks/long_utterances.py

``librispeech-voices-dev`` (126 voices, one 2-17 s utterance each), cut in two as in
``benchmarks/voice_encoder.py``: the first half enrols the voice (as one take, or as three takes whose
centroid is the voice), the second half tests it. 30 random splits of the voices into 50 % known and 50 %
never heard; a known voice's test half counts as a false reject when it is rejected or named as another
voice. Two views, each for all voices and for those whose utterance is at least N seconds long:

* separation: false accepts at the best threshold that keeps false rejects <= 5 % (chosen on the test
  scores: what the scores allow), and the equal error rate;
* calibration: false accepts / false rejects at thresholds set from enrolment data only: the app's own
  (each take held out and scored against the centroid of the voice's other takes, 5 % quantile), the 98 %
  quantile of impostor trials among the known voices (each take against the other voices' centroids), and
  the highest cosine between two known voices' centroids.

Embeddings go through the app's own path (``core.features`` ``voice-embedding``) and are cached for the run
in memory only.
"""
from __future__ import annotations

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from voice_encoder import SHARED, ge2e, load16k, log, unit  # noqa: E402

from core.openset import det_curve  # noqa: E402

SPLITS = 30
MIN_SECONDS = (0, 6, 8, 10, 12)


def embeddings():
    files = sorted((SHARED / "librispeech-voices-dev").glob("*.flac"))
    signals = [load16k(f) for f in files]
    seconds = np.array([y.size / 16000 for y in signals])
    whole = np.stack([ge2e(y[: y.size // 2]) for y in signals])  # the enrolment half as one take
    test = np.stack([ge2e(y[y.size // 2:]) for y in signals])
    takes = np.stack([np.stack([ge2e(p) for p in np.array_split(y[: y.size // 2], 3)]) for y in signals])
    log(f"librispeech: {len(files)} voices, utterances {np.median(seconds):.1f} s median")
    return seconds, whole, takes, test


def splits(voices):
    for s in range(SPLITS):
        order = np.random.default_rng(s).permutation(voices)
        yield order[: len(order) // 2], order[len(order) // 2:]


def trials(centroids, test, known, unknown):
    """Known voices' best cosine and whether it names them right; never-heard voices' best cosine."""
    scores = unit(test) @ centroids.T
    return scores[known].max(1), scores[known].argmax(1) == np.arange(len(known)), scores[unknown].max(1)


def rates(known_scores, right, unknown_scores, threshold):
    return float(np.mean(unknown_scores >= threshold)), float(np.mean(~right | (known_scores < threshold)))


def separation(voices, enrol, test):
    """Mean over splits of (false accepts at the best threshold with false rejects <= 5 %, EER)."""
    out = []
    for known, unknown in splits(voices):
        ks, right, us = trials(unit(enrol[known]), test, known, unknown)
        thresholds = np.sort(np.concatenate([ks, us]))
        fa = [rates(ks, right, us, t)[0] for t in thresholds if rates(ks, right, us, t)[1] <= 0.05]
        out.append((min(fa) if fa else 1.0, det_curve(ks[right], us)["eer"]))
    return np.mean(out, axis=0)


def calibration(voices, takes, test):
    """Mean over splits of (false accepts, false rejects) at three thresholds from enrolment data only."""
    out = []
    for known, unknown in splits(voices):
        centroids = np.stack([unit(unit(takes[i]).mean(0)) for i in known])
        held_out = [float(unit(takes[i][j]) @ unit(unit(np.delete(takes[i], j, 0)).mean(0)))
                    for i in known for j in range(takes.shape[1])]
        impostor = np.concatenate([np.delete(unit(takes[i]) @ centroids.T, n, axis=1).max(1)
                                   for n, i in enumerate(known)])
        between = centroids @ centroids.T
        np.fill_diagonal(between, -1)
        ks, right, us = trials(centroids, test, known, unknown)
        row = []
        for t in (np.quantile(held_out, 0.05, method="lower"), np.quantile(impostor, 0.98), between.max()):
            row += rates(ks, right, us, t)
        out.append(row)
    return np.mean(out, axis=0)


def pct(v):
    return f"{100 * v:.1f} %"


def main():
    t0 = time.perf_counter()
    seconds, whole, takes, test = embeddings()
    centroid3 = np.stack([unit(unit(t).mean(0)) for t in takes])
    lines = ["| utterance at least | voices | whole half: FA at FR ≤ 5 % / EER | three takes: FA at FR ≤ 5 % / EER "
             "| three takes, held-out takes' 5 % (the app's): FA / FR | impostor takes' 98 %: FA / FR "
             "| closest two known voices: FA / FR |", "|---|---|---|---|---|---|---|"]
    for least in MIN_SECONDS:
        voices = np.flatnonzero(seconds >= least)
        w, c = separation(voices, whole, test), separation(voices, centroid3, test)
        cal = calibration(voices, takes, test)
        lines.append(f"| {least} s | {len(voices)} | {pct(w[0])} / {pct(w[1])} | {pct(c[0])} / {pct(c[1])} | "
                     f"{pct(cal[0])} / {pct(cal[1])} | {pct(cal[2])} / {pct(cal[3])} | {pct(cal[4])} / {pct(cal[5])} |")
    lines += ["", f"Utterances: median {np.median(seconds):.1f} s, quartiles {np.percentile(seconds, 25):.1f}–"
                  f"{np.percentile(seconds, 75):.1f} s; {SPLITS} splits; total {time.perf_counter() - t0:.0f} s."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
