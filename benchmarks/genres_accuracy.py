"""Genre accuracy on gtzan-dev: 5-fold cross-validation by track.

Every model is trained and tested through the app's own pipeline
(``core.extraction.build_features``, the registered models, and
``core.training.evaluate_rows`` for window- and track-level accuracy). Folds
are stratified by genre and split by track: all windows of a track are on
one side of every fold. Compared:

* ``report``: the course report's CNN on one 128×128 log-mel image per whole
  clip (Conv2D 32 → MaxPool 3/2 → BatchNorm → Flatten → softmax; Adam 1e-4,
  30 epochs, batch 32, no early stopping);
* ``cnn``: the Genres tab's default CNN on 3 s windows (track = mean of its
  windows' probabilities), plus candidate variants (``--variants``);
* ``features-logreg``: summary statistics (``music-stats``) per window with
  logistic regression, the baseline;
* ``encoder-logreg``: the pretrained musicnn encoder's embedding (core.encoders)
  with logistic regression, per whole clip, per 3 s window, or its pooled layer.

Prints a Markdown table (window and track accuracy, mean ± std over the
folds, seconds per epoch) and, with ``--write``, stores it as the
"Genres accuracy" section of benchmarks/RESULTS.md.

Usage::

    .venv/bin/python benchmarks/genres_accuracy.py [--data DIR] [--folds 5] [--only cnn report ...]
        [--variants] [--write]
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

from core.datasets import scan_dataset, sort_labels  # noqa: E402
from core.extraction import build_features  # noqa: E402
from core.models import make_model  # noqa: E402
from core.presets import REPORT_GENRES_CNN, report_genres_features  # noqa: E402
from core.tasks import GENRES  # noqa: E402
from core.training import evaluate_rows  # noqa: E402

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-dev" / "genres_original"

REPORT_MODEL = dict(REPORT_GENRES_CNN)  # the report's network and training, as "Reproduce the report" sets them


def configurations(variants):
    """(key, title, model type, params, feature config) of every configuration measured."""
    cnn = GENRES.model_choice("cnn")
    logreg = GENRES.model_choice("features-logreg")
    logmel = GENRES.feature_config("logmel-128")
    encoder = GENRES.model_choice("encoder-logreg")
    music = GENRES.feature_config(encoder.feature)
    out = [
        ("report", "report's CNN, whole clip 128×128", "keras-cnn", REPORT_MODEL, report_genres_features(logmel)),
        ("cnn", "default CNN, 3 s windows", cnn.type, dict(cnn.params), logmel),
        ("features-logreg", "music-stats + logistic regression, 3 s windows", logreg.type, dict(logreg.params),
         GENRES.feature_config(logreg.feature)),
        ("encoder-logreg", "pretrained musicnn (penultimate, mean over the clip) + logistic regression",
         encoder.type, dict(encoder.params), music),
        ("encoder-logreg-windows", "pretrained musicnn (penultimate) per 3 s window + logistic regression",
         encoder.type, dict(encoder.params), dataclasses.replace(music, window_seconds=3.0, window_overlap=0.5)),
        ("encoder-pooled", "pretrained musicnn (pooled layer, 1506, mean over the clip) + logistic regression",
         encoder.type, dict(encoder.params), dataclasses.replace(music, embedding_layer="pooled")),
    ]
    if variants:
        p = dict(cnn.params)
        out += [
            ("cnn-noaug", "default CNN without SpecAugment", cnn.type, {**p, "freq_mask": 0.0, "time_mask": 0.0},
             logmel),
            ("cnn-128px", "default CNN on 128×128 images", cnn.type, p, dataclasses.replace(logmel, image_size=128)),
            ("cnn-val", "default CNN with 15 % of the tracks held out, early stopping (patience 10), 40 epochs",
             cnn.type, {**p, "validation_fraction": 0.15, "early_stopping": True, "epochs": 40}, logmel),
            ("cnn-128px-val", "the same on 128×128 images", cnn.type,
             {**p, "validation_fraction": 0.15, "early_stopping": True, "epochs": 40},
             dataclasses.replace(logmel, image_size=128)),
            ("cnn-wide", "CNN 32-64-128 filters", cnn.type,
             {**p, "conv_blocks": tuple({**b, "filters": 2 * b["filters"]} for b in p["conv_blocks"])}, logmel),
            ("cnn-report-windows", "report's CNN on 3 s windows", "keras-cnn", REPORT_MODEL, logmel),
            ("report-bn0.9", "report's CNN, whole clip, BatchNorm momentum 0.9", "keras-cnn",
             {**REPORT_MODEL, "bn_momentum": 0.9}, report_genres_features(logmel)),
            ("logreg-C0.1", "music-stats + logistic regression, C=0.1", logreg.type, {**logreg.params, "C": 0.1},
             GENRES.feature_config(logreg.feature)),
            ("logreg-whole", "music-stats + logistic regression, whole clips", logreg.type, dict(logreg.params),
             dataclasses.replace(GENRES.feature_config(logreg.feature), window_seconds=None)),
        ]
    return out


def folds_by_track(fs, n_folds, seed=0):
    """[(train_rows, test_rows)]: tracks stratified by genre into ``n_folds`` folds."""
    from sklearn.model_selection import StratifiedKFold

    first = fs.clip_rows()
    clip_labels = fs.labels[first]
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    out = []
    for tr_c, te_c in skf.split(np.zeros(len(first)), clip_labels):
        tr, te = np.flatnonzero(np.isin(fs.groups, tr_c)), np.flatnonzero(np.isin(fs.groups, te_c))
        assert not set(fs.groups[tr]) & set(fs.groups[te])  # no track on both sides
        out.append((tr, te))
    return out


def run(ds, key, model_type, params, config, *, n_folds, seed):
    fs = build_features(ds, config)
    labels = sort_labels(set(fs.labels.tolist()))
    track, window, per_epoch, epochs = [], [], [], []
    for i, (tr, te) in enumerate(folds_by_track(fs, n_folds)):
        model = make_model(model_type, **params, random_state=seed + i)
        t0 = time.perf_counter()
        model.fit(fs.X[tr], fs.labels[tr], groups=fs.groups[tr])
        seconds = time.perf_counter() - t0
        m = evaluate_rows(model, fs, te, labels)
        track.append(m["accuracy"])
        window.append(m["window_accuracy"])
        n_ep = max(1, len(model.history_))
        epochs.append(n_ep)
        # the first epoch of a Keras model includes tracing; report the steady state
        secs = [h["seconds"] for h in model.history_]
        steady = np.diff(secs) if len(secs) > 2 else np.array([seconds / n_ep])
        per_epoch.append(float(np.median(steady)))
        print(f"[{key}] fold {i + 1}/{n_folds}: track {m['accuracy']:.2f}, window {m['window_accuracy']:.2f}, "
              f"{n_ep} epochs, {seconds:.1f} s", file=sys.stderr, flush=True)
    n_windows = len(fs.X) / max(fs.n_clips, 1)
    return dict(track=track, window=window, per_epoch=per_epoch, epochs=epochs, n_rows=len(fs.X),
                windows_per_track=n_windows, n_tracks=fs.n_clips, skipped=len(fs.skipped))


def pm(values):
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f} %"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="GTZAN-layout folder (genres_original)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="model seed of fold 1 (fold i uses seed + i)")
    parser.add_argument("--only", nargs="+", help="configuration keys to run")
    parser.add_argument("--variants", action="store_true", help="also the candidate variants of the default")
    parser.add_argument("--write", action="store_true", help="store the table in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    ds = scan_dataset(args.data)
    rows = []
    t_all = time.perf_counter()
    for key, title, model_type, params, config in configurations(args.variants):
        if args.only and key not in args.only:
            continue
        r = run(ds, key, model_type, params, config, n_folds=args.folds, seed=args.seed)
        rows.append((key, title, r))
    import tensorflow as tf

    lines = [
        "## Genres accuracy (gtzan-dev, 5-fold CV by track)",
        "",
        f"`benchmarks/genres_accuracy.py`: {len(ds.items)} real GTZAN clips of 15–20 s, 10 genres "
        f"(`../shared/data/gtzan-dev`), {args.folds}-fold cross-validation stratified by genre and split by track "
        f"(every window of a track on one side; {len(ds.items) * (args.folds - 1) // args.folds} training tracks "
        f"per fold). Track = mean of its windows' probabilities. Seconds per epoch: median after the first "
        f"(traced) epoch on this machine ({os.cpu_count()} cores shared with other work, TensorFlow "
        f"{tf.__version__} on CPU with its threads capped as in the app).",
        "",
        "| model | track accuracy | window accuracy | windows / track (train rows) | epochs run | s / epoch |",
        "|---|---|---|---|---|---|",
    ]
    for key, title, r in rows:
        lines.append(f"| {title} (`{key}`) | {pm(r['track'])} | {pm(r['window'])} | "
                     f"{r['windows_per_track']:.1f} ({r['n_rows']}) | {np.mean(r['epochs']):.0f} | "
                     f"{np.mean(r['per_epoch']):.2f} |")
    lines += ["", f"Total {time.perf_counter() - t_all:.0f} s."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        from _results import write_section

        write_section(lines[0], text)


if __name__ == "__main__":
    main()
