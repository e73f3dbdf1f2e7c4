"""Digits accuracy across datasets, for voices the model never heard.

Every candidate (feature set × model × augmentation) is trained through the
app's own pipeline (``core.training.train_model``) on each dataset:

* **speaker-grouped cross-validation**, no speaker in two folds: FSDD (4
  speakers) leave-one-speaker-out; audiomnist-az-dev (30 speakers) 5 folds of
  6 speakers (speakers shuffled with seed 0, then cut in five);
* **random split** (stratified 80/20, ``random_state=42``) as a floor.

The default is the candidate with the best mean of the two datasets'
speaker-independent accuracies whose FSDD random split stays ≥ 98 %.
Results are appended to a JSON-lines log (one line per dataset × candidate),
so a search can run in several sittings on a shared machine; ``--report``
turns the log into the Markdown table (``--write`` puts it in RESULTS.md).

Usage::

    .venv/bin/python benchmarks/digits_accuracy.py --candidates default stats13 --log /tmp/digits.jsonl
    .venv/bin/python benchmarks/digits_accuracy.py --candidates full15-hp:mlp --seeds 1 --log /tmp/digits-seed1.jsonl
    .venv/bin/python benchmarks/digits_accuracy.py --final /tmp/final.json --seeds 0 1   # shipped vs previous
    .venv/bin/python benchmarks/digits_accuracy.py --report /tmp/digits.jsonl /tmp/digits-seed1.jsonl \
        --final /tmp/final.json [--write]
    .venv/bin/python benchmarks/digits_accuracy.py --list
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from core.augment import AugmentConfig  # noqa: E402
from core.datasets import scan_dataset  # noqa: E402
from core.honest import speaker_folds  # noqa: E402
from core.models import make_model  # noqa: E402
from core.tasks import DIGITS  # noqa: E402
from core.training import SplitConfig, train_model  # noqa: E402

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {
    "fsdd": SHARED / "fsdd" / "recordings",
    "az": SHARED / "audiomnist-az-dev" / "data",
}
DATASET_TITLES = {"fsdd": "FSDD (4 speakers, LOSO)", "az": "audiomnist-az-dev (30 speakers, 5-fold by speaker)"}
TARGETS = {"random_fsdd": 0.98, "random_many": 0.95, "speaker": 0.90}
N_FOLDS_MANY = 5

# The digits configuration before this benchmark chose one (issue 11), for the comparison.
_PREVIOUS_FULL = dict(sr=16000, n_mfcc=13, n_mels=32, win_ms=25.0, hop_ms=10.0, trim_db=15.0, frames="resize",
                      n_frames=32)
_MFCC = dict(sr=16000, win_ms=25.0, hop_ms=10.0)
FEATURES = {
    "full15": ("mfcc-full", dict(_PREVIOUS_FULL), "MFCC+Δ+ΔΔ 13/32, 15 dB trim, stretched to 32 frames (previous default)"),
    "full30": ("mfcc-full", dict(_PREVIOUS_FULL, trim_db=30.0), "MFCC+Δ+ΔΔ 13/32, 30 dB trim, 32 frames"),
    "full15-16": ("mfcc-full", dict(_PREVIOUS_FULL, n_frames=16), "MFCC+Δ+ΔΔ 13/32, 15 dB trim, 16 frames"),
    "full20-15": ("mfcc-full", dict(_PREVIOUS_FULL, n_mfcc=20, n_mels=40), "MFCC+Δ+ΔΔ 20/40, 15 dB trim, 32 frames"),
    "stats12": ("mfcc-stats", dict(_MFCC, n_mfcc=12, n_mels=24, trim_db=30.0), "MFCC stats 12/24, 30 dB trim"),
    "stats13": ("mfcc-stats", dict(_MFCC, n_mfcc=13, n_mels=32, trim_db=15.0), "MFCC stats 13/32, 15 dB trim"),
    "stats20": ("mfcc-stats", dict(_MFCC, n_mfcc=20, n_mels=40, trim_db=30.0), "MFCC stats 20/40, 30 dB trim"),
    "mean12": ("mfcc-mean", dict(_MFCC, n_mfcc=12, n_mels=24, trim_db=30.0), "MFCC means 12/24, 30 dB trim"),
    "spectral": ("spectral", dict(sr=16000, trim_db=30.0), "centroid, ZCR, RMS (3 numbers)"),
    "full15-hp": ("mfcc-full", dict(_PREVIOUS_FULL, highpass_hz=60.0), "full15 + DC/60 Hz high-pass before trimming"),
    "full20-hp": ("mfcc-full", dict(_PREVIOUS_FULL, trim_db=20.0, highpass_hz=60.0), "full, 20 dB trim, high-pass"),
    "full30-hp": ("mfcc-full", dict(_PREVIOUS_FULL, trim_db=30.0, highpass_hz=60.0), "full30 + high-pass"),
    "stats12-hp": ("mfcc-stats", dict(_MFCC, n_mfcc=12, n_mels=24, trim_db=30.0, highpass_hz=60.0),
                   "stats12 + high-pass"),
    "stats13-hp": ("mfcc-stats", dict(_MFCC, n_mfcc=13, n_mels=32, trim_db=15.0, highpass_hz=60.0),
                   "stats13 + high-pass"),
    "logmel32-hp": ("logmel-128", dict(sr=16000, n_mels=40, n_fft=400, hop_length=160, trim_db=15.0, image_size=32,
                                       highpass_hz=60.0), "log-mel 40 bands, 15 dB trim, high-pass, 32×32 image"),
    "logmel32": ("logmel-128", dict(sr=16000, n_mels=40, n_fft=400, hop_length=160, trim_db=15.0, image_size=32),
                 "log-mel 40 bands, 15 dB trim, 32×32 image"),
}

_MLP = dict(DIGITS.model_choice("mlp").params) if "mlp" in DIGITS.model_keys else {}
MODELS = {
    "mlp": ("mlp", dict(_MLP), "MLP 256-128 ReLU (NumPy)"),
    "mlp-l2": ("mlp", dict(_MLP, l2=1e-3), "MLP 256-128, L2 1e-3"),
    "mlp-512": ("mlp", dict(_MLP, hidden_layer_sizes=(512, 256)), "MLP 512-256"),
    "logreg": ("linear", dict(kind="logreg", C=1.0, solver="lbfgs", max_iter=500, standardize=True,
                              validation_fraction=0.0), "logistic regression (scikit-learn)"),
    "cnn": ("keras-cnn", dict(
        conv_blocks=(dict(filters=16, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
                     dict(filters=32, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
                     dict(filters=64, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1)),
        head="global-avg", dense_units=(64,), dropout=0.3, optimizer="adam", learning_rate=1e-3, epochs=40,
        batch_size=32, early_stopping=True, validation_fraction=0.15, patience=8, standardize=True,
        freq_mask=0.1, time_mask=0.1, time_shift=0.1, bn_momentum=0.9, report_every=0), "small CNN (Keras, Genres code)"),
}
MODELS["cnn-flat"] = ("keras-cnn", dict(MODELS["cnn"][1], head="flatten", dropout=0.4),
                      "small CNN, flattened head (keeps where in time each sound is)")
AUGMENTS = {
    "none": None,
    "aug2": AugmentConfig(),  # the AugmentConfig defaults: 2 copies, speed ±15 %, shift, reverb 30 %, gain, noise
    "speed2": AugmentConfig(copies=2, shift_seconds=0.0, reverb_probability=0.0, gain_db=0.0, snr_db=None),
    "aug4": AugmentConfig(copies=4),
    "aug2-clean": AugmentConfig(copies=2, snr_db=None),  # no added noise
    "aug2-pitch": AugmentConfig(copies=2, pitch_semitones=3.0),  # + pitch ±3 semitones, tempo kept
    "mild2": AugmentConfig(copies=2, speed=(0.9, 1.1), reverb_probability=0.2, snr_db=(25.0, 45.0)),
    # + vocal-tract-length perturbation of the mel filterbank (issue 20), warp drawn from 0.9-1.1 / 0.85-1.15
    "aug2-vtlp": AugmentConfig(copies=2, vtlp=(0.9, 1.1)),
    "aug2-vtlp15": AugmentConfig(copies=2, vtlp=(0.85, 1.15)),
    "aug4-vtlp": AugmentConfig(copies=4, vtlp=(0.9, 1.1)),
    # VTLP instead of speed perturbation (tempo kept)
    "vtlp2-nospeed": AugmentConfig(copies=2, speed=(1.0, 1.0), vtlp=(0.85, 1.15)),
}


@dataclasses.dataclass(frozen=True)
class Candidate:
    key: str
    feature: str
    model: str
    augment: str = "none"

    @property
    def title(self):
        aug = "" if self.augment == "none" else f" + {self.augment}"
        return f"{self.feature} × {self.model}{aug}"


def parse_candidate(text):
    """``feature:model[:augment]``, e.g. ``stats13:mlp:aug2``."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in FEATURES or parts[1] not in MODELS or \
            (len(parts) == 3 and parts[2] not in AUGMENTS):
        raise SystemExit(f"bad candidate '{text}': feature:model[:augment] with feature in {list(FEATURES)}, "
                         f"model in {list(MODELS)}, augment in {list(AUGMENTS)}")
    return Candidate(text, *parts)


