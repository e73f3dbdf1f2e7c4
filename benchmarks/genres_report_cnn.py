"""The report's genre CNN on gtzan-dev, 5-fold CV by track: does the curve agree with the results card?

"Reproduce the report" in the Genres tab (one 128×128 log-mel image per whole
clip; Conv2D 32 3×3 → MaxPool 3/2 → BatchNorm → Flatten → softmax; Adam 1e-4,
30 epochs, batch 32) showed a training curve at 100 % while the results card
said 70 % train and 10 % test. This benchmark trains that network through the
app's pipeline (``core.extraction.build_features``, the registered model,
``core.training.evaluate_rows``) on every fold and prints, per configuration:

* ``curve train``: the training accuracy of the last epoch as the curve shows it;
* ``card train``: accuracy on the training tracks as the results card computes
  it (inference mode, after training);
* ``test``: track accuracy on the fold's held-out tracks (10 genres: chance 10 %).

Usage::

    .venv/bin/python benchmarks/genres_report_cnn.py [--data DIR] [--folds 5] [--tag before]
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.genres_accuracy import DEFAULT_DATA, folds_by_track  # noqa: E402
from core.datasets import scan_dataset, sort_labels  # noqa: E402
from core.extraction import build_features  # noqa: E402
from core.models import make_model  # noqa: E402
from core.presets import REPORT_GENRES_CNN, report_genres_features  # noqa: E402
from core.tasks import GENRES  # noqa: E402
from core.training import evaluate_rows  # noqa: E402


def configurations():
    return [
        ("report", "the report's CNN (BatchNorm momentum 0.99, as Keras' default)", dict(REPORT_GENRES_CNN)),
        ("report-bn0.9", "the same with BatchNorm momentum 0.9", {**REPORT_GENRES_CNN, "bn_momentum": 0.9}),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", nargs="+")
    parser.add_argument("--tag", default="", help="a word for the table's rows (e.g. before / after)")
    args = parser.parse_args(argv)
    ds = scan_dataset(args.data)
    fs = build_features(ds, report_genres_features(GENRES.feature_config("logmel-128")))
    labels = sort_labels(set(fs.labels.tolist()))
    print(f"{fs.n_clips} tracks, images {fs.X.shape[1:]}", file=sys.stderr)
    lines = ["| configuration | curve train (last epoch) | card train | test (track) | s / fold |", "|---|---|---|---|---|"]
    for key, title, params in configurations():
        if args.only and key not in args.only:
            continue
        curve, card, test, secs = [], [], [], []
        for i, (tr, te) in enumerate(folds_by_track(fs, args.folds)):
            model = make_model("keras-cnn", **params, random_state=args.seed + i)
            t0 = time.perf_counter()
            model.fit(fs.X[tr], fs.labels[tr], groups=fs.groups[tr])
            secs.append(time.perf_counter() - t0)
            m = evaluate_rows(model, fs, te, labels, train_rows=tr)
            curve.append(model.history_[-1]["accuracy"])
            card.append(m["train_accuracy"])
            test.append(m["accuracy"])
            print(f"[{key}] fold {i + 1}: curve {curve[-1]:.2f} card {card[-1]:.2f} test {test[-1]:.2f} "
                  f"({secs[-1]:.0f} s)", file=sys.stderr, flush=True)

        def pm(v):
            return f"{100 * np.mean(v):.0f} ± {100 * np.std(v):.0f} %"

        lines.append(f"| {title} (`{key}`){' ' + args.tag if args.tag else ''} | {pm(curve)} | {pm(card)} | "
                     f"{pm(test)} | {np.mean(secs):.0f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
