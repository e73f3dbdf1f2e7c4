"""The session's runs: what each training was (for the Runs table) and the leave-one-speaker-out summary.

Plain functions over core's results; the tab owns the table and the dict of runs.
"""
from __future__ import annotations

import datetime
import pathlib


def dataset_name(ds) -> str:
    """A short name for the data a run used: the folder's name, or "demo"."""
    if ds is None:
        return ""
    root = pathlib.Path(str(ds.root))
    from core.demo_digits import DEMO_DIGITS_DIR

    try:
        if root.resolve() == DEMO_DIGITS_DIR.resolve() or "demo" in root.parts[-3:]:
            return "demo"
    except OSError:
        pass
    return root.name or str(root)


def describe_features(cfg) -> str:
    features = cfg.name + (f" {cfg.n_mfcc} coef" if cfg.name.startswith("mfcc") else "")
    if cfg.name == "mfcc-full":
        features += f", {cfg.frames} {cfg.n_frames} frames"
    return features


def run_row(result, *, model_text, dataset, rotation=False):
    """The Runs table's row for a finished training (``core.training.TrainResult``).

    ``rotation``: one training of leave-one-speaker-out; it tests one voice and
    is never ranked against other runs.
    """
    b, m = result.bundle, result.metrics
    split = b.training["split"]
    kfold = m.get("kfold")
    if rotation:
        split_text = "leave-one-speaker-out rotation"
    elif split["kind"] == "kfold":
        from core.history import describe_split

        split_text = describe_split(split)
        if kfold and not kfold.get("completed", True):
            split_text += f" ({len(kfold['folds'])} done)"
    elif split["kind"] == "speaker":
        split_text = "speaker-indep."
    else:
        split_text = f"random {split['test_size']:.0%}"
    if b.training.get("test_speakers"):
        split_text += f" (test: {', '.join(b.training['test_speakers'])})"
    note = "diverged" if result.diverged else ("stopped" if (result.stop_reason or "").startswith("stopped") else "")
    compare = None if rotation else f"{dataset}|{split['kind']}|{split.get('folds') or split.get('test_size')}"
    return {
        "time": datetime.datetime.now().strftime("%H:%M:%S"),
        "dataset": dataset,
        "features": describe_features(b.feature_config),
        "model": model_text,
        "split": split_text,
        "epochs": len(result.history),
        "best_epoch": b.training.get("best_epoch"),
        "train_accuracy": m["train_accuracy"],
        "accuracy": m["accuracy"],
        "accuracy_std": (kfold or {}).get("std_accuracy"),
        "balanced_accuracy": m["balanced_accuracy"],
        "seconds": result.seconds,
        "note": note,
        "compare": compare,
    }


def kfold_summary(res) -> str:
    """One status line for a finished (or stopped) k-fold run (``core.kfold.KFoldResult``)."""
    from core.kfold import describe

    kept = ("the current model is trained on all the data, with these results as its estimate" if res.final
            else res.stop_reason or "the current model is the last finished fold's")
    return f"{describe(res.kfold)}; per-fold table in Results; {kept}."


def loso_summary(rot, *, kept) -> str:
    """One status line for a finished leave-one-speaker-out run (``core.training`` rotations)."""
    accs = list(rot.per_speaker.values())
    mean = sum(accs) / len(accs)
    spread = (sum((a - mean) ** 2 for a in accs) / len(accs)) ** 0.5
    each = ", ".join(f"{s} {a:.1%}" for s, a in rot.per_speaker.items())
    return (f"Leave one speaker out: mean {mean:.1%} ± {spread:.1%} ({each}); pooled test accuracy "
            f"{rot.metrics['accuracy']:.1%} shown in Results. Each rotation is in Runs; {kept}.")
