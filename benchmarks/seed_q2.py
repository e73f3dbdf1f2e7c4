"""Run the seed's Q2 experiments (``core.presets.REPORT_PRESETS``) on FSDD.

For every preset, on the seed's random 80/20 split (``random_state=42``):

* ``5 ep``: the app's MLPClassifier exactly as the preset says (five epochs,
  through ``core.training.train_model``);
* ``same updates``: the same with as many single-sample updates as the
  seed's five epochs over AudioMNIST's 24,000 training clips (75 epochs on
  FSDD's 1,600), see ``resolve_model(n_train=)``;
* ``seed's loop``: the seed's own training loop (``mlp_speed.SeedMLP``, its
  gradient quirks included) with the same number of updates; on the full
  features only with ``--seed-loop-full`` (minutes per run).

Prints a Markdown table; progress goes to stderr.

Usage::

    .venv/bin/python benchmarks/seed_q2.py [--data DIR] [--seed 0] [--seed-loop-full]
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from core.datasets import scan_dataset  # noqa: E402
from core.extraction import build_features  # noqa: E402
from core.features import FeatureConfig  # noqa: E402
from core.models.mlp import MLPClassifier  # noqa: E402
from core.presets import REPORT_PRESETS, resolve_model  # noqa: E402
from core.training import SplitConfig, split_features, train_model  # noqa: E402
from mlp_speed import SeedMLP  # noqa: E402

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
SPLIT = SplitConfig(random_state=42)


def seed_loop_accuracy(fs, model, *, seed):
    """Test accuracy of the seed's own loop with the preset's set-up and ``model['epochs']`` epochs."""
    tr, te = split_features(fs, SPLIT)
    classes = np.unique(fs.labels)
    X_tr, X_te = fs.X[tr].astype(np.float64), fs.X[te].astype(np.float64)
    if model["standardize"]:
        mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
        std[std == 0] = 1
        X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std
    y_tr = np.searchsorted(classes, fs.labels[tr])
    y_te = np.searchsorted(classes, fs.labels[te])
    net = SeedMLP([X_tr.shape[1], *model["hidden_layer_sizes"], len(classes)], activation=model["activation"],
                  init=model["init"], learning_rate=model["learning_rate"], rng=np.random.default_rng(seed))
    one_hot = np.eye(len(classes))[y_tr]
    with np.errstate(over="ignore"):  # randn weights on raw features saturate exp(); the seed's code too
        for _ in range(model["epochs"]):
            net.train_epoch(X_tr, one_hot)
        return float(np.mean(net.predict(X_te) == y_te))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="FSDD recordings folder")
    parser.add_argument("--seed", type=int, default=0, help="weight and shuffling seed")
    parser.add_argument("--seed-loop-full", action="store_true",
                        help="also run the seed's loop on the full (padded) features (slow)")
    args = parser.parse_args(argv)

    ds = scan_dataset(args.data, label="digit")
    n_out = len(ds.labels)
    feature_sets = {}
    rows = []
    t_start = time.perf_counter()
    for preset in REPORT_PRESETS:
        t0 = time.perf_counter()
        fc = FeatureConfig(**preset.feature)
        key = repr(sorted(preset.feature.items()))
        if key not in feature_sets:
            feature_sets[key] = build_features(ds, fc)
        fs = feature_sets[key]
        n_in = fs.X.shape[1]
        n_train = split_features(fs, SPLIT)[0].size
        accs = []
        for kwargs in (resolve_model(preset, n_in, n_out), resolve_model(preset, n_in, n_out, n_train=n_train)):
            model = MLPClassifier(**kwargs, random_state=args.seed)
            accs.append(train_model(ds, task="digits", feature_config=fc, model=model, split=SPLIT).metrics["accuracy"])
        long = resolve_model(preset, n_in, n_out, n_train=n_train)
        if fc.name != "mfcc-full" or args.seed_loop_full:
            accs.append(seed_loop_accuracy(fs, long, seed=args.seed))
        else:
            accs.append(None)
        rows.append((preset, n_in, long, accs))
        print(f"[{time.perf_counter() - t0:5.1f} s] {preset.name}: "
              + ", ".join("-" if a is None else f"{100 * a:.1f} %" for a in accs), file=sys.stderr, flush=True)

    epochs = rows[0][2]["epochs"]
    print(f"FSDD, random 80/20 split (random_state=42), {n_train} training clips, seed {args.seed}; "
          f"total {time.perf_counter() - t_start:.0f} s")
    print()
    print(f"| preset | input | hidden | seed (AudioMNIST) | ours, 5 ep | ours, {epochs} ep (same updates) "
          f"| seed's loop, {epochs} ep |")
    print("|---|---|---|---|---|---|---|")
    for preset, n_in, model, accs in rows:
        seed_acc = "≈10 (train)" if preset.report_accuracy is None else f"{preset.report_accuracy:.2f}"
        cells = " | ".join("–" if a is None else f"{100 * a:.2f}" for a in accs)
        print(f"| {preset.name} | {n_in} | {model['hidden_layer_sizes']} | {seed_acc} | {cells} |")


if __name__ == "__main__":
    main()