def feature_config(feature):
    """The candidate's settings exactly (not merged with the task's defaults, which change with this benchmark)."""
    from core.features import FeatureConfig

    name, overrides, _ = FEATURES[feature]
    return FeatureConfig(name=name, **overrides)


def run_one(ds, cand, split, *, seed, jobs):
    model_type, params, _ = MODELS[cand.model]
    model = make_model(model_type, **params, random_state=seed)
    result = train_model(ds, task="digits", feature_config=feature_config(cand.feature), model=model, split=split,
                         n_jobs=jobs, augment=AUGMENTS[cand.augment])
    return float(result.metrics["accuracy"])


def non_digit_sounds(sr=16000):
    """Sounds that are not digits: synthetic ones, and other words by espeak-ng when it is installed."""
    import shutil
    import subprocess
    import tempfile

    import soundfile as sf

    from core.audio import resample

    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    sounds = {
        "bird-like whistle": 0.5 * np.sin(2 * np.pi * (2000 + 1500 * np.sin(2 * np.pi * 6 * t)) * t),
        "rising chirp": 0.5 * np.sin(2 * np.pi * (800 * t + 1500 * t**2)),
        "white noise": 0.3 * rng.standard_normal(sr),
        "pink-ish noise": 0.3 * np.cumsum(rng.standard_normal(sr)) / 40,
        "mains hum": 0.5 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 440 * t),
        "hand clap": np.concatenate([0.8 * rng.standard_normal(400) * np.exp(-np.arange(400) / 80), np.zeros(sr)]),
        "whistled tune": 0.4 * np.sin(2 * np.pi * np.repeat([880, 988, 1047, 1175], sr // 4) * t[: 4 * (sr // 4)]),
    }
    if shutil.which("espeak-ng"):
        words = ["hello", "banana", "computer", "yes", "no", "weather", "the weather is nice today",
                 "please open the door", "good morning everyone", "thank you"]
        with tempfile.TemporaryDirectory() as tmp:
            for voice in ("en-us", "en-gb+f3"):
                for w in words:
                    path = pathlib.Path(tmp) / "w.wav"
                    subprocess.run(["espeak-ng", "-w", str(path), "-v", voice, w], check=True, capture_output=True)
                    y, file_sr = sf.read(path, dtype="float32")
                    sounds[f"espeak {voice}: {w}"] = resample(y, sr_from=file_sr, sr_to=sr)
    return {k: np.asarray(v, dtype=np.float32) for k, v in sounds.items()}


def final_comparison(datasets, *, seeds, jobs):
    """The shipped default (features, model, augmentation, open set) against the previous default, same run.

    Returns a list of row dicts (one per dataset × configuration)."""
    from core.models.mlp import MLPClassifier
    from core.prediction import predict_long

    configs = {
        "previous default": dict(feature_config=feature_config("full15"), augment=None, open_set=None),
        "new default": dict(feature_config=DIGITS.feature_config(), augment=DIGITS.augment, open_set=DIGITS.open_set),
    }
    sounds = non_digit_sounds()
    rows = []
    for ds_key, ds in datasets.items():
        folds = speaker_folds(ds.speakers, N_FOLDS_MANY)
        for name, kw in configs.items():
            t0 = time.perf_counter()
            fold_accs, random_accs, frr, rejected = [], [], [], []
            for seed in seeds:
                for f in folds:
                    r = train_model(ds, task="digits", model=MLPClassifier(**DIGITS.model, random_state=seed),
                                    split=SplitConfig(kind="speaker", test_speakers=f), n_jobs=jobs, **kw)
                    fold_accs.append(float(r.metrics["accuracy"]))
                    if r.bundle.open_set:
                        frr.append(r.metrics["open_set"]["false_reject_rate"])
                        answers = [predict_long(r.bundle, y, 16000, clip_seconds=DIGITS.record_seconds)["label"]
                                   for y in sounds.values()]
                        rejected.append(float(np.mean([a == "unknown" for a in answers])))
                r = train_model(ds, task="digits", model=MLPClassifier(**DIGITS.model, random_state=seed),
                                split=SplitConfig(random_state=42), n_jobs=jobs, **kw)
                random_accs.append(float(r.metrics["accuracy"]))
            row = dict(dataset=ds_key, config=name, fold_accs=fold_accs, random_accs=random_accs,
                       false_reject=frr, non_digits_rejected=rejected, n_non_digits=len(sounds),
                       seconds=round(time.perf_counter() - t0, 1), load=os.getloadavg(), seeds=list(seeds))
            print(f"[final {ds_key} {name}] speaker {100 * np.mean(fold_accs):.1f} %, random "
                  f"{100 * np.mean(random_accs):.1f} %" + (f", FRR {100 * np.mean(frr):.1f} %, non-digits rejected "
                                                           f"{100 * np.mean(rejected):.0f} %" if frr else ""),
                  file=sys.stderr, flush=True)
            rows.append(row)
    return rows


def final_text(rows):
    by = {(r["dataset"], r["config"]): r for r in rows}
    lines = ["| configuration | FSDD LOSO | az-dev 5-fold by speaker | mean speaker-independent | FSDD random | "
             "az-dev random | new voices' digits rejected as unknown | non-digit sounds rejected |",
             "|---|---|---|---|---|---|---|---|"]
    means = {}
    for name in ("previous default", "new default"):
        f, a = by[("fsdd", name)], by[("az", name)]
        means[name] = (np.mean(f["fold_accs"]) + np.mean(a["fold_accs"])) / 2
        def both(key):
            if not f[key]:
                return "no open set"
            return f"FSDD {100 * np.mean(f[key]):.1f} %, az {100 * np.mean(a[key]):.1f} %"

        lines.append(f"| {name} | {pct(f['fold_accs'])} | {pct(a['fold_accs'])} | {100 * means[name]:.1f} | "
                     f"{pct(f['random_accs'])} | {pct(a['random_accs'])} | "
                     f"{both('false_reject')} | {both('non_digits_rejected')} |")
    diff = 100 * (means["new default"] - means["previous default"])
    ratio = means["new default"] / means["previous default"]
    new_f, new_a = by[("fsdd", "new default")], by[("az", "new default")]
    checks = [
        ("many speakers (az-dev), random split ≥ 95 %", np.mean(new_a["random_accs"]), TARGETS["random_many"]),
        ("voices never heard, az-dev (30 speakers) ≥ 90 %", np.mean(new_a["fold_accs"]), TARGETS["speaker"]),
        ("voices never heard, FSDD (3 → 1 speaker) ≥ 90 %", np.mean(new_f["fold_accs"]), TARGETS["speaker"]),
        ("FSDD random split ≥ 98 %", np.mean(new_f["random_accs"]), TARGETS["random_fsdd"]),
    ]
    lines += ["", "New default: `mfcc-full` 13 MFCCs + Δ + ΔΔ from 32 mel bands, DC offset / < 60 Hz removed, "
                  "trimmed at 15 dB, stretched to 32 frames; MLP 256-128 ReLU, softmax, Adam (unchanged); two "
                  "augmented copies of every training clip; \"not a digit\" open set (distance, 1 % target, refit). "
                  "Previous default: the same without the high-pass, augmentation and open set.",
              "", f"New vs previous default, same run: {diff:+.1f} points mean speaker-independent "
                  f"(ratio {ratio:.3f}).", "", "Targets (issue 11):", ""]
    lines += [f"- {what}: {100 * v:.1f} % — **{'met' if v >= t else 'not met'}**" for what, v, t in checks]
    return "\n".join(lines)


def measure(ds_key, ds, cand, *, seeds, jobs):
    t0 = time.perf_counter()
    folds = speaker_folds(ds.speakers, N_FOLDS_MANY)
    fold_accs = [run_one(ds, cand, SplitConfig(kind="speaker", test_speakers=f), seed=seeds[0], jobs=jobs)
                 for f in folds]
    random_accs = [run_one(ds, cand, SplitConfig(random_state=42), seed=s, jobs=jobs) for s in seeds]
    seconds = time.perf_counter() - t0
    print(f"[{ds_key} {cand.key}] speaker {100 * np.mean(fold_accs):.1f} % "
          f"({', '.join(f'{100 * a:.1f}' for a in fold_accs)}), random {100 * np.mean(random_accs):.1f} %, "
          f"{seconds:.0f} s", file=sys.stderr, flush=True)
    return dict(dataset=ds_key, candidate=cand.key, folds=[list(f) for f in folds], fold_accs=fold_accs,
                random_accs=random_accs, seeds=list(seeds), seconds=round(seconds, 1),
                date=datetime.date.today().isoformat(), load=os.getloadavg())


def load_log(*paths):
    """Rows by (dataset, candidate); a later line of the same log replaces an earlier one, and the logs of
    other model seeds add their folds (each log: one seed)."""
    merged = {}
    for path in paths:
        rows = {}
        for line in pathlib.Path(path).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[(r["dataset"], r["candidate"])] = r
        for key, r in rows.items():
            if key in merged:
                m = merged[key]
                merged[key] = {**m, "fold_accs": m["fold_accs"] + r["fold_accs"],
                               "random_accs": m["random_accs"] + r["random_accs"], "seeds": m["seeds"] + r["seeds"],
                               "seconds": m["seconds"] + r["seconds"]}
            else:
                merged[key] = dict(r)
    return merged


def pct(values):
    values = 100 * np.asarray(values, dtype=float)
    return f"{values.mean():.1f} ± {values.std():.1f}" if values.size > 1 else f"{values.mean():.1f}"


def report(rows, baseline="full15:mlp"):
    """The Markdown table, ranked by the mean of both datasets' speaker-independent accuracy."""
    cands = sorted({c for _, c in rows})
    table = []
    for c in cands:
        f, a = rows.get(("fsdd", c)), rows.get(("az", c))
        if not f or not a:
            continue
        si = (np.mean(f["fold_accs"]) + np.mean(a["fold_accs"])) / 2
        table.append((si, c, f, a))
    table.sort(key=lambda t: -t[0])
    base = next((t for t in table if t[1] == baseline), None)
    eligible = [t for t in table if np.mean(t[2]["random_accs"]) >= TARGETS["random_fsdd"]]
    best = eligible[0] if eligible else None
    lines = ["| candidate (features : model : augmentation) | seeds | FSDD LOSO | az-dev 5-fold by speaker | "
             "**mean speaker-independent** | vs previous default | FSDD random | az-dev random | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for si, c, f, a in table:
        diff = f"{100 * (si - base[0]):+.1f} pts" if base else "–"
        name = f"**{c}**" if best and c == best[1] else c
        lines.append(f"| {name} | {len(f['seeds'])} | {pct(f['fold_accs'])} | {pct(a['fold_accs'])} | {100 * si:.1f} | {diff} | "
                     f"{pct(f['random_accs'])} | {pct(a['random_accs'])} | {f['seconds'] + a['seconds']:.0f} |")
    return "\n".join(lines), best, base, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="*", default=[], help="feature:model[:augment] ...")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="model seeds; the first for the folds")
    parser.add_argument("--jobs", type=int, default=1, help="feature extraction processes")
    parser.add_argument("--log", default="/tmp/digits_accuracy.jsonl", help="JSON-lines log to append to")
    parser.add_argument("--report", metavar="LOG", nargs="+", help="print the table from logs (one per model seed) "
                        "instead of training")
    parser.add_argument("--write", action="store_true", help="with --report: write the section of RESULTS.md")
    parser.add_argument("--list", action="store_true", help="list feature sets, models and augmentations")
    parser.add_argument("--final", metavar="JSON", help="run the shipped default against the previous one (same "
                        "run, --seeds) and save the rows to JSON; with --report --write they go into RESULTS.md")
    args = parser.parse_args(argv)

    if args.list:
        for title, table in (("features", FEATURES), ("models", MODELS)):
            print(title + ":")
            for k, v in table.items():
                print(f"  {k:10s} {v[-1]}")
        print("augment:", ", ".join(AUGMENTS))
        return
    if args.report:
        text, best, base, table = report(load_log(*args.report))
        print(text)
        if best:
            print(f"\nbest (FSDD random ≥ 98 %): {best[1]} at {100 * best[0]:.1f} % mean speaker-independent")
        final = json.loads(pathlib.Path(args.final).read_text()) if args.final else None
        if args.write:
            write_results(text, best, base, table, load_log(*args.report), final)
        return
    if args.final and not args.report:
        datasets = {k: scan_dataset(DATASETS[k], label="digit") for k in args.datasets if DATASETS[k].is_dir()}
        rows = final_comparison(datasets, seeds=args.seeds, jobs=args.jobs)
        pathlib.Path(args.final).write_text(json.dumps(rows))
        print(final_text(rows))
        return
    cands = [parse_candidate(c) for c in args.candidates]
    for ds_key in args.datasets:
        root = DATASETS[ds_key]
        if not root.is_dir():
            print(f"skipping {ds_key}: {root} is not there", file=sys.stderr)
            continue
        ds = scan_dataset(root, label="digit")
        for cand in cands:
            row = measure(ds_key, ds, cand, seeds=args.seeds, jobs=args.jobs)
            with open(args.log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")


FINDINGS = """What the search found:

- **A DC offset defeated trimming on audiomnist-az-dev.** Every clip of AudioMNIST_AZ sits at -0.085
  (-21 dBFS) of offset: louder than the quiet parts of the word, so trimming at 15 dB kept the whole clip, the
  32 stretched frames were mostly silence, and the lowest mel band held the offset. Removing it (a zero-phase
  60 Hz high-pass before trimming, `highpass_hz=60`, now in every digits feature set) took the frame stack from
  73.7 to 95.1 % on voices never heard there (random split 73.1 → 96.3 %), and did nothing to FSDD (no offset).
  This, not the feature set, was why "no feature set was good on both": with it the stretched frame stack
  wins on both datasets; MFCC statistics stay 15-20 points behind on FSDD's three training speakers.
- **Augmentation** (two copies: speed ±15 %, a synthetic room in 30 % of copies, ±6 dB, white noise at
  15-40 dB SNR) helps FSDD (3 training speakers) by about 2 points and costs audiomnist-az-dev (24 training
  speakers) about 1; the mean over both is +0.5 (2 seeds), random splits unchanged, training about twice as
  long. Speed alone, four copies, milder or noise-free copies were not better on the mean (noise-free copies
  dropped FSDD's random split to 95.5 %, below the floor). It is on by default, and a setting (GUI box,
  `--no-augment`). audiomentations was not used: installing it replaces the soxr the app resamples with
  (1.1 → 0.5), it draws from NumPy's global random state (the GUI trains in a thread), and its room
  simulation needs pyroomacoustics; `core/augment.py` is ~100 lines of NumPy/SciPy/soxr, seeded per file and
  copy, cached under its own key.
- L2 1e-3 instead of 1e-4 was level on the mean (+0.5 without, +0.2 with augmentation) but dropped FSDD's random
  split below 98 % with augmentation; logistic regression on the same features is 1 point behind the MLP.
- **"Not a digit"** (the Speakers tab's open-set code): the classifier's own probability is near 1 for a
  whistle, so the score is the distance to the chosen digit's training data, thresholded at the 1 % quantile
  of held-out training clips. Holding a fifth of the clips out for that cost FSDD 2.7 points on new voices and
  its 98 % random split (75.9 %, 97.4 % in a first final run), so the model kept is retrained on every clip
  once the threshold is set (`OpenSetConfig.refit`): no cost left (78.6 %, 98.1 %). A new voice's digits are
  rejected 6.5 % (FSDD) / 1.1 % (az) of the time; every synthetic non-digit and English word is rejected by the
  FSDD models, 87 % by the Azerbaijani ones (some English words pass as Azerbaijani digits).
- **The Keras CNN** (the Genres tab's model code: three conv blocks 16/32/64, batch norm, SpecAugment-style
  masks, on 32×32 log-mel images of the trimmed word, 40 bands; `--model cnn`). Global average pooling
  67.4 / 95.7 % (FSDD / az, new voices, one seed); a flattened head, which keeps where in time each sound is,
  73.2 / 96.0 %; with the same augmentation **76.4 / 98.2 %** over two seeds (mean **87.3**, random splits
  98.2 / 99.8 %) — **the best candidate by the rule, +1.1 points over the shipped MLP default**. It is not the
  shipped default yet: it trains ~10× slower here (~70-120 s per fold vs ~8 s for the MLP), the Digits tab's
  model panel is the MLP's (a CNN panel, as in Genres, is needed first), and `TaskSpec.model` is read as the
  MLP's settings in many places. The CLI trains it today: `train --task digits --model cnn` (augmented by
  default, exactly the measured configuration). Recommended next step: make it the default once the Digits
  tab can show it.
- Pitch shifts (±3 semitones, tempo kept, added to the augmentation) changed nothing (86.1 vs 86.2 %).
- FSDD's 90 % on voices never heard is not reached by anything tried: with three training speakers every
  candidate stays at 67-79 %. The gap looks like data (three male voices to learn from), not the model.
"""


def write_results(text, best, base, table, rows, final=None):
    from benchmarks._results import write_section

    loads = [r["load"] for r in rows.values()]
    dates = sorted({r["date"] for r in rows.values()})
    feats = "\n".join(f"- `{k}`: {v[2]}" for k, v in FEATURES.items())
    models = "\n".join(f"- `{k}`: {v[2]}" for k, v in MODELS.items())
    augs = "\n".join(f"- `{k}`: {v if v is None else v.to_dict()}" for k, v in AUGMENTS.items())
    head = (f"## Digits accuracy (FSDD and audiomnist-az-dev, voices never heard)\n\n"
            f"`python benchmarks/digits_accuracy.py` — {', '.join(dates)}, {platform.machine()}, "
            f"{os.cpu_count()} cores (AMD EPYC) shared with three other engineers (load average during the runs "
            f"{min(l[0] for l in loads):.1f}–{max(l[0] for l in loads):.1f}). Every number goes through "
            "`core.training.train_model`. Speaker-independent: FSDD leave-one-speaker-out (4 folds), "
            "audiomnist-az-dev 5 folds of 6 speakers (no speaker in two folds); mean ± std over folds. "
            "Random: stratified 80/20, `random_state=42`, one training per model seed. Ranked by the mean of the two "
            "datasets' speaker-independent accuracy; bold = the best whose FSDD random split is ≥ 98 %.\n\n")
    legend = f"Feature sets:\n\n{feats}\n\nModels:\n\n{models}\n\nAugmentation (training clips only):\n\n{augs}\n"
    if final:
        loads = [r["load"][0] for r in final]
        head += ("### The shipped default against the previous one (same run)\n\n"
                 f"Model seeds {', '.join(map(str, final[0]['seeds']))} (the folds repeated per seed); load average "
                 f"{min(loads):.1f}–{max(loads):.1f}. \"New voices' digits rejected\": test clips of the held-out "
                 "speakers answered \"unknown\" (the open set's false rejects); \"non-digit sounds\": whistles, "
                 "chirps, noise, hum, a clap, a whistled tune and 20 other English words/sentences by two espeak-ng "
                 "voices, through the same prediction path as the microphone.\n\n" + final_text(final)
                 + "\n\n### Every candidate (the search)\n\n")
    write_section("## Digits accuracy (FSDD and audiomnist-az-dev, voices never heard)",
                  head + text + "\n\n" + FINDINGS + "\n" + legend)


if __name__ == "__main__":
    main()
