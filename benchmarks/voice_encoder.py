"""Voices never heard: the pretrained GE2E voice encoder, MFCC statistics and the two side by side, in one run.

    .venv/bin/python benchmarks/voice_encoder.py [--write]

Two real data sets from ``../shared/data``, neither ever used to train GE2E or to choose anything here:

* ``librispeech-voices-dev``: 126 voices, one 2–17 s utterance each, cut in two: the first half
  enrols the voice (as three takes), the second half tests it.
  - identification among all 126 voices (one decision per test half);
  - open set: the 63 voices of even rank are known, the 63 others never heard; the threshold is set
    from enrolment data only, as the app sets it: each take held out in turn and scored against the
    centroid of the voice's other takes; the 5 % quantile; false accepts = never-heard test halves named;
  - enrolment of a 10th voice with 5 takes: the 10 longest utterances cut in 10 pieces each; 9
    voices enrolled with their first 5 pieces, then the 10th with its first 5; how many of its last
    5 pieces are named (right voice, above the threshold).
* ``audiomnist-az-dev``: 30 speakers saying one Azerbaijani digit per clip (about 49 clips each).
  - identification with 3, 5 or 10 enrolment takes per speaker, tested on every other clip;
  - open set: 20 speakers known (10 takes each), 10 never heard (every third voice, in 3 rotations: the
    table gives the mean and each rotation); one word per decision, and three words per decision as the
    app's continuous listening decides (``core.openset.decide_over`` with the model: the words' evidence
    pooled into one score, GE2E the direction of their mean embedding, the classifiers' probabilities by
    ``core.openset.pool_words``, judged by the 3-word threshold ``words_threshold``: the same share of
    known voices' 3-take calibration pools rejected), against the words' probabilities averaged (the last
    stop's pooling, its own 3-word threshold) and before that (the mean of the words' scores, judged by the
    one-word threshold). Test words of a voice come in a shuffled order, three different ones at a time.

GE2E: cosine similarity to each voice's centroid (the ``voice-cosine`` model). MFCC statistics:
the Speakers tab's ``mfcc-stats`` features of each whole clip (no 2 s windows: one decision per
clip, as for GE2E) with logistic regression (the tab's default model); for the open set its
closed-set probability is the score (``probability`` scoring; rates at the same 5 % target).
GE2E + MFCC statistics: the ``voice-mfcc`` features (both of the same clip side by side) with the
``voice-mfcc-logreg`` model, scored as MFCC statistics are. Every kind sees the same enrolment and test clips.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from core.audio import load_audio, resample  # noqa: E402
from core.features import features_of_signal  # noqa: E402
from core.openset import EVIDENCE_WORDS, decide_over, evidence_quantiles, pool_words, words_threshold  # noqa: E402
from core.tasks import SPEAKERS  # noqa: E402

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
MFCC = dataclasses.replace(SPEAKERS.feature_config("mfcc-stats"), window_seconds=None)
TARGET_FRR = 0.05
COST = {"ge2e": [], "mfcc": [], "both": []}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load16k(path):
    y, sr = load_audio(path, sr=None)
    return resample(y, sr_from=sr, sr_to=16000)


VOICE = SPEAKERS.feature_config("voice-embedding")


def ge2e(y):
    t = time.perf_counter()
    e = features_of_signal(y, 16000, VOICE)  # the app's own path: DC offset removed, then GE2E
    COST["ge2e"].append(time.perf_counter() - t)
    return e


def mfcc(y):
    t = time.perf_counter()
    f = features_of_signal(y, 16000, MFCC)
    COST["mfcc"].append(time.perf_counter() - t)
    return f


BOTH = SPEAKERS.feature_config("voice-mfcc")


def both(y):
    t = time.perf_counter()
    f = features_of_signal(y, 16000, BOTH)  # the `voice-mfcc-logreg` model's features: GE2E beside MFCC statistics
    COST["both"].append(time.perf_counter() - t)
    return f


# what is compared: GE2E + cosine; MFCC statistics + logistic regression; both side by side + logistic regression
KINDS = (("ge2e", ge2e), ("mfcc", mfcc), ("both", both))
MODEL_OF = {"mfcc": "logreg", "both": "voice-mfcc-logreg"}
TITLES = {"ge2e": "GE2E", "mfcc": "MFCC statistics", "both": "GE2E + MFCC statistics"}


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def centroids(E, y, labels):
    return np.stack([unit(unit(E[y == lab]).mean(axis=0)) for lab in labels])


def logreg(X, y, key="logreg"):
    from core.models import make_model

    model = make_model("linear", **{**SPEAKERS.model_choice(key).params, "validation_fraction": 0.0})
    model.fit(X, y)
    return model


def eer(known, unknown):
    from core.openset import det_curve

    return det_curve(known, unknown)["eer"]


def pct(v):
    return "–" if v is None else f"{100 * v:.1f} %"


# ----------------------------------------------------------------------------- LibriSpeech


def librispeech():
    files = sorted((SHARED / "librispeech-voices-dev").glob("*.flac"))
    signals = [load16k(f) for f in files]
    names = np.array([f.name.split("-")[0] for f in files])
    halves = [(y[: y.size // 2], y[y.size // 2:]) for y in signals]
    log(f"librispeech: {len(files)} voices")
    out = {}
    for kind, embed in KINDS:
        test = np.stack([embed(b) for _, b in halves])
        takes = [np.stack([embed(p) for p in np.array_split(a, 3)]) for a, _ in halves]
        X = np.concatenate(takes)
        y = np.repeat(names, 3)
        if kind == "ge2e":
            C = centroids(X, y, list(names))
            ident = float(np.mean((unit(test) @ C.T).argmax(axis=1) == np.arange(len(names))))
        else:
            model = logreg(X, y, MODEL_OF[kind])
            ident = float(np.mean(model.predict(test) == names))
        # open set: even ranks known
        known = np.arange(len(names)) % 2 == 0
        kn = names[known]
        Xk = np.concatenate([t for t, k in zip(takes, known) if k])
        yk = np.repeat(kn, 3)
        cal = []
        if kind == "ge2e":
            Ck = centroids(Xk, yk, list(kn))
            for t in (t for t, k in zip(takes, known) if k):
                cal += [float(unit(t[j]) @ unit(unit(np.delete(t, j, axis=0)).mean(axis=0))) for j in range(3)]
            s = unit(test) @ Ck.T
            pred, score = s.argmax(axis=1), s.max(axis=1)
        else:
            model = logreg(Xk, yk, MODEL_OF[kind])
            for j in range(3):  # each take held out in turn, scored by a model trained without it
                keep = np.arange(len(yk)) % 3 != j
                cal += logreg(Xk[keep], yk[keep], MODEL_OF[kind]).predict_proba(Xk[~keep]).max(axis=1).tolist()
            proba = model.predict_proba(test)
            pred, score = proba.argmax(axis=1), proba.max(axis=1)
        threshold = float(np.quantile(cal, TARGET_FRR, method="lower"))
        k_idx = np.flatnonzero(known)
        right = pred[known] == np.arange(known.sum())
        frr = float(np.mean(~right | (score[known] < threshold)))
        far = float(np.mean(score[~known] >= threshold))
        out[kind] = dict(ident=ident, frr=frr, far=far, eer=eer(score[known][right], score[~known]))
        del k_idx
        log(f"  {kind}: identification {ident:.3f}, open set FRR {frr:.3f} FAR {far:.3f}")
    out["enrol"] = enrol_tenth(signals, names)
    return out


def enrol_tenth(signals, names):
    """9 voices, then a 10th enrolled with 5 pieces; how many of its other 5 pieces are named."""
    order = np.argsort([-y.size for y in signals])[:10]
    result = {}
    for kind, embed in KINDS:
        named = []
        for new in range(10):  # each of the 10 voices in turn is the newcomer
            pieces = {i: [embed(p) for p in np.array_split(signals[i], 10)] for i in order}
            X, y = [], []
            for i in order:
                X += pieces[i][:5]
                y += [names[i]] * 5
            X, y = np.stack(X), np.array(y)
            test = np.stack(pieces[order[new]][5:])
            if kind == "ge2e":
                labels = sorted(set(y))
                C = centroids(X, y, labels)
                cal = []  # leave-one-take-out cosines of the enrolment takes
                for lab in labels:
                    E = X[y == lab]
                    for j in range(len(E)):
                        cal.append(float(unit(E[j]) @ unit(unit(np.delete(E, j, axis=0)).mean(axis=0))))
                s = unit(test) @ C.T
                pred = np.array(labels)[s.argmax(axis=1)]
                score = s.max(axis=1)
            else:
                model = logreg(X, y, MODEL_OF[kind])
                cal = []
                for j in range(5):  # each take held out once per voice
                    keep = np.array([k % 5 != j for k in range(len(y))])
                    m = logreg(X[keep], y[keep], MODEL_OF[kind])
                    cal += m.predict_proba(X[~keep]).max(axis=1).tolist()
                proba = model.predict_proba(test)
                pred, score = model.classes_[proba.argmax(axis=1)], proba.max(axis=1)
            threshold = float(np.quantile(cal, TARGET_FRR, method="lower"))
            named.append(int(np.sum((pred == names[order[new]]) & (score >= threshold))))
        result[kind] = named
        log(f"  enrol a 10th voice, {kind}: named {named} of 5")
    return result


# ----------------------------------------------------------------------------- AudioMNIST AZ


def audiomnist_az():
    root = SHARED / "audiomnist-az-dev" / "data"
    files = sorted(root.rglob("*.flac")) + sorted(root.rglob("*.wav"))
    speakers = np.array([f.stem.split("_")[1] for f in files])
    log(f"audiomnist-az: {len(files)} clips, {len(set(speakers))} speakers")
    signals = [load16k(f) for f in files]
    rng = np.random.default_rng(0)
    labels = sorted(set(speakers))
    # one draw of each speaker's enrolment and test clips, the same for every kind compared
    order = {lab: rng.permutation(np.flatnonzero(speakers == lab)) for lab in labels}
    out = {}
    for kind, embed in KINDS:
        E = np.stack([embed(y) for y in signals])
        ident = {}
        for k in (3, 5, 10):
            tr = np.concatenate([order[lab][:k] for lab in labels])
            te = np.concatenate([order[lab][k:] for lab in labels])
            if kind == "ge2e":
                C = centroids(E[tr], speakers[tr], labels)
                pred = np.array(labels)[(unit(E[te]) @ C.T).argmax(axis=1)]
            else:
                pred = logreg(E[tr], speakers[tr], MODEL_OF[kind]).predict(E[te])
            ident[k] = float(np.mean(pred == speakers[te]))
        rotations = [open_set_az(kind, E, speakers, labels, order, r) for r in (2, 0, 1)]
        res = {words: {key: float(np.mean([rot[words][key] for rot in rotations])) for key in rotations[0][words]}
               for words in rotations[0]}
        for words in res:
            res[words]["rotations"] = [rot[words] for rot in rotations]
        out[kind] = dict(ident=ident, open=res)
        log(f"  {kind}: identification {ident}, open set {res}")
    return out


def open_set_az(kind, E, speakers, labels, order, rotation):
    """Open set on AudioMNIST-AZ: every third voice (``labels[rotation::3]``) never heard, the other 20 known
    from 10 enrolment takes each; 1- and 3-word decisions on their other clips."""
    unknown_labels = labels[rotation::3]
    known_labels = [lab for r in range(3) if r != rotation for lab in labels[r::3]]  # 20 known, 10 never heard
    tr = np.concatenate([order[lab][:10] for lab in known_labels])
    y_tr = speakers[tr]
    # one word's evidence: GE2E its unit embedding (pooled: the direction of the words' mean, as
    # core.openset.clip_scores pools a clip's rows), MFCC its probabilities (pooled: core.openset.pool_words,
    # the app's way; "mean": their plain mean, the last stop's way); calibration: each enrolment take held out
    # (its own centroid / model trained without it)
    rng_cal = np.random.default_rng(1)
    cal, cal_pooled, cal_mean = [], {n: [] for n in EVIDENCE_WORDS}, {n: [] for n in EVIDENCE_WORDS}
    if kind == "ge2e":
        C = centroids(E[tr], y_tr, known_labels)
        for lab in known_labels:
            idx = order[lab][:10]
            for j in range(10):
                cal.append(float(unit(E[idx[j]]) @ unit(unit(E[np.delete(idx, j)]).mean(axis=0))))
            for n in EVIDENCE_WORDS:  # n held-out takes pooled against the centroid of the others
                for _ in range(100):
                    pick = rng_cal.permutation(10)
                    held, rest_ = idx[pick[:n]], idx[pick[n:]]
                    cal_pooled[n].append(float(unit(unit(E[held]).mean(axis=0))
                                               @ unit(unit(E[rest_]).mean(axis=0))))

        cal_mean = cal_pooled

        def pooled_word(rows, how="words"):
            s = unit(unit(E[rows]).mean(axis=0)) @ C.T
            return known_labels[int(s.argmax())], float(s.max())
    else:
        model = logreg(E[tr], y_tr, MODEL_OF[kind])
        held_proba = np.zeros((len(tr), len(known_labels)))
        for j in range(10):
            keep = np.array([i % 10 != j for i in range(len(tr))])
            m = logreg(E[tr][keep], y_tr[keep], MODEL_OF[kind])
            held_proba[~keep] = m.predict_proba(E[tr][~keep])[:, [list(m.classes_).index(k) for k in known_labels]]
        cal = held_proba.max(axis=1).tolist()
        for lab in known_labels:
            idx = np.flatnonzero(y_tr == lab)
            for n in EVIDENCE_WORDS:
                for _ in range(100):
                    pick = held_proba[rng_cal.permutation(idx)[:n]]
                    cal_pooled[n].append(float(pool_words(pick).max()))
                    cal_mean[n].append(float(pick.mean(axis=0).max()))
        columns = [list(model.classes_).index(k) for k in known_labels]

        def pooled_word(rows, how="words"):
            p = model.predict_proba(E[rows])[:, columns]
            p = pool_words(p) if how == "words" else p.mean(axis=0)
            return known_labels[int(p.argmax())], float(p.max())
    threshold = float(np.quantile(cal, TARGET_FRR, method="lower"))
    open_set = {"method": "m", "arrays": {"words_m": evidence_quantiles(cal, cal_pooled)}}
    open_set_mean = {"method": "m", "arrays": {"words_m": evidence_quantiles(cal, cal_mean)}}

    def score_of(rows, pool="words"):  # one decision over len(rows) words, as continuous listening decides
        rows = np.atleast_1d(rows)
        if pool == "words":  # the app's way: the words' evidence pooled, the n-word threshold
            name, score = pooled_word(rows)
            return name, score, words_threshold(open_set, threshold, len(rows))
        if pool == "mean":  # the last stop's: the mean of the words' probabilities, the n-word threshold
            name, score = pooled_word(rows, "mean")
            return name, score, words_threshold(open_set_mean, threshold, len(rows))
        words = [dict(zip(("known_label", "score"), pooled_word(r[None]))) for r in rows]
        d = decide_over(words, threshold)  # before: the mean of the words' scores, one word's threshold
        return d["known_label"], d["score"], d["threshold"]

    res = {}
    for words in (1, 3):
        for pool in ("words", "mean", "before"):
            rng_test = np.random.default_rng(2)  # different words in a row, as a listener says them; the same
            # test words for every way of pooling compared
            k_scores, k_right, u_scores = [], [], []
            for lab in known_labels + unknown_labels:
                rest = rng_test.permutation(order[lab][10:] if lab in known_labels else order[lab])
                for i in range(0, len(rest) - words + 1, words):
                    pred, s, word_t = score_of(rest[i:i + words], pool)
                    if lab in known_labels:
                        k_scores.append(s)
                        k_right.append(pred == lab)
                    else:
                        u_scores.append(s)
            k_scores, k_right, u_scores = np.array(k_scores), np.array(k_right), np.array(u_scores)
            r = dict(frr=float(np.mean(~k_right | (k_scores < word_t))), far=float(np.mean(u_scores >= word_t)),
                     eer=eer(k_scores[k_right], u_scores), threshold=word_t)
            if pool == "words":
                res[words] = r
            else:
                res[words].update({f"{key}_{pool}": r[key] for key in ("far", "frr", "eer")})

    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--az-only", action="store_true", help="only the AudioMNIST-AZ part, printed (no table)")
    args = ap.parse_args()
    if args.az_only:
        print(audiomnist_az())
        return
    t0 = time.perf_counter()
    libri = librispeech()
    az = audiomnist_az()
    kinds = [k for k, _ in KINDS]

    def row(title, cell):
        return f"| {title} | " + " | ".join(cell(k) for k in kinds) + " |"

    def enrolled(k):
        return f"{sum(libri['enrol'][k])}/50 ({libri['enrol'][k]})"

    def rates(d, suffix=""):
        return f"{pct(d['far' + suffix])} / {pct(d['frr' + suffix])} / {pct(d['eer' + suffix])}"

    lines = [
        "## Voice encoder (GE2E) vs MFCC statistics, voices never heard",
        "",
        f"`python benchmarks/voice_encoder.py --write` — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores "
        f"(shared with other work). GE2E: `voice-embedding` + cosine to each voice's centroid (`voice-cosine`); "
        f"MFCC: the tab's `mfcc-stats` per whole clip + logistic regression, open set by its probability; "
        f"GE2E + MFCC: `voice-mfcc` (both of the same clip side by side) + logistic regression "
        f"(`voice-mfcc-logreg`), open set by its probability. "
        f"Thresholds from enrolment data only, at a {TARGET_FRR:.0%} target false-reject rate. "
        f"Rejections count wrong names as false rejects.",
        "",
        "| test | " + " | ".join(TITLES[k] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
        row("LibriSpeech, identify 1 of 126 voices from half an utterance", lambda k: pct(libri[k]["ident"])),
        row("LibriSpeech open set (63 known, 63 never heard): false accepts", lambda k: pct(libri[k]["far"])),
        row("… false rejects (or wrong voice)", lambda k: pct(libri[k]["frr"])),
        row("… equal error rate", lambda k: pct(libri[k]["eer"])),
        row("LibriSpeech: a 10th voice enrolled with 5 takes, other 5 takes named (each of the 10 longest voices "
            "in turn)", enrolled),
    ]
    for n in (3, 5, 10):
        lines.append(row(f"AudioMNIST-AZ, identify 1 of 30 speakers from one word, {n} enrolment takes",
                         lambda k: pct(az[k]["ident"][n])))
    for words in (1, 3):
        lines.append(row(f"AZ open set (20 known, 10 never heard; mean of 3 rotations), {words} "
                         f"word{'s' if words > 1 else ''} per decision: false accepts / false rejects / EER",
                         lambda k: rates(az[k]["open"][words])))
        if words > 1:
            lines.append(row("… the words' probabilities averaged (the last stop's pooling): false accepts / "
                             "false rejects / EER", lambda k: rates(az[k]["open"][words], "_mean")))
            lines.append(row("… before (the mean of the words' scores, one word's threshold): false accepts / "
                             "false rejects / EER", lambda k: rates(az[k]["open"][words], "_before")))
        lines.append(row(f"… each of the 3 rotations ({words} word{'s' if words > 1 else ''}): false accepts",
                         lambda k: " / ".join(pct(r["far"]) for r in az[k]["open"][words]["rotations"])))
    lines.append(row("cost per clip (median, ms; preprocessing included)",
                     lambda k: f"{1000 * np.median(COST[k]):.0f}"))
    lines += ["", f"Total {time.perf_counter() - t0:.0f} s."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        from _results import write_section

        write_section(lines[0], text)


if __name__ == "__main__":
    main()
