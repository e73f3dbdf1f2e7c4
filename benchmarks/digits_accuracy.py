"""Test accuracy of the default Digits configuration on FSDD.

Runs ``core.training.train_model`` with ``DIGITS.feature_config()`` and
``MLPClassifier(**DIGITS.model)``:

* random split (stratified 80/20, ``random_state=42``) for several model seeds,
* speaker-independent split: train on three speakers, test on the fourth, for
  every rotation,

and, for comparison, the same for two reference feature settings (the
previous default and the seed's pad-to-longest framing). Prints a Markdown
table; progress goes to stderr.

Usage::

    .venv/bin/python benchmarks/digits_accuracy.py [--data DIR] [--seeds 0 1 2 3] [--default-only]
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

from core.datasets import scan_dataset  # noqa: E402
from core.models.mlp import MLPClassifier  # noqa: E402
from core.tasks import DIGITS  # noqa: E402
from core.training import SplitConfig, train_model  # noqa: E402

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
RANDOM_TARGET, SPEAKER_TARGET = 0.98, 0.90


def accuracy(ds, feature_config, *, split, seed):
    """Test accuracy of one training run through the app's own pipeline."""
    model = MLPClassifier(**DIGITS.model, random_state=seed)
    result = train_model(ds, task="digits", feature_config=feature_config, model=model, split=split)
    return float(result.metrics["accuracy"])


def measure(ds, feature_config, *, seeds, label):
    """Random-split accuracy per seed and speaker-independent accuracy per held-out speaker."""
    t0 = time.perf_counter()
    random_accs = [accuracy(ds, feature_config, split=SplitConfig(random_state=42), seed=s) for s in seeds]
    # One model seed per rotation: the rotations themselves are the repeats.
    speaker_accs = {
        spk: accuracy(ds, feature_config, split=SplitConfig(kind="speaker", test_speakers=(spk,)), seed=seeds[0])
        for spk in ds.speakers
    }
    print(f"[{label}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return random_accs, speaker_accs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="FSDD recordings folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="model seeds (random split)")
    parser.add_argument("--default-only", action="store_true", help="skip the two reference settings")
    args = parser.parse_args(argv)

    ds = scan_dataset(args.data, label="digit")
    default = DIGITS.feature_config()
    settings = [("default", default)]
    if not args.default_only:
        settings += [
            ("previous default (30 dB trim, 12 MFCC / 24 mels)",
             dataclasses.replace(default, n_mfcc=12, n_mels=24, trim_db=30.0)),
            ("seed framing (pad to longest, 30 dB trim, 12 / 24)",
             dataclasses.replace(default, n_mfcc=12, n_mels=24, trim_db=30.0, frames="pad", n_frames=None)),
        ]
    rows = [(label, *measure(ds, fc, seeds=args.seeds, label=label)) for label, fc in settings]

    speakers = ds.speakers
    print(f"FSDD: {len(ds.items)} clips, speakers {', '.join(speakers)}; {os.cpu_count()} cores")
    print(f"default features: {default}")
    print(f"default model: {DIGITS.model}")
    print()
    print("| features | random split, mean (seeds " + " ".join(map(str, args.seeds)) + ") | "
          + " | ".join(f"test = {s}" for s in speakers) + " | speaker-independent mean |")
    print("|---" * (len(speakers) + 3) + "|")
    for label, random_accs, speaker_accs in rows:
        rand = f"{100 * np.mean(random_accs):.2f} % ({', '.join(f'{100 * a:.2f}' for a in random_accs)})"
        spk = " | ".join(f"{100 * speaker_accs[s]:.1f} %" for s in speakers)
        print(f"| {label} | {rand} | {spk} | {100 * np.mean(list(speaker_accs.values())):.1f} % |")
    _, random_accs, speaker_accs = rows[0]
    print()
    for name, value, target in (("random split", np.mean(random_accs), RANDOM_TARGET),
                                ("speaker-independent", np.mean(list(speaker_accs.values())), SPEAKER_TARGET)):
        verdict = "reached" if value >= target else "NOT reached"
        print(f"{name}: {100 * value:.2f} % (target {100 * target:.0f} %: {verdict})")


if __name__ == "__main__":
    main()
